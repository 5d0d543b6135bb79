package natsbridge_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/nats-io/nats-server/v2/server"

	"github.com/msgrouter/router/core"
	"github.com/msgrouter/router/internal/lendtest"
	"github.com/msgrouter/router/natsbridge"
)

// TestWorkerReleasesLentAnswers: a worker hands lent answers back once
// it has published them, each once, one request at a time and in
// batches.
func TestWorkerReleasesLentAnswers(t *testing.T) {
	for _, batches := range []bool{false, true} {
		t.Run(fmt.Sprintf("batches=%t", batches), func(t *testing.T) {
			s := startServer(t, server.Options{})
			l := &lendtest.Lender{}
			var h core.Handler = l
			if batches {
				h = lendtest.Batch{Lender: l}
			}
			serve(t, connect(t, s), natsbridge.Config{Endpoints: []natsbridge.Endpoint{{Subject: "t.lend", Handler: h}}})
			client := natsbridge.NewHandler(connect(t, s), "t.lend")
			t.Cleanup(func() { client.Close() })
			const n = 8
			reqs := make([]*core.Message, n)
			for i := range reqs {
				reqs[i] = core.NewBinary("binary/x", fmt.Appendf(nil, "req%d", i))
			}
			answers, errs := make([]*core.Message, n), make([]error, n)
			ctx, cancel := context.WithTimeout(context.Background(), deadline)
			defer cancel()
			if batches {
				client.HandleBatch(ctx, reqs, answers, errs)
			} else {
				for i, req := range reqs {
					answers[i], errs[i] = client.Handle(ctx, req)
				}
			}
			for i := range reqs {
				if errs[i] != nil || string(answers[i].Content) != fmt.Sprintf("req%d", i) {
					t.Errorf("request %d: %v, %v", i, answers[i], errs[i])
				}
			}
			l.Check(t, n)
		})
	}
}
