package router_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/msgrouter/router"
	"github.com/msgrouter/router/config"
	"github.com/msgrouter/router/internal/configtest"
	"github.com/msgrouter/router/internal/routertest"
	"github.com/msgrouter/router/metrics"
)

// natsRouter starts a router with the embedded NATS server on a free
// port, the given routes to subjects ahead of a catch-all to the
// fallback test plugin, and the given timeouts.handler; it returns it
// with the NATS URL workers connect to.
func natsRouter(t *testing.T, routes, handlerTimeout string, o router.StartOptions) (*router.Router, string) {
	t.Helper()
	cfg := configtest.MustLoad(t, "router.yaml", fmt.Sprintf(`
listen: [127.0.0.1:0]
nats: {embedded: {listen: 127.0.0.1:0}}
plugins: {fallback: {cmd: /bin/fallback}}
routes: [%s, {plugin: fallback}]
timeouts: {handler: %s}
`, routes, handlerTimeout))
	if o.InProcess == nil {
		o = inProcess(t, "fallback")
	}
	r := start(t, cfg, o)
	a := r.NATSAddr()
	if a == nil {
		t.Fatal("NATSAddr is nil: no embedded server")
	}
	return r, "nats://" + a.String()
}

// upperRoute is the route natsRouter's tests send to the worker that
// startWorker starts.
const upperRoute = "{action: upper, nats: test.upper}"

// startWorker starts a worker serving test.upper with the upper test
// plugin, in process, connected to url; it shuts down when the test
// ends.
func startWorker(t *testing.T, url, extra string) *router.Worker {
	t.Helper()
	dir := t.TempDir()
	path := configtest.WriteFile(t, dir, "worker.yaml", fmt.Sprintf(`
nats: {url: %q}
plugins: {upper: {cmd: /bin/upper}}
worker:
  endpoints: [{subject: test.upper, plugin: upper}]
%s`, url, extra))
	cfg, err := config.Load(path, config.LoadOptions{Environ: []string{}, Worker: true})
	if err != nil {
		t.Fatal(err)
	}
	w := routertest.StartWorker(t, cfg, inProcess(t, "upper"))
	return w
}

// A route to a subject: no worker is an error answer at once; a worker
// that joins answers; the other routes are untouched; the metrics count
// both.
func TestNATSRouteToWorker(t *testing.T) {
	m := metrics.New()
	o := inProcess(t, "fallback")
	o.Metrics = m
	r, url := natsRouter(t, upperRoute, "5s", o)
	a := addr(r, 0)

	began := time.Now()
	_, err := tryAsk(a, action("upper", "hello"))
	if err == nil || !strings.HasSuffix(err.Error(), ": no workers for test.upper") {
		t.Fatalf("no worker: %v, want the error answer %q", err, "no workers for test.upper")
	}
	if d := time.Since(began); d > time.Second {
		t.Errorf("no worker answered after %v, want at once", d)
	}
	if got := ask(t, a, action("other", "x")); got != "fallback" {
		t.Errorf("other route: %q", got)
	}

	w := startWorker(t, url, "")
	if got := ask(t, a, action("upper", "hello")); got != "HELLO" {
		t.Errorf("through the worker: %q, want HELLO", got)
	}
	if w.InFlight() != 0 {
		t.Errorf("worker in flight %d after the answer", w.InFlight())
	}
	mf := gather(t, m)
	for _, want := range []string{
		`router_nats_requests_total{result="no_workers",subject="test.upper"} 1`,
		`router_nats_requests_total{result="ok",subject="test.upper"} 1`,
	} {
		if !strings.Contains(mf, want) {
			t.Errorf("metrics lack %s", want)
		}
	}
}

// gather returns the metrics' text exposition.
func gather(t *testing.T, m *metrics.Metrics) string {
	t.Helper()
	fams, err := m.Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	var sb strings.Builder
	for _, f := range fams {
		for _, mt := range f.GetMetric() {
			var labels []string
			for _, l := range mt.GetLabel() {
				labels = append(labels, fmt.Sprintf("%s=%q", l.GetName(), l.GetValue()))
			}
			v := mt.GetCounter().GetValue() + mt.GetGauge().GetValue()
			fmt.Fprintf(&sb, "%s{%s} %g\n", f.GetName(), strings.Join(labels, ","), v)
		}
	}
	return sb.String()
}

// A reload cannot change the nats section; a reload that adds the first
// route to a subject starts the embedded server.
func TestNATSReload(t *testing.T) {
	dir := t.TempDir()
	write := func(body string) string {
		return configtest.WriteFile(t, dir, "router.yaml", body)
	}
	path := write(`
listen: [127.0.0.1:0]
plugins: {fallback: {cmd: /bin/fallback}}
routes: [{plugin: fallback}]
`)
	cfg, err := config.Load(path, config.LoadOptions{Environ: []string{}})
	if err != nil {
		t.Fatal(err)
	}
	r := start(t, cfg, inProcess(t, "fallback"))
	if r.NATSAddr() != nil {
		t.Fatal("an embedded server without a route to a subject")
	}
	write(`
listen: [127.0.0.1:0]
nats: {embedded: {listen: 127.0.0.1:0}}
plugins: {fallback: {cmd: /bin/fallback}}
routes: [{action: upper, nats: test.upper}, {plugin: fallback}]
`)
	if err := r.ReloadFile(context.Background(), path, config.LoadOptions{Environ: []string{}}); err != nil {
		t.Fatal(err)
	}
	if r.NATSAddr() == nil {
		t.Fatal("no embedded server after a reload added a route to a subject")
	}
	startWorker(t, "nats://"+r.NATSAddr().String(), "")
	if got := ask(t, addr(r, 0), action("upper", "a")); got != "A" {
		t.Errorf("after reload: %q", got)
	}
	write(`
listen: [127.0.0.1:0]
nats: {url: "nats://127.0.0.1:1"}
plugins: {fallback: {cmd: /bin/fallback}}
routes: [{action: upper, nats: test.upper}, {plugin: fallback}]
`)
	err = r.ReloadFile(context.Background(), path, config.LoadOptions{Environ: []string{}})
	if !errors.Is(err, config.ErrValue) || !strings.Contains(err.Error(), "a reload cannot change the nats section") {
		t.Errorf("reload changing nats: %v", err)
	}
}
