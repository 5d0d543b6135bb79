package natsbridge_test

import (
	"context"
	"fmt"
	"time"

	"github.com/msgrouter/router/core"
	"github.com/msgrouter/router/natsbridge"
	"github.com/msgrouter/router/plugins/search"
	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
)

// A worker serves the search handler on router.search; the router side
// sends a request there with a Handler. Both run against a NATS server
// embedded in the process.
func Example() {
	ns, err := server.NewServer(&server.Options{Host: "127.0.0.1", Port: -1, NoLog: true, NoSigs: true})
	if err != nil {
		panic(err)
	}
	go ns.Start()
	defer ns.Shutdown()
	if !ns.ReadyForConnections(5 * time.Second) {
		panic("NATS server not ready")
	}

	// The worker.
	wc, err := nats.Connect(ns.ClientURL())
	if err != nil {
		panic(err)
	}
	defer wc.Close()
	svc, err := natsbridge.Serve(wc, natsbridge.Config{
		MaxInFlight: 16,
		Endpoints:   []natsbridge.Endpoint{{Subject: "router.search", Handler: search.Default()}},
	})
	if err != nil {
		panic(err)
	}
	defer svc.Shutdown(context.Background())

	// The router side.
	rc, err := nats.Connect(ns.ClientURL())
	if err != nil {
		panic(err)
	}
	defer rc.Close()
	h := natsbridge.NewHandler(rc, "router.search")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	req, _ := core.NewJSON(core.Object{{Key: "action", Value: "search"}, {Key: "value", Value: "ring"}})
	ans, err := h.Handle(ctx, req)
	if err != nil {
		panic(err)
	}
	fmt.Printf("%s\n", ans.Content)

	_, err = natsbridge.NewHandler(rc, "router.nobody").Handle(ctx, req)
	fmt.Println(err)
	// Output:
	// {"result": "In the caves beneath the Misty Mountains. 💍"}
	// no workers for router.nobody
}
