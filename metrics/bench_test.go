package metrics_test

import (
	"context"
	"testing"

	"github.com/msgrouter/router/core"
	"github.com/msgrouter/router/metrics"
	"github.com/msgrouter/router/plugins/search"
)

// BenchmarkInstrument prices the metrics of one request: the search
// handler bare, then instrumented (two clock reads, a histogram
// observation and a counter), one request at a time and in batches of 16
// through a Mux, as the server dispatches a pipelined read.
func BenchmarkInstrument(b *testing.B) {
	req, err := core.NewJSON(core.Object{{Key: "action", Value: "search"}, {Key: "value", Value: "morpheus"}})
	if err != nil {
		b.Fatal(err)
	}
	bare := search.Default()
	m := metrics.New()
	for _, bc := range []struct {
		name string
		h    core.Handler
	}{
		{"bare", bare},
		{"instrumented", m.Instrument("search", bare)},
	} {
		b.Run(bc.name, func(b *testing.B) {
			ctx := context.Background()
			b.ReportAllocs()
			for b.Loop() {
				if _, err := bc.h.Handle(ctx, req); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(bc.name+"/batch16", func(b *testing.B) {
			mux, err := core.NewMux(core.Route{Handler: bc.h})
			if err != nil {
				b.Fatal(err)
			}
			reqs := make([]*core.Message, 16)
			for i := range reqs {
				reqs[i] = req
			}
			answers, errs := make([]*core.Message, 16), make([]error, 16)
			ctx := context.Background()
			b.ReportAllocs()
			for b.Loop() {
				mux.HandleBatch(ctx, reqs, answers, errs)
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(16*b.N), "ns/request")
		})
	}
}
