//go:build unix

package main

import (
	"fmt"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"

	"github.com/msgrouter/router/internal/natstest"
)

// Chaos under load: the load's shape and the workers' size.
const (
	chaosConns       = 16
	chaosDepth       = 8
	chaosMaxInFlight = 16
	// chaosKillWindow bounds how long after a kill -9 the NATS server
	// may still send the dead worker requests: until it reads the end of
	// the worker's connection, which the kernel closes as the process
	// dies. Generous, for a loaded machine; well under the handler
	// timeout, which the bound on error answers relies on.
	chaosKillWindow = time.Second
)

// TestWorkerChaos: three workers serve one subject under pipelined load
// from many connections; one is killed with SIGKILL, another stopped
// with SIGTERM, and a new one joins, while the load runs. Every request
// gets exactly one answer, in order, none wrong (pipeLoad checks each
// byte for byte). The only error answers are for requests the killed
// worker held: sent before it died (or in the moment the NATS server
// takes to see it gone), answered by the handler timeout, and no more
// than the load can have in flight. After the kill the workers left
// answer; the SIGTERM'd worker answers all it took and exits 0; the new
// one takes a share.
func TestWorkerChaos(t *testing.T) {
	s := natstest.Server(t, server.Options{})
	url := natstest.URL(s)
	p, addr := startNATSRouter(t, url, "")
	workers := []*workerProc{
		startWorker(t, url, chaosMaxInFlight),
		startWorker(t, url, chaosMaxInFlight),
		startWorker(t, url, chaosMaxInFlight),
	}
	waitEcho(t, p, addr)
	load := startPipeLoad(t, addr, chaosConns, chaosDepth)
	load.waitAnswers(t, p, 2000)

	killed := time.Now()
	workers[0].kill(t)
	// Requests keep being answered, by the two left.
	load.waitAnswers(t, p, 2000)
	before := workers[2].scrapeWorker(t, echoOK)
	load.waitAnswers(t, p, 1000)
	if after := workers[2].scrapeWorker(t, echoOK); after <= before {
		t.Errorf("after the kill, worker 2 answered no more requests (%v, then %v)", before, after)
	}

	// SIGTERM drains: the worker exits 0, and none of its requests gets
	// an error answer (checked below: every error is the kill's).
	if n := workers[1].scrapeWorker(t, echoOK); n == 0 {
		t.Errorf("worker 1 answered no request before its SIGTERM")
	}
	if err := workers[1].stop(20 * time.Second); err != nil {
		t.Errorf("worker 1 after SIGTERM: %v, want exit 0; logs:\n%s", err, workers[1].logs)
	}
	workers[1].waitLog(t, regexp.MustCompile(`stop requested; draining`))
	load.waitAnswers(t, p, 2000) // by worker 2 alone

	joined := startWorker(t, url, chaosMaxInFlight)
	load.waitAnswers(t, p, 2000)
	waitWorkerShare(t, joined)
	ok, errs := load.finish(t)
	t.Logf("%d right answers; %d error answers, all for requests of the killed worker", ok, len(errs))
	checkKillErrors(t, errs, killed)
}

// waitWorkerShare waits, 10s at most, until w has answered an echo
// request: the load reaches a worker that joins.
func waitWorkerShare(t *testing.T, w *workerProc) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); w.scrapeWorker(t, echoOK) == 0; time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("the worker that joined answered no request after 10s; logs:\n%s", w.logs)
		}
	}
}

// checkKillErrors checks that each error answer is for a request the
// worker killed at killed held: a timeout, for a request sent before the
// NATS server could know it dead, by the handler timeout.
//
// And it bounds their count by chaosConns × chaosDepth. The killed
// worker held what it had taken into its pool (up to worker.max_in_flight)
// and what the NATS server had queued to it (delivered to its
// connection, not yet taken), which max_in_flight does not bound: both
// are requests NATS sent it before it saw the worker's connection end,
// within chaosKillWindow of the kill. A connection of the load has at
// most chaosDepth requests in flight, and one that lost a request waits
// the handler timeout for its batch's answers, longer than
// chaosKillWindow: so it loses at most one batch. Hence at most
// chaosConns × chaosDepth, whatever share of them the killed worker had.
func checkKillErrors(t *testing.T, errs []errorAnswer, killed time.Time) {
	t.Helper()
	if n := len(errs); n > chaosConns*chaosDepth {
		t.Errorf("%d error answers, more than the %d requests the load can have in flight", n, chaosConns*chaosDepth)
	}
	for i, e := range errs {
		var why []string
		if !strings.Contains(e.Text, "timed out") && !strings.Contains(e.Text, "no answer by the deadline") {
			why = append(why, "not a timeout")
		}
		if e.Sent.After(killed.Add(chaosKillWindow)) {
			why = append(why, fmt.Sprintf("its request was sent %v after the kill", e.Sent.Sub(killed)))
		}
		// By the handler timeout: not at once, and not long after.
		if took := e.Got.Sub(e.Sent); took < natsHandlerTimeout/2 || took > natsHandlerTimeout+5*time.Second {
			why = append(why, fmt.Sprintf("answered %v after its request, want about %v", took, natsHandlerTimeout))
		}
		if why != nil {
			t.Errorf("error answer %d, %q: %s", i, e.Text, strings.Join(why, "; "))
		}
	}
}
