//go:build unix

package main

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/msgrouter/router/core"
)

// pipeLoad sends echo requests through a router on many connections,
// depth at a time on each (pipelined: a batch of depth frames written
// together, then its depth answers read), each request carrying a value
// of its own, and checks each answer byte for byte against the echo
// built-in's answer to its request: so every request gets exactly one
// answer, in order, and none is wrong. Error answers are recorded, with
// when their request was sent; wrong, missing and extra answers fail the
// test.
//
// The load is bounded: it stops by itself after loadMaxTime, or after
// loadMaxBatches batches on a connection, if finish has not stopped it.
type pipeLoad struct {
	addr  string
	depth int
	stop  chan struct{}
	wg    sync.WaitGroup
	once  sync.Once

	answered atomic.Int64 // right answers

	mu       sync.Mutex
	errs     []errorAnswer
	failures []string // wrong, missing or extra answers, broken connections
}

// errorAnswer is an error answer the load received.
type errorAnswer struct {
	Sent, Got time.Time // when its request was written, when it was read
	Text      string
}

// Bounds of a pipeLoad.
const (
	loadMaxTime    = 40 * time.Second
	loadMaxBatches = 1 << 20
	// loadAnswerWait bounds how long a batch's answers may take: more
	// than the router's handler timeout, by which every request is
	// answered, an error answer at worst.
	loadAnswerWait = natsHandlerTimeout + 10*time.Second
)

// startPipeLoad starts the load on conns connections to addr.
func startPipeLoad(t *testing.T, addr string, conns, depth int) *pipeLoad {
	t.Helper()
	l := &pipeLoad{addr: addr, depth: depth, stop: make(chan struct{})}
	for i := range conns {
		nc, err := net.DialTimeout("tcp", addr, 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		l.wg.Go(func() {
			defer nc.Close()
			l.run(i, nc)
		})
	}
	timer := time.AfterFunc(loadMaxTime, l.halt)
	t.Cleanup(func() {
		timer.Stop()
		l.halt()
		l.wg.Wait()
	})
	return l
}

// halt stops the load; the batches in flight are finished.
func (l *pipeLoad) halt() { l.once.Do(func() { close(l.stop) }) }

// fail records a failure.
func (l *pipeLoad) fail(format string, args ...any) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.failures = append(l.failures, fmt.Sprintf(format, args...))
}

// run is connection id: batches until the load stops, then the end of
// the stream, where no answer may be left.
func (l *pipeLoad) run(id int, nc net.Conn) {
	sc := bufio.NewScanner(nc)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	sc.Split(core.ScanFrames)
	var batch []byte
	wants := make([][]byte, l.depth)
	for n := 0; n < loadMaxBatches; n++ {
		select {
		case <-l.stop:
			l.end(id, nc, sc)
			return
		default:
		}
		batch = batch[:0]
		for k := range l.depth {
			req, want := echoFrames(fmt.Sprintf("conn %d request %d", id, n*l.depth+k))
			batch, wants[k] = append(batch, req...), want
		}
		sent := time.Now()
		nc.SetDeadline(sent.Add(loadAnswerWait))
		if _, err := nc.Write(batch); err != nil {
			l.fail("connection %d: write: %v", id, err)
			return
		}
		for k, want := range wants {
			if !sc.Scan() {
				l.fail("connection %d: request %d of a batch unanswered after %v: %v", id, k, time.Since(sent), sc.Err())
				return
			}
			got := sc.Bytes()
			if bytes.Equal(got, want) {
				l.answered.Add(1)
				continue
			}
			if text := errorText(got); text != "" {
				l.mu.Lock()
				l.errs = append(l.errs, errorAnswer{Sent: sent, Got: time.Now(), Text: text})
				l.mu.Unlock()
				continue
			}
			l.fail("connection %d: wrong answer %q, want %q", id, got, want)
			return
		}
	}
}

// end half-closes a connection with nothing in flight and reads to the
// end of the stream: an answer there would be a second answer.
func (l *pipeLoad) end(id int, nc net.Conn, sc *bufio.Scanner) {
	if err := nc.(*net.TCPConn).CloseWrite(); err != nil {
		l.fail("connection %d: close write: %v", id, err)
		return
	}
	nc.SetDeadline(time.Now().Add(10 * time.Second))
	for sc.Scan() {
		l.fail("connection %d: an answer to no request: %q", id, sc.Bytes())
	}
	if err := sc.Err(); err != nil && !errors.Is(err, io.EOF) {
		l.fail("connection %d: end of stream: %v", id, err)
	}
}

// waitAnswers waits, 30s at most, for n more right answers.
func (l *pipeLoad) waitAnswers(t *testing.T, p *routerProc, n int64) {
	t.Helper()
	target := l.answered.Load() + n
	for deadline := time.Now().Add(30 * time.Second); l.answered.Load() < target; time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			l.mu.Lock()
			t.Fatalf("%d right answers after 30s, want %d; %d error answers, failures %q; router logs:\n%s",
				l.answered.Load(), target, len(l.errs), l.failures, p.logs)
		}
		select {
		case <-l.stop:
			t.Fatalf("the load stopped (after %v at most) before %d more answers", loadMaxTime, n)
		default:
		}
	}
}

// finish stops the load, waits for its connections to end, fails the
// test for every wrong, missing or extra answer, and returns the count of
// right answers and the error answers.
func (l *pipeLoad) finish(t *testing.T) (ok int64, errs []errorAnswer) {
	t.Helper()
	l.halt()
	l.wg.Wait()
	l.mu.Lock()
	defer l.mu.Unlock()
	for i, f := range l.failures {
		if i == 10 {
			t.Errorf("... and %d more failures", len(l.failures)-i)
			break
		}
		t.Error(f)
	}
	return l.answered.Load(), l.errs
}
