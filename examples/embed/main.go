// Command embed is a small application that embeds the router instead of
// running "router serve": it builds the route table in code, serves the
// protocol on its own listener, and adds a route of its own.
//
// Its routes, first match wins:
//
//	action "time"     -> its own handler, in process
//	action "reverse"  -> the "reverse" handler of a plugin process (this
//	                     same binary, run as "embed plugin")
//	anything else     -> the router's built-in search and binary handlers,
//	                     in process, as the reference app-server answers
//
// The in-process handlers and the plugin's are all core.Handlers: moving a
// handler out of process changes one line.
//
// Run it, then talk to it with the router's client:
//
//	go run ./examples/embed -listen 127.0.0.1:7000 -metrics 127.0.0.1:7001
//	go run ./cmd/router send -addr 127.0.0.1:7000 -json time now
//	go run ./cmd/router send -addr 127.0.0.1:7000 -json reverse hello
//	go run ./cmd/router send -addr 127.0.0.1:7000 search morpheus
//	curl -s 127.0.0.1:7001/metrics | grep router_requests_total
//
// With -config FILE it builds the router from a config file instead (see
// config/README.md), adding its "time" handler as an in-process plugin
// the file can route to.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"slices"
	"syscall"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/msgrouter/router"
	"github.com/msgrouter/router/config"
	"github.com/msgrouter/router/core"
	"github.com/msgrouter/router/metrics"
	"github.com/msgrouter/router/plugins"
	"github.com/msgrouter/router/plugins/binary"
	"github.com/msgrouter/router/plugins/search"
)

func main() {
	// Run as "embed plugin", the binary is the plugin process it starts.
	if len(os.Args) > 1 && os.Args[1] == "plugin" {
		servePlugin()
		return
	}
	listen := flag.String("listen", "127.0.0.1:7000", "serve the protocol on `ADDR`")
	metricsAddr := flag.String("metrics", "", "serve Prometheus metrics on `HOST:PORT`; empty: none")
	configFile := flag.String("config", "", "build the router from `FILE` instead of in code")
	flag.Parse()

	log := hclog.New(&hclog.LoggerOptions{Name: "embed", Level: hclog.Info})
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	var err error
	if *configFile != "" {
		err = runFromConfig(ctx, log, *configFile)
	} else {
		err = run(ctx, log, *listen, *metricsAddr)
	}
	if err != nil {
		log.Error("stopped", "error", err)
		os.Exit(1)
	}
}

// timeHandler is the application's own route: {"action": "time"} is
// answered {"result": the time, RFC 3339}.
var timeHandler = core.HandlerFunc(func(ctx context.Context, req *core.Message) (*core.Message, error) {
	return core.NewJSON(core.Object{{Key: "result", Value: time.Now().UTC().Format(time.RFC3339)}})
})

// run builds the router in code and serves until ctx ends.
func run(ctx context.Context, log hclog.Logger, listen, metricsAddr string) error {
	exe, err := os.Executable()
	if err != nil {
		return err
	}
	// The plugin process: this binary again, as "embed plugin". The
	// router restarts it if it dies; its requests in flight get an
	// error answer meanwhile.
	proc, err := plugins.Start(ctx, plugins.Config{Name: "reverse", Cmd: exe, Args: []string{"plugin"}, Logger: log})
	if err != nil {
		return err
	}
	defer proc.Shutdown(context.Background())
	reverse, err := proc.Handler("reverse")
	if err != nil {
		return err
	}

	m := metrics.New()
	mux, err := core.NewMux(
		core.Route{Action: "time", Handler: m.Instrument("time", timeHandler)},
		core.Route{Action: "reverse", Handler: m.Instrument("reverse", reverse)},
		core.Route{ContentType: core.ContentTypeJSON, Handler: m.Instrument("search", search.Default())},
		core.Route{Handler: m.Instrument("binary", binary.New())},
	)
	if err != nil {
		return err
	}
	m.Plugin("reverse", proc)
	srv := &core.Server{Handler: mux, Logger: log, GenerateRequestIDs: true}
	m.Server(srv)

	if metricsAddr != "" {
		ml, err := net.Listen("tcp", metricsAddr)
		if err != nil {
			return err
		}
		hs := &http.Server{Handler: m.Handler(), ReadHeaderTimeout: 10 * time.Second}
		go hs.Serve(ml)
		defer hs.Close()
		log.Info("metrics listening", "addr", ml.Addr().String())
	}

	l, err := core.Listen(ctx, "tcp://"+listen)
	if err != nil {
		return err
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(l) }()
	select {
	case err := <-served:
		return err
	case <-ctx.Done():
	}
	// Answer what has been received, then stop.
	sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		srv.Close()
	}
	if err := <-served; !errors.Is(err, core.ErrServerClosed) {
		return err
	}
	log.Info("stopped")
	return nil
}

// runFromConfig builds the router from a config file, with the "time"
// handler as an in-process plugin named "clock" the file may route to
// (it must define it: plugins: {clock: {cmd: inprocess}}).
func runFromConfig(ctx context.Context, log hclog.Logger, path string) error {
	cfg, err := config.Load(path, config.LoadOptions{})
	if err != nil {
		return err
	}
	r, err := router.Start(ctx, cfg, router.StartOptions{
		Logger: log,
		InProcess: map[string]func() *plugins.Plugin{
			"clock": func() *plugins.Plugin {
				return &plugins.Plugin{Name: "clock", Handlers: []plugins.HandlerSpec{
					{Name: "time", Actions: []string{"time"}, Handler: timeHandler},
				}}
			},
		},
	})
	if err != nil {
		return err
	}
	served := make(chan error, 1)
	go func() { served <- r.Serve() }()
	select {
	case err := <-served:
		r.Shutdown(context.Background())
		return err
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return r.Shutdown(sctx)
}

// servePlugin is the plugin process: one handler, "reverse", that
// answers {"action": "reverse", "value": "abc"} with {"result": "cba"}.
func servePlugin() {
	plugins.ServePlugin(&plugins.Plugin{
		Name: "reverse",
		Handlers: []plugins.HandlerSpec{{
			Name:    "reverse", // serves the action "reverse"
			Handler: core.HandlerFunc(reverseValue),
		}},
	})
}

func reverseValue(ctx context.Context, req *core.Message) (*core.Message, error) {
	raw, _, err := req.Field("value")
	if err != nil {
		return nil, err
	}
	var s string
	// A JSON null (or a missing value) would unmarshal into "" without an
	// error: check the kind first.
	if len(raw) == 0 || raw[0] != '"' || json.Unmarshal(raw, &s) != nil {
		return nil, fmt.Errorf(`reverse: the request needs a string "value"`)
	}
	r := []rune(s)
	slices.Reverse(r)
	return core.NewJSON(core.Object{{Key: "result", Value: string(r)}})
}
