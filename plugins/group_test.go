//go:build linux

package plugins_test

import (
	"context"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/msgrouter/router/plugins"
)

// A plugin runs in a process group of its own, and its exit is seen from
// the process: kill -9 of a plugin whose child holds its stdout and
// stderr (so that neither ends) brings the route back at once, and the
// child goes with the plugin; so does one left behind at shutdown.
func TestPluginProcessGroup(t *testing.T) {
	p := start(t, "basic", func(c *plugins.Config) {
		c.Restart = plugins.RestartPolicy{Backoff: 10 * time.Millisecond}
		c.HealthInterval = -1 // only the process itself can tell
	})
	pid := pidOf(t, p)
	if pgid, err := syscall.Getpgid(pid); err != nil || pgid != pid {
		t.Errorf("the plugin's process group is %d (%v); want its own, %d", pgid, err, pid)
	}
	child := spawnHeld(t, p)
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	killed := time.Now()
	newPid := waitNewPid(t, p, pid)
	// The route is back as soon as the new process is up (the restart
	// backoff here is 10 ms); before, it never came back.
	t.Logf("route back %s after kill -9", time.Since(killed))
	if back := time.Since(killed); back > 5*time.Second {
		t.Errorf("route back only %s after kill -9", back)
	}
	waitGone(t, child)
	if got, err := call(t, p, "upper", "back", 5*time.Second); err != nil || got != "BACK" {
		t.Errorf("after kill -9: upper = %q, %v", got, err)
	}

	// Shutdown stops what the plugin left behind too.
	child = spawnHeld(t, p)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := p.Shutdown(ctx); err != nil {
		t.Errorf("Shutdown = %v", err)
	}
	waitGone(t, newPid)
	waitGone(t, child)
}

// spawnHeld has the plugin start a child that holds its stdout and
// stderr, and returns the child's pid.
func spawnHeld(t *testing.T, p *plugins.Process) int {
	t.Helper()
	s, err := call(t, p, "spawn", "held", 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	child, err := strconv.Atoi(s)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { syscall.Kill(child, syscall.SIGKILL) })
	return child
}
