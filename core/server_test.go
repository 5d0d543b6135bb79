package core_test

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/msgrouter/router/core"
)

// upper answers binary requests with their content upper-cased, and
// text/json requests by action: "sleep" waits for the duration in "value"
// (honouring ctx), "fail" returns an error, "panic" panics, "hang" ignores
// nothing but ctx.
var testHandler = core.HandlerFunc(func(ctx context.Context, req *core.Message) (*core.Message, error) {
	if !req.IsJSON() {
		return core.NewBinary("binary/upper", bytes.ToUpper(req.Content)), nil
	}
	action, err := req.Action()
	if err != nil {
		return nil, err
	}
	value, _, _ := req.Field("value")
	switch action {
	case "sleep":
		d, err := time.ParseDuration(strings.Trim(string(value), `"`))
		if err != nil {
			return nil, err
		}
		select {
		case <-time.After(d):
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	case "fail":
		return nil, errors.New("told to fail")
	case "panic":
		panic("told to panic")
	case "hang":
		<-ctx.Done()
		return nil, ctx.Err()
	case "nil":
		return nil, nil
	}
	return core.NewJSON(core.Object{{Key: "result", Value: action + ":" + strings.Trim(string(value), `"`)}})
})

func jsonReq(t testing.TB, action, value string) *core.Message {
	t.Helper()
	m, err := core.NewJSON(core.Object{{Key: "action", Value: action}, {Key: "value", Value: value}})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func frame(t testing.TB, m *core.Message) []byte {
	t.Helper()
	b, err := core.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// startServer serves testHandler on a fresh loopback port and returns the
// address; the server is closed when the test ends.
func startServer(t *testing.T, s *core.Server) string {
	t.Helper()
	if s.Handler == nil {
		s.Handler = testHandler
	}
	l, err := core.Listen(context.Background(), "tcp://127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- s.Serve(l) }()
	t.Cleanup(func() {
		s.Close()
		if err := <-served; !errors.Is(err, core.ErrServerClosed) {
			t.Errorf("Serve returned %v, want ErrServerClosed", err)
		}
	})
	return l.Addr().String()
}

// readAnswer reads one frame from r, which must carry nothing after it.
func readAnswer(t testing.TB, r io.Reader) (*core.Message, error) {
	t.Helper()
	fr := &frameReader{r: r}
	m, err := fr.next()
	if err == nil && len(fr.pending) > 0 {
		t.Errorf("readAnswer: %d unexpected extra bytes", len(fr.pending))
	}
	return m, err
}

// frameReader reads successive frames from a stream.
type frameReader struct {
	r       io.Reader
	d       core.Decoder
	buf     [4096]byte
	pending []byte
}

func (fr *frameReader) next() (*core.Message, error) {
	for {
		for len(fr.pending) > 0 {
			n, m, err := fr.d.Decode(fr.pending)
			fr.pending = fr.pending[n:]
			if err != nil {
				return nil, err
			}
			if m != nil {
				return m.Clone(), nil
			}
		}
		n, err := fr.r.Read(fr.buf[:])
		fr.pending = fr.buf[:n]
		if n == 0 && err != nil {
			return nil, err
		}
	}
}

func resultOf(t testing.TB, m *core.Message) string {
	t.Helper()
	if err := core.AnswerError(m); err != nil {
		return "error: " + err.(*core.RemoteError).Text
	}
	raw, ok, err := m.Field("result")
	if err != nil || !ok {
		return fmt.Sprintf("unexpected answer %s %q", m, m.Content)
	}
	return strings.Trim(string(raw), `"`)
}

func dialT(t *testing.T, addr string) net.Conn {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// expectClosed checks the server closes c: a read returns EOF (or a reset)
// within a generous bound.
func expectClosed(t *testing.T, c net.Conn) {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	n, err := io.Copy(io.Discard, c)
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		t.Fatalf("connection still open after %d more bytes", n)
	}
}

func TestServerOneShotAndKeepAlive(t *testing.T) {
	addr := startServer(t, &core.Server{})
	c := dialT(t, addr)
	for i := range 3 {
		if _, err := c.Write(frame(t, jsonReq(t, "search", fmt.Sprint(i)))); err != nil {
			t.Fatal(err)
		}
		m, err := readAnswer(t, c)
		if err != nil {
			t.Fatal(err)
		}
		if got, want := resultOf(t, m), fmt.Sprintf("search:%d", i); got != want {
			t.Errorf("answer %d = %q, want %q", i, got, want)
		}
	}
}

func TestServerPipelinedInOneWrite(t *testing.T) {
	for _, network := range []string{"tcp", "unix"} {
		t.Run(network, func(t *testing.T) {
			s := &core.Server{Handler: testHandler}
			var addr string
			if network == "tcp" {
				addr = startServer(t, s)
			} else {
				addr = "unix://" + filepath.Join(t.TempDir(), "r.sock")
				l, err := core.Listen(context.Background(), addr)
				if err != nil {
					t.Fatal(err)
				}
				go s.Serve(l)
				t.Cleanup(func() { s.Close() })
			}
			nw, a, _ := core.ParseAddr(addr)
			c, err := net.Dial(nw, a)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			// A slow request first: answers must still come in order.
			var batch []byte
			batch = append(batch, frame(t, jsonReq(t, "sleep", "20ms"))...)
			const n = 200
			for i := range n {
				if i%2 == 0 {
					batch = append(batch, frame(t, jsonReq(t, "x", fmt.Sprint(i)))...)
				} else {
					batch = append(batch, frame(t, core.NewBinary("binary/x", []byte(fmt.Sprintf("b%d", i))))...)
				}
			}
			go c.Write(batch)
			var d core.Decoder
			r := bufioReader(c)
			got := 0
			want := []string{"sleep:20ms"}
			for i := range n {
				if i%2 == 0 {
					want = append(want, fmt.Sprintf("x:%d", i))
				} else {
					want = append(want, fmt.Sprintf("B%d", i))
				}
			}
			buf := make([]byte, 1024)
			for got < len(want) {
				k, err := r.Read(buf)
				p := buf[:k]
				for len(p) > 0 {
					used, m, derr := d.Decode(p)
					p = p[used:]
					if derr != nil {
						t.Fatal(derr)
					}
					if m == nil {
						break
					}
					var s string
					if m.IsJSON() {
						s = resultOf(t, m)
					} else {
						s = string(m.Content)
					}
					if s != want[got] {
						t.Fatalf("answer %d = %q, want %q", got, s, want[got])
					}
					got++
				}
				if err != nil {
					t.Fatalf("after %d answers: %v", got, err)
				}
			}
		})
	}
}

func bufioReader(c net.Conn) io.Reader {
	c.SetReadDeadline(time.Now().Add(20 * time.Second))
	return c
}

func TestServerConnectionClose(t *testing.T) {
	addr := startServer(t, &core.Server{})
	c := dialT(t, addr)
	req := jsonReq(t, "a", "1")
	req.SetHeader(core.HeaderConnection, core.ConnectionClose)
	// A request pipelined after the close request is not answered.
	if _, err := c.Write(append(frame(t, req), frame(t, jsonReq(t, "b", "2"))...)); err != nil {
		t.Fatal(err)
	}
	m, err := readAnswer(t, c)
	if err != nil {
		t.Fatal(err)
	}
	if got := resultOf(t, m); got != "a:1" {
		t.Errorf("answer = %q", got)
	}
	expectClosed(t, c)
}

func TestServerIdleTimeout(t *testing.T) {
	addr := startServer(t, &core.Server{IdleTimeout: 50 * time.Millisecond})
	c := dialT(t, addr)
	c.Write(frame(t, jsonReq(t, "a", "1")))
	if _, err := readAnswer(t, c); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	expectClosed(t, c)
	if time.Since(start) < 50*time.Millisecond {
		t.Errorf("closed after %v, before the idle timeout", time.Since(start))
	}
}

// The idle timeout counts from the answer, not from the request: a slow
// handler's time is not taken from the client's idle allowance, in the
// poll loop as in the goroutine loop.
func TestServerIdleTimeoutFromAnswer(t *testing.T) {
	addr := startServer(t, &core.Server{IdleTimeout: time.Second})
	c := dialT(t, addr)
	c.SetDeadline(time.Now().Add(10 * time.Second))
	c.Write(frame(t, jsonReq(t, "sleep", "800ms")))
	if _, err := readAnswer(t, c); err != nil {
		t.Fatal(err)
	}
	// 1.1s after the request was read, 300ms after its answer.
	time.Sleep(300 * time.Millisecond)
	c.Write(frame(t, jsonReq(t, "a", "2")))
	m, err := readAnswer(t, c)
	if err != nil {
		t.Fatalf("second request, 300ms after the first answer: %v", err)
	}
	if got := resultOf(t, m); got != "a:2" {
		t.Errorf("second answer %q", got)
	}
}

func TestServerReadTimeoutInsideMessage(t *testing.T) {
	addr := startServer(t, &core.Server{ReadTimeout: 50 * time.Millisecond})
	c := dialT(t, addr)
	b := frame(t, jsonReq(t, "a", "1"))
	c.Write(b[:len(b)-3]) // then stall, slowloris style
	m, err := readAnswer(t, c)
	if err != nil {
		t.Fatal(err)
	}
	if got := resultOf(t, m); !strings.Contains(got, "read timeout inside a message") {
		t.Errorf("answer = %q, want a read timeout error", got)
	}
	expectClosed(t, c)
}

func TestServerMaxConnections(t *testing.T) {
	s := &core.Server{MaxConnections: 2}
	addr := startServer(t, s)
	var held []net.Conn
	for range 2 {
		c := dialT(t, addr)
		c.Write(frame(t, jsonReq(t, "a", "1")))
		if _, err := readAnswer(t, c); err != nil {
			t.Fatal(err)
		}
		held = append(held, c)
	}
	over := dialT(t, addr)
	m, err := readAnswer(t, over)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := resultOf(t, m), "error: core: too many connections: limit is 2"; got != want {
		t.Errorf("over the limit: %q, want %q", got, want)
	}
	expectClosed(t, over)
	// Freeing a slot lets a new client in.
	held[0].Close()
	deadline := time.Now().Add(10 * time.Second)
	for s.Connections() >= 2 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	c := dialT(t, addr)
	c.Write(frame(t, jsonReq(t, "b", "2")))
	m, err = readAnswer(t, c)
	if err != nil {
		t.Fatal(err)
	}
	if got := resultOf(t, m); got != "b:2" {
		t.Errorf("after a slot freed: %q", got)
	}
}

func TestServerBadFrameIsolated(t *testing.T) {
	addr := startServer(t, &core.Server{})
	good := dialT(t, addr)
	cases := []struct {
		name  string
		bytes []byte
		want  string
	}{
		{"zero header length", []byte{0, 0}, "core: invalid header length: header length is 0"},
		{"not JSON", append([]byte{0, 5}, "hello"...), "core: header is not valid JSON"},
		{"not an object", append([]byte{0, 2}, "[]"...), "core: header is not a JSON object"},
		{"missing key", append([]byte{0, 2}, "{}"...), `core: required header missing: "byteorder"`},
		{"not UTF-8", append([]byte{0, 3}, '"', 0xff, '"'), "core: header is not valid UTF-8"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			bad := dialT(t, addr)
			bad.Write(tc.bytes)
			m, err := readAnswer(t, bad)
			if err != nil {
				t.Fatal(err)
			}
			if got := resultOf(t, m); !strings.HasPrefix(got, "error: "+tc.want) {
				t.Errorf("answer = %q, want prefix %q", got, "error: "+tc.want)
			}
			expectClosed(t, bad)
			// The other connection is untouched.
			good.Write(frame(t, jsonReq(t, "still", "here")))
			m, err = readAnswer(t, good)
			if err != nil {
				t.Fatal(err)
			}
			if got := resultOf(t, m); got != "still:here" {
				t.Errorf("other connection answered %q", got)
			}
		})
	}
}

func TestServerHandlerFailuresKeepConnection(t *testing.T) {
	addr := startServer(t, &core.Server{HandlerTimeout: 50 * time.Millisecond})
	c := dialT(t, addr)
	cases := []struct{ action, want string }{
		{"fail", "error: told to fail"},
		{"panic", "error: core: handler panicked: told to panic"},
		{"hang", "error: core: handler timed out: context deadline exceeded"},
		{"nil", "error: core: handler returned no answer"},
		{"ok", "ok:v"},
	}
	for _, tc := range cases {
		c.Write(frame(t, jsonReq(t, tc.action, "v")))
		m, err := readAnswer(t, c)
		if err != nil {
			t.Fatalf("%s: %v", tc.action, err)
		}
		if got := resultOf(t, m); got != tc.want {
			t.Errorf("%s: answer %q, want %q", tc.action, got, tc.want)
		}
	}
}

// In a batch that times out, a request that failed on its own keeps its
// own error; only the one that ran out of time is a timeout. Through a
// plain Handler and through a Mux, which handles the batch together.
func TestServerTimeoutLabelsOnlyTimeouts(t *testing.T) {
	mux, err := core.NewMux(core.Route{Handler: testHandler})
	if err != nil {
		t.Fatal(err)
	}
	for _, h := range []struct {
		name string
		h    core.Handler
	}{{"handler", testHandler}, {"mux", mux}} {
		t.Run(h.name, func(t *testing.T) {
			addr := startServer(t, &core.Server{Handler: h.h, HandlerTimeout: 50 * time.Millisecond})
			c := dialT(t, addr)
			c.SetDeadline(time.Now().Add(10 * time.Second))
			c.Write(append(frame(t, jsonReq(t, "fail", "v")), frame(t, jsonReq(t, "hang", "v"))...))
			fr := &frameReader{r: bufio.NewReader(c)}
			for _, want := range []string{"error: told to fail", "error: core: handler timed out: context deadline exceeded"} {
				m, err := fr.next()
				if err != nil {
					t.Fatal(err)
				}
				if got := resultOf(t, m); got != want {
					t.Errorf("answer %q, want %q", got, want)
				}
			}
		})
	}
}

func TestServerNoRoute(t *testing.T) {
	mux, err := core.NewMux(core.Route{Action: "only", Handler: testHandler})
	if err != nil {
		t.Fatal(err)
	}
	addr := startServer(t, &core.Server{Handler: mux})
	c := dialT(t, addr)
	c.Write(frame(t, jsonReq(t, "other", "v")))
	m, err := readAnswer(t, c)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := resultOf(t, m), `error: core: no route for request: content-type "text/json", action "other"`; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
}

func TestServerShutdownAnswersInFlight(t *testing.T) {
	s := &core.Server{Handler: testHandler}
	l, err := core.Listen(context.Background(), "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- s.Serve(l) }()

	const conns = 8
	var wg sync.WaitGroup
	var answered atomic.Int32
	sent := make(chan struct{}, conns)
	for i := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, err := net.Dial("tcp", l.Addr().String())
			if err != nil {
				t.Error(err)
				sent <- struct{}{}
				return
			}
			defer c.Close()
			// A slow request followed by a pipelined quick one: both
			// were sent before Shutdown began, so both are answered.
			c.Write(append(frame(t, jsonReq(t, "sleep", "100ms")), frame(t, jsonReq(t, "q", fmt.Sprint(i)))...))
			sent <- struct{}{}
			fr := &frameReader{r: c}
			for _, want := range []string{"sleep:100ms", fmt.Sprintf("q:%d", i)} {
				m, err := fr.next()
				if err != nil {
					t.Errorf("conn %d: %v", i, err)
					return
				}
				if got := resultOf(t, m); got != want {
					t.Errorf("conn %d: %q, want %q", i, got, want)
					return
				}
				answered.Add(1)
			}
			expectClosed(t, c)
		}()
	}
	for range conns {
		<-sent
	}
	// Wait until every connection is accepted, then shut down while the
	// sleeps are in flight.
	for s.Connections() < conns {
		time.Sleep(time.Millisecond)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := s.Shutdown(ctx); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	if err := <-served; !errors.Is(err, core.ErrServerClosed) {
		t.Errorf("Serve: %v", err)
	}
	wg.Wait()
	if got := answered.Load(); got != 2*conns {
		t.Errorf("%d answers, want %d", got, 2*conns)
	}
	if _, err := net.Dial("tcp", l.Addr().String()); err == nil {
		t.Error("listener still accepts after Shutdown")
	}
}

func TestServerShutdownIdleConnections(t *testing.T) {
	s := &core.Server{}
	addr := startServer(t, s)
	c := dialT(t, addr)
	c.Write(frame(t, jsonReq(t, "a", "1")))
	if _, err := readAnswer(t, c); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := s.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	expectClosed(t, c)
}

func TestServerRaw(t *testing.T) {
	s := &core.Server{}
	l, err := core.Listen(context.Background(), "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	echo := core.HandlerFunc(func(_ context.Context, m *core.Message) (*core.Message, error) {
		return core.NewBinary(m.ContentType, m.Content), nil
	})
	go s.ServeRaw(l, echo)
	t.Cleanup(func() { s.Close() })
	c := dialT(t, l.Addr().String())
	msg := []byte("Hello, world")
	c.Write(msg)
	got := make([]byte, len(msg))
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.ReadFull(c, got); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, msg) {
		t.Errorf("raw echo = %q, want %q", got, msg)
	}
}

func TestClientConcurrentPipelined(t *testing.T) {
	addr := startServer(t, &core.Server{})
	cl, err := core.Dial(context.Background(), "tcp://"+addr)
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	var wg sync.WaitGroup
	for g := range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 50 {
				v := fmt.Sprintf("%d-%d", g, i)
				m, err := cl.Do(context.Background(), jsonReq(t, "c", v))
				if err != nil {
					t.Error(err)
					return
				}
				if got := resultOf(t, m); got != "c:"+v {
					t.Errorf("Do(%s) = %q", v, got)
					return
				}
			}
		}()
	}
	wg.Wait()
}

func TestClientServerGone(t *testing.T) {
	s := &core.Server{}
	addr := startServer(t, s)
	cl, err := core.Dial(context.Background(), addr)
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	errc := make(chan error, 1)
	go func() {
		_, err := cl.Do(context.Background(), jsonReq(t, "hang", ""))
		errc <- err
	}()
	for s.Connections() == 0 {
		time.Sleep(time.Millisecond)
	}
	s.Close()
	if err := <-errc; !errors.Is(err, core.ErrClientClosed) {
		t.Errorf("Do after the server vanished: %v, want ErrClientClosed", err)
	}
	if _, err := cl.Do(context.Background(), jsonReq(t, "a", "")); !errors.Is(err, core.ErrClientClosed) {
		t.Errorf("Do on a dead client: %v", err)
	}
}

// Close ends a Do blocked writing to a peer that never reads.
func TestClientCloseDuringWrite(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		c, err := l.Accept()
		if err == nil {
			accepted <- c // held open, never read
		}
	}()
	cl, err := core.Dial(context.Background(), l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	peer := <-accepted
	defer peer.Close()
	big := core.NewBinary("binary/x", make([]byte, 32<<20)) // far more than the sockets hold
	errc := make(chan error, 1)
	go func() {
		_, err := cl.Do(context.Background(), big)
		errc <- err
	}()
	time.Sleep(100 * time.Millisecond) // let the write fill the sockets and block
	closed := make(chan struct{})
	go func() {
		cl.Close()
		close(closed)
	}()
	select {
	case <-closed:
	case <-time.After(10 * time.Second):
		t.Fatal("Close did not return while a Do was blocked writing")
	}
	select {
	case err := <-errc:
		if !errors.Is(err, core.ErrClientClosed) {
			t.Errorf("Do = %v, want ErrClientClosed", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Do did not return after Close")
	}
}

func TestClientContextCancel(t *testing.T) {
	addr := startServer(t, &core.Server{})
	cl, err := core.Dial(context.Background(), addr)
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if _, err := cl.Do(ctx, jsonReq(t, "sleep", "200ms")); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Do = %v, want DeadlineExceeded", err)
	}
	// The abandoned answer is consumed; the next call gets its own.
	m, err := cl.Do(context.Background(), jsonReq(t, "next", "1"))
	if err != nil {
		t.Fatal(err)
	}
	if got := resultOf(t, m); got != "next:1" {
		t.Errorf("answer after a cancelled call: %q", got)
	}
}

func TestListenAddresses(t *testing.T) {
	cases := []struct {
		addr    string
		network string
		wantErr bool
	}{
		{"127.0.0.1:0", "tcp", false},
		{"tcp://127.0.0.1:0", "tcp", false},
		{"localhost:0", "tcp", false},
		{"tcp4://127.0.0.1:0", "tcp4", false},
		{"unix://" + filepath.Join(t.TempDir(), "x.sock"), "unix", false},
		{"127.0.0.1", "", true},
		{"udp://127.0.0.1:1", "", true},
		{"unix://", "", true},
	}
	for _, tc := range cases {
		t.Run(tc.addr, func(t *testing.T) {
			l, err := core.Listen(context.Background(), tc.addr)
			if tc.wantErr {
				if !errors.Is(err, core.ErrBadAddress) {
					t.Fatalf("Listen(%q) = %v, want ErrBadAddress", tc.addr, err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			defer l.Close()
			if l.Addr().Network() != strings.TrimSuffix(tc.network, "4") {
				t.Errorf("network %q, want %q", l.Addr().Network(), tc.network)
			}
		})
	}
	t.Run("ipv6", func(t *testing.T) {
		l, err := core.Listen(context.Background(), "[::1]:0")
		if err != nil {
			t.Skipf("no IPv6 loopback here: %v", err)
		}
		defer l.Close()
		s := &core.Server{Handler: testHandler}
		go s.Serve(l)
		defer s.Close()
		cl, err := core.Dial(context.Background(), l.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		defer cl.Close()
		m, err := cl.Do(context.Background(), jsonReq(t, "v6", "ok"))
		if err != nil {
			t.Fatal(err)
		}
		if got := resultOf(t, m); got != "v6:ok" {
			t.Errorf("over IPv6: %q", got)
		}
	})
	t.Run("stale unix socket", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "stale.sock")
		l, err := net.Listen("unix", path)
		if err != nil {
			t.Fatal(err)
		}
		l.(*net.UnixListener).SetUnlinkOnClose(false)
		l.Close()
		l2, err := core.Listen(context.Background(), "unix://"+path)
		if err != nil {
			t.Fatalf("stale socket not replaced: %v", err)
		}
		defer l2.Close()
		if _, err := core.Listen(context.Background(), "unix://"+path); err == nil {
			t.Error("a socket in use was replaced")
		}
	})
}

// countingBatcher answers binary requests with their content, and records
// the size of each batch.
type countingBatcher struct {
	mu    sync.Mutex
	sizes []int
}

func (b *countingBatcher) Handle(ctx context.Context, req *core.Message) (*core.Message, error) {
	b.mu.Lock()
	b.sizes = append(b.sizes, 1)
	b.mu.Unlock()
	return core.NewBinary("x/echo", req.Content), nil
}

func (b *countingBatcher) HandleBatch(_ context.Context, reqs, answers []*core.Message, _ []error) {
	b.mu.Lock()
	b.sizes = append(b.sizes, len(reqs))
	b.mu.Unlock()
	for i, r := range reqs {
		answers[i] = core.NewBinary("x/echo", r.Content)
	}
}

func TestServerBatchesPipelinedRequests(t *testing.T) {
	b := &countingBatcher{}
	addr := startServer(t, &core.Server{Handler: b})
	c := dialT(t, addr)
	const n = 20
	var all []byte
	for i := range n {
		all = append(all, frame(t, core.NewBinary("x/in", []byte(fmt.Sprint(i))))...)
	}
	if _, err := c.Write(all); err != nil { // one write: one read on loopback
		t.Fatal(err)
	}
	fr := &frameReader{r: c}
	for i := range n {
		m, err := fr.next()
		if err != nil {
			t.Fatal(err)
		}
		if got := string(m.Content); got != fmt.Sprint(i) {
			t.Fatalf("answer %d = %q", i, got)
		}
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	total, largest := 0, 0
	for _, s := range b.sizes {
		total += s
		largest = max(largest, s)
	}
	if total != n || largest < 2 {
		t.Errorf("batch sizes %v: want %d requests in all, some batched together", b.sizes, n)
	}
}

func TestServerReadTimeoutNotStretchedByDribbling(t *testing.T) {
	addr := startServer(t, &core.Server{ReadTimeout: 200 * time.Millisecond})
	c := dialT(t, addr)
	b := frame(t, jsonReq(t, "a", "1"))
	stop := make(chan struct{})
	defer close(stop)
	var written atomic.Int32
	go func() {
		// One byte every 20ms: each read is well inside the timeout, the
		// whole message (about 3s) is not.
		for _, x := range b[:len(b)-1] {
			select {
			case <-stop:
				return
			case <-time.After(20 * time.Millisecond):
			}
			if _, err := c.Write([]byte{x}); err != nil {
				return
			}
			written.Add(1)
		}
	}()
	m, err := readAnswer(t, c)
	if err != nil {
		t.Fatal(err)
	}
	if got := resultOf(t, m); !strings.Contains(got, "read timeout inside a message") {
		t.Errorf("answer = %q, want a read timeout error", got)
	}
	if n := written.Load(); int(n) >= len(b)-1 {
		t.Errorf("timed out only after all %d bytes: the dribble stretched the read timeout", n)
	}
}

// TestServerReadTimeoutPerMessage streams pipelined messages in chunks
// that each end inside the next message, for longer than the read
// timeout: every message is complete in time, so none may time out.
func TestServerReadTimeoutPerMessage(t *testing.T) {
	addr := startServer(t, &core.Server{ReadTimeout: 300 * time.Millisecond})
	c := dialT(t, addr)
	const n = 20
	var stream []byte
	for i := range n {
		stream = append(stream, frame(t, jsonReq(t, "m", fmt.Sprint(i)))...)
	}
	go func() {
		// Chunks of 1.5 messages, every 60ms: about 0.8s in all.
		step := len(stream) / n * 3 / 2
		for len(stream) > 0 {
			k := min(step, len(stream))
			if _, err := c.Write(stream[:k]); err != nil {
				return
			}
			stream = stream[k:]
			time.Sleep(60 * time.Millisecond)
		}
	}()
	fr := &frameReader{r: c}
	c.SetReadDeadline(time.Now().Add(20 * time.Second))
	for i := range n {
		m, err := fr.next()
		if err != nil {
			t.Fatalf("answer %d: %v", i, err)
		}
		if got, want := resultOf(t, m), fmt.Sprintf("m:%d", i); got != want {
			t.Fatalf("answer %d = %q, want %q", i, got, want)
		}
	}
}

// TestServerShutdownWithHalfMessage: a client that stopped inside a
// message gets the read-timeout error once its time is up, and Shutdown
// completes instead of waiting for it forever.
func TestServerShutdownWithHalfMessage(t *testing.T) {
	s := &core.Server{ReadTimeout: 100 * time.Millisecond}
	addr := startServer(t, s)
	c := dialT(t, addr)
	b := frame(t, jsonReq(t, "a", "1"))
	c.Write(b[:10])
	// Shutdown once the server has the half message: bytes still on
	// their way through the kernel when it begins are not the server's.
	deadline := time.Now().Add(10 * time.Second)
	for s.Stats().BytesRead < 10 {
		if time.Now().After(deadline) {
			t.Fatalf("the server read %d bytes in 10s, want 10", s.Stats().BytesRead)
		}
		time.Sleep(time.Millisecond)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := s.Shutdown(ctx); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	m, err := readAnswer(t, c)
	if err != nil {
		t.Fatal(err)
	}
	if got := resultOf(t, m); !strings.Contains(got, "read timeout inside a message") {
		t.Errorf("answer = %q, want a read timeout error", got)
	}
}
