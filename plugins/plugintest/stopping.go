package plugintest

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	"github.com/msgrouter/router/core"
	"github.com/msgrouter/router/plugins"
)

// deadlines sends each declared handler, one handler after the other,
// requests whose deadline is about to pass, Copies at once. It checks
// that they come back (answered or not) within DeadlineGrace of it, and
// that the plugin finishes, within DeadlineGrace too, the requests the
// router gave up on at their deadline (the router tells the plugin, and
// counts the answers that come late: see plugins.Process.Abandoned): a
// handler that ignores its context is caught here. The cases run again
// afterwards check that the plugin copes with the requests it was told to
// abandon.
func (r *runner) deadlines(errs *errorList, p *plugins.Process, info plugins.Info, cases []*testCase) {
	grace := r.deadlineGrace
	for _, hi := range info.Handlers {
		h, err := p.Handler(hi.Name)
		if err != nil {
			errs.add("handler %q: %v", hi.Name, err)
			continue
		}
		req := core.NewBinary("application/octet-stream", nil)
		for _, tc := range cases {
			if tc.Handler == hi.Name {
				req = tc.Request
				break
			}
		}
		abandoned0, finished0 := p.Abandoned()
		restarts0 := p.Restarts()
		var late atomic.Int32
		var each sync.WaitGroup
		for range Copies {
			each.Add(1)
			go func() {
				defer each.Done()
				deadline := time.Now().Add(time.Millisecond)
				ctx, cancel := context.WithDeadline(context.Background(), deadline)
				defer cancel()
				done := make(chan struct{})
				go func() {
					defer close(done)
					_, err := h.Handle(ctx, req.Clone())
					r.died(err)
				}()
				select {
				case <-done:
				case <-time.After(time.Until(deadline) + grace):
					late.Add(1)
				}
			}()
		}
		each.Wait()
		if n := late.Load(); n > 0 {
			errs.add("handler %q: %d of %d requests did not come back within %s of their deadline", hi.Name, n, Copies, grace)
		}
		// What the router gave up on, the plugin must finish.
		until := time.Now().Add(grace)
		for {
			abandoned, finished := p.Abandoned()
			if p.Restarts() != restarts0 || abandoned < abandoned0 {
				break // a new process: the crash is reported elsewhere
			}
			left := int64(abandoned-abandoned0) - int64(finished-finished0)
			if left <= 0 {
				break
			}
			if time.Now().After(until) {
				errs.add("handler %q: %d of the %d requests the router gave up on at their deadline were still running in the plugin %s later: the handler ignores its context",
					hi.Name, left, abandoned-abandoned0, grace)
				break
			}
			time.Sleep(time.Millisecond)
		}
	}
}

// shutdown stops the plugin and checks that its process is gone.
func (r *runner) shutdown(errs *errorList, p *plugins.Process) {
	ctx, cancel := context.WithTimeout(context.Background(), ShutdownTimeout)
	defer cancel()
	if err := p.Shutdown(ctx); err != nil {
		errs.add("Shutdown: %v", err)
	}
	if r.logs.killed() {
		errs.add("the plugin did not exit when the router asked it to, and was killed")
	}
	pid := r.logs.pid()
	if pid == 0 {
		errs.add("cannot check that the plugin's process has exited: its pid was not logged")
		return
	}
	for !processGone(pid) {
		if ctx.Err() != nil {
			errs.add("the plugin's process %d still runs %s after Shutdown", pid, ShutdownTimeout)
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// stop shuts the plugin down if it still runs.
func (r *runner) stop() {
	r.mu.Lock()
	p := r.proc
	r.mu.Unlock()
	if p != nil {
		ctx, cancel := context.WithTimeout(context.Background(), ShutdownTimeout)
		defer cancel()
		p.Shutdown(ctx)
	}
}
