package metrics_test

import (
	"bytes"
	"context"
	"errors"
	"net"
	"net/http"
	"os"
	"strconv"
	"syscall"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/msgrouter/router/core"
	"github.com/msgrouter/router/internal/scrape"
	"github.com/msgrouter/router/metrics"
	"github.com/msgrouter/router/plugins"
)

// TestMain serves a plugin instead of running the tests when the test
// binary is started as one.
func TestMain(m *testing.M) {
	if os.Getenv("METRICS_TEST_PLUGIN") != "" {
		plugins.Serve(plugins.Handlers{
			"upper": core.HandlerFunc(func(_ context.Context, m *core.Message) (*core.Message, error) {
				return core.NewBinary("text/plain", bytes.ToUpper(m.Content)), nil
			}),
			"pid": core.HandlerFunc(func(context.Context, *core.Message) (*core.Message, error) {
				return core.NewBinary("text/plain", []byte(strconv.Itoa(os.Getpid()))), nil
			}),
		})
		return
	}
	goleak.VerifyTestMain(m,
		// The HTTP client's idle keep-alive connections close on their own.
		goleak.IgnoreTopFunction("net/http.(*persistConn).readLoop"),
		goleak.IgnoreTopFunction("net/http.(*persistConn).writeLoop"))
}

// serveMetrics serves m on a loopback port and returns the scrape URL.
func serveMetrics(t *testing.T, m *metrics.Metrics) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	hs := &http.Server{Handler: m.Handler(), ReadHeaderTimeout: 5 * time.Second}
	go hs.Serve(l)
	t.Cleanup(func() { hs.Close() })
	return "http://" + l.Addr().String() + "/metrics"
}

func TestMetricsScrape(t *testing.T) {
	m := metrics.New()

	proc, err := plugins.Start(context.Background(), plugins.Config{
		Name: "upper",
		Cmd:  os.Args[0],
		Env:  []string{"METRICS_TEST_PLUGIN=1"},
		// A long backoff keeps the killed plugin restarting while scraped.
		Restart: plugins.RestartPolicy{Backoff: 300 * time.Millisecond},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { proc.Shutdown(context.Background()) })
	m.Plugin("upper", proc)
	upper, err := proc.Handler("upper")
	if err != nil {
		t.Fatal(err)
	}
	failing := core.HandlerFunc(func(context.Context, *core.Message) (*core.Message, error) {
		return nil, errors.New("no")
	})
	slow := core.HandlerFunc(func(ctx context.Context, _ *core.Message) (*core.Message, error) {
		<-ctx.Done()
		return nil, ctx.Err()
	})
	mux, err := core.NewMux(
		core.Route{Action: "fail", Handler: m.Instrument("fail", failing)},
		core.Route{Action: "slow", Handler: m.Instrument("slow", slow)},
		core.Route{ContentType: "text/plain", Handler: m.Instrument("upper", upper)},
	)
	if err != nil {
		t.Fatal(err)
	}
	srv := &core.Server{Handler: mux, HandlerTimeout: 50 * time.Millisecond, MaxConnections: 2}
	m.Server(srv)
	l, err := core.Listen(context.Background(), "tcp://127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(l)
	t.Cleanup(func() { srv.Close() })
	url := serveMetrics(t, m)

	c, err := core.Dial(context.Background(), l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx := context.Background()
	json := func(action string) *core.Message {
		msg, err := core.NewJSON(core.Object{{Key: "action", Value: action}})
		if err != nil {
			t.Fatal(err)
		}
		return msg
	}
	for range 3 {
		if _, err := c.Do(ctx, core.NewBinary("text/plain", []byte("hi"))); err != nil {
			t.Fatal(err)
		}
	}
	for _, req := range []*core.Message{json("fail"), json("slow"), core.NewBinary("image/png", nil)} {
		ans, err := c.Do(ctx, req)
		if err != nil {
			t.Fatal(err)
		}
		if core.AnswerError(ans) == nil {
			t.Fatalf("%s answered %s, want an error answer", req, ans)
		}
	}
	m.NoRoute(1) // as config's dispatcher counts the request the Mux had no route for
	m.Reload(nil)
	m.Reload(errors.New("bad file"))

	if _, err := c.Do(ctx, core.NewBinary("text/plain", nil)); err != nil {
		t.Fatal(err)
	}
	got, err := scrape.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]float64{
		`router_requests_total{result="ok",route="upper"}`:     4,
		`router_requests_total{result="error",route="fail"}`:   1,
		`router_requests_total{result="timeout",route="slow"}`: 1,
		`router_requests_total{result="no_route",route=""}`:    1,
		`router_request_duration_seconds_count{route="upper"}`: 4,
		`router_request_duration_seconds_count{route="slow"}`:  1,
		`router_connections_open`:                              1,
		`router_connections_total`:                             1,
		`router_reloads_total{result="ok"}`:                    1,
		`router_reloads_total{result="error"}`:                 1,
		`router_plugin_restarts_total{plugin="upper"}`:         0,
		`router_plugin_state{plugin="upper",state="running"}`:  1,
		`router_plugin_state{plugin="upper",state="failed"}`:   0,
		`router_plugin_in_flight{plugin="upper"}`:              0,
		`router_plugin_waiting{plugin="upper"}`:                0,
		`router_input_buffered_bytes`:                          0,
		`router_input_budget_waits_total`:                      0,
		`router_invalid_frames_total`:                          0,
		`router_connections_rejected_total`:                    0,
	}
	for k, v := range want {
		if g, ok := got[k]; !ok || g != v {
			t.Errorf("%s = %v (present %v), want %v", k, g, ok, v)
		}
	}
	if got["router_received_bytes_total"] <= 0 || got["router_sent_bytes_total"] <= 0 {
		t.Errorf("bytes in %v, out %v: want both counted", got["router_received_bytes_total"], got["router_sent_bytes_total"])
	}
	if got[`router_request_duration_seconds_sum{route="slow"}`] < 0.05 {
		t.Errorf("the timed-out request's duration %vs is under the 50ms handler timeout", got[`router_request_duration_seconds_sum{route="slow"}`])
	}
	if got["go_goroutines"] <= 0 {
		t.Error("the Go runtime's collector is missing")
	}

	// Kill the plugin: the scrape shows it restarting, then running with
	// one restart.
	pid, err := callPID(ctx, proc)
	if err != nil {
		t.Fatal(err)
	}
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	waitFor(t, url, `router_plugin_state{plugin="upper",state="restarting"}`, 1)
	waitFor(t, url, `router_plugin_state{plugin="upper",state="running"}`, 1)
	waitFor(t, url, `router_plugin_restarts_total{plugin="upper"}`, 1)

	// A reload that replaces the process keeps the count.
	m.Plugin("upper", nil)
	waitFor(t, url, `router_plugin_restarts_total{plugin="upper"}`, 1)
}

func callPID(ctx context.Context, p *plugins.Process) (int, error) {
	h, err := p.Handler("pid")
	if err != nil {
		return 0, err
	}
	ans, err := h.Handle(ctx, core.NewBinary("text/plain", nil))
	if err != nil {
		return 0, err
	}
	return strconv.Atoi(string(ans.Content))
}

// waitFor scrapes url until sample has value want.
func waitFor(t *testing.T, url, sample string, want float64) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		got, err := scrape.Get(url)
		if err != nil {
			t.Fatal(err)
		}
		if got[sample] == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s = %v after 20s, want %v", sample, got[sample], want)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
