package plugins

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/msgrouter/router/core"
)

// Info is what a plugin declared at start.
type Info struct {
	Name     string
	Version  string
	Handlers []HandlerInfo
}

// HandlerInfo is one declared handler.
type HandlerInfo struct {
	Name         string
	Actions      []string
	ContentTypes []string
}

// Process is a running plugin, as the router sees it. Its Handler method
// gives the core.Handler for each of the plugin's handlers. It is safe for
// concurrent use.
type Process struct {
	cfg  Config // with its defaults applied (withDefaults)
	path string
	args []string
	log  hclog.Logger
	plog *limitedLogger // log within cfg.LogLimits, for go-plugin's re-emitted lines
	cur  atomic.Pointer[instance]

	mu       sync.Mutex
	info     Info
	closing  bool
	failErr  error         // set once the restart limit is hit
	restarts int           // deaths in a row, for the restart limit
	started  uint64        // restarts begun since Start, for metrics
	inflight int           // requests admitted (see admit.go)
	waiters  []*slotWait   // requests waiting for room under MaxInFlight, in order
	idle     *sync.Cond    // signalled when inflight drops to 0
	changed  chan struct{} // closed, and replaced, when cur, failErr or closing change
	stop     chan struct{}
	bg       sync.WaitGroup // kills and restarts running in the background
}

// Start launches the plugin cfg describes, checks its handshake and
// health, learns its handlers, hands it its settings, and connects its
// data path.
func Start(ctx context.Context, cfg Config) (*Process, error) {
	cfg = cfg.withDefaults()
	p := &Process{cfg: cfg, stop: make(chan struct{}), changed: make(chan struct{})}
	p.idle = sync.NewCond(&p.mu)
	if cfg.Logger == nil {
		p.log = hclog.NewNullLogger()
	} else {
		p.log = cfg.Logger.Named(cfg.Name)
	}
	if cfg.Name == "" {
		return nil, &StartError{Stage: "config", Err: errors.New("Config.Name is empty")}
	}
	path, args, err := resolveCmd(cfg)
	if err != nil {
		return nil, err
	}
	p.path, p.args = path, args
	p.plog = newLogLimiter(p.log, cfg.LogLimits)
	inst, info, err := p.launch(ctx)
	if err != nil {
		p.plog.Close() // reports what it dropped
		return nil, err
	}
	p.info = info
	p.cur.Store(inst)
	if err := inst.alive(); err != nil {
		p.crashed(inst, err) // it died between its start and now
	}
	if iv := p.cfg.HealthInterval; iv > 0 {
		go p.healthLoop(iv)
	}
	return p, nil
}

// Info returns what the plugin declared when it started.
func (p *Process) Info() Info {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.info
}

// Err returns why the plugin no longer serves: ErrStopped after
// Shutdown, an ErrFailed error once it has hit its restart limit, or nil
// while it runs or is being restarted; as State and its requests say. A
// router's reload replaces a failed plugin.
func (p *Process) Err() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	switch {
	case p.closing:
		return fmt.Errorf("%w: %q", ErrStopped, p.cfg.Name)
	case p.failErr != nil:
		return p.failErr
	}
	return nil
}

// Name returns the plugin's name from its Config.
func (p *Process) Name() string { return p.cfg.Name }

// Handler returns the core.Handler (also a core.BatchHandler) that sends
// requests to the plugin's handler name.
func (p *Process) Handler(name string) (core.Handler, error) {
	for _, h := range p.Info().Handlers {
		if h.Name == name {
			return &remoteHandler{p: p, name: name, nameJSON: core.AppendString(nil, name)}, nil
		}
	}
	return nil, fmt.Errorf("%w: plugin %q (%s) has no handler %q", ErrNoHandler, p.cfg.Name, p.path, name)
}

// changedLocked wakes the requests that wait in enter.
func (p *Process) changedLocked() {
	close(p.changed)
	p.changed = make(chan struct{})
}

// crashed handles the death of inst: its requests in flight have been
// answered with ErrExited by its data client. The plugin is restarted
// after a backoff, unless it has hit its restart limit.
func (p *Process) crashed(inst *instance, cause error) {
	p.mu.Lock()
	if p.closing || !p.cur.CompareAndSwap(inst, nil) {
		p.mu.Unlock()
		return
	}
	pol := p.cfg.Restart
	if inst != nil && time.Since(inst.started) >= pol.ResetAfter {
		p.restarts = 0
	}
	p.restarts++
	max := pol.MaxRestarts
	if max < 0 || p.restarts > max {
		cool := pol.Cooldown
		if max < 0 {
			cool = 0
		}
		p.failErr = fmt.Errorf("%w: %q died %d times in a row; last: %w", ErrFailed, p.cfg.Name, p.restarts, publicCause(cause))
		p.changedLocked()
		if cool > 0 {
			p.log.Error("plugin failed; starting it again after a cool-down", "error", cause, "restarts", p.restarts-1, "pid", inst.pid(), "cooldown", cool)
			p.background(func() { p.recoverAfter(cool) })
		} else {
			p.log.Error("plugin failed; not restarting", "error", cause, "restarts", p.restarts-1, "pid", inst.pid())
		}
		p.background(func() { inst.kill(context.Background(), 0, cause) })
		p.mu.Unlock()
		return
	}
	delay := pol.Backoff << (p.restarts - 1)
	if mb := pol.MaxBackoff; delay > mb || delay <= 0 {
		delay = mb
	}
	p.started++
	p.log.Warn("plugin died; restarting", "error", cause, "pid", inst.pid(), "attempt", p.restarts, "delay", delay)
	p.background(func() { inst.kill(context.Background(), 0, cause) })
	p.background(func() { p.restartAfter(delay) })
	p.mu.Unlock()
}

// background runs f in a goroutine that Shutdown waits for. It is called
// with p.mu held and before Shutdown has begun.
func (p *Process) background(f func()) {
	p.bg.Add(1)
	go func() {
		defer p.bg.Done()
		f()
	}()
}

// recoverAfter starts the plugin again once it has been failed for
// cool, with its restart count anew.
func (p *Process) recoverAfter(cool time.Duration) {
	t := time.NewTimer(cool)
	defer t.Stop()
	select {
	case <-t.C:
	case <-p.stop:
		return
	}
	p.mu.Lock()
	if p.closing || p.failErr == nil {
		p.mu.Unlock()
		return
	}
	p.failErr = nil
	p.restarts = 0
	p.started++
	p.changedLocked() // requests now wait for the new process
	p.mu.Unlock()
	p.log.Warn("plugin failed a cool-down ago; starting it again", "cooldown", cool)
	p.restartAfter(0)
}

// publicCause is cause, the last death of a failed plugin, with a text
// fit for an error answer: a start's error names the executable and its
// owner, which the log has.
func publicCause(cause error) error {
	if se, ok := errors.AsType[*StartError](cause); ok {
		if se.Stage == "" {
			return ErrStart
		}
		return fmt.Errorf("%w: %s", ErrStart, se.Stage)
	}
	return cause
}

func (p *Process) restartAfter(delay time.Duration) {
	select {
	case <-time.After(delay):
	case <-p.stop:
		return
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		select {
		case <-p.stop: // Shutdown does not wait for a whole start
			cancel()
		case <-ctx.Done():
		}
	}()
	inst, info, err := p.launch(ctx)
	if err != nil {
		p.crashed(nil, err)
		return
	}
	p.mu.Lock()
	if p.closing {
		p.mu.Unlock()
		inst.kill(context.Background(), stopGrace, nil)
		return
	}
	p.info = info
	p.cur.Store(inst)
	p.changedLocked()
	p.mu.Unlock()
	if err := inst.alive(); err != nil {
		p.crashed(inst, err) // it died between its start and now
		return
	}
	p.log.Info("plugin restarted")
}

func (p *Process) healthLoop(every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-p.stop:
			return
		case <-t.C:
		}
		inst := p.cur.Load()
		if inst == nil {
			continue
		}
		// go-plugin's Ping takes no deadline: a frozen plugin would hang
		// it, so it runs aside and is given a limit.
		pinged := make(chan error, 1)
		go func() { pinged <- inst.rpc.Ping() }()
		select {
		case err := <-pinged:
			if err != nil {
				p.crashed(inst, fmt.Errorf("health check: %w", err))
			}
		case <-time.After(p.cfg.HealthTimeout):
			p.crashed(inst, fmt.Errorf("health check: no answer in %s", p.cfg.HealthTimeout))
		case <-p.stop:
			return
		}
	}
}

// Shutdown stops the plugin: new requests are refused, the requests in
// flight are answered, then the process is asked to stop, and killed if
// it has not within stopGrace (or by the end of ctx, if that comes
// first). If ctx ends first, ctx's error is returned.
func (p *Process) Shutdown(ctx context.Context) error {
	p.mu.Lock()
	if p.closing {
		p.mu.Unlock()
		return nil
	}
	p.closing = true
	p.changedLocked()
	close(p.stop)
	drained := make(chan struct{})
	go func() {
		p.mu.Lock()
		for p.inflight > 0 {
			p.idle.Wait()
		}
		p.mu.Unlock()
		close(drained)
	}()
	p.mu.Unlock()
	var err error
	select {
	case <-drained:
	case <-ctx.Done():
		err = ctx.Err()
	}
	if inst := p.cur.Swap(nil); inst != nil {
		grace := stopGrace
		if err != nil {
			grace = 0
		}
		if inst.kill(ctx, grace, nil) && err == nil {
			err = ctx.Err() // it had to be killed at the end of ctx
		}
	}
	// What runs in the background (a restart, the kill of a crashed
	// process) ends soon: each kill is bounded, a start by StartTimeout.
	bg := make(chan struct{})
	go func() {
		p.bg.Wait()
		close(bg)
	}()
	select {
	case <-bg:
	case <-ctx.Done():
		if err == nil {
			err = ctx.Err()
		}
	}
	p.plog.Close()
	p.log.Debug("plugin stopped")
	return err
}
