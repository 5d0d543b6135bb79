//go:build race

package plugins_test

// raceDetector is true in a build with the race detector, whose slower
// copies (with other tests running) can keep a 100 MB answer from
// crossing the data path within one write's deadline (5s).
const raceDetector = true
