package router_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/msgrouter/router/core"
	"github.com/msgrouter/router/internal/configtest"
	"github.com/msgrouter/router/internal/testexe"
)

// Blue/green: a plugin's executable rebuilt in place is swapped at the
// next reload, though its config did not change: under load, the new
// process starts, new requests go to it, and the old answers what it
// holds; no request gets an error. An executable that does not start is
// not swapped in: the old keeps serving, and the reload says why.
func TestReloadSwapsAChangedExecutable(t *testing.T) {
	dir := t.TempDir()
	exe := filepath.Join(dir, "echo-plugin")
	testexe.Install(t, exe, testExe(t), "")
	cfg := configtest.MustLoad(t, "r.yaml", fmt.Sprintf(`
listen: ["127.0.0.1:0"]
plugins: {echo: {cmd: %q, env: {CONFIG_TEST_PLUGIN: echo, GORACE: atexit_sleep_ms=0}}}
routes: [{plugin: echo}]
`, exe))
	log, logs := bufLogger()
	o := inProcess(t)
	o.Logger = log
	r := start(t, cfg, o)
	load := startLoad(t, addr(r, 0))

	// Unchanged: a reload keeps the process.
	if err := r.Reload(context.Background(), cfg); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(logs.String(), "plugins_started=[]") {
		t.Errorf("a reload with nothing changed started plugins:\n%s", logs)
	}
	// Rebuilt in place (another file moved over it): swapped.
	testexe.Install(t, exe, testExe(t), "v2")
	load.wait(t, 200)
	if err := r.Reload(context.Background(), cfg); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(logs.String(), "the plugin's executable changed") || !strings.Contains(logs.String(), `plugins_started=["echo"]`) {
		t.Errorf("the rebuilt executable was not swapped in:\n%s", logs)
	}
	load.wait(t, 200)
	// Replaced by one that is no plugin: the reload fails, the old serves.
	if err := os.Remove(exe); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(exe, []byte("#!/bin/sh\necho not a plugin\nexit 3\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	err := r.Reload(context.Background(), cfg)
	if err == nil || !strings.Contains(err.Error(), "plugins.echo") {
		t.Errorf("a reload to a broken executable = %v; want an error naming the plugin", err)
	}
	load.wait(t, 200)
	answered, failed := load.stop(t)
	t.Logf("%d requests answered, %d errors, across two reloads", answered, failed)
	if failed != 0 {
		t.Errorf("%d requests failed across the swaps: %v", failed, load.firstErr)
	}
}

// echoLoad is pipelined echo requests on a few connections, each answer
// checked.
type echoLoad struct {
	answered, failed atomic.Int64
	done             chan struct{}
	wg               sync.WaitGroup
	mu               sync.Mutex
	firstErr         error
}

func startLoad(t *testing.T, address string) *echoLoad {
	l := &echoLoad{done: make(chan struct{})}
	for i := range 4 {
		l.wg.Add(1)
		go func() {
			defer l.wg.Done()
			ctx := context.Background()
			c, err := core.Dial(ctx, address)
			if err != nil {
				l.fail(err)
				return
			}
			defer c.Close()
			for n := 0; ; n++ {
				select {
				case <-l.done:
					return
				default:
				}
				req := action("echo", fmt.Sprintf("conn %d request %d", i, n))
				rctx, cancel := context.WithTimeout(ctx, 10*time.Second)
				ans, err := c.Do(rctx, req)
				cancel()
				if err == nil {
					err = core.AnswerError(ans)
				}
				if err == nil && string(ans.Content) != string(req.Content) {
					err = fmt.Errorf("answer %q to %q", ans.Content, req.Content)
				}
				if err != nil {
					l.fail(err)
					continue
				}
				l.answered.Add(1)
			}
		}()
	}
	return l
}

func (l *echoLoad) fail(err error) {
	l.failed.Add(1)
	l.mu.Lock()
	if l.firstErr == nil {
		l.firstErr = err
	}
	l.mu.Unlock()
}

// wait waits for n more answers, 30 s at most.
func (l *echoLoad) wait(t *testing.T, n int64) {
	t.Helper()
	target := l.answered.Load() + n
	for deadline := time.Now().Add(30 * time.Second); l.answered.Load() < target; {
		if time.Now().After(deadline) {
			t.Fatalf("%d answers in 30s, want %d (%d errors: %v)", l.answered.Load(), target, l.failed.Load(), l.firstErr)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func (l *echoLoad) stop(t *testing.T) (answered, failed int64) {
	close(l.done)
	l.wg.Wait()
	return l.answered.Load(), l.failed.Load()
}

// instances: 3 runs three processes of a plugin, each named in the log,
// and requests are answered through them.
func TestPluginInstances(t *testing.T) {
	cfg := configtest.MustLoad(t, "r.yaml", fmt.Sprintf(`
listen: ["127.0.0.1:0"]
plugins: {echo: {cmd: %q, instances: 3, env: {CONFIG_TEST_PLUGIN: echo, GORACE: atexit_sleep_ms=0}}}
routes: [{plugin: echo}]
`, testExe(t)))
	log, logs := bufLogger()
	o := inProcess(t)
	o.Logger = log
	r := start(t, cfg, o)
	load := startLoad(t, addr(r, 0))
	load.wait(t, 300)
	answered, failed := load.stop(t)
	if failed != 0 {
		t.Errorf("%d of %d requests failed: %v", failed, answered+failed, load.firstErr)
	}
	for i := range 3 {
		if want := fmt.Sprintf("router.echo#%d: plugin started", i); !strings.Contains(logs.String(), want) {
			t.Errorf("no %q in the log", want)
		}
	}
}
