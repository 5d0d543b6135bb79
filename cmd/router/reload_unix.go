//go:build unix

package main

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"runtime"
	"strings"
	"syscall"
)

// errNoHangup is nil: this system has SIGHUP, for router reload.
var errNoHangup error

// signalReload sends SIGHUP to process pid once it has checked that the
// process is a router's serve. from names where pid came from ("the pid
// file router.pid"), or is empty for --pid.
func signalReload(pid int, from string) error {
	if err := checkServe(pid, from); err != nil {
		return err
	}
	return explainKill(syscall.Kill(pid, syscall.SIGHUP), pid, from)
}

// checkServe checks that process pid runs, and on Linux that it runs
// "serve": its command line is the router's executable, then "serve".
func checkServe(pid int, from string) error {
	if err := syscall.Kill(pid, 0); err != nil {
		return explainKill(err, pid, from)
	}
	if runtime.GOOS != "linux" {
		return nil
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	switch {
	case errors.Is(err, fs.ErrNotExist) || (err == nil && len(b) == 0): // gone, or a zombie
		return explainKill(syscall.ESRCH, pid, from)
	case err != nil:
		return nil // cannot tell; the signal is still the user's to send
	}
	args := strings.Split(strings.TrimSuffix(string(b), "\x00"), "\x00")
	if len(args) >= 2 && args[1] == "serve" {
		return nil
	}
	msg := fmt.Sprintf("process %d is not a router's serve: it runs %q", pid, strings.Join(args, " "))
	if from != "" {
		msg += "; " + from + " is stale (the router that wrote it is gone, and another process has its id)"
	}
	return errors.New(msg)
}

// explainKill explains err, the error of a signal to process pid.
func explainKill(err error, pid int, from string) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, syscall.ESRCH) && from != "":
		return fmt.Errorf("no process %d: %s is stale (the router that wrote it is gone; was it killed?)", pid, from)
	case errors.Is(err, syscall.ESRCH):
		return fmt.Errorf("no process %d", pid)
	case errors.Is(err, syscall.EPERM):
		return fmt.Errorf("not permitted to signal process %d: it runs as another user (run 'router reload' as that user)", pid)
	}
	return fmt.Errorf("cannot signal process %d: %w", pid, err)
}
