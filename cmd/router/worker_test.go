//go:build unix

package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"net"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"

	"github.com/msgrouter/router/core"
	"github.com/msgrouter/router/internal/natstest"
	"github.com/msgrouter/router/internal/scrape"
	"github.com/msgrouter/router/plugins/echo"
)

// The process-level tests of issue 17 (scale-out over NATS): real `router
// serve` and `router worker` processes (this test binary, see TestMain),
// real NATS servers in the test process (internal/natstest), under
// pipelined load from many connections (pipeLoad). This file holds their
// common parts and the two-server cluster; worker_*_test.go the others.

// echoSubject is the subject the tests' routers send echo requests to.
const echoSubject = "router.echo"

// natsHandlerTimeout is the routers' timeouts.handler: what a request
// held by a worker that dies waits for its error answer. Short, to keep
// the tests short; long enough for an answer under -race on a busy
// machine.
const natsHandlerTimeout = 2 * time.Second

// routerNATSYAML is a router's config: the action echo to echoSubject,
// and the soak built-in's actions slow and big to router.slow, all over
// NATS; no other route. %q is nats.url, %s extra lines appended.
const routerNATSYAML = `listen: tcp://127.0.0.1:0
nats: { url: %q }
routes:
  - { action: echo, nats: ` + echoSubject + ` }
  - { action: slow, nats: router.slow }
  - { action: big, nats: router.slow }
timeouts: { handler: 2s }
%s`

// workerYAML is a worker's config: the echo and soak built-ins, echo on
// echoSubject and soak's "slow" on router.slow; %s is nats.url, %d
// worker.max_in_flight.
const workerYAML = `nats: { url: %q }
plugins:
  echo: { cmd: "builtin:echo" }
  soak: { cmd: "builtin:soak" }
worker:
  max_in_flight: %d
  endpoints:
    - { subject: ` + echoSubject + `, plugin: echo }
    - { subject: router.slow, plugin: soak }
timeouts: { shutdown: 10s }
`

// startNATSRouter runs `router serve --in-process` with routerNATSYAML
// for url and extra, and returns it and its framed address once it
// listens.
func startNATSRouter(t *testing.T, url, extra string) (*routerProc, string) {
	t.Helper()
	path := writeFile(t, "router.yaml", fmt.Sprintf(routerNATSYAML, url, extra))
	p := startRouter(t, nil, "serve", "-c", path, "--in-process", "--watch=false")
	return p, p.waitLog(t, listeningLine)[1]
}

// workerServing is the log line of a worker whose service is registered.
var workerServing = regexp.MustCompile(`worker serving`)

// metricsLine is the log line that gives the metrics endpoint's address.
var metricsLine = regexp.MustCompile(`metrics listening: .*addr=(\S+)`)

// workerProc is a `router worker` process.
type workerProc struct {
	*routerProc
	metrics string // host:port of its metrics endpoint
	killed  bool   // by kill
}

// startWorker runs `router worker --in-process` with workerYAML for url
// and maxInFlight; see startWorkerWith.
func startWorker(t *testing.T, url string, maxInFlight int) *workerProc {
	t.Helper()
	return startWorkerWith(t, fmt.Sprintf(workerYAML, url, maxInFlight), "--in-process")
}

// startWorkerWith runs `router worker` with the config file config, a
// metrics endpoint and args, and returns once its service is registered
// (the NATS server has its subscriptions, unless it is down). When the
// test ends, a worker still running is stopped with SIGTERM and must
// exit 0.
func startWorkerWith(t *testing.T, config string, args ...string) *workerProc {
	t.Helper()
	path := writeFile(t, "worker.yaml", config)
	args = append([]string{"worker", "-c", path, "--watch=false", "--metrics", "127.0.0.1:0"}, args...)
	p := spawnRouter(t, nil, args...)
	cmd := p.cmd
	w := &workerProc{routerProc: p}
	t.Cleanup(func() {
		if err := w.stop(30 * time.Second); err != nil && !w.killed {
			t.Errorf("worker %d: %v; logs:\n%s", cmd.Process.Pid, err, p.logs)
		}
	})
	w.metrics = p.waitLog(t, metricsLine)[1]
	p.waitLog(t, workerServing)
	return w
}

// stop sends SIGTERM and waits, within limit, for the worker to exit; it
// returns why it did not exit 0.
func (w *workerProc) stop(limit time.Duration) error {
	w.cmd.Process.Signal(syscall.SIGTERM)
	return w.wait(limit)
}

// wait waits, within limit, for the worker to exit and returns Wait's
// error; after limit it kills the worker.
func (w *workerProc) wait(limit time.Duration) error {
	select {
	case err := <-w.done:
		w.done <- err
		return err
	case <-time.After(limit):
		w.cmd.Process.Kill()
		return fmt.Errorf("still running %v after SIGTERM; killed", limit)
	}
}

// kill kills the worker with SIGKILL and waits for it.
func (w *workerProc) kill(t *testing.T) {
	t.Helper()
	w.killed = true
	if err := w.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	if err := w.wait(10 * time.Second); err == nil || !strings.Contains(err.Error(), "killed") {
		t.Errorf("worker after SIGKILL: %v, want \"signal: killed\"", err)
	}
}

// scrapeWorker returns the value of the sample name on w's metrics
// endpoint, or 0 if it has none.
func (w *workerProc) scrapeWorker(t *testing.T, name string) float64 {
	t.Helper()
	s, err := scrape.Get("http://" + w.metrics + "/metrics")
	if err != nil {
		t.Errorf("scrape worker %d: %v", w.cmd.Process.Pid, err)
		return 0
	}
	return s[name]
}

// echoOK is the sample of a worker's echo requests answered.
const echoOK = `router_worker_requests_total{result="ok",subject="` + echoSubject + `"}`

// echoFrames returns the frame of an echo request that carries value, and
// the frame of the answer the echo built-in gives it.
func echoFrames(value string) (req, want []byte) {
	m, err := core.NewJSON(core.Object{{Key: "action", Value: "echo"}, {Key: "value", Value: value}})
	if err == nil {
		req, err = core.Marshal(m)
	}
	var ans *core.Message
	if err == nil {
		ans, err = echo.New().Handle(context.Background(), m)
	}
	if err == nil {
		want, err = core.Marshal(ans)
	}
	if err != nil {
		panic(err) // a string always encodes, and echo never fails
	}
	return req, want
}

// roundTrip sends one request frame on a new connection to addr and
// returns the answer frame and how long it took.
func roundTrip(t *testing.T, addr string, req []byte) ([]byte, time.Duration) {
	t.Helper()
	start := time.Now()
	nc, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	nc.SetDeadline(time.Now().Add(natsHandlerTimeout + 10*time.Second))
	if _, err := nc.Write(req); err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(nc)
	sc.Buffer(make([]byte, 64<<10), 4<<20)
	sc.Split(core.ScanFrames)
	if !sc.Scan() {
		t.Fatalf("no answer from %s: %v", addr, sc.Err())
	}
	return bytes.Clone(sc.Bytes()), time.Since(start)
}

// errorText returns the text of an error answer frame, or "" for another
// answer.
func errorText(frame []byte) string {
	m, err := core.Unmarshal(frame)
	if err != nil {
		return ""
	}
	if err := core.AnswerError(m); err != nil {
		return err.(*core.RemoteError).Text
	}
	return ""
}

// waitEcho sends an echo request to addr until it is answered rightly,
// for at most 15s: the workers' subscriptions have reached the router's
// NATS server.
func waitEcho(t *testing.T, p *routerProc, addr string) {
	t.Helper()
	req, want := echoFrames("ready?")
	var got []byte
	for deadline := time.Now().Add(15 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if got, _ = roundTrip(t, addr, req); bytes.Equal(got, want) {
			return
		}
	}
	t.Fatalf("no echo through the workers after 15s; last answer %q; router logs:\n%s", got, p.logs)
}

// TestWorkerNATSCluster: a router on one server of a two-server NATS
// cluster and two workers on the other; requests reach the workers over
// the cluster route, every one answered rightly, in order, under
// pipelined load from many connections, and both workers take a share.
func TestWorkerNATSCluster(t *testing.T) {
	cluster := natstest.Cluster(t, 2, server.Options{})
	a, b := cluster[0], cluster[1]
	p, addr := startNATSRouter(t, natstest.URL(a), "")
	workers := []*workerProc{startWorker(t, natstest.URL(b), 16), startWorker(t, natstest.URL(b), 16)}
	waitEcho(t, p, addr)

	load := startPipeLoad(t, addr, 16, 8)
	load.waitAnswers(t, p, 3000)
	ok, errs := load.finish(t)
	if len(errs) != 0 {
		t.Errorf("%d error answers through the cluster, first %+v; router logs:\n%s", len(errs), errs[0], p.logs)
	}
	t.Logf("%d requests answered through the cluster route", ok)
	for i, w := range workers {
		if n := w.scrapeWorker(t, echoOK); n == 0 {
			t.Errorf("worker %d answered no request", i)
		}
	}
	if n := b.NumSubscriptions(); n == 0 {
		t.Errorf("server B has no subscription")
	}
}

// jsonFrame returns the frame of the JSON request {"action": action,
// "value": value}.
func jsonFrame(t *testing.T, action, value string) []byte {
	t.Helper()
	return objectFrame(t, core.Object{{Key: "action", Value: action}, {Key: "value", Value: value}})
}

// objectFrame returns the frame of a JSON request with the members of
// fields.
func objectFrame(t *testing.T, fields core.Object) []byte {
	t.Helper()
	m, err := core.NewJSON(fields)
	if err != nil {
		t.Fatal(err)
	}
	b, err := core.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
