package router_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/msgrouter/router"
	"github.com/msgrouter/router/config"
	"github.com/msgrouter/router/internal/configtest"
	"github.com/msgrouter/router/internal/routertest"
	"github.com/msgrouter/router/metrics"
)

// StartWorker refuses a config not loaded for a worker, and reports an
// endpoint whose plugin has no such handler with its key.
func TestStartWorkerErrors(t *testing.T) {
	_, err := router.StartWorker(context.Background(), config.Default(), router.StartOptions{Logger: testLogger(t)})
	if err == nil || !strings.Contains(err.Error(), "config.LoadOptions.Worker") {
		t.Errorf("StartWorker of a serve config: %v", err)
	}

	_, url := natsRouter(t, upperRoute, "2s", router.StartOptions{})
	dir := t.TempDir()
	path := configtest.WriteFile(t, dir, "worker.yaml", fmt.Sprintf(`
nats: {url: %q}
plugins: {multi: {cmd: /bin/multi}}
worker: {endpoints: [{subject: test.a, plugin: multi.a}, {subject: test.c, plugin: multi.c}]}
`, url))
	cfg, err := config.Load(path, config.LoadOptions{Environ: []string{}, Worker: true})
	if err != nil {
		t.Fatal(err)
	}
	_, err = router.StartWorker(context.Background(), cfg, inProcess(t, "multi"))
	if !errors.Is(err, config.ErrRoute) || !strings.Contains(err.Error(), `worker.endpoints[1].plugin: plugin "multi" has no handler "c"`) {
		t.Errorf("StartWorker with a missing handler: %v", err)
	}
}

// A worker's reload that fails (a plugin that cannot start, a change of
// the nats section) leaves the running config serving.
func TestWorkerReload(t *testing.T) {
	r, url := natsRouter(t, upperRoute, "2s", router.StartOptions{})
	a := addr(r, 0)
	w := startWorker(t, url, "")
	if got := ask(t, a, action("upper", "x")); got != "X" {
		t.Fatalf("before reload: %q", got)
	}
	dir := t.TempDir()
	path := configtest.WriteFile(t, dir, "worker.yaml", fmt.Sprintf(`
nats: {url: %q}
plugins: {tag: {cmd: /bin/tag, settings: {tag: v2}}}
worker: {endpoints: [{subject: test.upper, plugin: tag}]}
`, url))
	// /bin/tag does not exist (only upper runs in process): the reload is
	// rejected, and the running config keeps serving.
	if err := w.ReloadFile(context.Background(), path, config.LoadOptions{Environ: []string{}}); !errors.Is(err, config.ErrPlugin) {
		t.Fatalf("reload to a plugin that cannot start: %v, want ErrPlugin", err)
	}
	cfg, err := config.Load(path, config.LoadOptions{Environ: []string{}, Worker: true})
	if err != nil {
		t.Fatal(err)
	}
	// A config the worker cannot reload to (its nats section changes).
	bad := *cfg
	bad.NATS.URL = "nats://127.0.0.1:1"
	if err := w.Reload(context.Background(), &bad); err == nil || !strings.Contains(err.Error(), "nats section") {
		t.Errorf("reload changing nats.url: %v", err)
	}
	if got := ask(t, a, action("upper", "y")); got != "Y" {
		t.Errorf("after rejected reloads: %q, want the old handler's Y", got)
	}
}

// A worker's reload to new endpoints: the new subject is served by a new
// service, the old subject no longer.
func TestWorkerReloadEndpoints(t *testing.T) {
	r, url := natsRouter(t, "{action: a, nats: test.a}, {action: b, nats: test.b}", "5s", router.StartOptions{})
	load := func(endpoints string) *config.Config {
		dir := t.TempDir()
		path := configtest.WriteFile(t, dir, "worker.yaml", fmt.Sprintf(`
nats: {url: %q}
plugins: {multi: {cmd: /bin/multi}}
worker: {endpoints: [%s]}
`, url, endpoints))
		c, err := config.Load(path, config.LoadOptions{Environ: []string{}, Worker: true})
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	m := metrics.New()
	o := inProcess(t, "multi")
	o.Metrics = m
	w := routertest.StartWorker(t, load("{subject: test.a, plugin: multi.a}"), o)
	a := addr(r, 0)
	if got := ask(t, a, action("a", "")); got != "a" {
		t.Fatalf("test.a: %q", got)
	}
	if _, err := tryAsk(a, action("b", "")); err == nil || !strings.Contains(err.Error(), "no workers for test.b") {
		t.Fatalf("test.b before reload: %v", err)
	}
	if err := w.Reload(context.Background(), load("{subject: test.b, plugin: multi.b}")); err != nil {
		t.Fatal(err)
	}
	if got := ask(t, a, action("b", "")); got != "b" {
		t.Errorf("test.b after reload: %q", got)
	}
	eventually(t, "test.a no longer served", func() error {
		if _, err := tryAsk(a, action("a", "")); err == nil || !strings.Contains(err.Error(), "no workers for test.a") {
			return fmt.Errorf("test.a: %v", err)
		}
		return nil
	})
	mf := gather(t, m)
	for _, want := range []string{
		`router_worker_requests_total{result="ok",subject="test.a"} 1`,
		`router_worker_requests_total{result="ok",subject="test.b"} 1`,
		`router_worker_in_flight{subject="test.a"} 0`,
	} {
		if !strings.Contains(mf, want) {
			t.Errorf("worker metrics lack %s:\n%s", want, mf)
		}
	}
}

// Shutdown drains: the requests a worker has taken are answered, and the
// ones after go to no one (no workers) rather than hang.
func TestWorkerShutdownDrains(t *testing.T) {
	r, url := natsRouter(t, "{action: slow, nats: test.slow}", "5s", router.StartOptions{})
	dir := t.TempDir()
	path := configtest.WriteFile(t, dir, "worker.yaml", fmt.Sprintf(`
nats: {url: %q}
plugins: {slow: {cmd: /bin/slow}}
worker: {endpoints: [{subject: test.slow, plugin: slow}]}
`, url))
	wcfg, err := config.Load(path, config.LoadOptions{Environ: []string{}, Worker: true})
	if err != nil {
		t.Fatal(err)
	}
	w := routertest.StartWorker(t, wcfg, inProcess(t, "slow"))

	const n = 8
	var wg sync.WaitGroup
	results := make([]string, n)
	errs := make([]error, n)
	for i := range n {
		wg.Go(func() { results[i], errs[i] = tryAsk(addr(r, 0), action("slow", 300)) })
	}
	eventually(t, "the worker has the requests", func() error {
		if got := w.InFlight(); got != n {
			return fmt.Errorf("in flight %d, want %d", got, n)
		}
		return nil
	})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := w.Shutdown(ctx); err != nil {
		t.Errorf("Shutdown: %v", err)
	}
	wg.Wait()
	for i := range n {
		if errs[i] != nil || results[i] != "slow" {
			t.Errorf("request %d taken before the drain: %q, %v", i, results[i], errs[i])
		}
	}
	if _, err := tryAsk(addr(r, 0), action("slow", 1)); err == nil || !strings.Contains(err.Error(), "no workers for test.slow") {
		t.Errorf("after the worker stopped: %v, want no workers", err)
	}
}
