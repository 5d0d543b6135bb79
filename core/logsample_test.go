package core_test

import (
	"errors"
	"fmt"
	"io"
	"net"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/msgrouter/router/core"
	"github.com/msgrouter/router/internal/syncbuf"
)

// floodEvents is how many client-caused events each log flood test
// causes.
const floodEvents = 10000

// sampledServer starts s with a logger into a buffer, at Info.
func sampledServer(t *testing.T, s *core.Server) (addr string, logs *syncbuf.Buffer) {
	t.Helper()
	logs = new(syncbuf.Buffer)
	s.Logger = hclog.New(&hclog.LoggerOptions{Output: logs, Level: hclog.Info})
	return startServer(t, s), logs
}

// floodConns runs one(c) on n fresh connections to addr, a few at a time.
func floodConns(t *testing.T, addr string, n int, one func(net.Conn) error) {
	t.Helper()
	const workers = 16
	next := make(chan int)
	var wg sync.WaitGroup
	var mu sync.Mutex
	var first error
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range next {
				err := dialOnce(addr, one)
				if err != nil {
					mu.Lock()
					first = cmpOr(first, err)
					mu.Unlock()
				}
			}
		}()
	}
	for i := range n {
		next <- i
	}
	close(next)
	wg.Wait()
	if first != nil {
		t.Fatal(first)
	}
}

func cmpOr(a, b error) error {
	if a != nil {
		return a
	}
	return b
}

func dialOnce(addr string, one func(net.Conn) error) error {
	c, err := net.Dial("tcp", addr)
	if err != nil {
		return err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(hostileWait))
	return one(c)
}

// expectErrorAnswer reads one error answer from c, then end of stream.
func expectErrorAnswer(c net.Conn, want string) error {
	fr := &frameReader{r: c}
	m, err := fr.next()
	if err != nil {
		return fmt.Errorf("reading the error answer: %w", err)
	}
	if err := core.AnswerError(m); err == nil || !strings.Contains(err.Error(), want) {
		return fmt.Errorf("answer %q, want an error containing %q", m.Content, want)
	}
	if _, err := io.Copy(io.Discard, c); err != nil && !errors.Is(err, net.ErrClosed) && !isReset(err) {
		return fmt.Errorf("after the error answer: %w", err)
	}
	return nil
}

func isReset(err error) bool {
	return strings.Contains(err.Error(), "connection reset")
}

var suppressedRe = regexp.MustCompile(`suppressed=(\d+)`)

// checkSampled checks that the lines of logs holding msg are few, and
// that with the suppressed counts they make total: every event logged
// or counted. It runs after the server's Close, which writes the counts
// still pending ("log lines suppressed", not an event itself).
func checkSampled(t *testing.T, logs *syncbuf.Buffer, msg string, total int, took time.Duration) {
	t.Helper()
	lines, counted := 0, 0
	for _, line := range strings.Split(logs.String(), "\n") {
		if !strings.Contains(line, msg) {
			continue
		}
		if !strings.Contains(line, "log lines suppressed") {
			lines++
		}
		if m := suppressedRe.FindStringSubmatch(line); m != nil {
			n, _ := strconv.Atoi(m[1])
			counted += n
		}
	}
	// The first line, then one a second at most.
	if most := int(took/time.Second) + 1; lines > most {
		t.Errorf("%d lines %q in %s, want at most %d", lines, msg, took.Round(time.Millisecond), most)
	}
	if lines+counted != total {
		t.Errorf("%d lines %q + %d suppressed = %d, want %d", lines, msg, counted, lines+counted, total)
	}
	t.Logf("%d events in %s: %d lines %q, %d suppressed", total, took.Round(time.Millisecond), lines, msg, counted)
}

// TestLogSampledInvalidFrames floods the server with connections that
// each send a bad frame: the log gets a few lines, which count them all.
func TestLogSampledInvalidFrames(t *testing.T) {
	s := &core.Server{}
	addr, logs := sampledServer(t, s)
	start := time.Now()
	floodConns(t, addr, floodEvents, func(c net.Conn) error {
		if _, err := c.Write([]byte{0, 0}); err != nil {
			return err
		}
		return expectErrorAnswer(c, "header length is 0")
	})
	waitConns(t, s, 0)
	took := time.Since(start)
	s.Close()
	if got := s.Stats().InvalidFrames; got != floodEvents {
		t.Fatalf("%d invalid frames counted, want %d", got, floodEvents)
	}
	checkSampled(t, logs, "invalid frame; closing connection", floodEvents, took)
}

// TestLogSampledConnectionLimit floods the server with connections over
// its limit.
func TestLogSampledConnectionLimit(t *testing.T) {
	s := &core.Server{MaxConnections: 1}
	addr, logs := sampledServer(t, s)
	held := dialT(t, addr)
	checkServed(t, held, "held")
	start := time.Now()
	floodConns(t, addr, floodEvents, func(c net.Conn) error {
		return expectErrorAnswer(c, "too many connections")
	})
	took := time.Since(start)
	s.Close()
	if got := s.Stats().ConnectionsRejected; got != floodEvents {
		t.Fatalf("%d connections rejected, want %d", got, floodEvents)
	}
	checkSampled(t, logs, "connection refused: limit reached", floodEvents, took)
}

// TestLogSampledPanics sends requests that make the handler panic: each
// gets its error answer, and the log gets a few stack traces, which count
// them all.
func TestLogSampledPanics(t *testing.T) {
	s := &core.Server{}
	addr, logs := sampledServer(t, s)
	c := dialT(t, addr)
	req := frame(t, jsonReq(t, "panic", ""))
	start := time.Now()
	errs := make(chan error, 1)
	go func() {
		w := make([]byte, 0, 100*len(req))
		for range 100 {
			w = append(w, req...)
		}
		for range floodEvents / 100 {
			if _, err := c.Write(w); err != nil {
				errs <- err
				return
			}
		}
		errs <- nil
	}()
	c.SetReadDeadline(time.Now().Add(2 * hostileWait))
	fr := &frameReader{r: c}
	for i := range floodEvents {
		m, err := fr.next()
		if err != nil {
			t.Fatalf("answer %d: %v", i, err)
		}
		if got := resultOf(t, m); got != "error: core: handler panicked: told to panic" {
			t.Fatalf("answer %d: %q", i, got)
		}
	}
	if err := <-errs; err != nil {
		t.Fatal(err)
	}
	took := time.Since(start)
	s.Close()
	checkSampled(t, logs, "handler panicked", floodEvents, took)
	if n := strings.Count(logs.String(), " [running]:"); n > int(took/time.Second)+1 {
		t.Errorf("%d stack traces", n)
	}
}
