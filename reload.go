package router

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"maps"
	"os"
	"reflect"
	"slices"
	"strings"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/msgrouter/router/config"
	"github.com/msgrouter/router/core"
)

// Reload makes cfg the running configuration, without dropping a
// connection:
//
//   - cfg is validated;
//   - the plugins it adds, whose config it changes, whose executable
//     is another file than the one they started (rebuilt in place:
//     blue/green), or that failed, are started (a changed plugin runs
//     twice for a moment);
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

	unlink, err := r.linkNATS(cfg)
	if err != nil {
		return err
	}
	pp, err := r.planPlugins(ctx, cfg, oldProcs)
	if err != nil {
		unlink()
		return err
	}
	abort := func(lp *listenerPlan, err error) error {
		lp.abort()
		err = pp.abortWith(r, cfg, err)
		unlink()
		return err
	}
	g, err := r.build(cfg, pp.procs)
	if err != nil {
		return abort(nil, err)
	}
	lp, err := planListeners(ctx, cfg, oldLns)
	if err != nil {
		return abort(lp, err)
	}
	res, err := r.commit(ctx, cfg, g, pp, lp, oldLns)
	if err != nil {
		return abort(lp, err)
	}
	r.watchPlugins(oldProcs, pp.procs)
	r.applyLogAndWarn(cfg, old)
	retired := pp.retired(oldProcs)
	r.retire(ctx, cfg, res.oldGen, retired)

	r.log.Info("config reloaded",
		"plugins_started", names(pp.started), "plugins_stopped", pluginNames(retired),
		"listeners_opened", res.opened, "listeners_closed", res.closed,
		"routes", len(cfg.Routes), "took", time.Since(began).Round(time.Millisecond))
	r.logRoutes(cfg)
	r.logCertWarnings(cfg, now)
	if err := errors.Join(res.lost...); err != nil {
		return fmt.Errorf("%w: %w", config.ErrReloadIncomplete, err)
	}
	return nil
}

// pluginPlan is what a reload does to the plugins: the new table's
// plugins, those kept and those started for it.
type pluginPlan struct {
	procs   map[string]*pluginRun // by name: every plugin of the new config
	started map[string]*pluginRun // those started by this reload
}

// planPlugins keeps the plugins whose config is the same and that still
// serve, and starts the others: a new plugin; a changed one, or one whose
// executable was rebuilt or replaced in place (blue/green: the new runs
// beside the old, which answers what it holds before it stops); and one
// that failed (any reload gives it a fresh start).
func (r *Router) planPlugins(ctx context.Context, cfg *config.Config, oldProcs map[string]*pluginRun) (*pluginPlan, error) {
	pp := &pluginPlan{procs: make(map[string]*pluginRun, len(cfg.Plugins))}
	var toStart []string
	for _, name := range slices.Sorted(maps.Keys(cfg.Plugins)) {
		p, ok := oldProcs[name]
		switch {
		case !ok || !reflect.DeepEqual(p.cfg, cfg.Plugins[name]) || p.err() != nil:
			toStart = append(toStart, name)
		case r.changed(p, cfg):
			r.log.Info("reload: the plugin's executable changed; starting the new one beside the old", "plugin", name)
			toStart = append(toStart, name)
		default:
			pp.procs[name] = p
		}
	}
	started, err := r.startPlugins(ctx, cfg, toStart)
	if err != nil {
		return nil, err
	}
	pp.started = started
	maps.Copy(pp.procs, started)
	return pp, nil
}

// abortWith stops the plugins the plan started, and returns err.
func (pp *pluginPlan) abortWith(r *Router, cfg *config.Config, err error) error {
	stopPlugins(context.Background(), cfg.Timeouts.Shutdown, mapValues(pp.started), r.log)
	return err
}

// retired returns the plugins of oldProcs that the plan does not keep.
func (pp *pluginPlan) retired(oldProcs map[string]*pluginRun) []*pluginRun {
	var out []*pluginRun
	for _, name := range slices.Sorted(maps.Keys(oldProcs)) {
		if p := oldProcs[name]; pp.procs[name] != p {
			out = append(out, p)
		}
	}
	return out
}

// listenerPlan is what a reload does to the listeners.
type listenerPlan struct {
	lns    []*listener // by index in cfg.Listen: kept or opened; nil for those opened after the swap
	opened []*listener // opened by this reload, before the swap
	// kept are the listeners kept, with their new config and, for TLS
	// ones, their certificates read again (a renewed certificate often
	// keeps its file name).
	kept   map[*listener]config.Listener
	newTLS map[*listener]*tls.Config
	// later are the listeners (indexes in cfg.Listen) whose address a
	// removed listener holds: a change of raw or TLS mode on the same
	// address. They are opened after the swap, with laterTLS, read now so
	// that a bad certificate rejects the reload before the old listener
	// closes.
	later    []int
	laterTLS map[int]*tls.Config
}

// planListeners keeps the listeners with the same key and opens the new
// ones, but those whose address a removed listener holds.
func planListeners(ctx context.Context, cfg *config.Config, oldLns []*listener) (*listenerPlan, error) {
	byKey := make(map[string]*listener, len(oldLns))
	heldAddr := make(map[string]bool)
	for _, l := range oldLns {
		byKey[l.key] = l
		if k := addrKey(l.cfg); k != "" {
			heldAddr[k] = true
		}
	}
	lp := &listenerPlan{
		lns:  make([]*listener, len(cfg.Listen)),
		kept: make(map[*listener]config.Listener), newTLS: make(map[*listener]*tls.Config),
		laterTLS: make(map[int]*tls.Config),
	}
	var errs []error
	keys := listenerKeys(cfg.Listen)
	for i, lc := range cfg.Listen {
		switch l, ok := byKey[keys[i]]; {
		case ok:
			lp.lns[i], lp.kept[l] = l, lc
			if lc.TLS != nil {
				tc, err := cfg.ListenerTLS(i)
				errs = append(errs, err)
				lp.newTLS[l] = tc
			}
		case heldAddr[addrKey(lc)]:
			tc, err := cfg.ListenerTLS(i)
			errs = append(errs, err)
			lp.later, lp.laterTLS[i] = append(lp.later, i), tc
		default:
			l, err := openListener(ctx, cfg, i)
			errs = append(errs, err)
			if l != nil {
				lp.lns[i] = l
				lp.opened = append(lp.opened, l)
			}
		}
	}
	return lp, errors.Join(errs...)
}

// abort closes the listeners the plan opened.
func (lp *listenerPlan) abort() {
	if lp != nil {
		closeListeners(lp.opened)
	}
}

// committed is what the swap did.
type committed struct {
	oldGen         *generation // the table replaced
	opened, closed int         // listeners
	lost           []error     // listeners opened after the swap that could not be
}

// commit makes the plans the running router: the new table replaces the
// old, kept listeners take their new config, removed ones close, and
// those whose address was held open now. From here on cfg is the running
// config; its only error is that the router was shut down meanwhile.
func (r *Router) commit(ctx context.Context, cfg *config.Config, g *generation, pp *pluginPlan, lp *listenerPlan, oldLns []*listener) (*committed, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return nil, core.ErrServerClosed
	}
	for l, lc := range lp.kept {
		l.cfg = lc
	}
	for l, tc := range lp.newTLS {
		l.tls.Store(tc)
	}
	res := &committed{oldGen: r.gen.Swap(g), opened: len(lp.opened)}
	for _, l := range oldLns {
		if !slices.Contains(lp.lns, l) {
			res.closed++
			l.closing.Store(true)
			l.ln.Close()
		}
	}
	for _, i := range lp.later {
		l, err := bindListener(ctx, cfg, i, lp.laterTLS[i])
		if err != nil {
			// Its address was just freed, so this is rare; the rest of
			// the config is in force.
			r.log.Error("reload: cannot reopen a listener whose mode changed; the rest of the config is in force", "error", err)
			res.lost = append(res.lost, err)
			continue
		}
		lp.lns[i] = l
		res.opened++
	}
	r.lns = slices.DeleteFunc(lp.lns, func(l *listener) bool { return l == nil })
	if r.serving {
		for _, l := range r.lns {
			r.serveLocked(l)
		}
	}
	r.cfg = cfg
	r.procs = pp.procs
	return res, nil
}

// applyLogAndWarn applies the new log level, and warns of the changes
// that apply only at the next start.
func (r *Router) applyLogAndWarn(cfg, old *config.Config) {
	if cfg.Log.Level != old.Log.Level {
		r.log.SetLevel(hclog.LevelFromString(cfg.Log.Level))
	}
	if cfg.Limits != old.Limits || withoutShutdown(cfg.Timeouts) != withoutShutdown(old.Timeouts) || cfg.Log.Format != old.Log.Format {
		r.log.Warn("reload: limits, timeouts and log.format apply at the next restart; the running ones stay")
	}
	if cfg.Metrics != old.Metrics || cfg.RequestID != old.RequestID {
		r.log.Warn("reload: metrics and request_id apply at the next restart; the running ones stay")
	}
}

// retire stops the plugins only the old table led to, once the requests
// on it are done, or timeouts.shutdown has passed (0: no limit), or ctx
// (the caller's, or the router's) has ended: then at once.
func (r *Router) retire(ctx context.Context, cfg *config.Config, oldGen *generation, retired []*pluginRun) {
	if len(retired) == 0 {
		oldGen.retire() // nothing waits, but the table is done with
		return
	}
	limit := cfg.Timeouts.Shutdown
	var expired <-chan time.Time
	if limit > 0 {
		t := time.NewTimer(limit)
		defer t.Stop()
		expired = t.C
	}
	select {
	case <-oldGen.retire():
	case <-expired:
	case <-ctx.Done():
	}
	stopPlugins(ctx, limit, retired, r.log)
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
	return r.reloadFile(ctx, path, o, r.Reload)
}

// reloadFile is ReloadFile, with the reload of a Router or a Worker.
func (r *Router) reloadFile(ctx context.Context, path string, o config.LoadOptions, reload func(context.Context, *config.Config) error) error {
	b, _ := os.ReadFile(path)
	cfg, err := config.Load(path, o)
	if err == nil {
		err = reload(ctx, cfg)
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

// mergeCancel returns ctx, also cancelled when other is.
func mergeCancel(ctx, other context.Context) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancel(ctx)
	stop := context.AfterFunc(other, cancel)
	return ctx, func() { stop(); cancel() }
}
