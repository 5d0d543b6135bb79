//go:build !linux

package plugins

import (
	"errors"
	"os/exec"
)

// setProcAttr does nothing here: the plugin watches its parent itself
// (see watchParent), and runs in the router's process group.
func setProcAttr(*exec.Cmd) {}

// killGroup does nothing here: the plugin has no group of its own.
func killGroup(int) {}

// watchExit cannot watch here: the end of the data path tells when the
// plugin has exited.
func watchExit(int, func()) (func(), error) {
	return nil, errors.ErrUnsupported
}
