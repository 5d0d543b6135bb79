package plugintest

import (
	"context"
	"fmt"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/msgrouter/router/core"
)

// upperCases are right for the "upper" handler of testdata/broken.
func upperCases(extra ...Case) []Case {
	return append([]Case{
		{Name: "hello", Handler: "upper", Request: Text("text/plain", "hello"), Want: core.NewBinary("text/plain", []byte("HELLO"))},
		{Name: "world", Handler: "upper", Request: Text("text/plain", "wörld"), Want: core.NewBinary("text/plain", []byte("WÖRLD"))},
	}, extra...)
}

// TestChecks runs testdata/broken in each of its modes and checks what
// the plugin is blamed for: every wanted failure is reported, and nothing
// else.
func TestChecks(t *testing.T) {
	bin := Build(t, "./testdata/broken")
	tests := []struct {
		name  string
		mode  string
		cfg   func(*Config)
		cases []Case
		want  []string // each failure matches one of these, and each of these a failure
		allow []string // failures that may also be reported
		fatal bool
	}{
		{name: "correct", cases: upperCases(
			// Empty fields of Want are the encoder's defaults.
			Case{Name: "defaults", Handler: "upper", Request: Text("text/plain", "x"), Want: &core.Message{ContentType: "text/plain", Content: []byte("X")}},
			Case{Name: "any answer", Handler: "upper", Request: Text("text/plain", "x")},
		)},
		{name: "correct with settings and required handlers", cases: upperCases(), cfg: func(c *Config) {
			c.Settings = map[string]any{"k": "v"}
			c.Handlers = []string{"upper"}
		}},
		{name: "missing handler", cfg: func(c *Config) { c.Handlers = []string{"upper", "lower"} },
			cases: upperCases(Case{Name: "lower", Handler: "lower", Request: Text("text/plain", "X")}),
			want:  []string{`the plugin does not declare handler "lower" (it declares ["upper"])`, `lower: the plugin declares no handler "lower"`}},
		{name: "unrouted case", cases: upperCases(
			Case{Name: "json", Handler: "upper", Request: Action("shout", "x")},
			Case{Name: "other", Handler: "upper", Request: Text("text/html", "x"), Want: core.NewBinary("text/plain", []byte("X")), Unrouted: true},
		), want: []string{`json: handler "upper" declares actions ["upper"] and content-types ["text/plain"], which do not route this request (content-type "text/json", action "shout") to it`}},
		{name: "empty", mode: "empty", cases: upperCases(), fatal: true,
			want: []string{"plugintest: the plugin does not start: plugins: cannot start plugin"}},
		{name: "stdout", mode: "stdout", cases: upperCases(), fatal: true,
			want: []string{"plugintest: the plugin does not start: plugins: cannot start plugin"}},
		{name: "initfail", mode: "initfail", cases: upperCases(), fatal: true, cfg: func(c *Config) { c.Settings = map[string]any{} },
			want: []string{"init: rpc error: code = Unknown desc = bad settings"}},
		{name: "unroutable", mode: "unroutable", cases: upperCases(), want: []string{
			`handler "upper" declares no action and no content-type: the router cannot route requests to it`,
			`hello: handler "upper" declares actions [] and content-types [], which do not route this request (content-type "text/plain") to it`,
			`world: handler "upper" declares actions [] and content-types [], which do not route this request`,
		}},
		{name: "misroute", mode: "misroute", cases: upperCases(), want: []string{
			`hello: handler "upper" declares actions ["upper"] and content-types ["text/plane"], which do not route this request (content-type "text/plain") to it`,
			`world: handler "upper" declares actions ["upper"] and content-types ["text/plane"]`,
		}},
		{name: "duplicate", mode: "duplicate", cases: upperCases(), want: []string{
			`handlers "upper" and "shout" both declare action "upper": the router cannot route it to both`,
		}},
		{name: "wrong", mode: "wrong", cases: upperCases(), want: []string{
			`hello: wrong answer: content "hello", want "HELLO"`,
			`world: wrong answer: content "wörld", want "WÖRLD"`,
		}},
		{name: "wrong error", mode: "wrong", cases: []Case{
			{Name: "want error", Handler: "upper", Request: Text("text/plain", "x"), WantError: "too short"},
		}, want: []string{`want error: answer text/plain binary "x", want an error containing "too short"`}},
		{name: "shared state", mode: "shared", cases: upperCases(), want: []string{
			`run concurrently with the other cases: `,
		}, allow: []string{
			// A case that passed concurrently by luck fails later.
			`, in a batch of 4 requests to handler "upper": wrong answer: content "state clobbered"`,
			`, after requests abandoned at their deadline: wrong answer: content "state clobbered"`,
		}},
		{name: "crash", mode: "crash", cases: upperCases(Case{Name: "crash", Handler: "upper", Request: Text("text/plain", "crash")}), want: []string{
			`crash: error "plugins: plugin exited: `,
			`the plugin's process died (plugins: plugin exited: `,
		}},
		{name: "hang", mode: "hang", cases: upperCases(Case{Name: "hang", Handler: "upper", Request: Text("text/plain", "hang"), Timeout: 100 * time.Millisecond}), want: []string{
			`hang: error "core: handler timed out: plugin handler \"upper\": context deadline exceeded", want an answer`,
		}},
		{name: "deaf", mode: "deaf", cases: upperCases(), want: []string{
			`handler "upper": 8 of the 8 requests the router gave up on at their deadline were still running in the plugin 1s later: the handler ignores its context`,
		}},
		{name: "panic", mode: "panic", cases: upperCases(Case{Name: "panic", Handler: "upper", Request: Text("text/plain", "x"), WantError: "handler panicked: on purpose"}), want: []string{
			`hello: error "core: handler panicked: on purpose", want an answer`,
			`world: error "core: handler panicked: on purpose", want an answer`,
		}},
		{name: "bad cases", cases: []Case{{Name: "no request", Handler: "upper"}, {Handler: "upper", Request: Text("a", "b"), Want: Text("a", "b"), WantError: "x"}}, fatal: true, want: []string{
			"plugintest: no request: no Request",
			"plugintest: case 2: both Want and WantError are set",
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			cfg := Config{Cmd: bin, Env: []string{"PLUGINTEST_BROKEN=" + tt.mode}}
			if tt.cfg != nil {
				tt.cfg(&cfg)
			}
			r := newRunner(cfg, tt.cases)
			r.deadlineGrace = time.Second // the deaf plugin is waited for this long
			defer r.stop()
			_, errs := r.run(context.Background())
			matched := make([]bool, len(tt.want))
			for _, err := range errs {
				t.Log(err)
				ok := false
				for i, w := range tt.want {
					if strings.Contains(err.Error(), w) {
						matched[i], ok = true, true
					}
				}
				for _, a := range tt.allow {
					ok = ok || strings.Contains(err.Error(), a)
				}
				if !ok {
					t.Errorf("unexpected failure: %v", err)
				}
				if isFatal(err) != tt.fatal {
					t.Errorf("fatal = %v, want %v, for %v", isFatal(err), tt.fatal, err)
				}
			}
			for i, w := range tt.want {
				if !matched[i] {
					t.Errorf("no failure contains %q", w)
				}
			}
			if t.Failed() {
				t.Logf("logs:\n%s", r.logs.String())
			}
		})
	}
}

// recorder is a testing.TB that records failures instead of failing.
type recorder struct {
	testing.TB
	mu     sync.Mutex
	errors []string
	fatal  bool
}

func (r *recorder) Helper() {}

func (r *recorder) Logf(string, ...any) {}

func (r *recorder) Error(args ...any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.errors = append(r.errors, fmt.Sprint(args...))
}

func (r *recorder) FailNow() {
	r.mu.Lock()
	r.fatal = true
	r.mu.Unlock()
	runtime.Goexit()
}

func (r *recorder) Fatal(args ...any) {
	r.Error(args...)
	r.FailNow()
}

func (r *recorder) Fatalf(format string, args ...any) { r.Fatal(fmt.Sprintf(format, args...)) }

// record runs f with a recorder, as a test function.
func record(t *testing.T, f func(tb testing.TB)) *recorder {
	rec := &recorder{TB: t}
	done := make(chan struct{})
	go func() {
		defer close(done)
		f(rec)
	}()
	<-done
	return rec
}

func TestRunReports(t *testing.T) {
	bin := Build(t, "./testdata/broken")
	rec := record(t, func(tb testing.TB) {
		Run(tb, Config{Cmd: bin, Env: []string{"PLUGINTEST_BROKEN=wrong"}}, upperCases()...)
	})
	if rec.fatal || len(rec.errors) != 2 || !strings.Contains(rec.errors[0], `hello: wrong answer`) {
		t.Errorf("Run on a wrong plugin reported fatal=%v %q", rec.fatal, rec.errors)
	}
	rec = record(t, func(tb testing.TB) {
		Run(tb, Config{Cmd: bin, Env: []string{"PLUGINTEST_BROKEN=empty"}}, upperCases()...)
		tb.Error("Run returned after a plugin that does not start")
	})
	if !rec.fatal || len(rec.errors) != 1 || !strings.Contains(rec.errors[0], "the plugin does not start") {
		t.Errorf("Run on a plugin that does not start reported fatal=%v %q", rec.fatal, rec.errors)
	}
	rec = record(t, func(tb testing.TB) {
		Run(tb, Config{Cmd: bin}, Case{Name: "a", Handler: "upper"}, Case{Name: "b", Request: Text("text/plain", "")})
		tb.Error("Run returned after malformed cases")
	})
	if !rec.fatal || len(rec.errors) != 2 || !strings.Contains(rec.errors[0], "a: no Request") || !strings.Contains(rec.errors[1], "b: no Handler") {
		t.Errorf("Run with malformed cases reported fatal=%v %q", rec.fatal, rec.errors)
	}
	rec = record(t, func(tb testing.TB) {
		Build(tb, "./testdata/nonexistent")
	})
	if !rec.fatal || len(rec.errors) != 1 || !strings.Contains(rec.errors[0], "plugintest: go build -o ") {
		t.Errorf("Build of a missing package reported fatal=%v %q", rec.fatal, rec.errors)
	}
}
