//go:build !unix

package plugins

import "errors"

// adoptDataFD fails here, and with it a plugin given data pipes: passing
// descriptors to a child (os/exec's ExtraFiles) is for Unix systems.
func adoptDataFD(int) error { return errors.New("no non-blocking pipes on this system") }
