package plugins

import (
	"os/exec"
	"syscall"
)

// setParentDeathSignal asks Linux to kill the plugin when the router dies,
// even by SIGKILL. The plugin also watches its parent itself (see
// watchParent), which covers the other systems.
func setParentDeathSignal(cmd *exec.Cmd) {
	if cmd.SysProcAttr == nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{}
	}
	cmd.SysProcAttr.Pdeathsig = syscall.SIGKILL
}
