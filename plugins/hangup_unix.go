//go:build unix

package plugins

import (
	"os/signal"
	"syscall"
)

// ignoreHangup makes the plugin process deaf to SIGHUP, the router's
// reload signal: an operator who signals every process named router
// (kill -HUP $(pidof router)) reaches the plugins too, and SIGHUP's
// default action would end each of them. A plugin is stopped by its
// router, or exits when the router is gone (watchParent); a hangup
// means nothing to it. Processes the plugin starts inherit the
// disposition, as exec keeps an ignored signal ignored.
func ignoreHangup() { signal.Ignore(syscall.SIGHUP) }
