package router

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net"
	"net/http"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/msgrouter/router/config"
	"github.com/msgrouter/router/core"
	"github.com/msgrouter/router/metrics"
	"github.com/msgrouter/router/plugins"
)

// StartOptions are what Start needs besides the *config.Config.
type StartOptions struct {
	// Logger receives the router's logs and its plugins'. Nil means a
	// logger made by NewLogger from the config's log section, on stderr.
	// A reload that changes log.level sets the level of either.
	Logger hclog.Logger
	// Executable is the router executable that "builtin:NAME" plugins
	// run as "router plugin NAME". Empty means this process's executable.
	Executable string
	// InProcess runs plugins inside this process instead of starting
	// their cmd. It is keyed by a plugin's name, or by a cmd
	// ("builtin:search"): every plugin with that cmd then runs
	// in-process. Its functions return the same *plugins.Plugin a
	// plugin's main hands to plugins.ServePlugin, a fresh one for each
	// start, so that a plugin a reload changes is a new instance and the
	// old one serves the requests still on the old table. Its handlers'
	// declared actions and content-types are checked against the routes
	// as a process's are, and its Init, and its handlers', receive the
	// plugin's settings. The plugin must still be defined in the config.
	InProcess map[string]func() *plugins.Plugin
	// Metrics, if not nil, receives the router's metrics, whether or not
	// the config gives metrics a listen address: a program that serves
	// its own metrics endpoint passes its own. Nil means a fresh
	// metrics.New when metrics.listen is set, and no metrics otherwise.
	Metrics *metrics.Metrics
	// Now is the clock that Start, Check and Reload check the listeners'
	// certificates against (see config.Config.ValidateAt). Nil means time.Now.
	Now func() time.Time
}

// Router is a router built from a *config.Config: its listeners, its plugins and
// its route table, served by one core.Server. Reload changes all of
// these while it serves, without dropping a connection.
type Router struct {
	opts StartOptions
	log  hclog.Logger
	srv  *core.Server

	metrics   *metrics.Metrics // nil when off
	metricsLn net.Listener     // nil when no endpoint
	metricsHS *http.Server

	nats *natsLink // nil when no route names a NATS subject
	// drain, for a worker, stops taking requests and waits for those
	// taken; nil for a router, whose server drains.
	drain func(context.Context) error
	// reloadFileFn, for a worker, is what Watch reloads the file with;
	// nil for a router, which uses ReloadFile.
	reloadFileFn func(context.Context, string, config.LoadOptions) error

	gen atomic.Pointer[generation] // the route table requests start on

	ctx    context.Context // ends at Shutdown; bounds plugin starts
	cancel context.CancelFunc

	reloadMu sync.Mutex // one Reload at a time

	mu       sync.Mutex // guards what follows
	cfg      *config.Config
	procs    map[string]*pluginRun
	lns      []*listener // in the order of cfg.Listen
	serving  bool
	closed   bool
	done     chan struct{} // closed by Shutdown
	fatal    chan error    // a listener that failed on its own
	serveWG  sync.WaitGroup
	appliedB []byte // the file content last applied by Watch or ReloadFile
}

// Start builds and starts the router cfg describes: it validates cfg,
// opens every listener (so that an address in use fails the start before
// any plugin runs), starts the plugins together, checks the actions and
// content-types each route's handler declared, and builds the route
// table. It does not serve yet: see Serve. It logs a warning for each
// certificate that expires within 7 days (see config.Config.Warnings), and
// one if limits.max_connections and the plugins need more descriptors
// than the process may open.
//
// On error nothing is left running, and the error lists every problem,
// each a *config.Error naming its key.
func Start(ctx context.Context, cfg *config.Config, o StartOptions) (*Router, error) {
	now := o.now()
	if err := cfg.ValidateAt(now); err != nil {
		return nil, err
	}
	r := &Router{
		opts:  o,
		log:   o.Logger,
		cfg:   cfg,
		done:  make(chan struct{}),
		fatal: make(chan error, 1),
	}
	if r.log == nil {
		r.log = NewLogger(cfg.Log, os.Stderr)
	}
	r.logCertWarnings(cfg, now)
	r.warnOpenFiles(cfg)
	r.ctx, r.cancel = context.WithCancel(context.Background())

	var errs []error
	for i := range cfg.Listen {
		l, err := openListener(ctx, cfg, i)
		errs = append(errs, err)
		if l != nil {
			r.lns = append(r.lns, l)
		}
	}
	if err := errors.Join(errs...); err != nil {
		closeListeners(r.lns)
		r.cancel()
		return nil, err
	}

	r.metrics = o.Metrics
	if mc := cfg.Metrics; mc.Listen != "" {
		if r.metrics == nil {
			r.metrics = metrics.New()
		}
		if err := r.openMetrics(ctx, mc); err != nil {
			closeListeners(r.lns)
			r.cancel()
			return nil, err
		}
	}
	fail := func(err error) (*Router, error) {
		closeListeners(r.lns)
		if r.metricsLn != nil {
			r.metricsLn.Close()
		}
		r.cancel()
		return nil, err
	}

	unlink, err := r.linkNATS(cfg)
	if err != nil {
		return fail(err)
	}
	procs, err := r.startPlugins(ctx, cfg, slices.Sorted(maps.Keys(cfg.Plugins)))
	if err != nil {
		unlink()
		return fail(err)
	}
	g, err := r.build(cfg, procs)
	if err != nil {
		stopPlugins(context.Background(), cfg.Timeouts.Shutdown, mapValues(procs), r.log)
		unlink()
		return fail(err)
	}
	r.procs = procs
	r.watchPlugins(nil, procs)
	r.gen.Store(g)
	r.srv = &core.Server{
		Handler:            dispatcher{r},
		Logger:             r.log,
		RequestIDHeader:    cfg.RequestID.Header,
		GenerateRequestIDs: cfg.RequestID.Generate,
		MaxConnections:     noneIfZero(cfg.Limits.MaxConnections),
		MaxHeaderLength:    int(cfg.Limits.MaxHeaderLength),
		MaxContentLength:   noneIfZero(int64(cfg.Limits.MaxContentLength)),
		MaxBuffered:        int64(cfg.Limits.MaxBuffered), // 0: core's default
		IdleTimeout:        noneIfZero(cfg.Timeouts.Idle),
		ReadTimeout:        noneIfZero(cfg.Timeouts.Read),
		WriteTimeout:       noneIfZero(cfg.Timeouts.Write),
		HandlerTimeout:     noneIfZero(cfg.Timeouts.Handler),
	}
	if r.metrics != nil {
		r.metrics.Server(r.srv)
	}
	r.logRoutes(cfg)
	return r, nil
}

// Check checks cfg as Start does, without listening: it validates cfg,
// starts its plugins, checks each route against what its handler
// declared, and stops the plugins. It is "router config check" with the
// plugins, safe to run beside a router serving the same addresses.
func Check(ctx context.Context, cfg *config.Config, o StartOptions) error {
	if err := cfg.ValidateAt(o.now()); err != nil {
		return err
	}
	r := &Router{opts: o, log: o.Logger}
	if r.log == nil {
		r.log = hclog.NewNullLogger()
	}
	procs, err := r.startPlugins(ctx, cfg, slices.Sorted(maps.Keys(cfg.Plugins)))
	if err != nil {
		return err
	}
	_, err = r.build(cfg, procs)
	stopPlugins(context.Background(), cfg.Timeouts.Shutdown, mapValues(procs), r.log)
	return err
}

// answerLimit is the limit on a plugin's answers: limits.max_content_length
// when it raises core.DefaultMaxContentLength, or no limit when it is 0.
// A lower limit bounds what clients send, not the answers they get.
func answerLimit(limit config.Size) int64 {
	switch {
	case limit == 0:
		return -1
	case int64(limit) < core.DefaultMaxContentLength:
		return core.DefaultMaxContentLength
	}
	return int64(limit)
}

// noneIfZero maps the config's "0 means none" onto core's "negative
// means none" (core reads zero as "the default").
func noneIfZero[T int | int64 | time.Duration](v T) T {
	if v <= 0 {
		return -1
	}
	return v
}

// Serve serves every listener until Shutdown, and the listeners a
// Reload opens. Framed listeners serve the route table; a raw listener
// serves its plugin, or the route table if it names none (its chunks
// are then "application/octet-stream" requests). It returns
// core.ErrServerClosed after Shutdown, or the error of a listener that
// failed on its own, after which the caller should Shutdown.
func (r *Router) Serve() error {
	r.mu.Lock()
	switch {
	case r.closed:
		r.mu.Unlock()
		return core.ErrServerClosed
	case r.serving:
		r.mu.Unlock()
		return errors.New("router: Serve called twice")
	}
	r.serving = true
	for _, l := range r.lns {
		r.serveLocked(l)
	}
	r.serveMetricsLocked()
	r.mu.Unlock()
	select {
	case err := <-r.fatal:
		return err
	case <-r.done:
		return core.ErrServerClosed
	}
}

// serveLocked serves l in its own goroutine.
func (r *Router) serveLocked(l *listener) {
	if l.serving {
		return
	}
	l.serving = true
	raw, addr := l.cfg.Raw, l.cfg.Addr
	r.serveWG.Add(1)
	go func() {
		defer r.serveWG.Done()
		var err error
		if raw {
			err = r.srv.ServeRaw(l.ln, rawDispatcher{r, l.key})
		} else {
			err = r.srv.Serve(l.ln)
		}
		if errors.Is(err, core.ErrServerClosed) || l.closing.Load() {
			return
		}
		r.log.Error("listener failed", "addr", addr, "error", err)
		select {
		case r.fatal <- fmt.Errorf("router: listener %s: %w", addr, err):
		default:
		}
	}()
}

// Shutdown stops the router gracefully: it stops accepting, lets every
// connection finish the requests it has received, closes it, and then
// stops the plugins. If ctx ends first, what is left is closed and
// killed, and ctx's error returned.
func (r *Router) Shutdown(ctx context.Context) error {
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		return nil
	}
	r.closed = true
	close(r.done)
	for _, l := range r.lns {
		l.closing.Store(true)
	}
	r.mu.Unlock()
	r.cancel() // a Reload starting plugins gives up
	r.reloadMu.Lock()
	defer r.reloadMu.Unlock()

	var err error
	if r.drain != nil {
		if err = r.drain(ctx); err != nil {
			r.log.Warn("graceful shutdown did not finish; cancelling the requests left", "error", err)
		}
	} else if err = r.srv.Shutdown(ctx); err != nil {
		r.log.Warn("graceful shutdown did not finish; closing the remaining connections", "error", err, "connections", r.srv.Connections())
		r.srv.Close()
	}
	closeListeners(r.lns) // those never served
	r.stopMetrics(ctx)
	r.serveWG.Wait()
	r.mu.Lock()
	procs := mapValues(r.procs)
	link := r.nats
	r.mu.Unlock()
	if perr := stopPluginsCtx(ctx, procs, r.log); err == nil {
		err = perr
	}
	link.close() // after the drain: the requests to workers are answered
	r.log.Info("stopped")
	return err
}

// Config returns the configuration the router runs: the one given to
// Start, or to the last successful Reload. The caller must not change
// it.
func (r *Router) Config() *config.Config {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.cfg
}

// Addrs returns the addresses the listeners are bound to, in the order
// of the config's listen list: with port 0, the port actually picked.
func (r *Router) Addrs() []net.Addr {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]net.Addr, len(r.lns))
	for i, l := range r.lns {
		out[i] = l.bound
	}
	return out
}

// Handler returns the router's current route table as a Handler, for
// serving it some other way.
func (r *Router) Handler() core.Handler { return dispatcher{r} }

// Connections returns the number of open connections.
func (r *Router) Connections() int { return r.srv.Connections() }
