package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/hashicorp/go-hclog"

	"github.com/msgrouter/router"
	"github.com/msgrouter/router/config"
	"github.com/msgrouter/router/core"
)

type serveFlags struct {
	configFlags
	watch   bool
	pidFile string
}

var serveCmd = &command{
	name:    "serve",
	summary: "run the router",
	desc: `Serve runs the router that a config file describes: its listeners, its
plugins, its routes, limits, timeouts and logging (see config/README.md, and
'router config default' for a commented example). Without --config it runs
the embedded default config, the tutorial's reference app-server on
` + defaultAddr + `:

	action "echo"              -> echo    (answers the request itself)
	content-type "text/json"   -> search  (the reference app-server's search;
	                                       other actions get "invalid action")
	anything else              -> binary  (the reference's binary answer)

ROUTER_ environment variables override the file (ROUTER_LOG_LEVEL=debug sets
log.level), and flags override both: defaults < file < environment < flags.
Only the flags given override anything.

Each plugin runs as a process; "builtin:NAME" is the router executable itself,
started as "router plugin NAME" (see 'router help plugin'). They all start
together before the router accepts requests, and each route is checked against
what its plugin declares. A plugin that dies is restarted: the requests it had
in flight are answered {"error": ...}, the other routes are untouched.
--in-process runs the builtin: plugins inside the router instead.

--plugin NAME=CMD runs one more plugin, from the executable CMD (a path) or
builtin:X, and routes to it, ahead of the config's routes, every action and
then every content-type its handlers declare. To learn them, the router starts
a plugin that is not a built-in once before it starts them all. A route that
another makes unreachable, or that repeats one, is an error: a plugin cannot
take over the config's routes.

--listen and --raw replace the config's listeners; both may be repeated. An
ADDR is host:port, [ipv6]:port, :port, tcp://host:port, tcp4://..., tcp6://...
or unix:///path/to/socket. Port 0 picks a free port; the log line "listening"
shows the address bound. A --raw listener is unframed: every chunk of bytes a
client sends is echoed back as it is by the config's plugin echo (the default
config has it), like the tutorial's echo-server (for its echo-client and
multiconn-client).

Reloading: on SIGHUP the router applies its config again: it reads the
config file again or, without one, the default config, under the same
environment and flags. It also watches the file and reloads it when it
changes (--watch=false turns that off). The new config is checked in full,
new plugins and listeners started, then the route table swapped without
dropping a connection; an invalid config is logged, key by key, and the
running one kept. Any reload starts afresh a plugin that failed (that hit
its restart limit). With --plugin, the file is reloaded on SIGHUP only.
Limits, timeouts and log.format apply at the next start.

--pid-file FILE writes the router's process id to FILE once it listens, and
removes the file when serve ends; 'router reload --pid-file FILE' sends that
process SIGHUP. Plugins served by this module's SDK, the built-ins among
them, ignore SIGHUP: a SIGHUP to every process of the router's tree reloads
the router and stops no plugin.

A TLS listener whose certificate has expired or is not yet valid stops serve
before it listens, and a reload to one is rejected. Serve logs a warning for a
certificate that expires within 7 days, and for a limits.max_connections
(--max-connections) above the process's open-file limit (ulimit -n), past
which clients would wait unanswered instead of being refused.

Logs go to stderr, the plugins' under their names. SIGINT or SIGTERM stops
the router gracefully: it stops accepting, answers the requests it has
received, closes, then stops its plugins; what is still open after
timeouts.shutdown (10s) is closed. A second signal stops it at once.

Exit codes: 0 after a graceful stop; 1 if the config is invalid, a listener
cannot bind, a plugin cannot start or does not declare what its routes match
(each problem on its own line), the pid file cannot be written, or a
listener fails; 2 for a usage error.
`,
	examples: []string{
		"# The reference app-server, on 127.0.0.1:65432:\nrouter serve",
		"# Your own config, reloaded when you edit it, or by 'router reload':\nrouter config default > router.yaml\nrouter serve -c router.yaml --pid-file router.pid\nrouter reload --pid-file router.pid",
		"# The file's config with debug logs, on another address; the built-ins in-process:\nROUTER_LOG_LEVEL=debug router serve -c router.yaml --listen 127.0.0.1:7000 --in-process",
		"# A custom plugin ahead of the default routes; it declares the action \"upper\":\nrouter serve --plugin upper=./upper\nrouter send --json upper hello",
		"# IPv4 and IPv6 loopback, a Unix socket, and a raw echo listener:\nrouter serve --listen 127.0.0.1:65432 --listen [::1]:65432 \\\n    --listen unix:///tmp/router.sock --raw 127.0.0.1:65433",
		"# A free port, JSON logs, tighter limits:\nrouter serve --listen 127.0.0.1:0 --log-json \\\n    --max-connections 100 --max-content-length 64KiB --handler-timeout 1s",
		"# Prometheus metrics, and a request id on every request:\nrouter serve --metrics 127.0.0.1:9108 --request-ids\ncurl -s 127.0.0.1:9108/metrics | grep router_requests_total",
	},
	setup: func(fs *flag.FlagSet) func(context.Context, *cli, []string) error {
		f := new(serveFlags)
		f.register(fs)
		fs.BoolVar(&f.watch, "watch", true, "reload the config file when it changes (with --config)")
		fs.StringVar(&f.pidFile, "pid-file", "", "once listening, write the router's process id to `FILE`, for 'router reload'; removed when serve ends")
		return func(ctx context.Context, c *cli, args []string) error {
			if len(args) > 0 {
				return usagef("serve", "takes no arguments, got %q", args)
			}
			return f.run(ctx, c, fs)
		}
	},
}

func (f *serveFlags) run(ctx context.Context, c *cli, fs *flag.FlagSet) error {
	// From the start: a SIGHUP while the router starts is a reload once
	// it has, not the end of the process.
	hup, stop := c.hangups()
	defer stop()

	ld := f.loader(ctx, c, fs)
	ld.stderr = c.stderr
	cfg, err := ld.load()
	if err != nil {
		if ctx.Err() != nil {
			return nil // stopped while learning what --plugin declares
		}
		return err
	}
	log := router.NewLogger(cfg.Log, c.stderr)
	if f.file != "" {
		log.Info("config loaded", "file", f.file)
	} else {
		log.Info("running the default config (router config default prints it)")
	}

	// Listeners open first, then the plugins start, together.
	r, err := router.Start(ctx, cfg, f.startOptions(c, log))
	if err != nil {
		if ctx.Err() != nil {
			log.Info("stop requested while starting")
			return nil
		}
		return ld.explain(err)
	}
	if f.pidFile != "" {
		// Once the router listens: a pid file says it is there to reload.
		pf, err := writePIDFile(f.pidFile)
		if err != nil {
			shutdown(r)
			return err
		}
		log.Info("pid file written", "file", f.pidFile, "pid", pf.pid)
		defer pf.remove(log)
	}
	if c.listening != nil {
		c.listening(splitAddrs(cfg, r.Addrs()))
	}
	f.watchFile(ctx, r, ld, log)
	return f.serve(ctx, r, hup, ld, log)
}

// splitAddrs returns the bound addresses addrs of cfg's listeners, the
// framed ones apart from the raw ones.
func splitAddrs(cfg *config.Config, addrs []net.Addr) (framed, raw []net.Addr) {
	for i, a := range addrs {
		if cfg.Listen[i].Raw {
			raw = append(raw, a)
		} else {
			framed = append(framed, a)
		}
	}
	return framed, raw
}

// watchFile has r reload the config file when it changes, if serve has
// one and --watch is on.
func (f *serveFlags) watchFile(ctx context.Context, r *router.Router, ld *loader, log hclog.Logger) {
	if f.file == "" || !f.watch {
		return
	}
	if len(f.plugins) > 0 {
		// Watch reloads the file as config.Load reads it, without the
		// routes --plugin adds.
		log.Warn("the config file is not watched with --plugin; send SIGHUP to reload it", "file", f.file)
	} else if err := r.Watch(ctx, f.file, ld.opts); err != nil {
		log.Warn("cannot watch the config file; send SIGHUP to reload it", "error", err)
	}
}

// serve serves r until ctx ends or a listener fails, reloading on each
// value of hup, then shuts it down.
func (f *serveFlags) serve(ctx context.Context, r *router.Router, hup <-chan os.Signal, ld *loader, log hclog.Logger) error {
	return runUntilStopped(ctx, r, hup, func() { f.reload(ctx, r, ld, log) }, log, stopLog{
		name: "server", stopping: "stop requested; shutting down gracefully", failed: "listener failed; shutting down"})
}

// runner is what serve and worker run: a Router or a Worker.
type runner interface {
	Serve() error
	Shutdown(context.Context) error
	Config() *config.Config
}

// stopLog is what runUntilStopped says of a server.
type stopLog struct {
	name     string // in errors: "server", "worker"
	stopping string // logged when ctx ends
	failed   string // logged when Serve fails on its own
}

// runUntilStopped serves s until ctx ends or s fails on its own, calling
// reload on each value of hup, then shuts s down.
// hangups returns the channel of the SIGHUPs that reload serve's and
// worker's config (c.hup, if a test set it), and the func that stops
// catching them.
func (c *cli) hangups() (<-chan os.Signal, func()) {
	if c.hup != nil {
		return c.hup, func() {}
	}
	ch := make(chan os.Signal, 1)
	signal.Notify(ch, syscall.SIGHUP)
	return ch, func() { signal.Stop(ch) }
}

func runUntilStopped(ctx context.Context, s runner, hup <-chan os.Signal, reload func(), log hclog.Logger, say stopLog) error {
	serveErr := make(chan error, 1)
	go func() { serveErr <- s.Serve() }()
	var failed error
loop:
	for {
		select {
		case <-ctx.Done():
			log.Info(say.stopping, "timeout", s.Config().Timeouts.Shutdown)
			break loop
		case err := <-serveErr:
			failed = err
			log.Error(say.failed, "error", err)
			break loop
		case <-hup:
			reload()
		}
	}
	shutdown(s)
	if failed != nil {
		return fmt.Errorf("%s stopped: %w", say.name, failed)
	}
	if err := <-serveErr; !errors.Is(err, core.ErrServerClosed) {
		return fmt.Errorf("%s stopped: %w", say.name, err)
	}
	return nil
}

// shutdown stops s gracefully, within its timeouts.shutdown.
func shutdown(s runner) {
	ctx := context.Background()
	if d := s.Config().Timeouts.Shutdown; d > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, d)
		defer cancel()
	}
	s.Shutdown(ctx)
}

// reload applies the config again on SIGHUP: the file, read again, or
// without one the default config, under the same environment and flags
// (and with the routes --plugin added). Any reload starts a plugin that
// failed afresh, so that SIGHUP brings back a plugin past its restart
// limit even when there is no file to change. A config that fails is
// logged, and the running one kept.
func (f *serveFlags) reload(ctx context.Context, r *router.Router, ld *loader, log hclog.Logger) {
	var source []any
	if f.file == "" {
		log.Info("SIGHUP: reloading the default config, under the same environment and flags")
	} else {
		source = []any{"file", f.file}
		log.Info("SIGHUP: reloading the config file", source...)
		if len(f.plugins) == 0 {
			// ReloadFile logs the outcome.
			r.ReloadFile(ctx, f.file, ld.opts)
			return
		}
	}
	cfg, err := ld.load() // explains its own route errors
	if err != nil {
		if m := r.Metrics(); m != nil {
			m.Reload(err) // as ReloadFile counts a file that fails to load
		}
	} else if err = r.Reload(ctx, cfg); err != nil {
		err = ld.explain(err) // Reload counts it
	}
	if err == nil || errors.Is(err, core.ErrServerClosed) || errors.Is(err, config.ErrReloadIncomplete) {
		return // Reload logged an incomplete reload: it is in force
	}
	// As ReloadFile logs it.
	lines := strings.Split(err.Error(), "\n")
	log.Error("reload rejected; the last good config keeps serving", append(source, "problems", len(lines))...)
	for _, l := range lines {
		log.Error("reload: " + l)
	}
}
