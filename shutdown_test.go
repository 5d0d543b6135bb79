package router_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/msgrouter/router"
	"github.com/msgrouter/router/config"
	"github.com/msgrouter/router/core"
	"github.com/msgrouter/router/internal/configtest"
)

// loadConn is one client connection of a zeroLossLoad: it writes batches
// of requests, each tagged with its own number, and reads their answers
// in order, checking each is its request's.
type loadConn struct {
	name  string
	depth int

	// owed counts the requests whose bytes were written before the
	// shutdown began: each must get its answer. late counts those written
	// after; lateAnswered how many of those were answered anyway, and
	// lateRefused how many were refused with the shutdown's error answer.
	owed, answered, late, lateAnswered, lateRefused int64
	// lost: owed requests without an answer; wrong: answers that were not
	// their request's (a repeat, another's, out of order); errAnswers:
	// {"error": ...} answers.
	lost, wrong, errAnswers int64
	samples                 []string
}

func (c *loadConn) sample(format string, args ...any) {
	if len(c.samples) < 3 {
		c.samples = append(c.samples, fmt.Sprintf(format, args...))
	}
}

// zeroLossLoad is a load of pipelined and kept-alive connections that
// counts, per connection, the requests written and answered, relative to
// the moment begun is set.
type zeroLossLoad struct {
	begun    atomic.Bool // set just before Shutdown is called
	stop     atomic.Bool // the clients stop after their batch
	answered atomic.Int64
	conns    []*loadConn
	wg       sync.WaitGroup
	// Dialers open a new connection per request; refused counts those
	// that could not connect (the listener had closed) or whose request
	// was refused as the drain began, unaccepted those
	// whose request went unanswered on a connection the router never
	// answered anything on (it may not have accepted it).
	// dialWrong counts wrong answers.
	dialed, dialAnswered, refused, unaccepted, dialWrong atomic.Int64
}

// request returns the encoded request number seq of connection name: an
// echo, or every fourth one a "slow" request that waits 20ms in its
// plugin, so that requests are in flight in the plugin processes.
func request(name string, seq int) ([]byte, string) {
	tag := name + "-" + strconv.Itoa(seq)
	var m *core.Message
	want := ""
	if seq%4 == 0 {
		m = action("slow", 20)
		slow, err := core.NewJSON(core.Object{{Key: "result", Value: "slow"}})
		if err != nil {
			panic(err)
		}
		want = string(slow.Content)
	} else {
		m = action("echo", tag)
	}
	b, err := core.Marshal(m)
	if err != nil {
		panic(err)
	}
	if want == "" {
		want = string(m.Content)
	}
	return b, want
}

// run drives c over nc until the connection ends or the load stops.
func (l *zeroLossLoad) run(c *loadConn, nc net.Conn) {
	defer l.wg.Done()
	defer nc.Close()
	var dec core.Decoder
	buf := make([]byte, 64<<10)
	seq := 0
	for !l.stop.Load() {
		var batch []byte
		wants := make([]string, c.depth)
		for i := range c.depth {
			seq++
			b, want := request(c.name, seq)
			batch = append(batch, b...)
			wants[i] = want
		}
		_, err := nc.Write(batch)
		owed := !l.begun.Load() // the write returned before the shutdown began
		if err != nil {
			if owed {
				// Cannot happen before the shutdown: say so.
				c.lost += int64(c.depth)
				c.sample("write before the shutdown failed: %v", err)
			}
			return
		}
		if owed {
			c.owed += int64(c.depth)
		} else {
			c.late += int64(c.depth)
		}
		got := 0
		for got < c.depth {
			nc.SetReadDeadline(time.Now().Add(30 * time.Second)) // a bound, not a check
			n, rerr := nc.Read(buf)
			p := buf[:n]
			for len(p) > 0 && got < c.depth {
				k, m, derr := dec.Decode(p)
				p = p[k:]
				if derr != nil {
					c.wrong++
					c.sample("invalid answer: %v", derr)
					rerr = derr
					break
				}
				if m == nil {
					break
				}
				if owed {
					c.answered++
				} else {
					c.lateAnswered++
				}
				l.answered.Add(1)
				if aerr := core.AnswerError(m); aerr != nil {
					// A request written after the shutdown began may be
					// refused with the shutdown's error answer; any other
					// error answer is a failure.
					if owed || !isShutdownRefusal(m) {
						c.errAnswers++
						c.sample("error answer: %v", aerr)
					} else {
						c.lateRefused++
					}
				} else if string(m.Content) != wants[got] {
					c.wrong++
					c.sample("answer %q, want %q", m.Content, wants[got])
				}
				got++
			}
			if len(p) > 0 {
				c.wrong++ // more answers than requests
				c.sample("%d bytes past the batch's last answer", len(p))
			}
			if rerr != nil && got < c.depth {
				if owed {
					c.lost += int64(c.depth - got)
					c.sample("%d owed answers missing: %v", c.depth-got, rerr)
				}
				return
			}
		}
	}
}

// isShutdownRefusal reports whether m is the error answer of a server
// that refuses requests because it is shutting down.
func isShutdownRefusal(m *core.Message) bool {
	aerr := core.AnswerError(m)
	return aerr != nil && strings.Contains(aerr.Error(), core.ErrShuttingDown.Error())
}

// dialer opens a connection per request until the load stops or the
// listener has closed.
func (l *zeroLossLoad) dialer(addr string) {
	defer l.wg.Done()
	req, want := request("dialer", 1)
	for !l.stop.Load() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		c, err := core.Dial(ctx, addr)
		if err != nil {
			cancel()
			if l.begun.Load() {
				l.refused.Add(1)
				return
			}
			continue
		}
		l.dialed.Add(1)
		m, err := core.Unmarshal(req)
		if err != nil {
			panic(err)
		}
		ans, err := c.Do(ctx, m)
		cancel()
		c.Close()
		switch {
		case err == nil && string(ans.Content) == want:
			l.dialAnswered.Add(1)
		case err == nil && l.begun.Load() && isShutdownRefusal(ans):
			// Sent once the drain began: refused, as it may be.
			l.refused.Add(1)
			return
		case err == nil:
			l.dialWrong.Add(1)
		default:
			l.unaccepted.Add(1)
			if l.begun.Load() {
				return
			}
		}
	}
}

// start opens the connections (each answered once before the load
// counts) and starts them.
func (l *zeroLossLoad) start(t *testing.T, tcp, unix string) {
	t.Helper()
	open := func(name, addr string, depth int) {
		network, address, err := core.ParseAddr(addr)
		if err != nil {
			t.Fatal(err)
		}
		nc, err := net.Dial(network, address)
		if err != nil {
			t.Fatal(err)
		}
		c := &loadConn{name: name, depth: depth}
		l.conns = append(l.conns, c)
		l.wg.Add(1)
		go l.run(c, nc)
	}
	for i := range 6 {
		open("pipelined-tcp-"+strconv.Itoa(i), tcp, 8)
	}
	for i := range 4 {
		open("kept-alive-tcp-"+strconv.Itoa(i), tcp, 1)
	}
	open("pipelined-unix", unix, 8)
	open("kept-alive-unix", unix, 1)
	l.wg.Add(1)
	go l.dialer(tcp)
}

// waitAnswered waits until n more answers have come, or the clients have
// all stopped.
func (l *zeroLossLoad) waitAnswered(t *testing.T, n int64) {
	t.Helper()
	target := l.answered.Load() + n
	deadline := time.Now().Add(60 * time.Second) // a bound, not a check
	for l.answered.Load() < target {
		if time.Now().After(deadline) {
			t.Fatalf("the load got %d answers in 60s, want %d", l.answered.Load(), target)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// check reports every connection that lost a request it was owed, or got
// a wrong or error answer.
func (l *zeroLossLoad) check(t *testing.T) {
	t.Helper()
	var owed, answered, late, lateAnswered, lateRefused int64
	for _, c := range l.conns {
		owed += c.owed
		answered += c.answered
		late += c.late
		lateAnswered += c.lateAnswered
		lateRefused += c.lateRefused
		if c.lost > 0 || c.wrong > 0 || c.answered != c.owed || c.errAnswers > 0 {
			t.Errorf("%s: %d written before the shutdown, %d answered, %d lost, %d wrong, %d error answers: %q",
				c.name, c.owed, c.answered, c.lost, c.wrong, c.errAnswers, c.samples)
		}
	}
	t.Logf("%d connections: %d requests written before the shutdown, %d answered; %d written after, %d of them answered (%d refused: shutting down)",
		len(l.conns), owed, answered, late, lateAnswered, lateRefused)
	t.Logf("one request per connection: %d connections, %d answered, %d refused after the listener closed or the drain began, %d unanswered (the router may not have accepted them)",
		l.dialed.Load(), l.dialAnswered.Load(), l.refused.Load(), l.unaccepted.Load())
	if owed == 0 {
		t.Error("no request was written before the shutdown")
	}
	if n := l.dialWrong.Load(); n > 0 {
		t.Errorf("%d wrong answers on one-request connections", n)
	}
}

// zeroLossConfig is a router with two plugin processes: "slow", and
// "echo" for everything else; tag is each one's settings.
func zeroLossConfig(t *testing.T, dir, tag string) *config.Config {
	return configtest.MustLoad(t, "r.yaml", `
listen: ["127.0.0.1:0", "unix://`+dir+`/r.sock"]
plugins:
  slow: `+procPlugin(t, "slow", "{tag: "+tag+"}")+`
  echo: `+procPlugin(t, "echo", "{tag: "+tag+"}")+`
routes:
  - {action: slow, plugin: slow}
  - {plugin: echo}
timeouts: {shutdown: 30s}
`)
}

// A shutdown that begins under load answers every request written before
// it began, exactly once, on pipelined and kept-alive connections over
// TCP and Unix sockets, while the plugin processes have requests in
// flight; then the connections are closed.
func TestShutdownUnderLoadLosesNothing(t *testing.T) {
	dir := t.TempDir()
	r, err := router.Start(context.Background(), zeroLossConfig(t, dir, "v1"), router.StartOptions{Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- r.Serve() }()
	var l zeroLossLoad
	l.start(t, addr(r, 0), addr(r, 1))
	l.waitAnswered(t, 2000)

	l.begun.Store(true)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if err := r.Shutdown(ctx); err != nil {
		t.Errorf("Shutdown: %v", err)
	}
	if err := <-served; !errors.Is(err, core.ErrServerClosed) {
		t.Errorf("Serve = %v", err)
	}
	// Shutdown has closed every connection: each client ends.
	l.wg.Wait()
	l.check(t)
}

// A reload that replaces both plugin processes under load answers every
// request, each exactly once, and none with an error.
func TestReloadReplacingPluginsLosesNothing(t *testing.T) {
	dir := t.TempDir()
	r := start(t, zeroLossConfig(t, dir, "v1"), router.StartOptions{Logger: testLogger(t)})
	var l zeroLossLoad
	l.start(t, addr(r, 0), addr(r, 1))
	l.waitAnswered(t, 2000)
	for _, tag := range []string{"v2", "v3"} {
		if err := r.Reload(context.Background(), zeroLossConfig(t, dir, tag)); err != nil {
			t.Fatalf("Reload %s: %v", tag, err)
		}
		l.waitAnswered(t, 2000)
	}
	l.stop.Store(true)
	l.wg.Wait()
	l.check(t)
}
