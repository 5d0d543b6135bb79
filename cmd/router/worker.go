package main

import (
	"context"
	"flag"
	"os"

	"github.com/hashicorp/go-hclog"

	"github.com/msgrouter/router"
	"github.com/msgrouter/router/config"
)

type workerFlags struct {
	file      string
	inProcess bool
	logLevel  levelFlag
	logJSON   bool
	metrics   string
	watch     bool
}

var workerCmd = &command{
	name:    "worker",
	summary: "serve plugins' handlers to routers over NATS",
	desc: `Worker serves handlers to routers on this or other machines, over NATS. It
runs the plugins of its config file as serve does (restart, limits, logs) and
registers a NATS micro service, named worker.name ("router"), with one
endpoint per entry of worker.endpoints, each a subject answered by a plugin's
handler, in the queue group "router". A router's route {action: search, nats:
router.search} then sends each request to one of the workers serving that
subject; start more workers to add capacity ('nats micro ls' lists them).

	nats: { url: "nats://127.0.0.1:4222" }
	plugins:
	  search: { cmd: "builtin:search" }
	worker:
	  endpoints:
	    - { subject: router.search, plugin: search }

The config file is required; its listen and routes are not read. nats.url
names the NATS server or cluster (a router whose nats.url is empty runs one
in process, on nats.embedded.listen: 127.0.0.1:4222 by default). A server
that is not up yet is waited for; a connection lost is retried every 250ms,
and the worker serves again once it is back.

A worker handles at most worker.max_in_flight (64) requests at once; as many
more wait their turn, and past those it takes no more from NATS until one is
answered. A request that waited past its deadline is answered a timeout
without reaching the plugin (the router has given up on it by then). ROUTER_ environment variables override the file, and flags
override both.

Reloading: on SIGHUP, and when the file changes (--watch=false turns that
off), the worker applies the file again as serve does: plugins changed start
beside the old ones, which stop once their requests are answered; changed
endpoints register a new service and drain the old one. nats cannot change.

SIGINT or SIGTERM stops the worker gracefully: it takes no new request
(NATS sends them to the other workers), answers those it has taken, then
stops its plugins; after timeouts.shutdown (10s) what is left is cancelled.
A second signal stops it at once.

Exit codes: 0 after a graceful stop; 1 if the config is invalid, a plugin
cannot start, or an endpoint names a handler that does not exist; 2 for a
usage error.
`,
	examples: []string{
		"# A router with the embedded NATS server, and a worker beside it:\nrouter serve -c router.yaml\nrouter worker -c worker.yaml",
		"# A worker on another machine, with metrics:\nROUTER_NATS_URL=nats://10.0.0.5:4222 router worker -c worker.yaml --metrics 127.0.0.1:9109",
	},
	setup: func(fs *flag.FlagSet) func(context.Context, *cli, []string) error {
		f := new(workerFlags)
		fs.StringVar(&f.file, "config", "", "read the worker's config from `FILE` (required)")
		fs.StringVar(&f.file, "c", "", "short for --config `FILE`")
		fs.BoolVar(&f.inProcess, "in-process", false, "run the builtin: plugins inside the worker, not as plugin processes")
		fs.Var(&f.logLevel, "log-level", "log `level`: trace, debug, info, warn, error or off (sets log.level)")
		fs.BoolVar(&f.logJSON, "log-json", false, "log JSON lines instead of text (sets log.format to json)")
		fs.StringVar(&f.metrics, "metrics", "", "serve Prometheus metrics on `HOST:PORT` at /metrics (sets metrics.listen)")
		fs.BoolVar(&f.watch, "watch", true, "reload the config file when it changes")
		return func(ctx context.Context, c *cli, args []string) error {
			if len(args) > 0 {
				return usagef("worker", "takes no arguments, got %q", args)
			}
			if f.file == "" {
				return usagef("worker", "needs a config file: --config FILE")
			}
			return f.run(ctx, c, fs)
		}
	},
}

// loadOptions returns the options the worker's file is loaded with.
func (f *workerFlags) loadOptions(c *cli, fs *flag.FlagSet) config.LoadOptions {
	flags := make(map[string]any)
	fs.Visit(func(fl *flag.Flag) {
		switch fl.Name {
		case "log-level":
			flags["log.level"] = string(f.logLevel)
		case "log-json":
			flags["log.format"] = map[bool]string{true: "json", false: "text"}[f.logJSON]
		case "metrics":
			flags["metrics.listen"] = f.metrics
		}
	})
	return config.LoadOptions{Environ: c.environ, Flags: flags, Worker: true}
}

func (f *workerFlags) run(ctx context.Context, c *cli, fs *flag.FlagSet) error {
	hup, stop := c.hangups()
	defer stop()
	opts := f.loadOptions(c, fs)
	cfg, err := config.Load(f.file, opts)
	if err != nil {
		return err
	}
	log := router.NewLogger(cfg.Log, c.stderr)
	log.Info("config loaded", "file", f.file)
	o := router.StartOptions{Logger: log, Executable: c.executable}
	if f.inProcess {
		o.InProcess = inProcessBuiltins()
	}
	w, err := router.StartWorker(ctx, cfg, o)
	if err != nil {
		if ctx.Err() != nil {
			log.Info("stop requested while starting")
			return nil
		}
		return err
	}
	if f.watch {
		if err := w.Watch(ctx, f.file, opts); err != nil {
			log.Warn("cannot watch the config file; send SIGHUP to reload it", "error", err)
		}
	}
	return serveWorker(ctx, w, hup, f.file, opts, log)
}

// serveWorker serves w until ctx ends, reloading on each value of hup,
// then drains it within timeouts.shutdown.
func serveWorker(ctx context.Context, w *router.Worker, hup <-chan os.Signal, file string, opts config.LoadOptions, log hclog.Logger) error {
	reload := func() {
		log.Info("SIGHUP: reloading the config file", "file", file)
		w.ReloadFile(ctx, file, opts) // logs the outcome
	}
	return runUntilStopped(ctx, w, hup, reload, log, stopLog{
		name: "worker", stopping: "stop requested; draining", failed: "worker failed; shutting down"})
}
