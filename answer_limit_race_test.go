//go:build race

package router_test

// raceDetector is true in a build with the race detector, under which a
// message of more than 16 MiB can take longer to cross a plugin's data
// socket than the 5s one write is given, on a busy machine.
const raceDetector = true
