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
	watch bool
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

Reloading: on SIGHUP the router reads its config file again, and it watches
the file and reloads it when it changes (--watch=false turns that off). The
new config is checked in full, new plugins and listeners started, then the
route table swapped without dropping a connection; an invalid config is
logged, key by key, and the running one kept. The environment and the flags
apply to the new config as to the first. With --plugin, the file is reloaded
on SIGHUP only. Limits, timeouts and log.format apply at the next start.

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
(each problem on its own line), or a listener fails; 2 for a usage error.
`,
	examples: []string{
		"# The reference app-server, on 127.0.0.1:65432:\nrouter serve",
		"# Your own config, reloaded when you edit it or send SIGHUP:\nrouter config default > router.yaml\nrouter serve -c router.yaml\nkill -HUP $(pidof router)",
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
	hup := c.hup
	if hup == nil {
		ch := make(chan os.Signal, 1)
		signal.Notify(ch, syscall.SIGHUP)
		defer signal.Stop(ch)
		hup = ch
	}

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
	if c.listening != nil {
		var framed, raw []net.Addr
		for i, a := range r.Addrs() {
			if cfg.Listen[i].Raw {
				raw = append(raw, a)
			} else {
				framed = append(framed, a)
			}
		}
		c.listening(framed, raw)
	}

	if f.file != "" && f.watch {
		if len(f.plugins) > 0 {
			// Watch reloads the file as config.Load reads it, without
			// the routes --plugin adds.
			log.Warn("the config file is not watched with --plugin; send SIGHUP to reload it", "file", f.file)
		} else if err := r.Watch(ctx, f.file, ld.opts); err != nil {
			log.Warn("cannot watch the config file; send SIGHUP to reload it", "error", err)
		}
	}

	serveErr := make(chan error, 1)
	go func() { serveErr <- r.Serve() }()
	var failed error
loop:
	for {
		select {
		case <-ctx.Done():
			log.Info("stop requested; shutting down gracefully", "timeout", r.Config().Timeouts.Shutdown)
			break loop
		case err := <-serveErr:
			failed = err
			log.Error("listener failed; shutting down", "error", err)
			break loop
		case <-hup:
			f.reload(ctx, r, ld, log)
		}
	}

	sctx := context.Background()
	if d := r.Config().Timeouts.Shutdown; d > 0 {
		var cancel context.CancelFunc
		sctx, cancel = context.WithTimeout(sctx, d)
		defer cancel()
	}
	r.Shutdown(sctx)
	if failed != nil {
		return fmt.Errorf("server stopped: %w", failed)
	}
	if err := <-serveErr; !errors.Is(err, core.ErrServerClosed) {
		return fmt.Errorf("server stopped: %w", err)
	}
	return nil
}

// reload reloads the config file on SIGHUP. A config that fails is
// logged, and the running one kept.
func (f *serveFlags) reload(ctx context.Context, r *router.Router, ld *loader, log hclog.Logger) {
	if f.file == "" {
		log.Warn("SIGHUP: no config file to reload: the router runs the default config (start it with --config FILE to reload one)")
		return
	}
	log.Info("SIGHUP: reloading the config file", "file", f.file)
	if len(f.plugins) == 0 {
		// ReloadFile logs the outcome.
		r.ReloadFile(ctx, f.file, ld.opts)
		return
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
	log.Error("reload rejected; the last good config keeps serving", "file", f.file, "problems", len(lines))
	for _, l := range lines {
		log.Error("reload: " + l)
	}
}
