//go:build race

package core_test

// raceEnabled: the race detector is on; it keeps shadow memory of its
// own for what the program touches, so memory bounds measured from
// outside the heap are looser.
const raceEnabled = true
