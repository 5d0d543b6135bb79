package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/msgrouter/router"
	"github.com/msgrouter/router/config"
	"github.com/msgrouter/router/core"
	"github.com/msgrouter/router/plugins"
)

// defaultAddr is the reference app-server's address, the default
// config's listener.
const defaultAddr = "127.0.0.1:65432"

// configFlags are the flags that say which config to run and override
// it: serve's, which config check takes too, so that replacing "serve"
// by "config check" in a command line checks what it would run.
type configFlags struct {
	file      string
	listen    addrList
	raw       addrList
	inProcess bool
	plugins   pluginList
	logLevel  levelFlag
	logJSON   bool
	maxConns  int
	maxLength sizeFlag
	timeouts  [5]time.Duration // idle, read, write, handler, shutdown
	metrics   string
	reqIDs    bool
}

// timeoutFlags name the timeout flags, in the order of
// configFlags.timeouts, and the keys they set.
var timeoutFlags = [5]struct{ flag, key, usage string }{
	{"idle-timeout", "timeouts.idle", "close a connection that sends nothing for this long"},
	{"read-timeout", "timeouts.read", "longest wait for the rest of a message once it has begun"},
	{"write-timeout", "timeouts.write", "longest time to write the answers of one read"},
	{"handler-timeout", "timeouts.handler", "longest time a handler may take over one request"},
	{"shutdown-timeout", "timeouts.shutdown", "longest graceful stop; what is still open after it is closed"},
}

// register declares the flags on fs.
func (f *configFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&f.file, "config", "", "read the config from `FILE` (.yaml, .yml, .toml or .json); default: the embedded default config")
	fs.StringVar(&f.file, "c", "", "short for --config `FILE`")
	fs.Var(&f.listen, "listen", "listen on `ADDR` with the framed protocol, instead of the config's listeners (repeatable; sets listen)")
	fs.Var(&f.raw, "raw", "listen on `ADDR` unframed, each chunk echoed back by the config's plugin echo, instead of the config's listeners (repeatable; sets listen)")
	fs.BoolVar(&f.inProcess, "in-process", false, "run the builtin:search, builtin:binary and builtin:echo plugins inside the router, not as plugin processes")
	fs.Var(&f.plugins, "plugin", "also run the plugin `NAME=CMD` (CMD a path or builtin:X), with routes to all it declares ahead of the config's routes (repeatable)")
	fs.Var(&f.logLevel, "log-level", "log `level`: trace, debug, info, warn, error or off (sets log.level)")
	fs.BoolVar(&f.logJSON, "log-json", false, "log JSON lines instead of text (sets log.format to json)")
	fs.IntVar(&f.maxConns, "max-connections", 0, "most open connections, `N`; 0 means no limit (sets limits.max_connections)")
	fs.Var(&f.maxLength, "max-content-length", "largest content-length accepted, a `size` in bytes or with a unit: 65536, 64KiB, 16MiB; 0 means no limit (sets limits.max_content_length)")
	for i, t := range timeoutFlags {
		fs.DurationVar(&f.timeouts[i], t.flag, 0, t.usage+"; 0 means none (sets "+t.key+")")
	}
	fs.StringVar(&f.metrics, "metrics", "", "serve Prometheus metrics on `HOST:PORT` at /metrics (sets metrics.listen)")
	fs.BoolVar(&f.reqIDs, "request-ids", false, "give every request without a request-id header a fresh one (sets request_id.generate)")
}

// overrides returns the config keys that the flags the user set on fs
// override, for config.LoadOptions.Flags: a flag left out leaves the
// file's value, or the environment's.
func (f *configFlags) overrides(fs *flag.FlagSet) map[string]any {
	out := make(map[string]any)
	fs.Visit(func(fl *flag.Flag) {
		switch fl.Name {
		case "listen", "raw":
			var ls []any
			for _, a := range f.listen {
				ls = append(ls, a)
			}
			for _, a := range f.raw {
				// The tutorial's echo-server: every chunk comes back as
				// it is.
				ls = append(ls, map[string]any{"addr": a, "raw": true, "plugin": "echo"})
			}
			out["listen"] = ls
		case "log-level":
			out["log.level"] = string(f.logLevel)
		case "log-json":
			out["log.format"] = map[bool]string{true: "json", false: "text"}[f.logJSON]
		case "max-connections":
			out["limits.max_connections"] = f.maxConns
		case "max-content-length":
			out["limits.max_content_length"] = config.Size(f.maxLength)
		case "metrics":
			out["metrics.listen"] = f.metrics
		case "request-ids":
			out["request_id.generate"] = f.reqIDs
		case "plugin":
			for _, p := range f.plugins {
				out["plugins."+p.name+".cmd"] = p.cmd
			}
		}
		for i, t := range timeoutFlags {
			if fl.Name == t.flag {
				out[t.key] = f.timeouts[i]
			}
		}
	})
	return out
}

// startOptions returns the router.StartOptions the flags ask for.
func (f *configFlags) startOptions(c *cli, log hclog.Logger) router.StartOptions {
	o := router.StartOptions{Logger: log, Executable: c.executable}
	if f.inProcess {
		o.InProcess = inProcessBuiltins()
	}
	return o
}

// inProcessBuiltins runs every "builtin:NAME" plugin in-process: the
// same plugin that "router plugin NAME" serves.
func inProcessBuiltins() map[string]func() *plugins.Plugin {
	m := make(map[string]func() *plugins.Plugin, len(builtins))
	for _, b := range builtins {
		m[plugins.BuiltinPrefix+b.name] = func() *plugins.Plugin { return builtinPlugin(b) }
	}
	return m
}

// loader loads the config that serve runs and config check checks: the
// file (or the embedded default) under the environment and the flags,
// with the --plugin plugins and the routes to what they declare ahead of
// the config's routes.
type loader struct {
	path  string
	opts  config.LoadOptions // with the --plugin plugins
	base  config.LoadOptions // without them
	extra pluginList

	ctx        context.Context // bounds learning what the --plugin plugins declare
	executable string
	stderr     io.Writer // for the log of learning them; nil means none

	routes []config.Route // learned once, on the first load
}

func (f *configFlags) loader(ctx context.Context, c *cli, fs *flag.FlagSet) *loader {
	l := &loader{
		path:       f.file,
		opts:       config.LoadOptions{Environ: c.environ, Flags: f.overrides(fs)},
		extra:      f.plugins,
		ctx:        ctx,
		executable: c.executable,
	}
	l.base = l.opts
	if len(f.plugins) > 0 {
		l.base.Flags = make(map[string]any, len(l.opts.Flags))
		for k, v := range l.opts.Flags {
			if !strings.HasPrefix(k, "plugins.") {
				l.base.Flags[k] = v
			}
		}
	}
	return l
}

// load loads the config. Without --plugin, it is config.Load's.
//
// A --plugin's routes are learned from its declarations on the first
// load, and put ahead of the config's routes on each. The config's
// routes are numbered after them in errors: errors of routes then end
// with a line that says which routes are the --plugin ones.
func (l *loader) load() (*config.Config, error) {
	if len(l.extra) == 0 {
		return config.Load(l.path, l.opts)
	}
	base, err := config.Load(l.path, l.base)
	if err != nil {
		return nil, err
	}
	var errs []error
	for _, p := range l.extra {
		if _, ok := base.Plugins[p.name]; ok {
			errs = append(errs, fmt.Errorf("--plugin %s=%s: the config already defines a plugin %q (want another NAME)", p.name, p.cmd, p.name))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	if l.routes == nil {
		log := hclog.NewNullLogger()
		if l.stderr != nil {
			// The start and stop of a plugin only to learn its
			// declarations would read as a crash in the log at info.
			lc := base.Log
			if hclog.LevelFromString(lc.Level) == hclog.Info {
				lc.Level = "warn"
			}
			log = router.NewLogger(lc, l.stderr)
		}
		if l.routes, err = learnRoutes(l.ctx, l.extra, l.executable, log); err != nil {
			return nil, err
		}
	}
	cfg, err := config.Load(l.path, l.opts)
	if err != nil {
		return nil, err
	}
	cfg.Routes = append(slices.Clone(l.routes), cfg.Routes...)
	if err := cfg.Validate(); err != nil {
		return nil, l.explain(err)
	}
	return cfg, nil
}

// explain adds to err, if it is about routes, which routes --plugin
// added: the config numbers its own after them.
func (l *loader) explain(err error) error {
	if err == nil || len(l.routes) == 0 || !errors.Is(err, config.ErrRoute) {
		return err
	}
	desc := make([]string, len(l.routes))
	for i, r := range l.routes {
		desc[i] = describeRoute(r)
	}
	which := "routes[0] is"
	if n := len(l.routes); n > 1 {
		which = fmt.Sprintf("routes[0] to routes[%d] are", n-1)
	}
	return errors.Join(err, &config.Error{
		Source: "flags",
		Msg: fmt.Sprintf("%s --plugin's: %s; the config's routes follow, from routes[%d]",
			which, strings.Join(desc, ", "), len(l.routes)),
		Err: config.ErrRoute,
	})
}

func describeRoute(r config.Route) string {
	var parts []string
	if r.Action != "" {
		parts = append(parts, "action "+r.Action)
	}
	if r.ContentType != "" {
		parts = append(parts, "content_type "+r.ContentType)
	}
	return "{" + strings.Join(append(parts, "plugin "+r.Plugin), ", ") + "}"
}

// addrList is a repeatable address flag.
type addrList []string

func (l *addrList) String() string { return strings.Join(*l, ", ") }

func (l *addrList) Set(s string) error {
	if _, _, err := core.ParseAddr(s); err != nil {
		return errors.New(strings.TrimPrefix(err.Error(), "core: "))
	}
	*l = append(*l, s)
	return nil
}

// levelFlag is a log level.
type levelFlag string

var logLevels = []string{"trace", "debug", "info", "warn", "error", "off"}

func (l *levelFlag) String() string { return string(*l) }

func (l *levelFlag) Set(s string) error {
	if !slices.Contains(logLevels, s) {
		return errors.New("want trace, debug, info, warn, error or off")
	}
	*l = levelFlag(s)
	return nil
}

// sizeFlag is a size: bytes, or a number and a unit.
type sizeFlag config.Size

func (s *sizeFlag) String() string {
	if *s == 0 {
		return ""
	}
	return config.Size(*s).String()
}

func (s *sizeFlag) Set(v string) error {
	n, err := config.ParseSize(v)
	if err != nil {
		return fmt.Errorf("want a number of bytes, or a number and a unit such as 64KiB or 16MiB: %w", err)
	}
	*s = sizeFlag(n)
	return nil
}
