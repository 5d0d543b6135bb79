//go:build !unix

package plugins

// ignoreHangup does nothing: there is no SIGHUP here.
func ignoreHangup() {}
