package plugintest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/go-hclog"

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

// stop shuts the plugin down if it still runs.
func (r *runner) stop() {
	r.mu.Lock()
	p := r.proc
	r.mu.Unlock()
	if p != nil {
		ctx, cancel := context.WithTimeout(context.Background(), ShutdownTimeout)
		defer cancel()
		p.Shutdown(ctx)
	}
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

// wire returns m as it arrives after encoding, with every default set.
func wire(m *core.Message) (*core.Message, error) {
	b, err := core.Marshal(m)
	if err != nil {
		return nil, err
	}
	return core.Unmarshal(b)
}

func (r *runner) run(ctx context.Context) (plugins.Info, []error) {
	var errs errorList
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
	if r.cfg.Cmd == "" {
		errs.add("Config.Cmd is empty")
	}
	if len(errs.errs) > 0 {
		for i, err := range errs.errs {
			errs.errs[i] = fatalError{err}
		}
		return plugins.Info{}, errs.errs
	}

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
		return plugins.Info{}, []error{fatalError{fmt.Errorf("plugintest: the plugin does not start: %w", err)}}
	}
	r.mu.Lock()
	r.proc = p
	r.mu.Unlock()

	info := p.Info()
	r.checkInfo(&errs, info)
	declared := make(map[string]plugins.HandlerInfo)
	for _, hi := range info.Handlers {
		declared[hi.Name] = hi
	}
	var runnable []*testCase
	for _, tc := range cases {
		hi, ok := declared[tc.Handler]
		if !ok {
			errs.add("%s: the plugin declares no handler %q", tc.name, tc.Handler)
			continue
		}
		if tc.h, err = p.Handler(tc.Handler); err != nil {
			errs.add("%s: %v", tc.name, err)
			continue
		}
		if !tc.Unrouted {
			checkRouted(&errs, tc, hi)
		}
		runnable = append(runnable, tc)
	}

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

// checkInfo checks what the plugin declared.
func (r *runner) checkInfo(errs *errorList, info plugins.Info) {
	if info.Name == "" {
		errs.add("the plugin declares no name")
	}
	if info.Version == "" {
		errs.add("the plugin declares no version")
	}
	if len(info.Handlers) == 0 {
		errs.add("the plugin declares no handlers")
	}
	var names []string
	for _, hi := range info.Handlers {
		names = append(names, hi.Name)
	}
	for _, want := range r.cfg.Handlers {
		if !slices.Contains(names, want) {
			errs.add("the plugin does not declare handler %q (it declares %q)", want, names)
		}
	}
	actions := make(map[string]string)      // action -> handler
	contentTypes := make(map[string]string) // content-type -> handler
	for _, hi := range info.Handlers {
		if len(hi.Actions) == 0 && len(hi.ContentTypes) == 0 {
			errs.add("handler %q declares no action and no content-type: the router cannot route requests to it", hi.Name)
		}
		claim := func(kind string, seen map[string]string, v string) {
			if v == "" {
				errs.add("handler %q declares an empty %s", hi.Name, kind)
				return
			}
			if prev, dup := seen[v]; dup {
				if prev == hi.Name {
					errs.add("handler %q declares %s %q twice", hi.Name, kind, v)
				} else {
					errs.add("handlers %q and %q both declare %s %q: the router cannot route it to both", prev, hi.Name, kind, v)
				}
				return
			}
			seen[v] = hi.Name
		}
		for _, a := range hi.Actions {
			claim("action", actions, a)
		}
		for _, ct := range hi.ContentTypes {
			claim("content-type", contentTypes, ct)
		}
	}
}

// checkRouted checks that the handler's declarations route the case's
// request to it, with the router's own matching (a core.Mux).
func checkRouted(errs *errorList, tc *testCase, hi plugins.HandlerInfo) {
	nop := core.HandlerFunc(func(context.Context, *core.Message) (*core.Message, error) { return nil, nil })
	var routes []core.Route
	for _, a := range hi.Actions {
		if a != "" && !slices.ContainsFunc(routes, func(r core.Route) bool { return r.Action == a }) {
			routes = append(routes, core.Route{Action: a, Handler: nop})
		}
	}
	for _, ct := range hi.ContentTypes {
		if ct != "" && !slices.ContainsFunc(routes, func(r core.Route) bool { return r.ContentType == ct }) {
			routes = append(routes, core.Route{ContentType: ct, Handler: nop})
		}
	}
	mux, err := core.NewMux(routes...)
	if err != nil {
		errs.add("%s: handler %q's declarations are not a valid route table: %v", tc.name, hi.Name, err)
		return
	}
	if _, ok, _ := mux.Match(tc.Request.Clone()); ok {
		return
	}
	what := fmt.Sprintf("content-type %q", tc.Request.ContentType)
	if tc.Request.IsJSON() {
		if a, err := tc.Request.Clone().Action(); err == nil {
			what += fmt.Sprintf(", action %q", a)
		}
	}
	errs.add("%s: handler %q declares actions %q and content-types %q, which do not route this request (%s) to it; set Case.Unrouted if only an explicit route sends it there",
		tc.name, hi.Name, hi.Actions, hi.ContentTypes, what)
}

func (tc *testCase) timeout() time.Duration {
	if tc.Timeout > 0 {
		return tc.Timeout
	}
	return DefaultTimeout
}

// call sends a copy of the case's request and checks the answer.
func (tc *testCase) call(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, tc.timeout())
	defer cancel()
	ans, err := tc.h.Handle(ctx, tc.Request.Clone())
	tc.r.died(err)
	return tc.check(ans, err)
}

// check compares an answer or error with what the case wants.
func (tc *testCase) check(ans *core.Message, err error) error {
	if tc.WantError != "" {
		switch {
		case err == nil:
			return fmt.Errorf("answer %s, want an error containing %q", describe(ans), tc.WantError)
		case !strings.Contains(err.Error(), tc.WantError):
			return fmt.Errorf("error %q, want an error containing %q", err, tc.WantError)
		}
		return nil
	}
	if err != nil {
		return fmt.Errorf("error %q, want an answer", err)
	}
	if ans == nil {
		return errors.New("no answer and no error")
	}
	want := tc.want
	if want == nil {
		return nil
	}
	var diffs []string
	field := func(name, got, want string) {
		if got != want {
			diffs = append(diffs, fmt.Sprintf("%s %q, want %q", name, got, want))
		}
	}
	field("content-type", ans.ContentType, want.ContentType)
	field("content-encoding", ans.ContentEncoding, want.ContentEncoding)
	if tc.Want.ByteOrder != "" {
		field("byteorder", ans.ByteOrder, want.ByteOrder)
	}
	for _, h := range want.Headers {
		got, ok := ans.RawHeader(h.Key)
		switch {
		case !ok:
			diffs = append(diffs, fmt.Sprintf("no header %q, want %s", h.Key, h.Value))
		case !bytes.Equal(got, h.Value):
			diffs = append(diffs, fmt.Sprintf("header %q is %s, want %s", h.Key, got, h.Value))
		}
	}
	if !bytes.Equal(ans.Content, want.Content) {
		diffs = append(diffs, "content "+diffContent(ans.Content, want.Content))
	}
	if len(diffs) > 0 {
		return errors.New("wrong answer: " + strings.Join(diffs, "; "))
	}
	return nil
}

// describe shows an answer in a failure.
func describe(m *core.Message) string {
	if m == nil {
		return "<nil>"
	}
	return fmt.Sprintf("%s %s %s", m.ContentType, m.ContentEncoding, quote(m.Content))
}

// roundGap is the time between two rounds of the concurrent check.
const roundGap = 2 * time.Millisecond

const maxShown = 200 // bytes of content shown in a failure

func quote(b []byte) string {
	if len(b) > maxShown {
		return fmt.Sprintf("%q... (%d bytes)", b[:maxShown], len(b))
	}
	return fmt.Sprintf("%q", b)
}

// diffContent describes how got differs from want.
func diffContent(got, want []byte) string {
	if len(got) <= maxShown && len(want) <= maxShown {
		return fmt.Sprintf("%q, want %q", got, want)
	}
	i := 0
	for i < len(got) && i < len(want) && got[i] == want[i] {
		i++
	}
	from := max(0, i-20)
	return fmt.Sprintf("of %d bytes differs from the %d wanted at byte %d: %q, want %q",
		len(got), len(want), i, clip(got[from:]), clip(want[from:]))
}

func clip(b []byte) []byte {
	return b[:min(len(b), 60)]
}

// sequential runs each case once, in order.
func (r *runner) sequential(errs *errorList, cases []*testCase, phase string) {
	for _, tc := range cases {
		if !tc.ok {
			continue
		}
		if err := tc.call(context.Background()); err != nil {
			errs.add("%s%s: %v", tc.name, phase, err)
			tc.ok = false
		}
	}
}

// concurrent runs Copies copies of every case at once, in rounds of one
// copy of each case. The rounds start roundGap apart: a plugin may answer
// the requests that reach it together one after the other (the SDK
// answers a batch in order), and spreading them out makes the plugin
// handle one round while the next arrives.
func (r *runner) concurrent(errs *errorList, cases []*testCase) {
	type result struct {
		failed int
		first  error
	}
	results := make([]result, len(cases))
	var mu sync.Mutex
	var wg sync.WaitGroup
	for k := range Copies {
		if k > 0 {
			time.Sleep(roundGap)
		}
		for i, tc := range cases {
			if !tc.ok {
				continue
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				if err := tc.call(context.Background()); err != nil {
					mu.Lock()
					results[i].failed++
					if results[i].first == nil {
						results[i].first = fmt.Errorf("copy %d: %w", k+1, err)
					}
					mu.Unlock()
				}
			}()
		}
	}
	wg.Wait()
	for i, res := range results {
		if res.failed > 0 {
			errs.add("%s, run concurrently with the other cases: %d of %d copies failed (state shared between requests?); %v",
				cases[i].name, res.failed, Copies, res.first)
			cases[i].ok = false
		}
	}
}

// batches sends each handler's cases to it in one batch, twice over, as
// the router sends the requests that arrive in one read.
func (r *runner) batches(errs *errorList, cases []*testCase) {
	byHandler := make(map[string][]*testCase)
	var order []string
	for _, tc := range cases {
		if !tc.ok {
			continue
		}
		if _, ok := byHandler[tc.Handler]; !ok {
			order = append(order, tc.Handler)
		}
		byHandler[tc.Handler] = append(byHandler[tc.Handler], tc)
	}
	for _, name := range order {
		batch := append(slices.Clone(byHandler[name]), byHandler[name]...)
		bh, ok := batch[0].h.(core.BatchHandler)
		if !ok {
			continue
		}
		var timeout time.Duration
		reqs := make([]*core.Message, len(batch))
		for i, tc := range batch {
			reqs[i] = tc.Request.Clone()
			timeout = max(timeout, tc.timeout())
		}
		answers := make([]*core.Message, len(batch))
		errList := make([]error, len(batch))
		ctx, cancel := context.WithTimeout(context.Background(), timeout)
		bh.HandleBatch(ctx, reqs, answers, errList)
		cancel()
		for _, err := range errList {
			r.died(err)
		}
		for i, tc := range batch {
			if !tc.ok {
				continue
			}
			if err := tc.check(answers[i], errList[i]); err != nil {
				errs.add("%s, in a batch of %d requests to handler %q: %v", tc.name, len(batch), name, err)
				tc.ok = false
			}
		}
	}
}

// deadlines sends each declared handler, one handler after the other,
// requests whose deadline is about to pass, Copies at once. It checks
// that they come back (answered or not) within DeadlineGrace of it, and
// that the plugin finishes, within DeadlineGrace too, the requests the
// router gave up on at their deadline (the router tells the plugin, and
// counts the answers that come late: see plugins.Process.Abandoned): a
// handler that ignores its context is caught here. The cases run again
// afterwards check that the plugin copes with the requests it was told to
// abandon.
func (r *runner) deadlines(errs *errorList, p *plugins.Process, info plugins.Info, cases []*testCase) {
	grace := r.deadlineGrace
	for _, hi := range info.Handlers {
		h, err := p.Handler(hi.Name)
		if err != nil {
			errs.add("handler %q: %v", hi.Name, err)
			continue
		}
		req := core.NewBinary("application/octet-stream", nil)
		for _, tc := range cases {
			if tc.Handler == hi.Name {
				req = tc.Request
				break
			}
		}
		abandoned0, finished0 := p.Abandoned()
		restarts0 := p.Restarts()
		var late atomic.Int32
		var each sync.WaitGroup
		for range Copies {
			each.Add(1)
			go func() {
				defer each.Done()
				deadline := time.Now().Add(time.Millisecond)
				ctx, cancel := context.WithDeadline(context.Background(), deadline)
				defer cancel()
				done := make(chan struct{})
				go func() {
					defer close(done)
					_, err := h.Handle(ctx, req.Clone())
					r.died(err)
				}()
				select {
				case <-done:
				case <-time.After(time.Until(deadline) + grace):
					late.Add(1)
				}
			}()
		}
		each.Wait()
		if n := late.Load(); n > 0 {
			errs.add("handler %q: %d of %d requests did not come back within %s of their deadline", hi.Name, n, Copies, grace)
		}
		// What the router gave up on, the plugin must finish.
		until := time.Now().Add(grace)
		for {
			abandoned, finished := p.Abandoned()
			if p.Restarts() != restarts0 || abandoned < abandoned0 {
				break // a new process: the crash is reported elsewhere
			}
			left := int64(abandoned-abandoned0) - int64(finished-finished0)
			if left <= 0 {
				break
			}
			if time.Now().After(until) {
				errs.add("handler %q: %d of the %d requests the router gave up on at their deadline were still running in the plugin %s later: the handler ignores its context",
					hi.Name, left, abandoned-abandoned0, grace)
				break
			}
			time.Sleep(time.Millisecond)
		}
	}
}

// shutdown stops the plugin and checks that its process is gone.
func (r *runner) shutdown(errs *errorList, p *plugins.Process) {
	ctx, cancel := context.WithTimeout(context.Background(), ShutdownTimeout)
	defer cancel()
	if err := p.Shutdown(ctx); err != nil {
		errs.add("Shutdown: %v", err)
	}
	if r.logs.killed() {
		errs.add("the plugin did not exit when the router asked it to, and was killed")
	}
	pid := r.logs.pid()
	if pid == 0 {
		errs.add("cannot check that the plugin's process has exited: its pid was not logged")
		return
	}
	for !processGone(pid) {
		if ctx.Err() != nil {
			errs.add("the plugin's process %d still runs %s after Shutdown", pid, ShutdownTimeout)
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// logCapture keeps the host's and the plugin's logs, to show with
// failures, and watches them for the plugin's pid and for a forced kill.
type logCapture struct {
	mu      sync.Mutex
	buf     bytes.Buffer
	procPID int
	kill    bool
}

func newLogCapture() *logCapture { return &logCapture{} }

func (c *logCapture) logger() hclog.Logger {
	l := hclog.NewInterceptLogger(&hclog.LoggerOptions{
		Name:   "plugintest",
		Level:  hclog.Debug,
		Output: c,
	})
	l.RegisterSink(c)
	return l
}

// Write receives the text log.
func (c *logCapture) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.buf.Write(p)
}

// Accept receives each log entry, structured (hclog.SinkAdapter).
func (c *logCapture) Accept(_ string, _ hclog.Level, msg string, args ...any) {
	c.mu.Lock()
	defer c.mu.Unlock()
	switch msg {
	case "plugin started": // logged by plugins.Start and by go-plugin
		for i := 0; i+1 < len(args); i += 2 {
			if k, _ := args[i].(string); k == "pid" {
				if pid, ok := args[i+1].(int); ok && pid > 0 {
					c.procPID = pid
				}
			}
		}
	case "plugin failed to exit gracefully": // go-plugin, before it kills
		c.kill = true
	}
}

func (c *logCapture) String() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.buf.String()
}

func (c *logCapture) pid() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.procPID
}

func (c *logCapture) killed() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.kill
}
