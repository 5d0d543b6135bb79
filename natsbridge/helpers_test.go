package natsbridge_test

import (
	"context"
	"fmt"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/msgrouter/router/core"
	"github.com/msgrouter/router/natsbridge"
	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
)

// startServer runs a NATS server in the test process on loopback. A zero
// opts.Port picks a free port.
func startServer(t *testing.T, opts server.Options) *server.Server {
	t.Helper()
	opts.Host = "127.0.0.1"
	if opts.Port == 0 {
		opts.Port = -1
	}
	opts.NoLog, opts.NoSigs = true, true
	s, err := server.NewServer(&opts)
	if err != nil {
		t.Fatal(err)
	}
	go s.Start()
	if !s.ReadyForConnections(5 * time.Second) {
		t.Fatal("NATS server not ready")
	}
	t.Cleanup(func() { s.Shutdown(); s.WaitForShutdown() })
	return s
}

// port returns the port s listens on for clients.
func port(s *server.Server) int { return s.Addr().(*net.TCPAddr).Port }

// connect connects to s; the connection is closed when the test ends.
func connect(t *testing.T, s *server.Server, opts ...nats.Option) *nats.Conn {
	t.Helper()
	nc, err := nats.Connect(s.ClientURL(), opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	return nc
}

// serve starts a Service on nc; it is shut down when the test ends.
func serve(t *testing.T, nc *nats.Conn, cfg natsbridge.Config) *natsbridge.Service {
	t.Helper()
	svc, err := natsbridge.Serve(nc, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := svc.Shutdown(ctx); err != nil {
			t.Errorf("Shutdown: %v", err)
		}
	})
	return svc
}

// call sends req through h with a timeout and returns the answer, the
// error and how long it took.
func call(h core.Handler, req *core.Message, timeout time.Duration) (*core.Message, error, time.Duration) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	start := time.Now()
	ans, err := h.Handle(ctx, req)
	return ans, err, time.Since(start)
}

// echoConcurrently sends n requests at once, request i through h(i) with
// its number as content, and reports each that fails or is not echoed.
func echoConcurrently(t *testing.T, n int, h func(i int) core.Handler) {
	t.Helper()
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range n {
		wg.Go(func() {
			want := fmt.Sprint(i)
			ans, err, _ := call(h(i), core.NewBinary("binary/x", []byte(want)), deadline)
			if err == nil && string(ans.Content) != want {
				err = fmt.Errorf("answer %q, want %q", ans.Content, want)
			}
			errs[i] = err
		})
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("request %d: %v", i, err)
		}
	}
}

// waitFor polls cond every 5 ms until it holds or 10 s pass.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// marshal returns m's wire form.
func marshal(t *testing.T, m *core.Message) []byte {
	t.Helper()
	b, err := core.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// connectB connects a benchmark to s; the connection is closed when it
// ends.
func connectB(b *testing.B, s *server.Server) *nats.Conn {
	b.Helper()
	nc, err := nats.Connect(s.ClientURL())
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(nc.Close)
	return nc
}
