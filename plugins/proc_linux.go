package plugins

import (
	"os"
	"os/exec"
	"syscall"

	"golang.org/x/sys/unix"
)

// setProcAttr runs the plugin in a process group of its own, so that
// stopping it stops whatever it started too, and asks Linux to kill it
// when the router dies, even by SIGKILL. The plugin also watches its
// parent itself (see watchParent), which covers the other systems.
func setProcAttr(cmd *exec.Cmd) {
	if cmd.SysProcAttr == nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{}
	}
	cmd.SysProcAttr.Pdeathsig = syscall.SIGKILL
	cmd.SysProcAttr.Setpgid = true
}

// killGroup sends SIGKILL to the process group of the plugin whose pid
// is pid (its leader, see setProcAttr). The group's id cannot name
// another group while the plugin or any process of its group lives.
func killGroup(pid int) {
	if pid > 0 {
		unix.Kill(-pid, unix.SIGKILL)
	}
}

// watchExit calls exited once the process pid, a child of this one, has
// exited, without reaping it (go-plugin does): the exit is seen at once,
// even when a process the plugin started still holds its pipes. It
// returns a func that stops the watch, or an error if the system cannot
// watch (a kernel before 5.3): the end of the data path then tells.
func watchExit(pid int, exited func()) (stop func(), err error) {
	fd, err := unix.PidfdOpen(pid, unix.PIDFD_NONBLOCK)
	if err != nil {
		return nil, err
	}
	// A pidfd turns readable when its process exits: the runtime's poller
	// waits for that, with no thread blocked.
	f := os.NewFile(uintptr(fd), "pidfd")
	rc, err := f.SyscallConn()
	if err != nil {
		f.Close()
		return nil, err
	}
	go func() {
		defer f.Close()
		err := rc.Read(func(fd uintptr) bool {
			var info unix.Siginfo
			werr := unix.Waitid(unix.P_PIDFD, int(fd), &info, unix.WEXITED|unix.WNOWAIT|unix.WNOHANG, nil)
			// Reaped already (ECHILD) or exited (a signal number set).
			return werr != nil || info.Signo != 0
		})
		if err == nil {
			exited()
		}
	}()
	return func() { f.Close() }, nil
}
