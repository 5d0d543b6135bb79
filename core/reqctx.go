package core

import (
	"context"
	"sync"
	"time"
)

// WithLazyDeadline is context.WithDeadline for the hot path: the returned
// context arms a timer only when Done is first called. Err reports the
// deadline by the clock either way. Call cancel once the work is done, as
// with context.WithDeadline.
func WithLazyDeadline(parent context.Context, deadline time.Time) (ctx context.Context, cancel context.CancelFunc) {
	c := &reqCtx{parent: parent, deadline: deadline}
	return c, c.release
}

// reqCtx is the context a request's handler gets: it carries the handler
// deadline, but arms a timer only if the handler asks for Done. Most
// in-process handlers answer without ever selecting on the context, and
// context.WithDeadline per request (a timer and a registration with the
// parent) was a large share of the server's CPU time at high request
// rates (measured: see BENCHMARKS.md, "Figures that were in code
// comments").
type reqCtx struct {
	parent   context.Context
	deadline time.Time

	mu       sync.Mutex
	derived  context.Context
	cancel   context.CancelFunc
	released bool
}

var _ context.Context = (*reqCtx)(nil)

func (c *reqCtx) Deadline() (time.Time, bool) { return c.deadline, true }

func (c *reqCtx) Done() <-chan struct{} {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.derived == nil {
		c.derived, c.cancel = context.WithDeadline(c.parent, c.deadline)
		if c.released {
			c.cancel()
		}
	}
	return c.derived.Done()
}

func (c *reqCtx) Err() error {
	c.mu.Lock()
	d, released := c.derived, c.released
	c.mu.Unlock()
	if d != nil {
		return d.Err()
	}
	if err := c.parent.Err(); err != nil {
		return err
	}
	if !time.Now().Before(c.deadline) {
		return context.DeadlineExceeded
	}
	if released {
		return context.Canceled
	}
	return nil
}

func (c *reqCtx) Value(key any) any { return c.parent.Value(key) }

// release ends the context once the handler has returned, and stops the
// timer if Done armed one.
func (c *reqCtx) release() {
	c.mu.Lock()
	c.released = true
	if c.cancel != nil {
		c.cancel()
	}
	c.mu.Unlock()
}

// end releases rc once its requests are answered; a nil rc (no handler
// timeout) has nothing to release.
func (rc *reqCtx) end() {
	if rc != nil {
		rc.release()
	}
}
