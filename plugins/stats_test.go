package plugins_test

import (
	"context"
	"errors"
	"syscall"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/msgrouter/router/plugins"
)

// waitState waits until p is in state want.
func waitState(t *testing.T, p *plugins.Process, want plugins.State) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for p.State() != want {
		if time.Now().After(deadline) {
			t.Fatalf("plugin state %s, want %s", p.State(), want)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

func TestPluginStateAndRestarts(t *testing.T) {
	p := start(t, "ok", func(c *plugins.Config) {
		c.Restart = plugins.RestartPolicy{Backoff: 200 * time.Millisecond}
	})
	if got := p.State(); got != plugins.StateRunning {
		t.Fatalf("State() after Start = %s, want running", got)
	}
	if got := p.Restarts(); got != 0 {
		t.Fatalf("Restarts() after Start = %d, want 0", got)
	}
	if err := syscall.Kill(pidOf(t, p), syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	// The backoff keeps it restarting long enough to be seen.
	waitState(t, p, plugins.StateRestarting)
	waitState(t, p, plugins.StateRunning)
	if got := p.Restarts(); got != 1 {
		t.Errorf("Restarts() after one kill = %d, want 1", got)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := p.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	if got := p.State(); got != plugins.StateStopped {
		t.Errorf("State() after Shutdown = %s, want stopped", got)
	}
}

func TestPluginStateFailed(t *testing.T) {
	p := start(t, "flaky", func(c *plugins.Config) {
		c.Restart = plugins.RestartPolicy{MaxRestarts: 1, Backoff: 5 * time.Millisecond}
		// go-plugin may still log the last process's exit after the
		// test has ended: not to the test's log, then.
		c.Logger = hclog.NewNullLogger()
	})
	deadline := time.Now().Add(20 * time.Second)
	for p.State() != plugins.StateFailed && time.Now().Before(deadline) {
		call(t, p, "upper", "x", time.Second) // the flaky plugin dies on a request
		time.Sleep(5 * time.Millisecond)
	}
	if p.State() != plugins.StateFailed || !errors.Is(p.Err(), plugins.ErrFailed) {
		t.Fatalf("State() = %s, Err() = %v; want failed, ErrFailed", p.State(), p.Err())
	}
	if got := p.Restarts(); got != 1 {
		t.Errorf("Restarts() = %d, want 1 (the limit)", got)
	}
	// Once stopped, a failed plugin says so everywhere alike.
	p.Shutdown(context.Background())
	if p.State() != plugins.StateStopped || !errors.Is(p.Err(), plugins.ErrStopped) {
		t.Errorf("after Shutdown: State() = %s, Err() = %v; want stopped, ErrStopped", p.State(), p.Err())
	}
}

// A request that comes while its plugin restarts waits for the new
// process, up to its deadline.
func TestPluginRequestsWaitForRestart(t *testing.T) {
	p := start(t, "ok", func(c *plugins.Config) {
		c.Restart = plugins.RestartPolicy{Backoff: 300 * time.Millisecond}
	})
	if err := syscall.Kill(pidOf(t, p), syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	waitState(t, p, plugins.StateRestarting)

	// Too short a deadline: the restart is still 300ms of backoff away.
	_, err := call(t, p, "upper", "x", 20*time.Millisecond)
	if !errors.Is(err, plugins.ErrRestarting) || !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("a request with 20ms left during the restart: %v, want ErrRestarting and DeadlineExceeded", err)
	}
	// Time enough: answered by the new process.
	got, err := call(t, p, "upper", "late", 20*time.Second)
	if err != nil || got != "LATE" {
		t.Errorf("a request during the restart = %q, %v; want LATE", got, err)
	}
	if p.Restarts() != 1 {
		t.Errorf("Restarts() = %d, want 1", p.Restarts())
	}
}
