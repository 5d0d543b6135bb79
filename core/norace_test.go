//go:build !race

package core_test

// raceEnabled: the race detector is on (see race_test.go).
const raceEnabled = false
