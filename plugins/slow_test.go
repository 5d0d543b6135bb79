package plugins_test

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/msgrouter/router/core"
	"github.com/msgrouter/router/plugins"
)

// A handler that waits 50 ms (on I/O, the common case) runs concurrently
// inside its plugin, with no start-up cadence: 64 callers, each sending
// its requests one after the other, keep about 64 of them under way, and
// the plugin is never killed for being slow. (Before, the requests of a
// batch started one every 10-20 ms: 47 req/s, and the plugin was killed
// once its requests queued past the router's write timeout.)
func TestPluginSlowHandlerConcurrent(t *testing.T) {
	p := start(t, faultyKind, func(c *plugins.Config) { c.HealthInterval = -1 })
	pid := pidOf(t, p)
	h, err := p.Handler("sleep")
	if err != nil {
		t.Fatal(err)
	}
	const callers, each = 64, 10
	var answered, failed atomic.Int64
	var wg sync.WaitGroup
	begin := time.Now()
	for range callers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range each {
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				ans, err := h.Handle(ctx, core.NewBinary("text/plain", []byte("50ms")))
				cancel()
				if err != nil || string(ans.Content) != "slept" {
					failed.Add(1)
					t.Errorf("sleep 50ms: %v", err)
					continue
				}
				answered.Add(1)
			}
		}()
	}
	wg.Wait()
	took := time.Since(begin)
	rate := float64(answered.Load()) / took.Seconds()
	peak, err := call(t, p, "peak", "", 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%d answered, %d failed in %s: %.0f req/s; at most %s at once in the plugin", answered.Load(), failed.Load(), took, rate, peak)
	if n, _ := strconv.Atoi(peak); n < callers*3/4 {
		t.Errorf("at most %d sleeps at once in the plugin; want close to %d", n, callers)
	}
	// The ideal is 64 / 50 ms = 1280 req/s; the bound leaves room for a
	// loaded machine, and is far above the 47 req/s of one at a time.
	if rate < 400 {
		t.Errorf("%.0f req/s with a 50 ms handler and %d callers; want at least 400", rate, callers)
	}
	if again := pidOf(t, p); again != pid || p.Restarts() != 0 {
		t.Errorf("the slow plugin was restarted (pid %d, was %d; %d restarts)", again, pid, p.Restarts())
	}
}

// MaxInFlight bounds the requests under way in a plugin: the others wait
// their turn, and are answered; a request that waits past its deadline
// gets ErrBusy, and the plugin is not restarted.
func TestPluginMaxInFlight(t *testing.T) {
	p := start(t, faultyKind, func(c *plugins.Config) {
		c.HealthInterval = -1
		c.MaxInFlight = 4
	})
	pid := pidOf(t, p)
	h, err := p.Handler("sleep")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	var answered atomic.Int64
	for range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			if _, err := h.Handle(ctx, core.NewBinary("text/plain", []byte("100ms"))); err != nil {
				t.Errorf("sleep 100ms: %v", err)
				return
			}
			answered.Add(1)
		}()
	}
	wg.Wait()
	if peak, err := call(t, p, "peak", "", 5*time.Second); err != nil || peak != "4" {
		t.Errorf("at most %q sleeps at once in the plugin (%v); want the limit, 4", peak, err)
	}
	if answered.Load() != 16 {
		t.Errorf("%d of 16 answered", answered.Load())
	}

	// Four long sleeps fill the plugin; one more request waits, then
	// gives up at its deadline.
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			h.Handle(ctx, core.NewBinary("text/plain", []byte("1m")))
		}()
	}
	deadline := time.Now().Add(20 * time.Second)
	for p.InFlight() != 4 {
		if time.Now().After(deadline) {
			t.Fatalf("%d requests in flight after 20s; want 4", p.InFlight())
		}
		time.Sleep(10 * time.Millisecond)
	}
	_, err = call(t, p, "upper", "x", 200*time.Millisecond)
	if !errors.Is(err, plugins.ErrBusy) || !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("a request over the limit = %v; want ErrBusy at its deadline", err)
	}
	if n := p.Waiting(); n != 0 {
		t.Errorf("Waiting() = %d after the request gave up; want 0", n)
	}
	cancel()
	wg.Wait()
	if again := pidOf(t, p); again != pid || p.Restarts() != 0 {
		t.Errorf("the busy plugin was restarted (pid %d, was %d; %d restarts)", again, pid, p.Restarts())
	}
}

// A hung handler (one that ignores its context) is answered by its
// deadline, and requests to other handlers of the same plugin, sent
// meanwhile, are answered as usual.
func TestPluginHungHandlerDoesNotDelayOthers(t *testing.T) {
	p := start(t, "basic", func(c *plugins.Config) { c.HealthInterval = -1 })
	hang, err := p.Handler("hang")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ctx, cancel := context.WithTimeout(context.Background(), time.Second)
			defer cancel()
			if _, err := hang.Handle(ctx, core.NewBinary("text/plain", nil)); !errors.Is(err, core.ErrHandlerTimeout) {
				t.Errorf("hang = %v; want ErrHandlerTimeout", err)
			}
		}()
	}
	for i := range 50 {
		if got, err := call(t, p, "upper", "quick", 5*time.Second); err != nil || got != "QUICK" {
			t.Fatalf("upper %d beside hung handlers = %q, %v", i, got, err)
		}
	}
	wg.Wait()
}

// A handler that panics on every request has its stack trace logged once
// a second at most; the next line counts the panics not logged.
func TestPluginPanicLoggedOncePerSecond(t *testing.T) {
	var logs syncBuffer
	p := start(t, "basic", func(c *plugins.Config) {
		c.Logger = hclog.New(&hclog.LoggerOptions{Output: &logs, Level: hclog.Info})
	})
	h, err := p.Handler("panic")
	if err != nil {
		t.Fatal(err)
	}
	reqs := make([]*core.Message, 50)
	for i := range reqs {
		reqs[i] = core.NewBinary("text/plain", nil)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	errs := make([]error, len(reqs))
	h.(core.BatchHandler).HandleBatch(ctx, reqs, make([]*core.Message, len(reqs)), errs)
	for i, err := range errs {
		if !errors.Is(err, plugins.ErrExited) && (err == nil || !strings.Contains(err.Error(), "handler panicked")) {
			t.Fatalf("panic %d: %v", i, err)
		}
	}
	time.Sleep(1100 * time.Millisecond) // past the interval: the next is logged
	if _, err := call(t, p, "panic", "", 5*time.Second); err == nil {
		t.Fatal("panic answered no error")
	}
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(logs.String(), "panics_not_logged=49") && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if n := strings.Count(logs.String(), "handler panicked:"); n != 2 {
		t.Errorf("%d panics logged for 51; want 2, the second counting 49 not logged:\n%s", n, logs.String())
	}
	if n := strings.Count(logs.String(), "[running]:"); n != 2 {
		t.Errorf("%d stack traces logged for 51 panics; want 2", n)
	}
}
