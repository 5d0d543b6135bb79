package router

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"os"
	"reflect"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

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

// NewLogger returns the logger the log section describes, writing to w.
func NewLogger(l config.Log, w io.Writer) hclog.Logger {
	return hclog.New(&hclog.LoggerOptions{
		Name:       "router",
		Level:      hclog.LevelFromString(l.Level),
		Output:     w,
		JSONFormat: l.Format == "json",
		Color:      hclog.ColorOff,
	})
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

// generation is one route table. Requests acquire the current one for
// as long as they are handled, so that a reload can wait for the
// requests on the old table before it stops the plugins only that table
// leads to.
type generation struct {
	mux *core.Mux
	raw map[string]core.Handler // by listener key, raw listeners with a plugin
	// refs counts the requests on this table, in shards so that cores
	// serving different connections do not share one counter.
	refs [refShards]struct {
		n atomic.Int64
		_ [56]byte // a cache line each
	}
}

const refShards = 16 // acquire hashes to the top 4 bits

// acquire returns the current generation, counted in until release, in
// a shard chosen by the request (the server reuses a connection's
// requests, so a connection keeps to one shard).
func (r *Router) acquire(req *core.Message) (*generation, *atomic.Int64) {
	shard := int((uint64(uintptr(unsafe.Pointer(req))) >> 4 * 0x9e3779b97f4a7c15) >> 60)
	for {
		g := r.gen.Load()
		n := &g.refs[shard].n
		n.Add(1)
		// A swap between the Load and the Add would let the old table's
		// drain miss this request: check, and if so take the new one.
		if r.gen.Load() == g {
			return g, n
		}
		n.Add(-1)
	}
}

// inUse reports whether requests are on g. Once g is no longer the
// current table, every acquire that sees it counts itself in before it
// checks, so a pass that finds all shards zero means it is drained.
func (g *generation) inUse() bool {
	for i := range g.refs {
		if g.refs[i].n.Load() != 0 {
			return true
		}
	}
	return false
}

// dispatcher is the Server's Handler: the current route table.
type dispatcher struct{ r *Router }

var _ core.BatchHandler = dispatcher{}

func (d dispatcher) Handle(ctx context.Context, req *core.Message) (*core.Message, error) {
	g, n := d.r.acquire(req)
	defer n.Add(-1)
	ans, err := g.mux.Handle(ctx, req)
	if m := d.r.metrics; m != nil && unrouted(g, req, err) {
		m.NoRoute(1)
	}
	return ans, err
}

// unrouted reports whether err says that no route of g's table took req
// (and not a route's handler, a Mux of its own, which counts it as an
// error of its route).
func unrouted(g *generation, req *core.Message, err error) bool {
	if err == nil || !errors.Is(err, core.ErrNoRoute) {
		return false
	}
	_, ok, _ := g.mux.Match(req)
	return !ok
}

func (d dispatcher) HandleBatch(ctx context.Context, reqs, answers []*core.Message, errs []error) {
	g, n := d.r.acquire(reqs[0])
	defer n.Add(-1)
	g.mux.HandleBatch(ctx, reqs, answers, errs)
	if m := d.r.metrics; m != nil {
		// The requests no route matched never reach an instrumented
		// handler.
		n := 0
		for i, err := range errs[:len(reqs)] {
			if unrouted(g, reqs[i], err) {
				n++
			}
		}
		if n > 0 {
			m.NoRoute(n)
		}
	}
}

// rawDispatcher answers a raw listener's chunks: with its plugin if the
// current config gives it one, else with the route table.
type rawDispatcher struct {
	r   *Router
	key string
}

func (d rawDispatcher) Handle(ctx context.Context, req *core.Message) (*core.Message, error) {
	g, n := d.r.acquire(req)
	defer n.Add(-1)
	if h, ok := g.raw[d.key]; ok {
		return h.Handle(ctx, req)
	}
	return g.mux.Handle(ctx, req)
}

// pluginRun is one running plugin: a process, or a plugin in-process.
type pluginRun struct {
	name   string
	cfg    config.Plugin
	proc   *plugins.Process // nil in-process
	inproc *plugins.Plugin
	info   plugins.Info
}

func (p *pluginRun) handler(name string) (core.Handler, error) {
	if p.proc != nil {
		return p.proc.Handler(name)
	}
	for _, h := range p.inproc.Handlers {
		if h.Name == name {
			return h.Handler, nil
		}
	}
	return nil, fmt.Errorf("%w: %q", plugins.ErrNoHandler, name)
}

// err reports why the plugin no longer serves (see plugins.Process.Err).
func (p *pluginRun) err() error {
	if p.proc == nil {
		return nil
	}
	return p.proc.Err()
}

func (p *pluginRun) shutdown(ctx context.Context) error {
	if p.proc == nil {
		return nil
	}
	return p.proc.Shutdown(ctx)
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

	procs, err := r.startPlugins(ctx, cfg, slices.Sorted(maps.Keys(cfg.Plugins)))
	if err != nil {
		return fail(err)
	}
	g, err := r.build(cfg, procs)
	if err != nil {
		stopPlugins(context.Background(), cfg.Timeouts.Shutdown, mapValues(procs), r.log)
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
		return errors.New("config: Router.Serve called twice")
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
		case r.fatal <- fmt.Errorf("config: listener %s: %w", addr, err):
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

	err := r.srv.Shutdown(ctx)
	if err != nil {
		r.log.Warn("graceful shutdown did not finish; closing the remaining connections", "error", err, "connections", r.srv.Connections())
		r.srv.Close()
	}
	closeListeners(r.lns) // those never served
	r.stopMetrics(ctx)
	r.serveWG.Wait()
	r.mu.Lock()
	procs := mapValues(r.procs)
	r.mu.Unlock()
	if perr := stopPluginsCtx(ctx, procs, r.log); err == nil {
		err = perr
	}
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

// Reload makes cfg the running configuration, without dropping a
// connection:
//
//   - cfg is validated;
//   - the plugins it adds, or whose config it changes, are started
//     (a changed plugin runs twice for a moment);
//   - its route table is built and checked against the plugins'
//     declarations;
//   - the listeners it adds are opened;
//   - then the route table is swapped atomically: a request in flight
//     finishes on the table it started with, the next one starts on
//     the new table;
//   - the listeners it removes are closed (their connections stay open
//     until their clients close them);
//   - the plugins it removes or replaces are stopped once the requests
//     on the old table have finished (at most timeouts.shutdown).
//
// On error nothing has changed: the last good configuration keeps
// serving. The one exception is a listener whose raw or TLS mode
// changed on the same address: its old listener is closed after the
// swap, to free the address, and if the new one then cannot listen
// there, the new configuration is in force without it and the error
// wraps config.ErrReloadIncomplete (and the config.ErrListen of the listener).
//
// Limits and timeouts other than timeouts.shutdown, log.format, metrics
// and request_id are the ones the router started with until it
// restarts: a reload that changes them logs a warning. With metrics on,
// the result counts in router_reloads_total.
func (r *Router) Reload(ctx context.Context, cfg *config.Config) error {
	err := r.reload(ctx, cfg)
	if r.metrics != nil && !errors.Is(err, core.ErrServerClosed) {
		r.metrics.Reload(err)
	}
	return err
}

func (r *Router) reload(ctx context.Context, cfg *config.Config) error {
	r.reloadMu.Lock()
	defer r.reloadMu.Unlock()
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		return core.ErrServerClosed
	}
	old, oldProcs, oldLns := r.cfg, r.procs, r.lns
	r.mu.Unlock()

	now := r.opts.now()
	if err := cfg.ValidateAt(now); err != nil {
		return err
	}
	ctx, stop := mergeCancel(ctx, r.ctx)
	defer stop()
	began := time.Now()

	// Plugins: keep those whose config is the same and that still serve;
	// start the others (a plugin that hit its restart limit gets a fresh
	// start from any reload).
	procs := make(map[string]*pluginRun, len(cfg.Plugins))
	var toStart []string
	for _, name := range slices.Sorted(maps.Keys(cfg.Plugins)) {
		if p, ok := oldProcs[name]; ok && reflect.DeepEqual(p.cfg, cfg.Plugins[name]) && p.err() == nil {
			procs[name] = p
		} else {
			toStart = append(toStart, name)
		}
	}
	started, err := r.startPlugins(ctx, cfg, toStart)
	if err != nil {
		return err
	}
	abort := func(err error, opened []*listener) error {
		closeListeners(opened)
		stopPlugins(context.Background(), cfg.Timeouts.Shutdown, mapValues(started), r.log)
		return err
	}
	for name, p := range started {
		procs[name] = p
	}
	g, err := r.build(cfg, procs)
	if err != nil {
		return abort(err, nil)
	}

	// Listeners: keep those with the same key, open the new ones. One
	// whose address a removed listener holds is opened after the swap.
	byKey := make(map[string]*listener, len(oldLns))
	heldAddr := make(map[string]bool)
	for _, l := range oldLns {
		byKey[l.key] = l
		if k := addrKey(l.cfg); k != "" {
			heldAddr[k] = true
		}
	}
	lns := make([]*listener, len(cfg.Listen))
	var opened []*listener
	var later []int // indexes in cfg.Listen
	laterTLS := make(map[int]*tls.Config)
	kept := make(map[*listener]config.Listener)
	newTLS := make(map[*listener]*tls.Config)
	var errs []error
	keys := listenerKeys(cfg.Listen)
	for i, lc := range cfg.Listen {
		if l, ok := byKey[keys[i]]; ok {
			lns[i] = l
			kept[l] = lc
			if lc.TLS != nil {
				// The files are read again: a renewed certificate often
				// keeps its name. Used after the swap.
				tc, err := cfg.ListenerTLS(i)
				errs = append(errs, err)
				newTLS[l] = tc
			}
			continue
		}
		if heldAddr[addrKey(lc)] {
			// Opened after the swap; its TLS files are read now, so
			// that a bad certificate rejects the reload before the
			// old listener closes.
			tc, err := cfg.ListenerTLS(i)
			errs = append(errs, err)
			later, laterTLS[i] = append(later, i), tc
			continue
		}
		l, err := openListener(ctx, cfg, i)
		errs = append(errs, err)
		if l != nil {
			lns[i] = l
			opened = append(opened, l)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return abort(err, opened)
	}

	// The swap. From here on the new config is the running one.
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		return abort(core.ErrServerClosed, opened)
	}
	for l, lc := range kept {
		l.cfg = lc
	}
	for l, tc := range newTLS {
		l.tls.Store(tc)
	}
	oldGen := r.gen.Swap(g)
	var removed []*listener
	for _, l := range oldLns {
		if !slices.Contains(lns, l) {
			removed = append(removed, l)
			l.closing.Store(true)
			l.ln.Close()
		}
	}
	nOpened := len(opened)
	var lost []error
	for _, i := range later {
		l, err := bindListener(ctx, cfg, i, laterTLS[i])
		if err != nil {
			// Its address was just freed, so this is rare; the rest of
			// the config is in force.
			r.log.Error("reload: cannot reopen a listener whose mode changed; the rest of the config is in force", "error", err)
			lost = append(lost, err)
			continue
		}
		lns[i] = l
		nOpened++
	}
	r.lns = slices.DeleteFunc(lns, func(l *listener) bool { return l == nil })
	if r.serving {
		for _, l := range r.lns {
			r.serveLocked(l)
		}
	}
	r.cfg = cfg
	r.procs = procs
	r.mu.Unlock()
	r.watchPlugins(oldProcs, procs)

	if cfg.Log.Level != old.Log.Level {
		r.log.SetLevel(hclog.LevelFromString(cfg.Log.Level))
	}
	if cfg.Limits != old.Limits || withoutShutdown(cfg.Timeouts) != withoutShutdown(old.Timeouts) || cfg.Log.Format != old.Log.Format {
		r.log.Warn("reload: limits, timeouts and log.format apply at the next restart; the running ones stay")
	}
	if cfg.Metrics != old.Metrics || cfg.RequestID != old.RequestID {
		r.log.Warn("reload: metrics and request_id apply at the next restart; the running ones stay")
	}

	// Retire the plugins only the old table led to, once its requests
	// are done.
	var retired []*pluginRun
	for name, p := range oldProcs {
		if procs[name] != p {
			retired = append(retired, p)
		}
	}
	if len(retired) > 0 {
		// timeouts.shutdown 0 means no limit, as for a stop.
		limit := cfg.Timeouts.Shutdown
		deadline := time.Now().Add(limit)
		for oldGen.inUse() && (limit <= 0 || time.Now().Before(deadline)) && ctx.Err() == nil {
			time.Sleep(2 * time.Millisecond)
		}
		// ctx ends with the caller's or the router's: then the retired
		// plugins are stopped at once.
		stopPlugins(ctx, limit, retired, r.log)
	}

	r.log.Info("config reloaded",
		"plugins_started", names(started), "plugins_stopped", pluginNames(retired),
		"listeners_opened", nOpened, "listeners_closed", len(removed),
		"routes", len(cfg.Routes), "took", time.Since(began).Round(time.Millisecond))
	r.logRoutes(cfg)
	r.logCertWarnings(cfg, now)
	if err := errors.Join(lost...); err != nil {
		return fmt.Errorf("%w: %w", config.ErrReloadIncomplete, err)
	}
	return nil
}

func withoutShutdown(t config.Timeouts) config.Timeouts {
	t.Shutdown = 0
	return t
}

// ReloadFile loads the file at path with o, as config.Load does, and reloads
// the router with it; see Reload. This is what a SIGHUP should do. Its
// error, if any, is also logged, line by line: the last good config
// keeps serving.
func (r *Router) ReloadFile(ctx context.Context, path string, o config.LoadOptions) error {
	b, _ := os.ReadFile(path)
	cfg, err := config.Load(path, o)
	if err == nil {
		err = r.Reload(ctx, cfg)
	} else if r.metrics != nil {
		r.metrics.Reload(err) // Reload counts the rest
	}
	if errors.Is(err, config.ErrReloadIncomplete) {
		r.mu.Lock()
		r.appliedB = b
		r.mu.Unlock()
		return err // Reload logged it
	}
	if err != nil {
		if errors.Is(err, core.ErrServerClosed) {
			return err
		}
		lines := strings.Split(err.Error(), "\n")
		r.log.Error("reload rejected; the last good config keeps serving", "file", path, "problems", len(lines))
		for _, l := range lines {
			r.log.Error("reload: " + l)
		}
		return err
	}
	r.mu.Lock()
	r.appliedB = b
	r.mu.Unlock()
	return nil
}

// startPlugins starts the plugins of cfg named in names, all at once.
// If any fails, it stops the others and returns an error per failure.
func (r *Router) startPlugins(ctx context.Context, cfg *config.Config, names []string) (map[string]*pluginRun, error) {
	runs := make([]*pluginRun, len(names))
	errs := make([]error, len(names))
	var wg sync.WaitGroup
	for i, name := range names {
		wg.Go(func() { runs[i], errs[i] = r.startPlugin(ctx, cfg, name) })
	}
	wg.Wait()
	out := make(map[string]*pluginRun, len(names))
	for _, p := range runs {
		if p != nil {
			out[p.name] = p
		}
	}
	if err := errors.Join(errs...); err != nil {
		stopPlugins(context.Background(), cfg.Timeouts.Shutdown, mapValues(out), r.log)
		return nil, err
	}
	return out, nil
}

func (r *Router) startPlugin(ctx context.Context, cfg *config.Config, name string) (*pluginRun, error) {
	pc := cfg.Plugins[name]
	key := "plugins." + name
	fail := func(msg string, err error) error {
		return &config.Error{Source: cfg.Source(key + ".cmd"), Key: key, Msg: msg, Err: config.ErrPlugin, Cause: err}
	}
	newPlugin := r.opts.InProcess[name]
	if newPlugin == nil {
		newPlugin = r.opts.InProcess[pc.Cmd]
	}
	if newPlugin != nil {
		p := newPlugin()
		if p == nil || len(p.Handlers) == 0 {
			return nil, fail("the in-process plugin has no handlers", nil)
		}
		run := &pluginRun{name: name, cfg: pc, inproc: p, info: p.Info()}
		if err := p.Initialize(ctx, pc.Settings); err != nil {
			return nil, &config.Error{Source: cfg.Source(key + ".settings"), Key: key, Msg: "in-process Init failed: " + err.Error(), Err: config.ErrPlugin, Cause: err}
		}
		return run, nil
	}
	env := make([]string, 0, len(pc.Env))
	for _, k := range slices.Sorted(maps.Keys(pc.Env)) {
		env = append(env, k+"="+pc.Env[k])
	}
	maxRestarts := pc.Restart.MaxRestarts
	if maxRestarts == 0 {
		maxRestarts = -1 // plugins reads 0 as its default
	}
	proc, err := plugins.Start(ctx, plugins.Config{
		Name:           name,
		Cmd:            pc.Cmd,
		Args:           pc.Args,
		Env:            env,
		Settings:       pc.Settings,
		Logger:         r.log,
		StartTimeout:   pc.StartTimeout,
		HealthInterval: noneIfZero(pc.HealthInterval),
		Restart: plugins.RestartPolicy{
			MaxRestarts: maxRestarts,
			Backoff:     pc.Restart.Backoff,
			MaxBackoff:  pc.Restart.MaxBackoff,
			ResetAfter:  pc.Restart.ResetAfter,
			Cooldown:    noneIfZero(pc.Restart.Cooldown),
		},
		MaxInFlight: noneIfZero(pc.MaxInFlight),
		LogLimits: plugins.LogLimits{
			LinesPerSecond: noneIfZero(pc.Log.LinesPerSecond),
			Burst:          noneIfZero(pc.Log.Burst),
			MaxLineLength:  noneIfZero(int(pc.Log.MaxLine)),
		},
		Executable:      r.opts.Executable,
		MaxAnswerLength: answerLimit(cfg.Limits.MaxContentLength),
	})
	if err != nil {
		return nil, fail(fmt.Sprintf("cannot start %s: %s", pc.Cmd, plugins.ShortError(err)), err)
	}
	return &pluginRun{name: name, cfg: pc, proc: proc, info: proc.Info()}, nil
}

// build returns the route table of cfg over the running plugins procs,
// and checks every route against what its handler declared.
func (r *Router) build(cfg *config.Config, procs map[string]*pluginRun) (*generation, error) {
	var errs []error
	routes := make([]core.Route, 0, len(cfg.Routes))
	for i, rt := range cfg.Routes {
		key := fmt.Sprintf("routes[%d]", i)
		h, hi, err := resolve(cfg, procs, key+".plugin", rt.Plugin)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		errs = append(errs, checkDeclared(cfg, key, rt, hi))
		ct := rt.ContentType
		if core.MatchesEveryType(ct) {
			ct = ""
		}
		if r.metrics != nil {
			h = r.metrics.Instrument(rt.Label(), h)
		}
		routes = append(routes, core.Route{Action: rt.Action, ContentType: ct, Handler: h})
	}
	g := &generation{raw: make(map[string]core.Handler)}
	keys := listenerKeys(cfg.Listen)
	for i, l := range cfg.Listen {
		if !l.Raw || l.Plugin == "" {
			continue
		}
		h, _, err := resolve(cfg, procs, fmt.Sprintf("listen[%d].plugin", i), l.Plugin)
		errs = append(errs, err)
		if h != nil {
			g.raw[keys[i]] = h
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	mux, err := core.NewMux(routes...)
	if err != nil {
		// Validate checks what core does, and more; this is a safety net.
		return nil, &config.Error{Source: cfg.Source("routes"), Key: "routes", Msg: strings.TrimPrefix(err.Error(), "core: "), Err: config.ErrRoute, Cause: err}
	}
	g.mux = mux
	for name := range procs {
		if !uses(cfg, name) {
			r.log.Warn("plugin runs but no route or listener leads to it", "plugin", name)
		}
	}
	return g, nil
}

// uses reports whether a route or listener leads to the plugin name.
func uses(c *config.Config, name string) bool {
	for _, rt := range c.Routes {
		if n, _, _ := strings.Cut(rt.Plugin, "."); n == name {
			return true
		}
	}
	for _, l := range c.Listen {
		if n, _, _ := strings.Cut(l.Plugin, "."); n == name && l.Raw {
			return true
		}
	}
	return false
}

// resolve returns the handler that ref ("NAME" or "NAME.HANDLER") names,
// and what it declared.
func resolve(cfg *config.Config, procs map[string]*pluginRun, key, ref string) (core.Handler, plugins.HandlerInfo, error) {
	fail := func(msg, want string) (core.Handler, plugins.HandlerInfo, error) {
		return nil, plugins.HandlerInfo{}, &config.Error{Source: cfg.Source(key), Key: key, Msg: msg, Want: want, Err: config.ErrRoute}
	}
	name, hname, dotted := strings.Cut(ref, ".")
	p, ok := procs[name]
	if !ok {
		return fail(fmt.Sprintf("no plugin %q is defined", name), "a plugin defined under plugins")
	}
	hs := p.info.Handlers
	var choices []string
	for _, h := range hs {
		choices = append(choices, fmt.Sprintf("%q", name+"."+h.Name))
	}
	var hi *plugins.HandlerInfo
	switch {
	case dotted:
		for i := range hs {
			if hs[i].Name == hname {
				hi = &hs[i]
			}
		}
		if hi == nil {
			return fail(fmt.Sprintf("plugin %q has no handler %q", name, hname), "one of "+orList(choices))
		}
	case len(hs) == 1:
		hi = &hs[0]
	default:
		for i := range hs {
			if hs[i].Name == name {
				hi = &hs[i]
			}
		}
		if hi == nil {
			return fail(fmt.Sprintf("plugin %q has %d handlers and none is named %q", name, len(hs), name), orList(choices))
		}
	}
	h, err := p.handler(hi.Name)
	if err != nil {
		return fail(err.Error(), "one of "+orList(choices))
	}
	return h, *hi, nil
}

// checkDeclared checks that the handler hi declares what route rt
// matches: its action, its content-type, or, for the catch-all, every
// content-type ("*").
func checkDeclared(cfg *config.Config, key string, rt config.Route, hi plugins.HandlerInfo) error {
	var errs []error
	fail := func(k, msg, want string) {
		errs = append(errs, &config.Error{Source: cfg.Source(k), Key: k, Msg: msg, Want: want, Err: config.ErrRoute})
	}
	who := fmt.Sprintf("handler %q of plugin %q", hi.Name, strings.SplitN(rt.Plugin, ".", 2)[0])
	if rt.Action != "" && !slices.Contains(hi.Actions, rt.Action) {
		fail(key+".action", fmt.Sprintf("%s does not declare action %q", who, rt.Action), declaredList("an action it declares", "it declares no action", hi.Actions))
	}
	if !core.MatchesEveryType(rt.ContentType) && !slices.ContainsFunc(hi.ContentTypes, func(d string) bool { return core.PatternCovers(d, rt.ContentType) }) {
		fail(key+".content_type", fmt.Sprintf("%s does not declare content-type %q", who, rt.ContentType), declaredList("a content-type it declares", "it declares no content-type", hi.ContentTypes))
	}
	if rt.CoreRoute().IsCatchAll() && !slices.ContainsFunc(hi.ContentTypes, core.MatchesEveryType) {
		fail(key, fmt.Sprintf("the catch-all route leads to %s, which does not declare every content-type (\"*\")", who), "a catch-all to a handler that declares \"*\", or an action or content_type on this route")
	}
	return errors.Join(errs...)
}

func declaredList(some, none string, items []string) string {
	if len(items) == 0 {
		return none
	}
	q := make([]string, len(items))
	for i, s := range items {
		q[i] = fmt.Sprintf("%q", s)
	}
	return some + ": " + strings.Join(q, ", ")
}

func orList(items []string) string {
	switch len(items) {
	case 0:
		return "a handler the plugin has"
	case 1:
		return items[0]
	}
	return strings.Join(items[:len(items)-1], ", ") + " or " + items[len(items)-1]
}

func (r *Router) logRoutes(cfg *config.Config) {
	for i, rt := range cfg.Routes {
		r.log.Debug("route", "index", i, "action", rt.Action, "content_type", rt.ContentType, "plugin", rt.Plugin)
	}
}

// stopPlugins stops procs, all at once, giving each at most timeout (no
// limit for 0) to finish its requests.
func stopPlugins(ctx context.Context, timeout time.Duration, procs []*pluginRun, log hclog.Logger) error {
	if timeout > 0 { // 0 means no limit but the plugins' own
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, timeout)
		defer cancel()
	}
	return stopPluginsCtx(ctx, procs, log)
}

func stopPluginsCtx(ctx context.Context, procs []*pluginRun, log hclog.Logger) error {
	var wg sync.WaitGroup
	errs := make([]error, len(procs))
	for i, p := range procs {
		wg.Go(func() {
			if err := p.shutdown(ctx); err != nil {
				log.Warn("plugin did not stop gracefully; killed", "plugin", p.name, "error", err)
				errs[i] = err
			}
		})
	}
	wg.Wait()
	return errors.Join(errs...)
}

func closeListeners(ls []*listener) {
	for _, l := range ls {
		if l != nil {
			l.closing.Store(true)
			l.ln.Close()
		}
	}
}

// mergeCancel returns ctx, also cancelled when other is.
func mergeCancel(ctx, other context.Context) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancel(ctx)
	stop := context.AfterFunc(other, cancel)
	return ctx, func() { stop(); cancel() }
}

func mapValues(m map[string]*pluginRun) []*pluginRun {
	out := make([]*pluginRun, 0, len(m))
	for _, name := range slices.Sorted(maps.Keys(m)) {
		out = append(out, m[name])
	}
	return out
}

func names(m map[string]*pluginRun) []string { return slices.Sorted(maps.Keys(m)) }

func pluginNames(ps []*pluginRun) []string {
	out := make([]string, len(ps))
	for i, p := range ps {
		out[i] = p.name
	}
	slices.Sort(out)
	return out
}
