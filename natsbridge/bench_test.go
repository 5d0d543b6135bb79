package natsbridge_test

import (
	"context"
	"testing"
	"time"

	"github.com/msgrouter/router/core"
	"github.com/msgrouter/router/natsbridge"
	"github.com/msgrouter/router/plugins/search"
	"github.com/nats-io/nats-server/v2/server"
)

// BenchmarkHandler measures a search request through a Handler, a NATS
// server embedded in the process and a Service: one at a time (Serial)
// and from GOMAXPROCS goroutines (Parallel).
func BenchmarkHandler(b *testing.B) {
	s, err := server.NewServer(&server.Options{Host: "127.0.0.1", Port: -1, NoLog: true, NoSigs: true})
	if err != nil {
		b.Fatal(err)
	}
	go s.Start()
	defer s.Shutdown()
	if !s.ReadyForConnections(5 * time.Second) {
		b.Fatal("NATS server not ready")
	}
	svc, err := natsbridge.Serve(connectB(b, s), natsbridge.Config{
		Endpoints: []natsbridge.Endpoint{{Subject: "b.search", Handler: search.Default()}}})
	if err != nil {
		b.Fatal(err)
	}
	defer svc.Shutdown(context.Background())
	h := natsbridge.NewHandler(connectB(b, s), "b.search")
	req, _ := core.NewJSON(core.Object{{Key: "action", Value: "search"}, {Key: "value", Value: "morpheus"}})
	b.Run("Serial", func(b *testing.B) {
		for b.Loop() {
			if _, err := h.Handle(context.Background(), req); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("Parallel", func(b *testing.B) {
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if _, err := h.Handle(context.Background(), req); err != nil {
					b.Error(err)
					return
				}
			}
		})
	})
}
