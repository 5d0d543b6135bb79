package plugins_test

import (
	"context"
	"errors"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/msgrouter/router/core"
	"github.com/msgrouter/router/internal/testlog"
	"github.com/msgrouter/router/plugins"
)

// startPool runs n instances of a test plugin of the given kind for the
// test's duration.
func startPool(t *testing.T, kind string, n int, mod func(*plugins.Config)) *plugins.Pool {
	t.Helper()
	cfg := plugins.Config{
		Name:   "pool",
		Cmd:    os.Args[0],
		Env:    []string{"ROUTER_TEST_PLUGIN=" + kind},
		Logger: testlog.New(t, ""),
	}
	if mod != nil {
		mod(&cfg)
	}
	pl, err := plugins.StartPool(context.Background(), cfg, n)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		pl.Shutdown(ctx)
	})
	return pl
}

// A slow instance gets fewer requests than its siblings: each request
// goes to the better of two instances by requests outstanding.
func TestPoolBalancesAwayFromASlowInstance(t *testing.T) {
	pl := startPool(t, "basic", 3, nil)
	var counts [3]atomic.Int64
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 60 {
				got, err := call(t, pl, "instance", "", 10*time.Second)
				if err != nil {
					t.Error(err)
					return
				}
				i, err := strconv.Atoi(got)
				if err != nil || i < 0 || i > 2 {
					t.Errorf("instance %q", got)
					return
				}
				counts[i].Add(1)
			}
		})
	}
	wg.Wait()
	c0, c1, c2 := counts[0].Load(), counts[1].Load(), counts[2].Load()
	t.Logf("requests by instance: slow 0: %d, 1: %d, 2: %d", c0, c1, c2)
	if c0+c1+c2 != 480 {
		t.Errorf("%d answers, want 480", c0+c1+c2)
	}
	if c0 >= c1 || c0 >= c2 {
		t.Errorf("the slow instance got %d requests, its siblings %d and %d: want fewer", c0, c1, c2)
	}
}

// kill -9 of one instance of three under load: the requests it held get
// ErrExited naming it, the others are answered by its siblings, and it
// restarts.
func TestPoolInstanceKilledUnderLoad(t *testing.T) {
	pl := startPool(t, "basic", 3, func(c *plugins.Config) {
		c.Restart = plugins.RestartPolicy{Backoff: 10 * time.Millisecond}
		c.HealthInterval = -1
	})
	victim := pl.Processes()[1]
	pid := pidOf(t, victim)
	var answered, failed atomic.Int64
	var wrong atomic.Value
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				got, err := call(t, pl, "sleep", "2ms", 10*time.Second)
				switch {
				case err == nil && got == "slept 2ms":
					answered.Add(1)
				case errors.Is(err, plugins.ErrExited) && strings.Contains(err.Error(), `"pool#1"`):
					failed.Add(1)
				default:
					wrong.Store(err)
					failed.Add(1)
				}
			}
		})
	}
	for answered.Load() < 200 {
		time.Sleep(5 * time.Millisecond)
	}
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	before := answered.Load()
	waitNewPid(t, victim, pid)
	for answered.Load() < before+200 {
		time.Sleep(5 * time.Millisecond)
	}
	close(stop)
	wg.Wait()
	t.Logf("%d answered, %d failed (held by the killed instance)", answered.Load(), failed.Load())
	if err := wrong.Load(); err != nil {
		t.Errorf("a request failed otherwise than with the killed instance: %v", err)
	}
	// At most what the killed instance held: 8 callers, one request each.
	if n := failed.Load(); n > 8 {
		t.Errorf("%d requests failed; the killed instance held at most 8", n)
	}
	for i, p := range pl.Processes() {
		if got, err := call(t, p, "upper", "ok", 5*time.Second); err != nil || got != "OK" {
			t.Errorf("instance %d after the kill: %q, %v", i, got, err)
		}
	}
}

// BenchmarkPool: a CPU-bound handler (200 µs a request) under 64
// callers, with one instance and with two; and the cost of the balancer's
// pick, with three instances.
func BenchmarkPool(b *testing.B) {
	for _, n := range []int{1, 2} {
		b.Run("instances="+strconv.Itoa(n), func(b *testing.B) {
			pl, err := plugins.StartPool(context.Background(), plugins.Config{
				Name: "bench", Cmd: os.Args[0], Env: []string{"ROUTER_TEST_PLUGIN=basic"},
			}, n)
			if err != nil {
				b.Fatal(err)
			}
			defer pl.Shutdown(context.Background())
			h, err := pl.Handler("spin")
			if err != nil {
				b.Fatal(err)
			}
			b.SetParallelism(32) // 64 callers on 2 processors
			begin := time.Now()
			b.RunParallel(func(pb *testing.PB) {
				req := core.NewBinary("text/plain", []byte("200us"))
				for pb.Next() {
					if _, err := h.Handle(context.Background(), req); err != nil {
						b.Error(err)
						return
					}
				}
			})
			b.ReportMetric(float64(b.N)/time.Since(begin).Seconds(), "req/s")
		})
	}
	b.Run("pick", func(b *testing.B) {
		pl, err := plugins.StartPool(context.Background(), plugins.Config{
			Name: "bench", Cmd: os.Args[0], Env: []string{"ROUTER_TEST_PLUGIN=basic"},
		}, 3)
		if err != nil {
			b.Fatal(err)
		}
		defer pl.Shutdown(context.Background())
		b.ResetTimer()
		for b.Loop() {
			plugins.Pick(pl)
		}
	})
}
