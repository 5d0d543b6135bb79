package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/msgrouter/router"
	"github.com/msgrouter/router/config"
	"github.com/msgrouter/router/core"
	"github.com/msgrouter/router/internal/soak"
)

type soakFlags struct {
	duration   time.Duration
	conns      int
	depth      int
	checkers   int
	faultEvery time.Duration
	faults     string
	hostile    int
	storm      int
	logFile    string
}

// soakFaults are the faults --faults may name, in their default order.
var soakFaults = []string{"kill", "hostile", "reload", "storm", "slow", "oversized"}

var soakCmd = &command{
	name:    "soak",
	summary: "run a router under load and faults, and check nothing is lost",
	desc: `Soak runs a router in this process from the default config (its plugins as
processes, "builtin:NAME"), on a free port of 127.0.0.1, sends it load for
--duration, and injects a fault every --fault-every, in turn from --faults:

	kill     kill -9 one plugin process (each in turn, but the "soak"
	         one the next two faults use); the router restarts it
	hostile  a burst of hostile connections, --hostile of each kind:
	         garbage frames, slowloris (a byte a second), a reset in the
	         middle of a request, a reset before the answer, silent
	reload   reload the config with every plugin changed, so that each is
	         replaced by a new process under load
	storm    --storm connections at once, one request each
	slow     64 connections send 4 requests each to a handler that takes
	         50 ms (the built-in "soak", a plugin process): each must be
	         answered, none with an error
	oversized  7 requests for an answer above limits.max_content_length,
	         each answered with an error, then a small one, answered

The load is 'router bench' for each of the search, binary and echo requests
(--conns connections each, --depth requests in flight on each), and
--checkers connections that check every answer: each of their echo requests
carries its own number, so a missing, repeated, out-of-order or foreign
answer is seen, and each connection is read to its end after its last
answer, so an extra answer is seen too.

When the load stops, the answers in flight have 30s to arrive, then the
router shuts down gracefully. The report gives the requests sent, the
answers received (error answers among them: a request in flight when its
plugin is killed is answered an error), the errors by kind, the faults, what
the router did with the hostile connections, the plugin restarts, and the
peak memory: this process's VmHWM, and the largest sum of the plugin
processes' resident sets, sampled every second.

Soak sends traffic to 127.0.0.1 only, and stops by itself: --duration is at
most 1h.

Exit codes: 0 when every request got exactly one answer, its own; 1 when any
was lost, answered twice or answered wrongly, or the router could not start
or stop cleanly; 2 for a usage error.
`,
	examples: []string{
		"# Three minutes, a fault every 5s:\nrouter soak",
		"# Ten seconds of kills only, the router's log kept:\nrouter soak -d 10s --faults kill --fault-every 2s --log soak.log",
		"# Heavier: 16 connections per request kind, 32 in flight each:\nrouter soak --conns 16 --depth 32 --duration 10m",
	},
	interspersed: true,
	setup: func(fs *flag.FlagSet) func(context.Context, *cli, []string) error {
		f := new(soakFlags)
		fs.DurationVar(&f.duration, "duration", 3*time.Minute, "how long the load runs, at most 1h")
		fs.DurationVar(&f.duration, "d", 3*time.Minute, "short for --duration")
		fs.IntVar(&f.conns, "conns", 4, "load connections per request kind, `N`")
		fs.IntVar(&f.depth, "depth", 8, "requests in flight per connection, `N`")
		fs.IntVar(&f.checkers, "checkers", 4, "connections that check every answer, `N`")
		fs.DurationVar(&f.faultEvery, "fault-every", 5*time.Second, "time between two faults; 0 for none")
		fs.StringVar(&f.faults, "faults", strings.Join(soakFaults, ","), "the comma-separated `LIST` of faults, injected in turn")
		fs.IntVar(&f.hostile, "hostile", 4, "hostile connections of each kind per burst, `N`")
		fs.IntVar(&f.storm, "storm", 200, "connections per storm, `N`")
		fs.StringVar(&f.logFile, "log", "", "write the router's log to `FILE` (default: none)")
		return func(ctx context.Context, c *cli, args []string) error {
			if len(args) > 0 {
				return usagef("soak", "want no arguments, got %q", args)
			}
			return f.run(ctx, c)
		}
	},
}

// pluginEvents counts the router's log lines about plugin restarts.
type pluginEvents struct {
	w                       io.Writer
	died, restarted, gaveUp atomic.Int64
	reloaded, reloadFailed  atomic.Int64
	mu                      sync.Mutex
	lastFailure             string
}

func (e *pluginEvents) Write(p []byte) (int, error) {
	s := string(p)
	switch {
	case strings.Contains(s, "plugin died; restarting"):
		e.died.Add(1)
	case strings.Contains(s, "plugin restarted"):
		e.restarted.Add(1)
	case strings.Contains(s, "plugin failed; "): // not restarting, or after a cool-down
		e.gaveUp.Add(1)
		e.mu.Lock()
		e.lastFailure = strings.TrimSpace(s)
		e.mu.Unlock()
	}
	return e.w.Write(p)
}

func (f *soakFlags) run(ctx context.Context, c *cli) error {
	names, err := f.faultNames()
	if err != nil {
		return err
	}
	logOut := io.Discard
	if f.logFile != "" {
		lf, err := os.Create(f.logFile)
		if err != nil {
			return err
		}
		defer lf.Close()
		logOut = lf
	}
	events := &pluginEvents{w: logOut}
	log := hclog.New(&hclog.LoggerOptions{Name: "router", Level: hclog.Info, Output: events, Color: hclog.ColorOff})

	cfg, err := soakConfig()
	if err != nil {
		return err
	}
	r, err := router.Start(ctx, cfg, router.StartOptions{Logger: log, Executable: c.executable})
	if err != nil {
		return err
	}
	served := make(chan error, 1)
	go func() { served <- r.Serve() }()
	addr := r.Addrs()[0].String()
	fmt.Fprintf(c.stderr, "soak: router on %s, %s of load, a fault every %s (%s)\n", addr, f.duration, f.faultEvery, strings.Join(names, ", "))

	tally := soak.NewTally()
	faults, err := f.faultList(names, r, addr, int64(cfg.Limits.MaxContentLength), events, tally)
	if err != nil {
		r.Shutdown(context.Background())
		return err
	}
	rep, soakErr := soak.Run(ctx, soak.Options{
		Addr: addr, Duration: f.duration, Conns: f.conns, Depth: f.depth, Checkers: f.checkers,
		FaultEvery: f.faultEvery, Faults: faults, Log: c.stderr, Tally: tally,
	})
	shutErr := stopRouter(r, served)
	if rep == nil {
		return soakErr
	}
	rep.Extra = append(rep.Extra, events.lines(shutErr)...)
	rep.Write(c.stdout)
	switch {
	case soakErr != nil:
		return soakErr
	case shutErr != nil:
		return fmt.Errorf("shutdown: %w", shutErr)
	}
	return nil
}

// faultNames checks the flags, and returns the faults --faults names.
func (f *soakFlags) faultNames() ([]string, error) {
	switch {
	case f.duration <= 0 || f.duration > soak.MaxDuration:
		return nil, usagef("soak", "invalid value %s for flag -duration: want more than 0 and at most %s", f.duration, soak.MaxDuration)
	case f.conns < 1 || f.depth < 1 || f.checkers < 0 || f.hostile < 0 || f.storm < 0:
		return nil, usagef("soak", "--conns and --depth must be 1 or more, --checkers, --hostile and --storm 0 or more")
	case f.faultEvery < 0:
		return nil, usagef("soak", "invalid value %s for flag -fault-every: want 0 or more", f.faultEvery)
	}
	var names []string
	for _, n := range strings.Split(f.faults, ",") {
		n = strings.TrimSpace(n)
		if n == "" {
			continue
		}
		if !slices.Contains(soakFaults, n) {
			return nil, usagef("soak", "invalid value %q for flag -faults: unknown fault %q; want %s", f.faults, n, strings.Join(soakFaults, ", "))
		}
		names = append(names, n)
	}
	return names, nil
}

// stopRouter shuts r down gracefully, and returns the error of the
// shutdown or, failing one, of served, Serve's result.
func stopRouter(r *router.Router, served <-chan error) error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	err := r.Shutdown(ctx)
	if serr := <-served; !errors.Is(serr, core.ErrServerClosed) && err == nil {
		err = serr
	}
	return err
}

// lines returns the report's lines about the plugins, the reloads and
// shutErr, the router's shutdown.
func (e *pluginEvents) lines(shutErr error) []string {
	out := []string{
		fmt.Sprintf("plugin restarts:    %d begun, %d done, %d plugins gave up (restart limit)", e.died.Load(), e.restarted.Load(), e.gaveUp.Load()),
		fmt.Sprintf("config reloads:     %d done, %d failed", e.reloaded.Load(), e.reloadFailed.Load()),
	}
	e.mu.Lock()
	last := e.lastFailure
	e.mu.Unlock()
	if last != "" {
		out = append(out, "last plugin failure: "+last)
	}
	if shutErr != nil {
		return append(out, "router shutdown:    "+shutErr.Error())
	}
	return append(out, "router shutdown:    graceful")
}

// soakYAML is the soak's config: the default one on a free port, with
// the built-in "soak" for the plugin faults.
const soakYAML = `listen: ["127.0.0.1:0"]
plugins:
  search: { cmd: "builtin:search" }
  binary: { cmd: "builtin:binary" }
  echo: { cmd: "builtin:echo" }
  soak: { cmd: "builtin:soak" }
routes:
  - { action: echo, plugin: echo }
  - { action: slow, plugin: soak }
  - { action: big, plugin: soak }
  - { content_type: text/json, plugin: search }
  - { plugin: binary }
`

// soakConfig loads soakYAML, from a file of its own as any config.
func soakConfig() (*config.Config, error) {
	dir, err := os.MkdirTemp("", "router-soak-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "soak.yaml")
	if err := os.WriteFile(path, []byte(soakYAML), 0o600); err != nil {
		return nil, err
	}
	return config.Load(path, config.LoadOptions{Environ: []string{}})
}
