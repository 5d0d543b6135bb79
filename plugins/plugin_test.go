package plugins_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"go.uber.org/goleak"

	"github.com/msgrouter/router/core"
	"github.com/msgrouter/router/internal/syncbuf"
	"github.com/msgrouter/router/internal/testlog"
	"github.com/msgrouter/router/plugins"
)

// The test binary doubles as the plugins under test (the re-exec trick):
// run with ROUTER_TEST_PLUGIN=kind, it serves that kind of plugin instead
// of running tests. With ROUTER_TEST_HOST=1 it is a router-like host that
// starts a plugin, prints its pid, and waits to be killed.
func TestMain(m *testing.M) {
	if spec := os.Getenv(echoChildEnv); spec != "" {
		runEchoChild(spec) // a child of BenchmarkProcessRoundTrip
	}
	switch kind := os.Getenv("ROUTER_TEST_PLUGIN"); kind {
	case "":
	case "junk":
		fmt.Println("hello from a plugin that prints to stdout")
		plugins.Serve(testHandlers())
	case "flaky":
		go func() {
			time.Sleep(300 * time.Millisecond)
			os.Exit(3)
		}()
		plugins.Serve(testHandlers())
	case "socket":
		// A plugin built before the data pipes: it never looks for them,
		// and listens on a socket.
		os.Unsetenv("ROUTER_PLUGIN_DATA_FDS")
		serveTestPlugin()
	case "initfail":
		plugins.ServePlugin(&plugins.Plugin{
			Handlers: []plugins.HandlerSpec{{Name: "x", Handler: testHandlers()["upper"]}},
			Init: func(context.Context, map[string]any) error {
				return errors.New("bad settings: need a table")
			},
		})
	default:
		serveTestPlugin()
	}
	if os.Getenv("ROUTER_TEST_HOST") != "" {
		runTestHost()
	}
	// Only the test run checks for leaked goroutines: the plugin and
	// host processes above never get here.
	goleak.VerifyTestMain(m)
}

var settings atomic.Value // the plugin's Init config, as JSON

func testHandlers() plugins.Handlers {
	text := func(s string) *core.Message { return core.NewBinary("text/plain", []byte(s)) }
	return plugins.Handlers{
		"upper": core.HandlerFunc(func(_ context.Context, m *core.Message) (*core.Message, error) {
			return core.NewBinary("text/plain", bytes.ToUpper(m.Content)), nil
		}),
		"sleep": core.HandlerFunc(func(ctx context.Context, m *core.Message) (*core.Message, error) {
			d, err := time.ParseDuration(string(m.Content))
			if err != nil {
				return nil, err
			}
			select {
			case <-time.After(d):
				return text("slept " + d.String()), nil
			case <-ctx.Done():
				return nil, ctx.Err()
			}
		}),
		"hang": core.HandlerFunc(func(context.Context, *core.Message) (*core.Message, error) {
			select {} // ignores its context: only the host's timeout ends it
		}),
		"panic": core.HandlerFunc(func(context.Context, *core.Message) (*core.Message, error) {
			panic("plugin handler panicked on purpose")
		}),
		"deadline": core.HandlerFunc(func(ctx context.Context, _ *core.Message) (*core.Message, error) {
			dl, ok := ctx.Deadline()
			if !ok {
				return text("none"), nil
			}
			return text(strconv.FormatInt(dl.UnixNano(), 10)), nil
		}),
		"pid": core.HandlerFunc(func(context.Context, *core.Message) (*core.Message, error) {
			return text(strconv.Itoa(os.Getpid())), nil
		}),
		"fail": core.HandlerFunc(func(_ context.Context, req *core.Message) (*core.Message, error) {
			if string(req.Content) == "long" { // an error text longer than a header may be
				return nil, errors.New("failed on purpose: " + strings.Repeat("x", 100000))
			}
			return nil, errors.New("failed on purpose")
		}),
		"spawn": core.HandlerFunc(func(_ context.Context, m *core.Message) (*core.Message, error) {
			// A child of the plugin's own, which outlives it. With the
			// content "held", it holds the plugin's stdout and stderr,
			// which go-plugin reads to their end.
			cmd := exec.Command("sleep", "60")
			if string(m.Content) == "held" {
				cmd.Stdout, cmd.Stderr = os.NewFile(1, "stdout"), os.NewFile(2, "stderr")
			}
			if err := cmd.Start(); err != nil {
				return nil, err
			}
			go cmd.Wait()
			return text(strconv.Itoa(cmd.Process.Pid)), nil
		}),
		"spin": core.HandlerFunc(func(_ context.Context, m *core.Message) (*core.Message, error) {
			// Burns the CPU for the duration in the content.
			d, err := time.ParseDuration(string(m.Content))
			if err != nil {
				return nil, err
			}
			n := 0
			for end := time.Now().Add(d); time.Now().Before(end); {
				n++
			}
			return text(strconv.Itoa(n)), nil
		}),
		"instance": core.HandlerFunc(func(ctx context.Context, _ *core.Message) (*core.Message, error) {
			// Which instance of a pool answers; instance 0 is slow.
			i := os.Getenv("ROUTER_PLUGIN_INSTANCE")
			if i == "0" {
				select {
				case <-time.After(20 * time.Millisecond):
				case <-ctx.Done():
					return nil, ctx.Err()
				}
			}
			return text(i), nil
		}),
		"settings": core.HandlerFunc(func(context.Context, *core.Message) (*core.Message, error) {
			s, _ := settings.Load().(string)
			return text(s), nil
		}),
		"log": core.HandlerFunc(func(_ context.Context, m *core.Message) (*core.Message, error) {
			// A logger made after Serve replaced os.Stderr.
			plugins.Logger().Info("logged by the handler", "content", string(m.Content))
			return text("logged"), nil
		}),
		"headers": core.HandlerFunc(func(_ context.Context, m *core.Message) (*core.Message, error) {
			var keys []string
			for _, h := range m.Headers {
				keys = append(keys, h.Key)
			}
			ans := text(strings.Join(keys, ","))
			ans.SetHeader("x-answered-by", "plugin")
			return ans, nil
		}),
	}
}

func serveTestPlugin() {
	hs := testHandlers()
	p := &plugins.Plugin{
		Name:    "testplugin",
		Version: "v0.0.1-test",
		Init: func(_ context.Context, config map[string]any) error {
			b, _ := json.Marshal(config)
			settings.Store(string(b))
			return nil
		},
	}
	for _, name := range []string{"upper", "sleep", "hang", "panic", "deadline", "pid", "fail", "settings", "headers", "log", "spawn", "instance", "spin"} {
		spec := plugins.HandlerSpec{Name: name, Handler: hs[name]}
		if name == "upper" {
			spec.Actions = []string{"upper", "shout"}
			spec.ContentTypes = []string{"text/plain"}
		}
		p.Handlers = append(p.Handlers, spec)
	}
	plugins.ServePlugin(p)
}

// runTestHost starts a plugin, prints its pid and waits to be killed.
func runTestHost() {
	p, err := plugins.Start(context.Background(), plugins.Config{
		Name: "orphan", Cmd: os.Args[0], Env: []string{"ROUTER_TEST_PLUGIN=basic", "ROUTER_TEST_HOST="},
	})
	if err != nil {
		fmt.Println("error:", err)
		os.Exit(1)
	}
	h, _ := p.Handler("pid")
	ans, err := h.Handle(context.Background(), core.NewBinary("x", nil))
	if err != nil {
		fmt.Println("error:", err)
		os.Exit(1)
	}
	fmt.Println(string(ans.Content))
	select {}
}

// start runs a test plugin of the given kind for the test's duration.
func start(t *testing.T, kind string, mod func(*plugins.Config)) *plugins.Process {
	t.Helper()
	cfg := plugins.Config{
		Name:   "test-" + kind,
		Cmd:    os.Args[0],
		Env:    []string{"ROUTER_TEST_PLUGIN=" + kind},
		Logger: testlog.New(t, ""),
	}
	if mod != nil {
		mod(&cfg)
	}
	p, err := plugins.Start(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		p.Shutdown(ctx)
	})
	return p
}

// handlerSource is a plugin that gives handlers by name: a Process or a
// Pool.
type handlerSource interface {
	Handler(name string) (core.Handler, error)
}

// call calls handler of p once with content, within timeout.
func call(t *testing.T, p handlerSource, handler, content string, timeout time.Duration) (string, error) {
	t.Helper()
	h, err := p.Handler(handler)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	ans, err := h.Handle(ctx, core.NewBinary("text/plain", []byte(content)))
	if err != nil {
		return "", err
	}
	return string(ans.Content), nil
}

func TestPluginDescribeAndCall(t *testing.T) {
	p := start(t, "basic", nil)
	if err := p.Err(); err != nil {
		t.Errorf("Err() of a running plugin = %v", err)
	}
	info := p.Info()
	if info.Name != "testplugin" || info.Version != "v0.0.1-test" || len(info.Handlers) != 13 {
		t.Fatalf("Info = %+v", info)
	}
	up := info.Handlers[0]
	if up.Name != "upper" || fmt.Sprint(up.Actions) != "[upper shout]" || fmt.Sprint(up.ContentTypes) != "[text/plain]" {
		t.Errorf("upper declared %+v", up)
	}
	if sl := info.Handlers[1]; fmt.Sprint(sl.Actions) != "[sleep]" {
		t.Errorf("sleep declared actions %v, want its name", sl.Actions)
	}
	// Two handlers of one plugin.
	if got, err := call(t, p, "upper", "hello", 5*time.Second); err != nil || got != "HELLO" {
		t.Errorf("upper = %q, %v", got, err)
	}
	if got, err := call(t, p, "sleep", "1ms", 5*time.Second); err != nil || got != "slept 1ms" {
		t.Errorf("sleep = %q, %v", got, err)
	}
	if _, err := call(t, p, "fail", "", 5*time.Second); err == nil || err.Error() != "failed on purpose" {
		t.Errorf("fail = %v, want the plugin's error text", err)
	}
	// An error text too long for a header comes cut, not never.
	if _, err := call(t, p, "fail", "long", 5*time.Second); err == nil || !strings.HasPrefix(err.Error(), "failed on purpose: xxx") ||
		!strings.HasSuffix(err.Error(), "(91827 bytes cut)") {
		t.Errorf("fail with a long error: %.100v…, want the text cut", err)
	}
	if _, err := p.Handler("nope"); !errors.Is(err, plugins.ErrNoHandler) {
		t.Errorf("Handler(nope) = %v", err)
	}
}

// In data protocol 1 the router's headers share the frame with the
// client's, and the plugin strips them all; in 2 the frame is the
// client's own and the plugin sees each of its headers.
func TestPluginHeadersPassThrough(t *testing.T) {
	for _, tc := range []struct{ proto, want string }{{"1", "request-id"}, {"2", "request-id,router-id"}} {
		t.Run("protocol "+tc.proto, func(t *testing.T) { testHeadersPassThrough(t, tc.proto, tc.want) })
	}
}

func testHeadersPassThrough(t *testing.T, proto, want string) {
	p := start(t, "basic", func(c *plugins.Config) { c.Env = append(c.Env, "ROUTER_PLUGIN_DATA_PROTOCOLS="+proto) })
	h, _ := p.Handler("headers")
	req := core.NewBinary("text/plain", nil)
	req.SetHeader("request-id", "abc")
	req.SetHeader("router-id", "forged")
	ans, err := h.Handle(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	// The plugin sees the client's headers but not the data path's.
	if got := string(ans.Content); got != want {
		t.Errorf("plugin saw headers %q, want %s", got, want)
	}
	if v, _ := ans.Header("x-answered-by"); v != "plugin" || len(ans.Headers) != 1 {
		t.Errorf("answer headers %v", ans.Headers)
	}
}

func TestPluginSettings(t *testing.T) {
	p := start(t, "basic", func(c *plugins.Config) {
		c.Settings = map[string]any{"table": map[string]any{"a": "b"}, "n": 3}
	})
	if got, err := call(t, p, "settings", "", 5*time.Second); err != nil || got != `{"n":3,"table":{"a":"b"}}` {
		t.Errorf("settings = %q, %v", got, err)
	}
}

func TestPluginDeadlinePropagation(t *testing.T) {
	p := start(t, "basic", nil)
	h, _ := p.Handler("deadline")
	dl := time.Now().Add(3 * time.Second).Round(0)
	ctx, cancel := context.WithDeadline(context.Background(), dl)
	defer cancel()
	ans, err := h.Handle(ctx, core.NewBinary("x", nil))
	if err != nil {
		t.Fatal(err)
	}
	if got := string(ans.Content); got != strconv.FormatInt(dl.UnixNano(), 10) {
		t.Errorf("plugin saw deadline %s, want %d", got, dl.UnixNano())
	}
	// Cancellation reaches the plugin: a sleep that honours its context
	// ends when ours is cancelled, and the plugin stays usable.
	ctx, cancel = context.WithCancel(context.Background())
	go func() { time.Sleep(20 * time.Millisecond); cancel() }()
	sh, _ := p.Handler("sleep")
	if _, err := sh.Handle(ctx, core.NewBinary("x", []byte("1h"))); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled call = %v, want context.Canceled", err)
	}
}

func TestPluginHangTimesOut(t *testing.T) {
	p := start(t, "basic", nil)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		_, err := call(t, p, "hang", "", 100*time.Millisecond)
		if !errors.Is(err, core.ErrHandlerTimeout) {
			t.Errorf("hang = %v, want ErrHandlerTimeout", err)
		}
	}()
	// Other requests are not held up by the hanging one.
	for i := range 20 {
		if got, err := call(t, p, "upper", fmt.Sprint("x", i), 5*time.Second); err != nil || got != fmt.Sprint("X", i) {
			t.Errorf("upper during a hang = %q, %v", got, err)
		}
	}
	wg.Wait()
}

// A call cancelled while its handler hangs returns, though the handler
// ignores the cancel: the caller waiting on the data path for its answer
// stops waiting.
func TestPluginHangCancelled(t *testing.T) {
	p := start(t, "basic", nil)
	h, _ := p.Handler("hang")
	ctx, cancel := context.WithCancel(context.Background())
	go func() { time.Sleep(20 * time.Millisecond); cancel() }()
	done := make(chan error, 1)
	go func() {
		_, err := h.Handle(ctx, core.NewBinary("x", nil))
		done <- err
	}()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) {
			t.Errorf("cancelled hang = %v, want context.Canceled", err)
		}
	case <-time.After(10 * time.Second): // a bound, not a speed check
		t.Fatal("a cancelled call to a hanging handler did not return")
	}
	if got, err := call(t, p, "upper", "after", 5*time.Second); err != nil || got != "AFTER" {
		t.Errorf("after the cancel: upper = %q, %v", got, err)
	}
}

// Callers that come and go, some giving up on their deadline or being
// cancelled while others wait and read, each get their own answer or their
// own error, and none is left waiting: the turn to read the data path
// passes between callers and the connection's reader without a request
// being lost, and the plugin is never restarted for it.
func TestPluginCallersGiveUpUnderLoad(t *testing.T) {
	p := start(t, "basic", func(c *plugins.Config) { c.HealthInterval = -1 })
	sleep, _ := p.Handler("sleep")
	var wg sync.WaitGroup
	for g := range 12 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(g), 1))
			for i := range 40 {
				ctx, cancel := context.WithTimeout(context.Background(), time.Duration(rng.IntN(30))*time.Millisecond)
				if rng.IntN(4) == 0 {
					after := time.Duration(rng.IntN(20)) * time.Millisecond
					go func() { time.Sleep(after); cancel() }()
				}
				d := time.Duration(rng.IntN(40)) * time.Millisecond
				ans, err := sleep.Handle(ctx, core.NewBinary("text/plain", []byte(d.String())))
				switch {
				case err == nil:
					if want := "slept " + d.String(); string(ans.Content) != want {
						t.Errorf("g%d/%d: %q, want %q", g, i, ans.Content, want)
					}
				case !errors.Is(err, core.ErrHandlerTimeout) && !errors.Is(err, context.Canceled) && !errors.Is(err, context.DeadlineExceeded):
					t.Errorf("g%d/%d: sleep %v: %v", g, i, d, err)
				}
				cancel()
				content := fmt.Sprintf("g%d-%d", g, i)
				got, err := call(t, p, "upper", content, 10*time.Second)
				if err != nil || got != strings.ToUpper(content) {
					t.Errorf("g%d/%d: upper = %q, %v", g, i, got, err)
				}
			}
		}()
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(2 * time.Minute): // a bound, not a speed check
		t.Fatal("callers still waiting after 2 minutes")
	}
	if n := p.Restarts(); n != 0 {
		t.Errorf("the plugin was restarted %d times", n)
	}
}

func TestPluginPanicIsAnError(t *testing.T) {
	p := start(t, "basic", nil)
	pid, _ := call(t, p, "pid", "", 5*time.Second)
	if _, err := call(t, p, "panic", "", 5*time.Second); err == nil || !strings.Contains(err.Error(), "handler panicked: plugin handler panicked on purpose") {
		t.Errorf("panic = %v", err)
	}
	if again, err := call(t, p, "pid", "", 5*time.Second); err != nil || again != pid {
		t.Errorf("after a panic: pid %q (%v), want the same process %s", again, err, pid)
	}
}

func TestPluginConcurrentAndBatched(t *testing.T) {
	p := start(t, "basic", nil)
	h, _ := p.Handler("upper")
	bh := h.(core.BatchHandler)
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 50 {
				reqs := make([]*core.Message, 1+i%7)
				for k := range reqs {
					reqs[k] = core.NewBinary("text/plain", []byte(fmt.Sprintf("g%d-i%d-k%d", g, i, k)))
				}
				answers := make([]*core.Message, len(reqs))
				errs := make([]error, len(reqs))
				bh.HandleBatch(context.Background(), reqs, answers, errs)
				for k := range reqs {
					want := strings.ToUpper(string(reqs[k].Content))
					if errs[k] != nil || string(answers[k].Content) != want {
						t.Errorf("batch answer %d: %v %v, want %q", k, answers[k], errs[k], want)
						return
					}
				}
			}
		}()
	}
	wg.Wait()
}

// TestPluginDataPath checks both data paths: the pipes the router passes
// a plugin, and the Unix socket of a plugin that does not know them. Each
// answers, and each sees its plugin killed (by the end of its data path:
// there is no health check) and restarts it, though a child the plugin
// started lives on: it must not have inherited the data path. The plugin
// on the socket holds one socket more than the one on the pipes.
func TestPluginDataPath(t *testing.T) {
	sockets := map[string]int{}
	for _, kind := range []string{"basic", "socket"} {
		t.Run(kind, func(t *testing.T) {
			p := start(t, kind, func(c *plugins.Config) {
				c.Restart = plugins.RestartPolicy{Backoff: 10 * time.Millisecond}
				c.HealthInterval = -1
			})
			if got, err := call(t, p, "upper", "over "+kind, 5*time.Second); err != nil || got != strings.ToUpper("over "+kind) {
				t.Fatalf("upper = %q, %v", got, err)
			}
			pid := pidOf(t, p)
			fds, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
			if err != nil {
				t.Fatal(err)
			}
			for _, e := range fds {
				if target, _ := os.Readlink(fmt.Sprintf("/proc/%d/fd/%s", pid, e.Name())); strings.HasPrefix(target, "socket:") {
					sockets[kind]++
				}
			}
			// The pipes: requests in on 4, answers out on 5.
			for fd, mode := range map[int]string{4: "00", 5: "01"} { // O_RDONLY, O_WRONLY
				target, _ := os.Readlink(fmt.Sprintf("/proc/%d/fd/%d", pid, fd))
				info, _ := os.ReadFile(fmt.Sprintf("/proc/%d/fdinfo/%d", pid, fd))
				var flags string
				for line := range strings.Lines(string(info)) {
					if v, ok := strings.CutPrefix(line, "flags:"); ok {
						flags = strings.TrimSpace(v)
					}
				}
				if !strings.HasPrefix(target, "pipe:") || !strings.HasSuffix(flags, mode) {
					t.Errorf("descriptor %d of the plugin: %q, flags %q; want a pipe open %s", fd, target, flags, mode)
				}
			}
			child, err := call(t, p, "spawn", "", 5*time.Second)
			if err != nil {
				t.Fatal(err)
			}
			if cpid, err := strconv.Atoi(child); err == nil {
				defer syscall.Kill(cpid, syscall.SIGKILL)
			}
			if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
				t.Fatal(err)
			}
			waitNewPid(t, p, pid)
			if got, err := call(t, p, "upper", "again", 5*time.Second); err != nil || got != "AGAIN" {
				t.Errorf("after a restart: upper = %q, %v", got, err)
			}
		})
	}
	if sockets["socket"] != sockets["basic"]+1 {
		t.Errorf("plugins hold %v sockets; want one more on the socket than on the pipes", sockets)
	}
}

func pidOf(t *testing.T, p *plugins.Process) int {
	t.Helper()
	s, err := call(t, p, "pid", "", 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	pid, err := strconv.Atoi(s)
	if err != nil {
		t.Fatal(err)
	}
	return pid
}

func TestPluginKilledUnderLoad(t *testing.T) {
	p := start(t, "basic", func(c *plugins.Config) {
		c.Restart = plugins.RestartPolicy{Backoff: 10 * time.Millisecond}
	})
	pid := pidOf(t, p)
	stop := make(chan struct{})
	var sent, answered, failed atomic.Int64
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				sent.Add(1)
				handler, content := "upper", fmt.Sprint("v", g, i)
				if i%3 == 0 {
					handler, content = "sleep", "2ms"
				}
				got, err := call(t, p, handler, content, 5*time.Second)
				switch {
				case err == nil:
					if handler == "upper" && got != strings.ToUpper(content) {
						t.Errorf("wrong answer %q for %q", got, content)
					}
					answered.Add(1)
				case errors.Is(err, plugins.ErrExited) || errors.Is(err, plugins.ErrRestarting):
					failed.Add(1)
				default:
					t.Errorf("unexpected error: %v", err)
					failed.Add(1)
				}
			}
		}()
	}
	time.Sleep(100 * time.Millisecond)
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	// The route recovers: a new process answers.
	deadline := time.Now().Add(10 * time.Second)
	var newPid int
	for time.Now().Before(deadline) {
		if s, err := call(t, p, "pid", "", time.Second); err == nil {
			newPid, _ = strconv.Atoi(s)
			if newPid != pid {
				break
			}
		}
		time.Sleep(5 * time.Millisecond)
	}
	time.Sleep(100 * time.Millisecond) // some load on the new process
	close(stop)
	wg.Wait()
	if newPid == pid || newPid == 0 {
		t.Fatalf("plugin not restarted: pid %d", newPid)
	}
	if sent.Load() != answered.Load()+failed.Load() {
		t.Errorf("%d sent, %d answered + %d failed: some requests got no result", sent.Load(), answered.Load(), failed.Load())
	}
	if failed.Load() == 0 {
		t.Log("no request was in flight when the plugin died")
	}
	t.Logf("sent %d, answered %d, errors %d", sent.Load(), answered.Load(), failed.Load())
}

func TestPluginRestartLimit(t *testing.T) {
	p := start(t, "flaky", func(c *plugins.Config) {
		c.Restart = plugins.RestartPolicy{MaxRestarts: 2, Backoff: 5 * time.Millisecond}
	})
	deadline := time.Now().Add(20 * time.Second)
	var err error
	for time.Now().Before(deadline) {
		if _, err = call(t, p, "upper", "x", time.Second); errors.Is(err, plugins.ErrFailed) {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	if !errors.Is(err, plugins.ErrFailed) || !strings.Contains(err.Error(), `"test-flaky"`) || !strings.Contains(err.Error(), "died 3 times in a row") {
		t.Fatalf("after repeated crashes: %v, want ErrFailed naming the plugin", err)
	}
	if !errors.Is(p.Err(), plugins.ErrFailed) {
		t.Errorf("Err() = %v, want ErrFailed", p.Err())
	}
}

func TestPluginStartErrors(t *testing.T) {
	notExec := t.TempDir() + "/not-executable"
	os.WriteFile(notExec, []byte("#!/bin/sh\n"), 0o644)
	cases := []struct {
		name string
		cfg  plugins.Config
		want []string
	}{
		{"junk on stdout", plugins.Config{Cmd: os.Args[0], Env: []string{"ROUTER_TEST_PLUGIN=junk"}},
			[]string{`plugins: cannot start plugin "bad" (` + os.Args[0] + `): handshake:`, "hello from a plugin that prints to stdout"}},
		{"not executable", plugins.Config{Cmd: notExec},
			[]string{`plugins: cannot start plugin "bad" (` + notExec + `): `, "permission denied"}},
		{"missing", plugins.Config{Cmd: "/nonexistent/plugin"},
			[]string{`plugins: cannot start plugin "bad" (/nonexistent/plugin): `, "no such file or directory"}},
		{"not a plugin", plugins.Config{Cmd: "/bin/true"},
			[]string{`plugins: cannot start plugin "bad" (/bin/true): handshake:`}},
		{"init fails", plugins.Config{Cmd: os.Args[0], Env: []string{"ROUTER_TEST_PLUGIN=initfail"}, Settings: map[string]any{}},
			[]string{`plugins: cannot start plugin "bad" (` + os.Args[0] + `): init:`, "bad settings: need a table"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			tc.cfg.Name = "bad"
			tc.cfg.StartTimeout = 5 * time.Second
			p, err := plugins.Start(context.Background(), tc.cfg)
			if err == nil {
				p.Shutdown(context.Background())
				t.Fatal("Start succeeded")
			}
			if !errors.Is(err, plugins.ErrStart) {
				t.Errorf("error %v is not ErrStart", err)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q\ndoes not contain %q", err, w)
				}
			}
		})
	}
}

func TestPluginShutdownDrains(t *testing.T) {
	p := start(t, "basic", nil)
	pid := pidOf(t, p)
	res := make(chan error, 1)
	go func() {
		got, err := call(t, p, "sleep", "200ms", 5*time.Second)
		if err == nil && got != "slept 200ms" {
			err = fmt.Errorf("answer %q", got)
		}
		res <- err
	}()
	time.Sleep(50 * time.Millisecond)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := p.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	if err := <-res; err != nil {
		t.Errorf("request in flight at Shutdown: %v", err)
	}
	if _, err := call(t, p, "upper", "x", time.Second); !errors.Is(err, plugins.ErrStopped) {
		t.Errorf("after Shutdown: %v, want ErrStopped", err)
	}
	if !errors.Is(p.Err(), plugins.ErrStopped) {
		t.Errorf("Err() after Shutdown = %v, want ErrStopped", p.Err())
	}
	waitGone(t, pid)
}

// waitStopped waits until every thread of the process pid has stopped on
// SIGSTOP, which the kernel delivers after kill returns.
func waitStopped(t *testing.T, pid int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		stats, err := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/stat", pid))
		if err != nil || len(stats) == 0 {
			t.Fatalf("threads of %d: %v", pid, err)
		}
		stopped := true
		for _, f := range stats {
			b, _ := os.ReadFile(f)
			if _, rest, ok := bytes.Cut(b, []byte(") ")); !ok || len(rest) == 0 || rest[0] != 'T' {
				stopped = false
			}
		}
		if stopped {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("process %d did not stop", pid)
		}
		time.Sleep(time.Millisecond)
	}
}

// waitGone waits for process pid to disappear.
func waitGone(t *testing.T, pid int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if err := syscall.Kill(pid, 0); errors.Is(err, syscall.ESRCH) {
			return
		}
		// A zombie still answers kill 0; its parent (us or init) reaps it.
		if b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid)); err == nil && bytes.Contains(b, []byte(") Z ")) {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Errorf("process %d still running", pid)
}

func TestPluginNoOrphans(t *testing.T) {
	host := exec.Command(os.Args[0], "-test.run=^$")
	host.Env = append(os.Environ(), "ROUTER_TEST_HOST=1")
	out, err := host.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := host.Start(); err != nil {
		t.Fatal(err)
	}
	defer host.Process.Kill()
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		t.Fatalf("host: %v", err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(line))
	if err != nil {
		t.Fatalf("host printed %q", line)
	}
	if err := syscall.Kill(pid, 0); err != nil {
		t.Fatalf("plugin %d not running: %v", pid, err)
	}
	host.Process.Signal(syscall.SIGKILL)
	host.Wait()
	waitGone(t, pid)
}

// TestPluginSlowInBatch sends a slow request and quick ones in one write:
// the quick ones are answered, not held up behind the slow one.
func TestPluginSlowInBatch(t *testing.T) {
	p := start(t, "basic", nil)
	h, _ := p.Handler("sleep")
	var reqs []*core.Message
	for _, d := range []string{"1h", "1ms", "2ms"} {
		reqs = append(reqs, core.NewBinary("text/plain", []byte(d)))
	}
	answers := make([]*core.Message, len(reqs))
	errs := make([]error, len(reqs))
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	h.(core.BatchHandler).HandleBatch(ctx, reqs, answers, errs)
	if !errors.Is(errs[0], core.ErrHandlerTimeout) {
		t.Errorf("the slow request: %v, want ErrHandlerTimeout", errs[0])
	}
	for i, want := range []string{"", "slept 1ms", "slept 2ms"} {
		if i > 0 && (errs[i] != nil || string(answers[i].Content) != want) {
			t.Errorf("request %d: %v, %v; want %q", i, answers[i], errs[i], want)
		}
	}
}

// syncBuffer is a bytes.Buffer safe for the logger's goroutines.
type syncBuffer = syncbuf.Buffer

func TestPluginLogsReachTheRouter(t *testing.T) {
	var logs syncBuffer
	p := start(t, "basic", func(c *plugins.Config) {
		c.Logger = hclog.New(&hclog.LoggerOptions{Name: "router", Output: &logs, Level: hclog.Info})
	})
	if _, err := call(t, p, "log", "hello", 5*time.Second); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(logs.String(), "logged by the handler: content=hello") && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if got := logs.String(); !strings.Contains(got, "[INFO]  router.test-basic.plugins.test: logged by the handler: content=hello") {
		t.Errorf("the plugin's log line did not reach the router's logger under the plugin's name; logs:\n%s", got)
	}
}

func TestPluginExitedErrorNamesThePlugin(t *testing.T) {
	p := start(t, "basic", func(c *plugins.Config) { c.Restart.MaxRestarts = -1 })
	pid := pidOf(t, p)
	res := make(chan error, 1)
	go func() {
		_, err := call(t, p, "sleep", "1h", 10*time.Second)
		res <- err
	}()
	// Kill it with the request in flight (the sleep is surely running
	// once a later request has been answered).
	if _, err := call(t, p, "upper", "x", 5*time.Second); err != nil {
		t.Fatal(err)
	}
	syscall.Kill(pid, syscall.SIGKILL)
	err := <-res
	// Whether the end of the data path or the exit of the process tells
	// first, the error names the plugin, and neither its path nor its
	// process id: it reaches the client.
	want := `plugins: plugin exited: "test-basic": the process died or was killed`
	if !errors.Is(err, plugins.ErrExited) || err.Error() != want {
		t.Errorf("in flight when killed: %v\nwant %s", err, want)
	}
}

// TestPluginClientCannotForgeCancel: a client's own router-cancel header
// neither cancels another request nor loses its own.
func TestPluginClientCannotForgeCancel(t *testing.T) {
	p := start(t, "basic", nil)
	victim := make(chan error, 1)
	go func() {
		got, err := call(t, p, "sleep", "300ms", 5*time.Second) // the first request: router-id 1
		if err == nil && got != "slept 300ms" {
			err = fmt.Errorf("answer %q", got)
		}
		victim <- err
	}()
	time.Sleep(50 * time.Millisecond)
	h, _ := p.Handler("upper")
	req := core.NewBinary("text/plain", []byte("x"))
	req.Headers = append(req.Headers, core.Header{Key: "router-cancel", Value: []byte("1")})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	ans, err := h.Handle(ctx, req)
	if err != nil || string(ans.Content) != "X" {
		t.Errorf("the request with a router-cancel header: %v, %v", ans, err)
	}
	if err := <-victim; err != nil {
		t.Errorf("the other request: %v", err)
	}
}

// TestPluginFrozenIsRestarted: a plugin that stops answering (SIGSTOP)
// fails its health check and is replaced.
func TestPluginFrozenIsRestarted(t *testing.T) {
	p := start(t, "basic", func(c *plugins.Config) {
		c.HealthInterval = 50 * time.Millisecond
		c.HealthTimeout = 200 * time.Millisecond
		c.Restart = plugins.RestartPolicy{Backoff: 10 * time.Millisecond}
	})
	pid := pidOf(t, p)
	if err := syscall.Kill(pid, syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	defer syscall.Kill(pid, syscall.SIGKILL) // only if the test fails
	waitStopped(t, pid)
	deadline := time.Now().Add(10 * time.Second)
	for {
		if s, err := call(t, p, "pid", "", 500*time.Millisecond); err == nil && s != strconv.Itoa(pid) {
			break // a new process answers
		}
		if time.Now().After(deadline) {
			t.Fatal("the frozen plugin was not replaced")
		}
		time.Sleep(10 * time.Millisecond)
	}
	// And the frozen one was killed, not left behind: go-plugin's own
	// stop waits for it forever.
	waitGone(t, pid)
}

// A frozen plugin, with no health check to notice it, is killed by
// Shutdown at the end of its context, and Shutdown returns.
func TestPluginFrozenShutdown(t *testing.T) {
	p := start(t, "basic", func(c *plugins.Config) { c.HealthInterval = -1 })
	pid := pidOf(t, p)
	if err := syscall.Kill(pid, syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	defer syscall.Kill(pid, syscall.SIGKILL) // only if the test fails
	waitStopped(t, pid)
	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- p.Shutdown(ctx) }()
	select {
	case err := <-done:
		// Killed at the end of ctx: it could not stop by itself.
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("Shutdown: %v, want context.DeadlineExceeded", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("Shutdown of a frozen plugin did not return")
	}
	waitGone(t, pid)
}
