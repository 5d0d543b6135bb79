//go:build !unix

package plugintest

// processGone cannot tell on this system; Shutdown's own wait for the
// process is all there is.
func processGone(int) bool { return true }
