//go:build !linux

package plugins

import "os/exec"

// setParentDeathSignal does nothing here; the plugin watches its parent
// itself (see watchParent).
func setParentDeathSignal(*exec.Cmd) {}
