//go:build !race

package plugins_test

// raceDetector is true in a build with the race detector.
const raceDetector = false
