package plugins_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/msgrouter/router/internal/testexe"
	"github.com/msgrouter/router/plugins"
)

// A plugin that hit its restart limit is failed for its cool-down, then
// started again by itself, with a log line each time.
func TestPluginCooldown(t *testing.T) {
	var logs syncBuffer
	p := start(t, "basic", func(c *plugins.Config) {
		c.Restart = plugins.RestartPolicy{MaxRestarts: 1, Backoff: 10 * time.Millisecond, Cooldown: 300 * time.Millisecond}
		c.HealthInterval = -1
		c.Logger = hclog.New(&hclog.LoggerOptions{Output: &logs, Level: hclog.Info})
	})
	pid := pidOf(t, p)
	syscall.Kill(pid, syscall.SIGKILL)
	pid = waitNewPid(t, p, pid)
	syscall.Kill(pid, syscall.SIGKILL)
	waitState(t, p, plugins.StateFailed)
	if _, err := call(t, p, "upper", "x", time.Second); !errors.Is(err, plugins.ErrFailed) {
		t.Errorf("during the cool-down: %v; want ErrFailed", err)
	}
	waitNewPid(t, p, pid)
	if got, err := call(t, p, "upper", "back", 5*time.Second); err != nil || got != "BACK" {
		t.Errorf("after the cool-down: upper = %q, %v", got, err)
	}
	for _, want := range []string{"plugin failed; starting it again after a cool-down", "plugin failed a cool-down ago; starting it again"} {
		if !strings.Contains(logs.String(), want) {
			t.Errorf("no log line %q in:\n%s", want, logs.String())
		}
	}
	if got := p.Restarts(); got != 2 {
		t.Errorf("Restarts() = %d; want 2 (one after a death, one after the cool-down)", got)
	}
}

// The error a client gets from a plugin that failed for good tells what
// failed, not where: no path, file mode or owner of the executable that
// would not start again, which go-plugin's handshake error gives and the
// log keeps.
func TestPluginFailedErrorIsPublic(t *testing.T) {
	exe := filepath.Join(t.TempDir(), "plugin-under-test")
	testexe.Install(t, exe, os.Args[0], "")
	var logs syncBuffer
	p := start(t, "basic", func(c *plugins.Config) {
		c.Cmd = exe
		c.Restart = plugins.RestartPolicy{MaxRestarts: 2, Backoff: 10 * time.Millisecond, Cooldown: -1}
		c.HealthInterval = -1
		c.Logger = hclog.New(&hclog.LoggerOptions{Output: &logs, Level: hclog.Info})
	})
	pid := pidOf(t, p)
	// The executable is replaced by one that exits before the handshake.
	if err := os.Remove(exe); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(exe, []byte("#!/bin/sh\necho not a plugin\nexit 3\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	syscall.Kill(pid, syscall.SIGKILL)
	waitState(t, p, plugins.StateFailed)
	_, err := call(t, p, "upper", "x", time.Second)
	if !errors.Is(err, plugins.ErrFailed) || !errors.Is(err, plugins.ErrStart) {
		t.Fatalf("after failed restarts: %v; want ErrFailed from ErrStart", err)
	}
	for _, secret := range []string{exe, "Mode:", "Owner:", "pid"} {
		if strings.Contains(err.Error(), secret) {
			t.Errorf("the error a client gets says %q: %v", secret, err)
		}
	}
	if !strings.Contains(logs.String(), exe) {
		t.Errorf("the log does not name the executable %s:\n%s", exe, logs.String())
	}
}
