//go:build !race

package config_test

// raceDetector is true in a build with the race detector.
const raceDetector = false
