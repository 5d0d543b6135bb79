//go:build unix

package plugins

import "syscall"

// adoptDataFD readies a data pipe the router passed: non-blocking, for
// the runtime's poller, and closed on exec, so that the plugin's own
// children do not inherit it.
func adoptDataFD(fd int) error {
	syscall.CloseOnExec(fd)
	return syscall.SetNonblock(fd, true)
}
