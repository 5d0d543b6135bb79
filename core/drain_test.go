package core_test

import (
	"context"
	"errors"
	"io"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/msgrouter/router/core"
)

// TestShutdownKeepAliveClient: a client pipelines requests, one every
// millisecond, and stops writing once it reads an answer saying that the
// server is shutting down. Shutdown begins meanwhile. Every request the
// client wrote gets its answer or that error answer, in order, with its
// request-id, and then the stream ends cleanly: none meets a bare end of
// stream or a reset.
func TestShutdownKeepAliveClient(t *testing.T) {
	s := &core.Server{}
	addr := startServer(t, s)
	c := dialT(t, addr)
	c.SetDeadline(time.Now().Add(30 * time.Second))

	var written atomic.Int64
	var stop atomic.Bool
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := range 20000 {
			if stop.Load() {
				return
			}
			req := jsonReq(t, "q", strconv.Itoa(i))
			req.SetHeader("request-id", strconv.Itoa(i))
			if _, err := c.Write(frame(t, req)); err != nil {
				t.Errorf("write %d: %v", i, err)
				return
			}
			written.Store(int64(i + 1))
			time.Sleep(time.Millisecond)
		}
	}()

	var shut chan error
	fr := &frameReader{r: c}
	answered, refused := 0, 0
	var end error
	for {
		m, err := fr.next()
		if err != nil {
			end = err
			break
		}
		id, _ := m.Header("request-id")
		if id != strconv.Itoa(answered) {
			t.Fatalf("answer %d has request-id %q", answered, id)
		}
		switch got := resultOf(t, m); got {
		case "q:" + id:
			if refused > 0 {
				t.Fatalf("answer %d served after a refusal", answered)
			}
		case "error: " + core.ErrShuttingDown.Error():
			if !m.WantsClose() {
				t.Errorf("answer %d refuses without connection: close", answered)
			}
			refused++
			stop.Store(true)
		default:
			t.Fatalf("answer %d: %q", answered, got)
		}
		answered++
		if answered == 20 {
			shut = make(chan error, 1)
			go func() {
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				defer cancel()
				shut <- s.Shutdown(ctx)
			}()
		}
	}
	stop.Store(true)
	wg.Wait()
	if !errors.Is(end, io.EOF) {
		t.Errorf("the stream ended with %v, want a clean end of stream", end)
	}
	if n := written.Load(); int64(answered) != n {
		t.Errorf("%d requests written, %d answered", n, answered)
	}
	if refused == 0 {
		t.Error("no request was refused; the test did not write during the shutdown")
	}
	if shut == nil {
		t.Fatal("Shutdown never began")
	}
	if err := <-shut; err != nil {
		t.Errorf("Shutdown: %v", err)
	}
	t.Logf("%d answered, %d of them refused", answered, refused)
}

// TestShutdownRefusesLateRequests: a client writes a pipeline of requests,
// Shutdown begins as it writes the second, and it writes two more within
// the next 40ms without reading. Every request gets its answer, or the
// shutting-down error answer for those read once the connection had
// answered what it held; then the stream ends cleanly.
func TestShutdownRefusesLateRequests(t *testing.T) {
	s := &core.Server{}
	addr := startServer(t, s)
	c := dialT(t, addr)
	c.SetDeadline(time.Now().Add(30 * time.Second))
	next := 0
	pipeline := func() {
		var b []byte
		for range 10 {
			req := jsonReq(t, "q", strconv.Itoa(next))
			req.SetHeader("request-id", strconv.Itoa(next))
			b = append(b, frame(t, req)...)
			next++
		}
		if _, err := c.Write(b); err != nil {
			t.Fatalf("write: %v", err)
		}
	}
	pipeline()
	fr := &frameReader{r: c}
	for i := range 10 {
		if m, err := fr.next(); err != nil || resultOf(t, m) != "q:"+strconv.Itoa(i) {
			t.Fatalf("answer %d before the shutdown: %v", i, err)
		}
	}
	shut := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		shut <- s.Shutdown(ctx)
	}()
	pipeline()
	for range 2 {
		time.Sleep(20 * time.Millisecond)
		pipeline()
	}
	served, refused := 10, 0
	for i := 10; ; i++ {
		m, err := fr.next()
		if err != nil {
			if !errors.Is(err, io.EOF) {
				t.Errorf("after %d answers: %v, want a clean end of stream", i, err)
			}
			if i != next {
				t.Errorf("%d requests written, %d answered", next, i)
			}
			break
		}
		if id, _ := m.Header("request-id"); id != strconv.Itoa(i) {
			t.Fatalf("answer %d has request-id %q", i, id)
		}
		switch got := resultOf(t, m); got {
		case "q:" + strconv.Itoa(i):
			if refused > 0 {
				t.Fatalf("answer %d served after a refusal", i)
			}
			served++
		case "error: " + core.ErrShuttingDown.Error():
			refused++
		default:
			t.Fatalf("answer %d: %q", i, got)
		}
	}
	if refused == 0 {
		t.Error("no request was refused")
	}
	if err := <-shut; err != nil {
		t.Errorf("Shutdown: %v", err)
	}
	t.Logf("%d served, %d refused", served, refused)
}
