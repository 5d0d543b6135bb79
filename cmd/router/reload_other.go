//go:build !unix

package main

import (
	"errors"
	"runtime"
)

// errNoHangup says why router reload cannot work here.
var errNoHangup = errors.New("reload is not supported on " + runtime.GOOS + ": it has no SIGHUP (a router here reloads its config file when the file changes; or restart it)")

// signalReload is not called here: see errNoHangup.
func signalReload(int, string) error { return errNoHangup }
