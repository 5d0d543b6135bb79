package metrics_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net/http/httptest"
	"strings"

	"github.com/msgrouter/router/core"
	"github.com/msgrouter/router/metrics"
)

// Instrumenting the routes of a table built in code, and what a scrape
// then shows. A program serves m.Handler() on an HTTP listener of its own.
func ExampleMetrics_Instrument() {
	m := metrics.New()
	ok := core.HandlerFunc(func(context.Context, *core.Message) (*core.Message, error) {
		return core.NewBinary("text/plain", []byte("ok")), nil
	})
	failing := core.HandlerFunc(func(context.Context, *core.Message) (*core.Message, error) {
		return nil, errors.New("no")
	})
	mux, _ := core.NewMux(
		core.Route{Action: "fail", Handler: m.Instrument("fail", failing)},
		core.Route{Handler: m.Instrument("default", ok)},
	)
	srv := &core.Server{Handler: mux}
	m.Server(srv) // connections and bytes

	ctx := context.Background()
	fail, _ := core.NewJSON(core.Object{{Key: "action", Value: "fail"}})
	for _, req := range []*core.Message{core.NewBinary("x/y", nil), core.NewBinary("x/y", nil), fail} {
		mux.Handle(ctx, req)
	}

	rec := httptest.NewRecorder()
	m.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	sc := bufio.NewScanner(rec.Body)
	for sc.Scan() {
		if line := sc.Text(); strings.HasPrefix(line, "router_requests_total") && !strings.HasSuffix(line, " 0") {
			fmt.Println(line)
		}
	}
	// Output:
	// router_requests_total{result="error",route="fail"} 1
	// router_requests_total{result="ok",route="default"} 2
}
