package natsbridge_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/micro"

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

// batchCounter is a BatchHandler that echoes, and records the batch sizes
// it is given and the most requests it held at once.
type batchCounter struct {
	mu         sync.Mutex
	cur, peak  int
	batchSizes []int
}

func (b *batchCounter) hold(n int) {
	b.mu.Lock()
	b.cur += n
	b.peak = max(b.peak, b.cur)
	b.batchSizes = append(b.batchSizes, n)
	b.mu.Unlock()
	time.Sleep(20 * time.Millisecond)
	b.mu.Lock()
	b.cur -= n
	b.mu.Unlock()
}

func (b *batchCounter) Handle(_ context.Context, req *core.Message) (*core.Message, error) {
	b.hold(1)
	return core.NewBinary("binary/x", req.Content), nil
}

func (b *batchCounter) HandleBatch(_ context.Context, reqs, answers []*core.Message, errs []error) {
	b.hold(len(reqs))
	for i, r := range reqs {
		answers[i] = core.NewBinary("binary/x", r.Content)
	}
}

// The requests of a batch reach a BatchHandler in batches of at most half
// of MaxInFlight, and never more than MaxInFlight at once.
func TestBatchToBatchHandler(t *testing.T) {
	s := startServer(t, server.Options{})
	bc := &batchCounter{}
	serve(t, connect(t, s), natsbridge.Config{MaxInFlight: 4, Endpoints: []natsbridge.Endpoint{{Subject: "t.bc", Handler: bc}}})
	h := natsbridge.NewHandler(connect(t, s), "t.bc")
	t.Cleanup(func() { h.Close() })
	var wg sync.WaitGroup
	for range 3 {
		wg.Go(func() {
			reqs := make([]*core.Message, 8)
			for i := range reqs {
				reqs[i] = core.NewBinary("binary/x", []byte(fmt.Sprint(i)))
			}
			answers, errs := make([]*core.Message, 8), make([]error, 8)
			ctx, cancel := context.WithTimeout(context.Background(), deadline)
			defer cancel()
			h.HandleBatch(ctx, reqs, answers, errs)
			for i := range reqs {
				if errs[i] != nil || string(answers[i].Content) != fmt.Sprint(i) {
					t.Errorf("request %d: %v, %v", i, answers[i], errs[i])
				}
			}
		})
	}
	wg.Wait()
	bc.mu.Lock()
	defer bc.mu.Unlock()
	if bc.peak > 4 {
		t.Errorf("peak %d requests at once, want at most 4 (MaxInFlight)", bc.peak)
	}
	for _, n := range bc.batchSizes {
		if n != 2 {
			t.Errorf("batch sizes %v, want batches of 2 (half of MaxInFlight)", bc.batchSizes)
			break
		}
	}
}

// A worker answers a malformed batch, from a peer that is not a router,
// with a 400 error answer: a bad Router-Batch, or frames that do not add
// up to it.
func TestBatchMalformed(t *testing.T) {
	s := startServer(t, server.Options{})
	serve(t, connect(t, s), natsbridge.Config{Endpoints: []natsbridge.Endpoint{{Subject: "t.bad", Handler: echo.New()}}})
	nc := connect(t, s)
	frame, _ := core.Marshal(core.NewBinary("a/b", []byte("x")))
	for _, tc := range []struct {
		name, count string
		data        []byte
	}{
		{"count not a number", "two", frame},
		{"count over the limit", "100000", frame},
		{"fewer frames than the count", "2", frame},
		{"bytes after the frames", "1", append(bytes.Clone(frame), 0)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			msg := &nats.Msg{Subject: "t.bad", Data: tc.data, Header: nats.Header{natsbridge.HeaderBatch: []string{tc.count}}}
			resp, err := nc.RequestMsg(msg, deadline)
			if err != nil {
				t.Fatal(err)
			}
			if code := resp.Header.Get(micro.ErrorCodeHeader); code != "400" || !bytes.Contains(resp.Data, []byte("malformed message")) {
				t.Errorf("answer %q, code %q; want a 400 error answer", resp.Data, code)
			}
		})
	}
}

// Closing a Handler's Client answers its requests outstanding at once,
// with ErrDisconnected.
func TestClientCloseAnswersOutstanding(t *testing.T) {
	s := startServer(t, server.Options{})
	release := make(chan struct{})
	hang := core.HandlerFunc(func(context.Context, *core.Message) (*core.Message, error) {
		<-release
		return core.NewBinary("a/b", nil), nil
	})
	serve(t, connect(t, s), natsbridge.Config{Endpoints: []natsbridge.Endpoint{{Subject: "t.hang", Handler: hang}}})
	defer close(release)
	h := natsbridge.NewHandler(connect(t, s), "t.hang")
	got := make(chan error, 1)
	go func() { _, err, _ := call(h, core.NewBinary("a/b", []byte("x")), deadline); got <- err }()
	time.Sleep(100 * time.Millisecond) // the request is out
	h.Close()
	select {
	case err := <-got:
		if !errors.Is(err, natsbridge.ErrDisconnected) {
			t.Errorf("after Close: %v, want ErrDisconnected", err)
		}
	case <-time.After(deadline / 2):
		t.Fatal("no answer after Close")
	}
}

// An answer that does not match the request it answers (a peer on the
// subject that is not a worker: a batch answer for a single request) is
// that request's error, at once.
func TestAnswerOutOfRange(t *testing.T) {
	s := startServer(t, server.Options{})
	liar := connect(t, s)
	if _, err := liar.Subscribe("t.liar", func(m *nats.Msg) {
		m.RespondMsg(&nats.Msg{Header: nats.Header{natsbridge.HeaderBatch: []string{"5"}, natsbridge.HeaderBatchIndex: []string{"3"}}})
	}); err != nil {
		t.Fatal(err)
	}
	liar.Flush()
	h := natsbridge.NewHandler(connect(t, s), "t.liar")
	t.Cleanup(func() { h.Close() })
	_, err, took := call(h, core.NewBinary("a/b", []byte("x")), deadline)
	if err == nil || !strings.Contains(err.Error(), "batch answer out of range") {
		t.Errorf("answer of the wrong shape: %v", err)
	}
	if took > deadline/2 {
		t.Errorf("answered after %v, want at once", took)
	}
}
