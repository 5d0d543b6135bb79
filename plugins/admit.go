package plugins

import (
	"context"
	"fmt"
	"slices"
)

// Admission: every request to a plugin is counted in (enter) and out
// (leave), so that Shutdown can wait for those in flight, and at most
// Config.MaxInFlight are in flight at once. The others wait their turn in
// order: a slow plugin slows its callers down instead of piling up work it
// cannot do, and is never killed for being slow.

// slotWait is a request waiting for room under MaxInFlight.
type slotWait struct {
	n       int
	ready   chan struct{} // closed once the request is admitted
	granted bool          // set, under Process.mu, when it is admitted
}

// enter admits n requests (a batch) and returns the process to send them
// to. When MaxInFlight are in flight, it waits its turn; while the plugin
// restarts, it waits for the new process: either until ctx ends. Each
// successful enter is matched by a leave(n).
func (p *Process) enter(ctx context.Context, n int) (*instance, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	admitted := false
	for {
		if p.closing || p.failErr != nil {
			if admitted {
				p.releaseLocked(n)
			}
			if p.closing {
				return nil, fmt.Errorf("%w: %q", ErrStopped, p.cfg.Name)
			}
			return nil, p.failErr
		}
		if !admitted {
			var err error
			if admitted, err = p.admitLocked(ctx, n); err != nil {
				return nil, err
			}
			continue // the plugin may have changed meanwhile
		}
		if inst := p.cur.Load(); inst != nil {
			return inst, nil
		}
		changed := p.changed
		p.mu.Unlock()
		select {
		case <-changed:
			p.mu.Lock()
		case <-ctx.Done():
			p.mu.Lock()
			p.releaseLocked(n)
			return nil, fmt.Errorf("%w: %q: %w", ErrRestarting, p.cfg.Name, context.Cause(ctx))
		}
	}
}

// admitLocked counts n requests in if there is room and nobody waits
// before them; else it waits in line until they are admitted, the plugin
// changes (admitted false: look again), or ctx ends (ErrBusy). A batch
// larger than MaxInFlight is admitted alone.
func (p *Process) admitLocked(ctx context.Context, n int) (admitted bool, err error) {
	if p.fitsLocked(n) && len(p.waiters) == 0 {
		p.inflight += n
		return true, nil
	}
	w := &slotWait{n: n, ready: make(chan struct{})}
	p.waiters = append(p.waiters, w)
	changed := p.changed
	p.mu.Unlock()
	select {
	case <-w.ready:
	case <-changed:
	case <-ctx.Done():
	}
	p.mu.Lock()
	if w.granted {
		return true, nil // even if ctx ended just now: enter sorts it out
	}
	p.waiters = slices.DeleteFunc(p.waiters, func(x *slotWait) bool { return x == w })
	if err := ctx.Err(); err != nil {
		return false, fmt.Errorf("%w: %q had %d requests in flight (its limit) until this request's deadline: %w",
			ErrBusy, p.cfg.Name, p.cfg.MaxInFlight, context.Cause(ctx))
	}
	return false, nil
}

// fitsLocked reports whether n more requests fit under MaxInFlight.
func (p *Process) fitsLocked(n int) bool {
	return p.inflight == 0 || p.inflight <= p.cfg.MaxInFlight-n
}

// leave counts n requests out, admitted by enter.
func (p *Process) leave(n int) {
	p.mu.Lock()
	p.releaseLocked(n)
	p.mu.Unlock()
}

// releaseLocked counts n requests out and admits those waiting that now
// fit, in order.
func (p *Process) releaseLocked(n int) {
	p.inflight -= n
	for len(p.waiters) > 0 && p.fitsLocked(p.waiters[0].n) {
		w := p.waiters[0]
		p.waiters = p.waiters[1:]
		p.inflight += w.n
		w.granted = true
		close(w.ready)
	}
	if p.inflight == 0 {
		p.idle.Broadcast()
	}
}
