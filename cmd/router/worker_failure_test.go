//go:build unix

package main

import (
	"bytes"
	"fmt"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"

	"github.com/msgrouter/router/internal/natstest"
)

// atOnce is what an error answer that comes "at once" may take: well
// under the handler timeout, by which a lost request is answered, but
// not a tight timing on a busy machine.
const atOnce = natsHandlerTimeout / 2

// checkErrorAnswer sends req on a new connection to addr and checks that
// the answer is an error answer whose text contains want, and that it
// came at once.
func checkErrorAnswer(t *testing.T, p *routerProc, addr string, req []byte, want string) {
	t.Helper()
	got, took := roundTrip(t, addr, req)
	text := errorText(got)
	if !strings.Contains(text, want) {
		t.Errorf("answer %q, want an error answer with %q; router logs:\n%s", got, want, p.logs)
	}
	if took > atOnce {
		t.Errorf("error answer %q after %v, want at once (under %v)", text, took, atOnce)
	}
}

// TestWorkerNoWorkers: with no worker on the subject, a request gets an
// error answer at once, "no workers for SUBJECT", not after the handler
// timeout: before any worker started, and after the last one stopped.
func TestWorkerNoWorkers(t *testing.T) {
	s := natstest.Server(t, server.Options{})
	p, addr := startNATSRouter(t, natstest.URL(s), "")
	req, _ := echoFrames("anyone?")
	checkErrorAnswer(t, p, addr, req, "no workers for "+echoSubject)

	w := startWorker(t, natstest.URL(s), 4)
	waitEcho(t, p, addr)
	if err := w.stop(20 * time.Second); err != nil {
		t.Fatalf("worker after SIGTERM: %v; logs:\n%s", err, w.logs)
	}
	for range 3 {
		checkErrorAnswer(t, p, addr, req, "no workers for "+echoSubject)
	}
}

// lostNATS is the router's log line when its NATS connection drops.
var lostNATS = regexp.MustCompile(`NATS connection lost`)

// TestWorkerNATSRestart: the router and a worker on a NATS server that
// stops: while it is down, requests get an error answer at once, "NATS
// connection down", not a hang; once a server is back on the same port,
// the router and the worker reconnect and requests flow through the
// worker again, under pipelined load.
func TestWorkerNATSRestart(t *testing.T) {
	s := natstest.Server(t, server.Options{})
	p, addr := startNATSRouter(t, natstest.URL(s), "")
	w := startWorker(t, natstest.URL(s), 16)
	waitEcho(t, p, addr)

	req, _ := echoFrames("are you there?")
	natstest.Restart(t, s, server.Options{}, func() {
		// Once the router has seen the server go (the server closes
		// its clients' connections as it stops).
		p.waitLog(t, lostNATS)
		for range 5 {
			checkErrorAnswer(t, p, addr, req, "NATS connection down")
		}
	})
	waitEcho(t, p, addr)
	w.waitLog(t, regexp.MustCompile(`reconnected to NATS`))
	p.waitLog(t, regexp.MustCompile(`reconnected to NATS`))

	load := startPipeLoad(t, addr, 8, 8)
	load.waitAnswers(t, p, 1000)
	before := w.scrapeWorker(t, echoOK)
	load.waitAnswers(t, p, 500)
	if after := w.scrapeWorker(t, echoOK); after <= before {
		t.Errorf("the worker answered no request after the restart (%v, then %v)", before, after)
	}
	if ok, errs := load.finish(t); len(errs) != 0 {
		t.Errorf("%d error answers after the restart (%d right), first %+v", len(errs), ok, errs[0])
	}
}

// maxPayload is the test server's small max_payload in TestWorkerOversized.
const maxPayload = 64 << 10

// TestWorkerOversized: on a NATS server with a small max_payload, a
// request over it gets a clear error answer at once, and so does an
// answer over it, while one under it is answered; `router config check`
// warns that limits.max_content_length is over the server's max payload.
func TestWorkerOversized(t *testing.T) {
	s := natstest.Server(t, server.Options{MaxPayload: maxPayload})
	p, addr := startNATSRouter(t, natstest.URL(s), "")
	startWorker(t, natstest.URL(s), 4)
	waitEcho(t, p, addr)

	small, want := echoFrames(strings.Repeat("s", maxPayload/2))
	if got, _ := roundTrip(t, addr, small); !bytes.Equal(got, want) {
		t.Errorf("a request of %d bytes, under the max payload: answer %.200q", len(small), got)
	}
	big, _ := echoFrames(strings.Repeat("b", maxPayload+1))
	checkErrorAnswer(t, p, addr, big, "message over the NATS max payload")

	// An answer over the max payload: the worker's soak built-in answers
	// "big" with that many bytes.
	req := jsonFrame(t, "big", fmt.Sprint(maxPayload+1))
	checkErrorAnswer(t, p, addr, req, "message over the NATS max payload")
	req = jsonFrame(t, "big", "10")
	if got, _ := roundTrip(t, addr, req); !bytes.HasSuffix(got, []byte("xxxxxxxxxx")) || errorText(got) != "" {
		t.Errorf("a small big answer: %q", got)
	}

	path := writeFile(t, "router.yaml", fmt.Sprintf(routerNATSYAML, natstest.URL(s), ""))
	code, _, stderr := routerCmd(t, "config", "check", "--no-plugins", "-c", path)
	want64 := "limits.max_content_length: 16MiB is more than a NATS message holds: the server's max_payload is 64KiB,"
	if code != exitOK || !strings.Contains(stderr, "warning: ") || !strings.Contains(stderr, want64) {
		t.Errorf("router config check: exit %d, stderr:\n%s\nwant exit 0 and a warning with %q", code, stderr, want64)
	}
}
