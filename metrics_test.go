package router_test

import (
	"context"
	"errors"
	"net"
	"strings"
	"testing"

	"github.com/msgrouter/router"
	"github.com/msgrouter/router/config"
	"github.com/msgrouter/router/core"
	"github.com/msgrouter/router/internal/configtest"
	"github.com/msgrouter/router/internal/routertest"
	"github.com/msgrouter/router/internal/scrape"
)

// A router whose config has a metrics section serves Prometheus metrics
// there, with its routes, plugin processes, connections and reloads.
func TestMetricsEndpoint(t *testing.T) {
	dir := t.TempDir()
	body := func(extraRoute string) string {
		return `
listen: ["127.0.0.1:0"]
plugins:
  tag: ` + procPlugin(t, "tag", "") + `
  fallback: {cmd: inprocess}
routes:
  - {action: tag, plugin: tag, name: tagging}` + extraRoute + `
  - {content_type: text/json, plugin: fallback}
metrics: {listen: "127.0.0.1:0", path: /m}
`
	}
	path := configtest.WriteFile(t, dir, "r.yaml", body(""))
	cfg, err := config.Load(path, config.LoadOptions{Environ: []string{}})
	if err != nil {
		t.Fatal(err)
	}
	r := start(t, cfg, inProcess(t, "fallback"))
	if r.MetricsAddr() == nil || r.Metrics() == nil {
		t.Fatal("no metrics endpoint")
	}
	url := "http://" + r.MetricsAddr().String() + "/m"

	for range 2 {
		if got := ask(t, addr(r, 0), action("tag", nil)); got != "untagged:tag" {
			t.Fatalf("tag = %q", got)
		}
	}
	ask(t, addr(r, 0), action("other", nil))
	// No route takes a binary request.
	if _, err := tryAsk(addr(r, 0), core.NewBinary("binary/x", nil)); err == nil || !strings.Contains(err.Error(), "no route") {
		t.Fatalf("binary request: %v, want a no-route error", err)
	}
	// A rejected reload, then a good one that adds a route.
	configtest.WriteFile(t, dir, "r.yaml", "listen: [")
	if err := r.ReloadFile(context.Background(), path, config.LoadOptions{Environ: []string{}}); err == nil {
		t.Fatal("a broken file reloaded")
	}
	configtest.WriteFile(t, dir, "r.yaml", body("\n  - {action: added, plugin: tag}"))
	if err := r.ReloadFile(context.Background(), path, config.LoadOptions{Environ: []string{}}); err != nil {
		t.Fatal(err)
	}
	ask(t, addr(r, 0), action("added", nil))

	got, err := scrape.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]float64{
		`router_requests_total{result="ok",route="tagging"}`:     2,
		`router_requests_total{result="ok",route="text/json"}`:   1,
		`router_requests_total{result="ok",route="added"}`:       1,
		`router_requests_total{result="no_route",route=""}`:      1,
		`router_request_duration_seconds_count{route="tagging"}`: 2,
		`router_connections_total`:                               5,
		`router_reloads_total{result="ok"}`:                      1,
		`router_reloads_total{result="error"}`:                   1,
		`router_plugin_state{plugin="tag",state="running"}`:      1,
		`router_plugin_restarts_total{plugin="tag"}`:             0,
	}
	for k, v := range want {
		if g, ok := got[k]; !ok || g != v {
			t.Errorf("%s = %v (present %v), want %v", k, g, ok, v)
		}
	}
	if _, ok := got[`router_plugin_state{plugin="fallback",state="running"}`]; ok {
		t.Error("an in-process plugin reports a process state")
	}
}

// An address in use fails the start, naming the key, before any plugin
// runs.
func TestMetricsListenError(t *testing.T) {
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	cfg := configtest.MustLoad(t, "r.yaml", `
listen: ["127.0.0.1:0"]
plugins: {fallback: {cmd: inprocess}}
routes: [{plugin: fallback}]
metrics: {listen: "`+busy.Addr().String()+`"}
`)
	_, err = router.Start(context.Background(), cfg, inProcess(t, "fallback"))
	if !errors.Is(err, config.ErrListen) || !strings.Contains(err.Error(), "metrics.listen: cannot listen") {
		t.Fatalf("Start = %v, want ErrListen at metrics.listen", err)
	}
}

// Request ids from the config: generated, handed to the plugin, and
// echoed.
func TestRequestIDFromConfig(t *testing.T) {
	cfg := configtest.MustLoad(t, "r.yaml", `
listen: ["127.0.0.1:0"]
plugins: {echo: {cmd: inprocess}}
routes: [{plugin: echo}]
request_id: {header: x-trace, generate: true}
`)
	r := start(t, cfg, inProcess(t, "echo"))
	c := routertest.Dial(t, addr(r, 0))
	ans, err := c.Do(context.Background(), core.NewBinary("binary/x", []byte("hi")))
	if err != nil {
		t.Fatal(err)
	}
	id, ok := ans.Header("x-trace")
	if !ok || id == "" {
		t.Fatalf("answer %s has no x-trace header", ans)
	}
	req := core.NewBinary("binary/x", []byte("hi"))
	req.SetHeader("x-trace", "mine")
	ans, err = c.Do(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	if id, _ := ans.Header("x-trace"); id != "mine" {
		t.Errorf("x-trace = %q, want the client's %q", id, "mine")
	}
}

func TestMetricsAndRequestIDValidation(t *testing.T) {
	dir := t.TempDir()
	_, err := config.Load(configtest.WriteFile(t, dir, "r.yaml", `
metrics: {listen: "nowhere", path: metrics}
request_id: {header: content-type}
`), config.LoadOptions{Environ: []string{}})
	configtest.AssertLines(t, err, dir,
		`DIR/r.yaml: metrics.listen: invalid address "nowhere" (want host:port such as 127.0.0.1:9108, or empty for no endpoint)`,
		`DIR/r.yaml: metrics.path: "metrics" is not a URL path (want a path starting with /, such as /metrics)`,
		`DIR/r.yaml: request_id.header: "content-type" is a header the protocol uses (want an extension header name, such as request-id)`,
	)
	_, err = config.Load(configtest.WriteFile(t, dir, "q.yaml", `metrics: {path: "/m?x=1"}`), config.LoadOptions{Environ: []string{}})
	configtest.AssertLines(t, err, dir,
		`DIR/q.yaml: metrics.path: "/m?x=1" is not a URL path (want a path starting with /, such as /metrics)`)
}

// The metrics path is a path, not an http.ServeMux pattern: braces that
// a pattern would reject (with a panic) are served as they are, and
// nothing under the path but the path itself.
func TestMetricsPathLiteral(t *testing.T) {
	dir := t.TempDir()
	cfg, err := config.Load(configtest.WriteFile(t, dir, "r.yaml", `
listen: ["127.0.0.1:0"]
plugins: {fallback: {cmd: inprocess}}
routes: [{plugin: fallback}]
metrics: {listen: "127.0.0.1:0", path: "/m/{x"}
`), config.LoadOptions{Environ: []string{}})
	if err != nil {
		t.Fatal(err)
	}
	r := start(t, cfg, inProcess(t, "fallback"))
	base := "http://" + r.MetricsAddr().String()
	if _, err := scrape.Get(base + "/m/%7Bx"); err != nil {
		t.Errorf("the metrics path: %v", err)
	}
	if _, err := scrape.Get(base + "/m/other"); err == nil {
		t.Error("a path other than the metrics path was served")
	}
}

// A route whose handler answers core.ErrNoRoute (a Mux of its own) counts
// an error of its route; only a request no route of the router's table
// takes counts as no_route. Once each, not both.
func TestMetricsNoRouteCountedOnce(t *testing.T) {
	dir := t.TempDir()
	cfg, err := config.Load(configtest.WriteFile(t, dir, "r.yaml", `
listen: ["127.0.0.1:0"]
plugins: {innermux: {cmd: inprocess}}
routes: [{action: inner, plugin: innermux}]
metrics: {listen: "127.0.0.1:0"}
`), config.LoadOptions{Environ: []string{}})
	if err != nil {
		t.Fatal(err)
	}
	r := start(t, cfg, inProcess(t, "innermux"))
	for _, a := range []string{"inner", "other"} {
		if _, err := tryAsk(addr(r, 0), action(a, nil)); err == nil || !strings.Contains(err.Error(), "no route") {
			t.Fatalf("%s: %v, want a no-route error", a, err)
		}
	}
	got, err := scrape.Get("http://" + r.MetricsAddr().String() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	for k, want := range map[string]float64{
		`router_requests_total{result="error",route="inner"}`: 1,
		`router_requests_total{result="no_route",route=""}`:   1,
	} {
		if got[k] != want {
			t.Errorf("%s = %v, want %v", k, got[k], want)
		}
	}
}
