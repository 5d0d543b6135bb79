//go:build !unix

package plugins

import "errors"

// setNonblock is not available here: the plugin then serves its data path
// on a socket.
func setNonblock(int) error { return errors.New("no non-blocking pipes on this system") }
