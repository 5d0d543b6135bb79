//go:build unix

package plugins

import "syscall"

// setNonblock puts a descriptor in non-blocking mode, and marks it to be
// closed on exec.
func setNonblock(fd int) error {
	syscall.CloseOnExec(fd)
	return syscall.SetNonblock(fd, true)
}
