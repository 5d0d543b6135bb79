package router

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/msgrouter/router/config"
	"github.com/msgrouter/router/core"
	"github.com/msgrouter/router/plugins"
)

// pluginRun is one running plugin: a pool of processes (of one, unless
// its config says instances), or a plugin in-process.
type pluginRun struct {
	name   string
	cfg    config.Plugin
	pool   *plugins.Pool // its processes; nil in-process
	inproc *plugins.Plugin
	info   plugins.Info
	exe    *executable // what was at the process's executable's path when it started
}

func (p *pluginRun) handler(name string) (core.Handler, error) {
	if p.pool != nil {
		return p.pool.Handler(name)
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
	if p.pool == nil {
		return nil
	}
	return p.pool.Err()
}

func (p *pluginRun) shutdown(ctx context.Context) error {
	if p.pool == nil {
		return nil
	}
	return p.pool.Shutdown(ctx)
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
	pcfg := r.processConfig(cfg, name)
	// What is at the executable's path, noted before it starts: a reload
	// that finds another file there starts it (see changed).
	exe, err := noteExecutable(pcfg)
	if err != nil {
		return nil, fail(fmt.Sprintf("cannot start %s: %s", pc.Cmd, plugins.ShortError(err)), err)
	}
	pool, err := plugins.StartPool(ctx, pcfg, pc.Instances)
	if err != nil {
		return nil, fail(fmt.Sprintf("cannot start %s: %s", pc.Cmd, plugins.ShortError(err)), err)
	}
	return &pluginRun{name: name, cfg: pc, pool: pool, info: pool.Info(), exe: exe}, nil
}

// processConfig is the plugins.Config of the plugin name of cfg.
func (r *Router) processConfig(cfg *config.Config, name string) plugins.Config {
	pc := cfg.Plugins[name]
	env := make([]string, 0, len(pc.Env))
	for _, k := range slices.Sorted(maps.Keys(pc.Env)) {
		env = append(env, k+"="+pc.Env[k])
	}
	maxRestarts := pc.Restart.MaxRestarts
	if maxRestarts == 0 {
		maxRestarts = -1 // plugins reads 0 as its default
	}
	return plugins.Config{
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
	}
}

// changed reports whether the executable of p, as cfg would run it now,
// is not the one p started: rebuilt or replaced in place. One that cannot
// be read counts as changed, so that the reload tries it and says why it
// cannot.
func (r *Router) changed(p *pluginRun, cfg *config.Config) bool {
	if p.pool == nil {
		return false
	}
	now, err := noteExecutable(r.processConfig(cfg, p.name))
	return err != nil || p.exe.differs(now)
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
