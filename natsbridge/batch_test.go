package natsbridge_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"

	"github.com/msgrouter/router/core"
	"github.com/msgrouter/router/natsbridge"
	"github.com/msgrouter/router/plugins/echo"
)

// sized answers a request whose content is a number N with N bytes.
var sized = core.HandlerFunc(func(_ context.Context, req *core.Message) (*core.Message, error) {
	var n int
	fmt.Sscan(string(req.Content), &n)
	return core.NewBinary("binary/x", bytes.Repeat([]byte("z"), n)), nil
})

// A batch whose answers do not fit one message comes back in several; an
// answer over the max payload alone is that request's ErrTooLarge, and
// the others are answered.
func TestBatchAnswersSplit(t *testing.T) {
	s := startServer(t, server.Options{MaxPayload: 1024})
	serve(t, connect(t, s), natsbridge.Config{Endpoints: []natsbridge.Endpoint{{Subject: "t.sized", Handler: sized}}})
	h := natsbridge.NewHandler(connect(t, s), "t.sized")
	t.Cleanup(func() { h.Close() })
	sizes := []int{300, 300, 300, 2000, 300, 10}
	reqs := make([]*core.Message, len(sizes))
	for i, n := range sizes {
		reqs[i] = core.NewBinary("binary/x", []byte(fmt.Sprint(n)))
	}
	answers, errs := make([]*core.Message, len(reqs)), make([]error, len(reqs))
	ctx, cancel := context.WithTimeout(context.Background(), deadline)
	defer cancel()
	h.HandleBatch(ctx, reqs, answers, errs)
	for i, n := range sizes {
		switch {
		case n > 1024:
			if !errors.Is(errs[i], natsbridge.ErrTooLarge) {
				t.Errorf("request %d (%d bytes): %v, want ErrTooLarge", i, n, errs[i])
			}
		case errs[i] != nil:
			t.Errorf("request %d: %v", i, errs[i])
		case len(answers[i].Content) != n:
			t.Errorf("request %d: %d bytes, want %d", i, len(answers[i].Content), n)
		}
	}
}

// A batch to a subject nobody serves: every request gets ErrNoWorkers at
// once.
func TestBatchNoWorkers(t *testing.T) {
	s := startServer(t, server.Options{})
	h := natsbridge.NewHandler(connect(t, s), "t.nobody")
	t.Cleanup(func() { h.Close() })
	reqs := []*core.Message{core.NewBinary("a/b", []byte("1")), core.NewBinary("a/b", []byte("2"))}
	answers, errs := make([]*core.Message, 2), make([]error, 2)
	ctx, cancel := context.WithTimeout(context.Background(), deadline)
	defer cancel()
	start := time.Now()
	h.HandleBatch(ctx, reqs, answers, errs)
	for i, err := range errs {
		if !errors.Is(err, natsbridge.ErrNoWorkers) {
			t.Errorf("request %d: %v, want ErrNoWorkers", i, err)
		}
	}
	if d := time.Since(start); d > deadline/2 {
		t.Errorf("no workers answered after %v, want at once", d)
	}
}

// Many callers, each waiting for its answer before it sends the next (a
// keep-alive client), through a small window: every request is answered,
// none waits for a deadline. Messages all answered while a caller
// encodes its queued request once left that request unsent.
func TestKeepAliveCallersThroughWindow(t *testing.T) {
	s := startServer(t, server.Options{})
	serve(t, connect(t, s), natsbridge.Config{Endpoints: []natsbridge.Endpoint{{Subject: "t.ka", Handler: echo.New()}}})
	h := natsbridge.NewHandler(connect(t, s), "t.ka")
	h.MaxOutstanding = 1
	t.Cleanup(func() { h.Close() })
	var wg sync.WaitGroup
	var mu sync.Mutex
	failed := 0
	for g := range 64 {
		wg.Go(func() {
			for i := range 100 {
				want := fmt.Sprint(g, "-", i)
				ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
				ans, err := h.Handle(ctx, core.NewBinary("binary/x", []byte(want)))
				cancel()
				if err != nil || string(ans.Content) != want {
					mu.Lock()
					if failed++; failed <= 3 {
						t.Errorf("caller %d request %d: %v", g, i, err)
					}
					mu.Unlock()
					return
				}
			}
		})
	}
	wg.Wait()
}
