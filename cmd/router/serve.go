package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"os"
	"strings"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/msgrouter/router/core"
	"github.com/msgrouter/router/plugins"
	"github.com/msgrouter/router/plugins/echo"
)

// defaultAddr is the reference app-server's address.
const defaultAddr = "127.0.0.1:65432"

// shutdownTimeout bounds the graceful part of a shutdown; what is still
// open after it is closed.
const shutdownTimeout = 10 * time.Second

type serveFlags struct {
	listen, raw    addrList
	inProcess      bool
	plugins        pluginList
	logLevel       string
	logJSON        bool
	maxConns       int
	maxContent     int64
	idleTimeout    time.Duration
	readTimeout    time.Duration
	writeTimeout   time.Duration
	handlerTimeout time.Duration
}

var serveCmd = &command{
	name:    "serve",
	summary: "run the router",
	desc: `Serve runs the router with its built-in routes, the default configuration:

	action "echo"              -> echo    (answers the request itself)
	content-type "text/json"   -> search  (the reference app-server's search;
	                                       other actions get "invalid action")
	anything else              -> binary  (the reference's binary answer)

Each built-in runs as a plugin process, the router executable started as
"router plugin NAME" (see 'router help plugin'); the three start together
before the router accepts requests. A plugin that dies is restarted: the
requests it had in flight are answered {"error": ...}, and the other routes
are untouched. --in-process runs the built-ins inside the router instead.

--plugin NAME=CMD starts one more plugin, from the executable CMD (a path) or
builtin:X, and routes to it, ahead of the default routes, every action and
content-type its handlers declare (actions first). A route that another
makes unreachable, or that repeats one, is an error: a plugin cannot take
over the default routes' matches. NAME names the plugin in the logs.

With neither --listen nor --raw it listens on ` + defaultAddr + `, the
reference app-server's address. --listen and --raw may be repeated; an ADDR is
host:port, [ipv6]:port, :port, tcp://host:port, tcp4://..., tcp6://... or
unix:///path/to/socket. Port 0 picks a free port; the log line "listening"
shows the address actually bound.

A --raw listener is unframed: every chunk of bytes a client sends is echoed
back as it is, like the tutorial's echo-server (for its echo-client and
multiconn-client).

Logs go to stderr, the plugins' under their names. SIGINT or SIGTERM stops
the router gracefully: it stops accepting, answers the requests it has
received, closes, then stops its plugins; what is still open after 10s is
closed. A second signal stops it at once.

A limit or timeout of 0 means none.
`,
	examples: []string{
		"# The reference app-server, on 127.0.0.1:65432:\nrouter serve",
		"# The same with the built-ins inside the router process:\nrouter serve --in-process",
		"# A custom plugin ahead of the built-ins; it declares the action \"upper\":\nrouter serve --plugin upper=./upper\nrouter send --json upper hello",
		"# IPv4 and IPv6 loopback, a Unix socket, and a raw echo listener:\nrouter serve --listen 127.0.0.1:65432 --listen [::1]:65432 \\\n    --listen unix:///tmp/router.sock --raw 127.0.0.1:65433",
		"# A free port, debug logs as JSON, tighter limits:\nrouter serve --listen 127.0.0.1:0 --log-level debug --log-json \\\n    --max-connections 100 --max-content-length 65536 --handler-timeout 1s",
	},
	setup: func(fs *flag.FlagSet) func(context.Context, *cli, []string) error {
		f := new(serveFlags)
		fs.Var(&f.listen, "listen", "listen on `ADDR` with the framed protocol (repeatable; default "+defaultAddr+" unless --raw is given)")
		fs.Var(&f.raw, "raw", "listen on `ADDR` unframed, echoing bytes back (repeatable)")
		fs.BoolVar(&f.inProcess, "in-process", false, "run the built-in handlers inside the router, not as plugin processes")
		fs.Var(&f.plugins, "plugin", "start the plugin `NAME=CMD` (CMD a path or builtin:X) and route its declared actions and content-types to it (repeatable)")
		fs.StringVar(&f.logLevel, "log-level", "info", "log `level`: trace, debug, info, warn, error or off")
		fs.BoolVar(&f.logJSON, "log-json", false, "log JSON lines instead of text")
		fs.IntVar(&f.maxConns, "max-connections", core.DefaultMaxConnections, "most open connections; a client over it is answered an error and closed")
		fs.Int64Var(&f.maxContent, "max-content-length", core.DefaultMaxContentLength, "largest content-length accepted, in `bytes`")
		fs.DurationVar(&f.idleTimeout, "idle-timeout", core.DefaultIdleTimeout, "close a connection that sends nothing for this long")
		fs.DurationVar(&f.readTimeout, "read-timeout", core.DefaultReadTimeout, "longest wait for the rest of a message once it has begun")
		fs.DurationVar(&f.writeTimeout, "write-timeout", core.DefaultWriteTimeout, "longest time to write the answers of one read")
		fs.DurationVar(&f.handlerTimeout, "handler-timeout", core.DefaultHandlerTimeout, "longest time a handler may take over one request")
		return f.run
	},
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

// noneIfZero maps the CLI's "0 means none" onto core's "negative means
// none" (core reads zero as "the default").
func noneIfZero[T int | int64 | time.Duration](v T) T {
	if v <= 0 {
		return -1
	}
	return v
}

// defaultRoutes returns the default route table, the one the default
// config describes, to the built-ins' handlers: to maps a built-in's name
// to a route whose Handler and label are that built-in's.
func defaultRoutes(to map[string]route) []route {
	at := func(name string, r core.Route) route {
		r.Handler = to[name].Handler
		return route{Route: r, label: to[name].label}
	}
	return []route{
		at("echo", core.Route{Action: "echo"}),
		at("search", core.Route{ContentType: core.ContentTypeJSON}),
		at("binary", core.Route{}),
	}
}

// route is a core.Route and, for logs and errors, what it leads to.
type route struct {
	core.Route
	label string
}

// newMux validates routes and returns the Mux for them. Its error lists
// the table, numbered as core's errors number it.
func newMux(routes []route) (*core.Mux, error) {
	crs := make([]core.Route, len(routes))
	for i, r := range routes {
		crs[i] = r.Route
	}
	mux, err := core.NewMux(crs...)
	if err != nil {
		desc := make([]string, len(routes))
		for i, r := range routes {
			desc[i] = fmt.Sprintf("%d: %s -> %s", i, r.Route, r.label)
		}
		return nil, fmt.Errorf("invalid route table: %s (routes %s)",
			strings.TrimPrefix(err.Error(), "core: "), strings.Join(desc, "; "))
	}
	return mux, nil
}

func (f *serveFlags) run(ctx context.Context, c *cli, args []string) error {
	if len(args) > 0 {
		return usagef("serve", "takes no arguments, got %q", args)
	}
	level := hclog.LevelFromString(f.logLevel)
	if level == hclog.NoLevel {
		return usagef("serve", "invalid value %q for flag -log-level: want trace, debug, info, warn, error or off", f.logLevel)
	}
	if len(f.listen) == 0 && len(f.raw) == 0 {
		f.listen = addrList{defaultAddr}
	}
	log := hclog.New(&hclog.LoggerOptions{
		Name:       "router",
		Level:      level,
		Output:     c.stderr,
		JSONFormat: f.logJSON,
		Color:      hclog.ColorOff,
	})

	// Open every listener before serving any, so that a bad address fails
	// the start as a whole, before any plugin is started.
	var framed, raw []net.Listener
	closeAll := func() {
		for _, l := range append(framed, raw...) {
			l.Close()
		}
	}
	for _, group := range []struct {
		addrs []string
		ls    *[]net.Listener
	}{{f.listen, &framed}, {f.raw, &raw}} {
		for _, addr := range group.addrs {
			l, err := core.Listen(ctx, addr)
			if err != nil {
				closeAll()
				return fmt.Errorf("cannot listen on %s: %s", addr, listenReason(err))
			}
			*group.ls = append(*group.ls, l)
		}
	}

	// The plugins, built-in and --plugin, start together: startup takes
	// as long as the slowest, not the sum.
	var cfgs []plugins.Config
	if !f.inProcess {
		for _, b := range builtins {
			cfgs = append(cfgs, c.pluginConfig(b.name, plugins.BuiltinPrefix+b.name, log))
		}
	}
	for _, p := range f.plugins {
		cfgs = append(cfgs, c.pluginConfig(p.name, p.cmd, log))
	}
	procs, err := startPlugins(ctx, cfgs)
	if err != nil {
		closeAll()
		if ctx.Err() != nil {
			log.Info("stop requested while starting plugins")
			return nil
		}
		return err
	}
	// From here on, every way out stops the plugins; after the server,
	// so that the requests in flight get their answers first.
	abort := func(err error) error {
		closeAll()
		sctx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
		defer cancel()
		shutdownPlugins(sctx, procs, log)
		return err
	}

	byName := make(map[string]*plugins.Process, len(procs))
	for _, p := range procs {
		byName[p.Name()] = p
	}
	var routes []route
	for _, p := range f.plugins {
		rs, err := pluginRoutes(byName[p.name], p.cmd, log)
		if err != nil {
			return abort(err)
		}
		routes = append(routes, rs...)
	}
	defaults := make(map[string]route, len(builtins))
	for _, b := range builtins {
		if f.inProcess {
			defaults[b.name] = route{Route: core.Route{Handler: b.spec().Handler}, label: b.name + " (in-process)"}
			continue
		}
		h, err := byName[b.name].Handler(b.name)
		if err != nil {
			return abort(err)
		}
		defaults[b.name] = route{Route: core.Route{Handler: h}, label: "plugin " + b.name + " handler " + b.name}
	}
	routes = append(routes, defaultRoutes(defaults)...)
	mux, err := newMux(routes)
	if err != nil {
		return abort(err)
	}
	for _, r := range routes {
		log.Debug("route", "match", r.Route.String(), "handler", r.label)
	}
	srv := &core.Server{
		Handler:          mux,
		Logger:           log,
		MaxConnections:   noneIfZero(f.maxConns),
		MaxContentLength: noneIfZero(f.maxContent),
		IdleTimeout:      noneIfZero(f.idleTimeout),
		ReadTimeout:      noneIfZero(f.readTimeout),
		WriteTimeout:     noneIfZero(f.writeTimeout),
		HandlerTimeout:   noneIfZero(f.handlerTimeout),
	}
	if c.listening != nil {
		c.listening(addrsOf(framed), addrsOf(raw))
	}

	errc := make(chan error, len(framed)+len(raw))
	for _, l := range framed {
		go func() { errc <- srv.Serve(l) }()
	}
	rawEcho := echo.New()
	for _, l := range raw {
		go func() { errc <- srv.ServeRaw(l, rawEcho) }()
	}

	// Serve returns only when the server closes or a listener fails for
	// good; either way the whole server stops.
	var serveErr error
	pending := len(framed) + len(raw)
	select {
	case <-ctx.Done():
		log.Info("stop requested; shutting down gracefully", "timeout", shutdownTimeout)
	case serveErr = <-errc:
		pending--
		log.Error("listener failed; shutting down", "error", serveErr)
	}
	sctx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		log.Warn("graceful shutdown did not finish; closing remaining connections", "error", err, "connections", srv.Connections())
	}
	srv.Close()
	for ; pending > 0; pending-- {
		if err := <-errc; !errors.Is(err, core.ErrServerClosed) && serveErr == nil {
			serveErr = err
		}
	}
	shutdownPlugins(sctx, procs, log)
	if serveErr != nil {
		return fmt.Errorf("server stopped: %w", serveErr)
	}
	log.Info("stopped")
	return nil
}

func addrsOf(ls []net.Listener) []net.Addr {
	out := make([]net.Addr, len(ls))
	for i, l := range ls {
		out[i] = l.Addr()
	}
	return out
}

// listenReason shortens a listen error to what the user needs, e.g.
// "address already in use", without the repeated address.
func listenReason(err error) string {
	var se *os.SyscallError
	if errors.As(err, &se) {
		return se.Err.Error()
	}
	var oe *net.OpError
	if errors.As(err, &oe) && oe.Err != nil {
		return oe.Err.Error()
	}
	return strings.TrimPrefix(err.Error(), "core: ")
}
