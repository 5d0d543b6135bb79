package router_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/msgrouter/router/config"
	"github.com/msgrouter/router/core"
	"github.com/msgrouter/router/internal/configtest"
	"github.com/msgrouter/router/internal/routertest"
	"github.com/msgrouter/router/internal/testlog"
)

// logSink keeps the router's log lines, so that a test can wait for
// one, and passes them on to the test's log.
type logSink struct {
	mu    sync.Mutex
	lines []string
	out   *testlog.Writer
}

func newLogSink(t testing.TB) (*logSink, hclog.Logger) {
	s := &logSink{out: testlog.NewWriter(t)}
	return s, hclog.New(&hclog.LoggerOptions{Name: "router", Level: hclog.Debug, Output: s, Color: hclog.ColorOff})
}

func (s *logSink) Write(p []byte) (int, error) {
	s.mu.Lock()
	s.lines = append(s.lines, string(p))
	s.mu.Unlock()
	return s.out.Write(p)
}

// count returns how many lines hold substr.
func (s *logSink) count(substr string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, l := range s.lines {
		if strings.Contains(l, substr) {
			n++
		}
	}
	return n
}

// The router reloads when its file changes, while clients loop requests
// on kept-alive connections and on new ones: the file is rewritten
// several times, once with an invalid config. No request fails, no
// connection drops, and a route added by the file answers within a
// second of the write.
func TestReloadUnderLoad(t *testing.T) {
	dir := t.TempDir()
	sink, logger := newLogSink(t)
	file := func(tag, extraRoute, extraPlugin string) string {
		return `
listen: ["127.0.0.1:0", "unix://` + dir + `/r.sock"]
plugins:
  tag: ` + procPlugin(t, "tag", "{tag: "+tag+"}") + `
  fallback: {cmd: inprocess}
` + extraPlugin + `
routes:
  - {action: tag, plugin: tag}
` + extraRoute + `
  - {plugin: fallback}
`
	}
	path := configtest.WriteFile(t, dir, "r.yaml", file("v1", "", ""))
	noEnv := config.LoadOptions{Environ: []string{}}
	cfg, err := config.Load(path, noEnv)
	if err != nil {
		t.Fatal(err)
	}
	o := inProcess(t, "fallback", "upper")
	o.Logger = logger
	r := start(t, cfg, o)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if err := r.Watch(ctx, path, noEnv); err != nil {
		t.Fatal(err)
	}
	tcp, unix := addr(r, 0), addr(r, 1)

	// The load: clients that loop "tag" requests until stopped, each
	// answer being the tag of some config.
	var (
		ok, failed, dropped atomic.Int64
		failures            sync.Map
		stop                = make(chan struct{})
		wg                  sync.WaitGroup
		lastTag             atomic.Value
	)
	lastTag.Store("")
	valid := func(s string) bool {
		return s == "v1:tag" || s == "v2:tag" || s == "v3:tag"
	}
	record := func(kind string, s string, err error) {
		if err == nil && valid(s) {
			ok.Add(1)
			lastTag.Store(s)
			return
		}
		failed.Add(1)
		failures.Store(fmt.Sprintf("%s: %q, %v", kind, s, err), true)
	}
	const maxRequests = 200000 // per client: the loop is bounded
	loop := func(kind string, c *core.Client) {
		defer wg.Done()
		for range maxRequests {
			select {
			case <-stop:
				return
			default:
			}
			rctx, rcancel := context.WithTimeout(context.Background(), 5*time.Second)
			ans, err := c.Do(rctx, action("tag", nil))
			rcancel()
			if err != nil {
				if errors.Is(err, core.ErrClientClosed) {
					dropped.Add(1)
					failures.Store(kind+": connection dropped: "+err.Error(), true)
					return
				}
				record(kind, "", err)
				continue
			}
			s, err := result(ans)
			record(kind, s, err)
		}
	}
	kaTCP, kaUnix := routertest.Dial(t, tcp), routertest.Dial(t, unix)
	for range 3 { // pipelined on one connection
		wg.Add(1)
		go loop("kept-alive TCP", kaTCP)
	}
	wg.Add(2)
	go loop("kept-alive Unix", kaUnix)
	go func() { // a new connection per request
		defer wg.Done()
		for range maxRequests {
			select {
			case <-stop:
				return
			default:
			}
			s, err := tryAsk(tcp, action("tag", nil))
			record("new connection", s, err)
		}
	}()
	defer func() {
		close(stop)
		wg.Wait()
	}()

	waitFor := func(what string, f func() bool) {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for !f() {
			if time.Now().After(deadline) {
				t.Fatalf("%s: not within 10s", what)
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	reloaded := func(n int) func() bool {
		return func() bool { return sink.count("config reloaded") >= n }
	}
	waitFor("load", func() bool { return ok.Load() > 50 })

	// 1. The plugin's settings change: a new process, the old one drained.
	configtest.WriteFile(t, dir, "r.yaml", file("v2", "", ""))
	waitFor("v2 reload", reloaded(1))
	waitFor("v2 answers", func() bool { return lastTag.Load() == "v2:tag" })

	// 2. An invalid config is rejected, with its reason, and v2 serves on.
	configtest.WriteFile(t, dir, "r.yaml", file("v3", "  - {action: added, plugin: tga}", ""))
	reason := `routes[1].plugin: no plugin "tga" is defined, did you mean "tag"? (want one of the plugins: fallback, tag)`
	waitFor("the rejection's reason logged", func() bool { return sink.count(reason) >= 1 })
	before := ok.Load()
	waitFor("requests after the rejection", func() bool { return ok.Load() > before+50 })
	if got := lastTag.Load(); got != "v2:tag" {
		t.Errorf("after the rejected config: %q, want v2:tag", got)
	}

	// 3. A route is added: measure from the write to its first answer.
	probe := routertest.Dial(t, tcp)
	configtest.WriteFile(t, dir, "r.yaml", file("v2", "  - {action: added, plugin: tag}", ""))
	written := time.Now()
	var live time.Duration
	for {
		pctx, pcancel := context.WithTimeout(context.Background(), 5*time.Second)
		ans, err := probe.Do(pctx, action("added", nil))
		pcancel()
		if err != nil {
			t.Fatal(err)
		}
		if s, _ := result(ans); s == "v2:added" {
			live = time.Since(written)
			break
		}
		if time.Since(written) > 5*time.Second {
			t.Fatal("the added route does not answer 5s after the write")
		}
		time.Sleep(time.Millisecond)
	}
	t.Logf("the added route answered %s after the file was written", live.Round(time.Millisecond))
	if live > time.Second {
		t.Errorf("the added route answered %s after the write, want within 1s", live)
	}

	// 4. Another plugin change and a plugin added, in one write.
	waitFor("v2+added reload", reloaded(2))
	configtest.WriteFile(t, dir, "r.yaml", file("v3", "  - {action: upper, plugin: upper}", "  upper: {cmd: inprocess}"))
	waitFor("v3 reload", reloaded(3))
	waitFor("v3 answers", func() bool { return lastTag.Load() == "v3:tag" })
	expect(t, probe, action("upper", "up"), "UP")
	before = ok.Load()
	waitFor("requests after v3", func() bool { return ok.Load() > before+50 })

	close(stop)
	wg.Wait()
	stop = make(chan struct{})
	// The kept-alive connections are still there.
	expect(t, kaTCP, action("tag", nil), "v3:tag")
	expect(t, kaUnix, action("tag", nil), "v3:tag")

	t.Logf("%d requests answered, %d failed, %d connections dropped, over %d reloads and 1 rejection",
		ok.Load(), failed.Load(), dropped.Load(), sink.count("config reloaded"))
	failures.Range(func(k, _ any) bool {
		t.Errorf("failure: %s", k)
		return true
	})
	if failed.Load() != 0 || dropped.Load() != 0 {
		t.Errorf("%d requests failed and %d connections dropped, want none", failed.Load(), dropped.Load())
	}
}

// The watch follows a file that an editor replaces by renaming a new
// one over it, and one removed and written again.
func TestWatchReplacedFile(t *testing.T) {
	dir := t.TempDir()
	sink, logger := newLogSink(t)
	file := func(route string) string {
		return `
listen: ["127.0.0.1:0"]
plugins: {upper: {cmd: inprocess}, fallback: {cmd: inprocess}}
routes: [` + route + `{plugin: fallback}]
`
	}
	path := configtest.WriteFile(t, dir, "r.yaml", file(""))
	noEnv := config.LoadOptions{Environ: []string{}}
	cfg, err := config.Load(path, noEnv)
	if err != nil {
		t.Fatal(err)
	}
	o := inProcess(t, "fallback", "upper")
	o.Logger = logger
	r := start(t, cfg, o)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if err := r.Watch(ctx, path, noEnv); err != nil {
		t.Fatal(err)
	}
	a := addr(r, 0)

	// Rename over it.
	tmp := configtest.WriteFile(t, dir, "r.yaml.tmp", file("{action: upper, plugin: upper}, "))
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the renamed file is applied", func() error {
		if got, err := tryAsk(a, action("upper", "x")); got != "X" {
			return fmt.Errorf("%q, %v", got, err)
		}
		return nil
	})

	// Remove it, then write it again.
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the watch notices the removal", func() error {
		if sink.count("watch stopped") == 0 {
			return errors.New("no log of it")
		}
		return nil
	})
	configtest.WriteFile(t, dir, "r.yaml", file(""))
	eventually(t, "the file written again is applied", func() error {
		if got, err := tryAsk(a, action("upper", "x")); got != "fallback" {
			return fmt.Errorf("%q, %v", got, err)
		}
		return nil
	})

	// Touching the file without changing it does not reload.
	n := sink.count("config reloaded")
	configtest.WriteFile(t, dir, "r.yaml", file(""))
	eventually(t, "the unchanged file is seen", func() error {
		if sink.count("nothing to do") == 0 {
			return errors.New("not yet")
		}
		return nil
	})
	if sink.count("config reloaded") != n {
		t.Error("an unchanged file was reloaded")
	}
}
