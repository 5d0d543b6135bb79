package core_test

import (
	"context"
	"fmt"
	"net"
	"os"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/msgrouter/router/core"
)

// openFDs returns the number of the process's open file descriptors.
func openFDs(t *testing.T) int {
	t.Helper()
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	return len(ents)
}

// TestServerReleasesFDs checks that a storm of connections leaves no file
// descriptors behind: 500 that send one request, read the answer and
// close, and 100 that connect and close without a request. Once the
// server counts no connections, the process must be back to the number
// of fds it had before, give or take a few the runtime may open (netpoll,
// timers).
func TestServerReleasesFDs(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("counts fds in /proc/self/fd")
	}
	const (
		withRequest    = 500
		withoutRequest = 100
		concurrency    = 50
		slack          = 5
	)
	s := &core.Server{}
	addr := startServer(t, s)

	// Warm up: the first connection may make the runtime open fds
	// (epoll, eventfd) that then stay open.
	warm := dialT(t, addr)
	if _, err := warm.Write(frame(t, jsonReq(t, "warm", "up"))); err != nil {
		t.Fatal(err)
	}
	if _, err := readAnswer(t, warm); err != nil {
		t.Fatal(err)
	}
	warm.Close()
	waitConnections(t, s)
	before := openFDs(t)

	req := frame(t, jsonReq(t, "fd", "x"))
	var wg sync.WaitGroup
	errs := make(chan error, withRequest+withoutRequest)
	sem := make(chan struct{}, concurrency)
	for i := range withRequest + withoutRequest {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			c, err := net.DialTimeout("tcp", addr, 10*time.Second)
			if err != nil {
				errs <- err
				return
			}
			defer c.Close()
			if i >= withRequest {
				return // connect and vanish
			}
			c.SetDeadline(time.Now().Add(10 * time.Second))
			if _, err := c.Write(req); err != nil {
				errs <- fmt.Errorf("conn %d: write: %w", i, err)
				return
			}
			m, err := (&frameReader{r: c}).next()
			if err != nil {
				errs <- fmt.Errorf("conn %d: read: %w", i, err)
				return
			}
			if err := core.AnswerError(m); err != nil {
				errs <- fmt.Errorf("conn %d: answer: %w", i, err)
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}

	waitConnections(t, s)
	deadline := time.Now().Add(10 * time.Second)
	after := openFDs(t)
	for after > before+slack && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
		after = openFDs(t)
	}
	if after > before+slack {
		t.Errorf("%d fds open after %d connections, %d before (slack %d)", after, withRequest+withoutRequest, before, slack)
	}
	t.Logf("fds: %d before, %d after", before, after)
}

// waitConnections waits until s counts no open connections.
func waitConnections(t *testing.T, s *core.Server) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	for s.Connections() != 0 {
		select {
		case <-ctx.Done():
			t.Fatalf("server still has %d connections", s.Connections())
		case <-time.After(10 * time.Millisecond):
		}
	}
}
