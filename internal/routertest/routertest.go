// Package routertest starts routers and workers for tests, and stops them
// when the test ends.
package routertest

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/msgrouter/router"
	"github.com/msgrouter/router/config"
	"github.com/msgrouter/router/core"
)

// Runner is what Serve serves: a *router.Router or a *router.Worker.
type Runner interface {
	Serve() error
	Shutdown(context.Context) error
}

// Serve serves s in a goroutine. When the test ends it shuts s down
// (within 10 s) and checks that Shutdown succeeded and that Serve
// returned core.ErrServerClosed. A test may shut s down itself first:
// Shutdown then has nothing left to do.
func Serve(t testing.TB, s Runner) {
	t.Helper()
	served := make(chan error, 1)
	go func() { served <- s.Serve() }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := s.Shutdown(ctx); err != nil {
			t.Errorf("Shutdown: %v", err)
		}
		if err := <-served; !errors.Is(err, core.ErrServerClosed) {
			t.Errorf("Serve returned %v, want core.ErrServerClosed", err)
		}
	})
}

// Start starts the router cfg describes, and Serves it.
func Start(t testing.TB, cfg *config.Config, o router.StartOptions) *router.Router {
	t.Helper()
	r, err := router.Start(context.Background(), cfg, o)
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	Serve(t, r)
	return r
}

// StartWorker starts the worker cfg describes (loaded with
// config.LoadOptions.Worker), and Serves it.
func StartWorker(t testing.TB, cfg *config.Config, o router.StartOptions) *router.Worker {
	t.Helper()
	w, err := router.StartWorker(context.Background(), cfg, o)
	if err != nil {
		t.Fatalf("StartWorker: %v", err)
	}
	Serve(t, w)
	return w
}

// Dial opens a kept-alive client to addr (within 5 s), closed when the
// test ends.
func Dial(t testing.TB, addr string) *core.Client {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, err := core.Dial(ctx, addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}
