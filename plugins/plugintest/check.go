package plugintest

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"time"

	"github.com/msgrouter/router/core"
	"github.com/msgrouter/router/plugins"
)

// runner runs the checks of one Run. Its run method returns every
// failure instead of reporting it, so that this package's own tests can
// check what a broken plugin is blamed for.
type runner struct {
	cfg   Config
	cases []Case
	logs  *logCapture

	deadlineGrace time.Duration // DeadlineGrace; shorter in this package's tests

	mu    sync.Mutex
	proc  *plugins.Process
	death error // the first error saying the plugin's process died
}

// fatalError is a failure after which nothing else can be checked.
type fatalError struct{ error }

func (e fatalError) Unwrap() error { return e.error }

func isFatal(err error) bool {
	var f fatalError
	return errors.As(err, &f)
}

func newRunner(cfg Config, cases []Case) *runner {
	return &runner{cfg: cfg, cases: cases, logs: newLogCapture(), deadlineGrace: DeadlineGrace}
}

// errorList collects failures; it is safe for concurrent use.
type errorList struct {
	mu   sync.Mutex
	errs []error
}

func (l *errorList) add(format string, args ...any) {
	l.mu.Lock()
	l.errs = append(l.errs, fmt.Errorf("plugintest: "+format, args...))
	l.mu.Unlock()
}

// A testCase is a Case with its name settled and its handler found.
type testCase struct {
	Case
	r    *runner
	name string
	h    core.Handler
	want *core.Message // Want as encoded and decoded
	ok   bool          // passed so far; a failing case is reported once
}

// run checks the cases, starts the plugin, runs the checks in turn (the
// rest are skipped once the plugin's process has died) and shuts the
// plugin down. It returns what the plugin declared and every failure;
// those after which nothing could be checked are fatalErrors.
func (r *runner) run(ctx context.Context) (plugins.Info, []error) {
	var errs errorList
	cases := r.settle(&errs)
	if r.cfg.Cmd == "" {
		errs.add("Config.Cmd is empty")
	}
	if len(errs.errs) > 0 {
		for i, err := range errs.errs {
			errs.errs[i] = fatalError{err}
		}
		return plugins.Info{}, errs.errs
	}
	p, err := r.start(ctx)
	if err != nil {
		return plugins.Info{}, []error{fatalError{fmt.Errorf("plugintest: the plugin does not start: %w", err)}}
	}
	info := p.Info()
	r.checkInfo(&errs, info)
	runnable := r.runnable(&errs, p, info, cases)

	phases := []func(){
		func() { r.sequential(&errs, runnable, "") },
		func() { r.concurrent(&errs, runnable) },
		func() { r.batches(&errs, runnable) },
		func() { r.deadlines(&errs, p, info, runnable) },
		func() { r.sequential(&errs, runnable, ", after requests abandoned at their deadline") },
	}
	for _, phase := range phases {
		phase()
		if died := r.dead(); died != nil {
			errs.add("the plugin's process died (%v); the remaining checks were skipped", died)
			break
		}
	}
	r.shutdown(&errs, p)
	return info, errs.errs
}

// settle returns the cases with their names settled and their Want as it
// would arrive, and adds a failure for each malformed one.
func (r *runner) settle(errs *errorList) []*testCase {
	cases := make([]*testCase, len(r.cases))
	for i, c := range r.cases {
		tc := &testCase{Case: c, r: r, name: c.Name, ok: true}
		if tc.name == "" {
			tc.name = fmt.Sprintf("case %d", i+1)
		}
		switch {
		case c.Request == nil:
			errs.add("%s: no Request", tc.name)
		case c.Want != nil && c.WantError != "":
			errs.add("%s: both Want and WantError are set", tc.name)
		case c.Handler == "":
			errs.add("%s: no Handler", tc.name)
		case c.Want != nil:
			// Compare with Want as it would arrive: empty fields become
			// the encoder's defaults.
			want, err := wire(c.Want)
			if err != nil {
				errs.add("%s: Want cannot be encoded: %v", tc.name, err)
			}
			tc.want = want
		}
		cases[i] = tc
	}
	return cases
}

// start starts the plugin, and keeps it for stop.
func (r *runner) start(ctx context.Context) (*plugins.Process, error) {
	p, err := plugins.Start(ctx, plugins.Config{
		Name:         filepath.Base(r.cfg.Cmd),
		Cmd:          r.cfg.Cmd,
		Args:         r.cfg.Args,
		Env:          r.cfg.Env,
		Settings:     r.cfg.Settings,
		Logger:       r.logs.logger(),
		StartTimeout: r.cfg.StartTimeout,
		// A plugin that dies must fail the run, not be restarted
		// behind its back.
		Restart: plugins.RestartPolicy{MaxRestarts: -1},
	})
	if err != nil {
		return nil, err
	}
	r.mu.Lock()
	r.proc = p
	r.mu.Unlock()
	return p, nil
}

// died notes err if it says that the plugin's process is gone.
func (r *runner) died(err error) {
	if errors.Is(err, plugins.ErrExited) || errors.Is(err, plugins.ErrFailed) {
		r.mu.Lock()
		if r.death == nil {
			r.death = err
		}
		r.mu.Unlock()
	}
}

// dead returns the first error that said the plugin's process is gone.
func (r *runner) dead() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.death
}
