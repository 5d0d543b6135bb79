//go:build unix

package main

import (
	"bufio"
	"bytes"
	"fmt"
	"net"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"

	"github.com/msgrouter/router/core"
	"github.com/msgrouter/router/internal/natstest"
)

// The slow worker: worker.max_in_flight, and a handler (the soak
// built-in's "slow") that takes slowTook.
const (
	slowMax  = 2
	slowTook = 100 * time.Millisecond
)

// inFlightSlow is the sample of the requests the worker is handling.
const inFlightSlow = `router_worker_in_flight{subject="router.slow"}`

// TestWorkerSlow: a worker with a slow handler and a small
// worker.max_in_flight, sent more requests at once than it may run,
// never runs more than max_in_flight at once (its in-flight gauge, and
// the answers' times: with at most M at once, each taking d, the k-th
// answer comes no sooner than ceil(k/M)×d after the requests), answers
// every request, and its memory and goroutines stay bounded under a
// burst of many requests queued to it.
func TestWorkerSlow(t *testing.T) {
	s := natstest.Server(t, server.Options{})
	path := writeFile(t, "router.yaml", fmt.Sprintf(routerNATSYAML, natstest.URL(s), ""))
	// The requests queue at the worker: a handler timeout for the
	// longest queue, not the 2s of the other tests.
	p := startRouter(t, []string{"ROUTER_TIMEOUTS_HANDLER=30s"}, "serve", "-c", path, "--in-process", "--watch=false")
	addr := p.waitLog(t, listeningLine)[1]
	w := startWorker(t, natstest.URL(s), slowMax)
	waitEcho(t, p, addr)

	// 16 requests, 4 on each of 4 connections, pipelined.
	req := slowFrame(t, slowTook, 0)
	stopSampling := sampleMax(t, w, inFlightSlow)
	start := time.Now()
	answers, times := burst(t, addr, req, 4, 4)
	maxInFlight := stopSampling()
	for _, a := range answers {
		if !bytes.Contains(a, []byte(`"slept `+slowTook.String()+`"`)) {
			t.Fatalf("answer %q, want slept %v", a, slowTook)
		}
	}
	slices.SortFunc(times, func(a, b time.Time) int { return a.Compare(b) })
	for i, at := range times {
		k := i + 1
		if early := time.Duration((k+slowMax-1)/slowMax) * slowTook; at.Sub(start) < early {
			t.Errorf("answer %d came %v after the requests, before %v: more than %d ran at once", k, at.Sub(start), early, slowMax)
		}
	}
	if maxInFlight > slowMax {
		t.Errorf("%s reached %v, over max_in_flight %d", inFlightSlow, maxInFlight, slowMax)
	}
	t.Logf("16 requests of %v with max_in_flight %d: the last answered after %v; in flight at most %v when sampled",
		slowTook, slowMax, times[len(times)-1].Sub(start), maxInFlight)
	checkSlowMemory(t, w, addr)
}

// checkSlowMemory sends the slow worker a burst of many requests (256 of
// 5ms, with 16KiB of padding each: 4MiB queued to a worker that runs
// two at a time) and checks that its memory and its goroutines stay
// bounded: the pool's goroutines are max_in_flight, whatever is queued.
func checkSlowMemory(t *testing.T, w *workerProc, addr string) {
	t.Helper()
	pid := w.cmd.Process.Pid
	rssBefore := procStatus(t, pid, "VmRSS")
	goBefore := w.scrapeWorker(t, "go_goroutines")
	stopSampling := sampleMax(t, w, "go_goroutines")
	req := slowFrame(t, 5*time.Millisecond, 16<<10)
	answers, _ := burst(t, addr, req, 8, 32)
	goMax := stopSampling()
	for _, a := range answers {
		if !bytes.Contains(a, []byte(`"slept 5ms"`)) {
			t.Fatalf("answer %.200q, want slept 5ms", a)
		}
	}
	hwm, rss := procStatus(t, pid, "VmHWM"), procStatus(t, pid, "VmRSS")
	t.Logf("worker memory: VmRSS %d KiB before the burst of 256, %d KiB after, VmHWM %d KiB; goroutines %v before, at most %v during",
		rssBefore, rss, hwm, goBefore, goMax)
	// Generous: the 4MiB queued, several copies of it on the way (NATS
	// buffers, decoding), and the race detector's shadow memory.
	const bound = 256 << 10 // KiB
	if hwm-rssBefore > bound {
		t.Errorf("the worker's memory grew by %d KiB in the burst, over %d KiB", hwm-rssBefore, bound)
	}
	// The pool runs max_in_flight goroutines; the rest is the metrics
	// scrapes' and the runtime's: nothing per request queued.
	if goMax > goBefore+slowMax+50 {
		t.Errorf("the worker ran %v goroutines in the burst, %v before: one per request queued?", goMax, goBefore)
	}
}

// slowFrame returns a request for the soak built-in's "slow" action,
// taking d, with a field of pad bytes the handler ignores.
func slowFrame(t *testing.T, d time.Duration, pad int) []byte {
	t.Helper()
	fields := core.Object{{Key: "action", Value: "slow"}, {Key: "value", Value: d.String()}}
	if pad > 0 {
		fields = append(fields, core.Field{Key: "pad", Value: strings.Repeat("p", pad)})
	}
	return objectFrame(t, fields)
}

// burst writes depth copies of the frame req at once on each of conns
// connections to addr, and reads every answer: it returns them, and when
// each came.
func burst(t *testing.T, addr string, req []byte, conns, depth int) (answers [][]byte, times []time.Time) {
	t.Helper()
	var mu sync.Mutex
	var wg sync.WaitGroup
	errs := make([]error, conns)
	batch := bytes.Repeat(req, depth)
	for i := range conns {
		nc, err := net.DialTimeout("tcp", addr, 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		wg.Go(func() {
			defer nc.Close()
			nc.SetDeadline(time.Now().Add(30 * time.Second))
			if _, errs[i] = nc.Write(batch); errs[i] != nil {
				return
			}
			sc := bufio.NewScanner(nc)
			sc.Buffer(make([]byte, 64<<10), 1<<20)
			sc.Split(core.ScanFrames)
			for range depth {
				if !sc.Scan() {
					errs[i] = fmt.Errorf("connection %d: an answer missing: %v", i, sc.Err())
					return
				}
				mu.Lock()
				answers, times = append(answers, bytes.Clone(sc.Bytes())), append(times, time.Now())
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	return answers, times
}

// sampleMax scrapes the sample name of w's metrics every 10ms until the
// function it returns is called, which returns the largest value seen.
func sampleMax(t *testing.T, w *workerProc, name string) func() float64 {
	t.Helper()
	stop, done := make(chan struct{}), make(chan float64)
	go func() {
		var top float64
		for {
			top = max(top, w.scrapeWorker(t, name))
			select {
			case <-stop:
				done <- max(top, w.scrapeWorker(t, name))
				return
			case <-time.After(10 * time.Millisecond):
			}
		}
	}()
	return func() float64 {
		close(stop)
		return <-done
	}
}

// procStatus returns a field of /proc/PID/status, in KiB (VmRSS, VmHWM).
func procStatus(t *testing.T, pid int, field string) int64 {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Skipf("no /proc: %v", err)
	}
	for line := range strings.Lines(string(b)) {
		if v, ok := strings.CutPrefix(line, field+":"); ok {
			n, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			if err != nil {
				t.Fatalf("/proc/%d/status: %s: %v", pid, field, err)
			}
			return n
		}
	}
	t.Fatalf("/proc/%d/status has no %s", pid, field)
	return 0
}
