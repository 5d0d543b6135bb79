//go:build linux

package core

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"syscall"
	"testing"
	"time"
	"unsafe"

	"github.com/msgrouter/router/internal/testcert"
	"golang.org/x/sys/unix"
)

// echo answers a request with itself.
func echo(_ context.Context, m *Message) (*Message, error) { return m, nil }

// servePolled is serveLocal for the tests about the poll loop: it skips
// the test when the goroutine loop is forced.
func servePolled(t *testing.T, s *Server) net.Listener {
	t.Helper()
	if forceGoroutineLoop.Load() {
		t.Skip("goroutine loop forced")
	}
	return serveLocal(t, s)
}

// serveLocal serves s (with echo if it has no Handler) on a loopback port
// until the test ends, and returns the listener.
func serveLocal(t *testing.T, s *Server) net.Listener {
	t.Helper()
	if s.Handler == nil {
		s.Handler = HandlerFunc(echo)
	}
	l, err := Listen(context.Background(), "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- s.Serve(l) }()
	t.Cleanup(func() {
		s.Close()
		<-served
	})
	return l
}

// TestPollLoopServes checks that, unless the goroutine loop is forced, a
// TCP connection is served by the poll loop, and that Close stops the
// poll goroutine.
func TestPollLoopServes(t *testing.T) {
	if forceGoroutineLoop.Load() {
		t.Skip("goroutine loop forced")
	}
	s := &Server{Handler: HandlerFunc(echo)}
	l, err := Listen(context.Background(), "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- s.Serve(l) }()
	c, err := net.Dial("tcp", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	exchange(t, c)
	s.mu.Lock()
	p := s.poll
	var st int32
	for cn := range s.conns {
		st = cn.pc.state.Load()
	}
	s.mu.Unlock()
	if p == nil {
		t.Fatal("no poller started")
	}
	if st == pollNone {
		t.Errorf("connection state %d, want one of the poll loop", st)
	}
	s.Close()
	if err := <-served; !errors.Is(err, ErrServerClosed) {
		t.Errorf("Serve returned %v", err)
	}
}

// TestPollLoopParks checks that a connection that has been served parks
// again (no goroutine) once silent, holding no batch and none of the
// decoder's kept strings, and is served again after.
func TestPollLoopParks(t *testing.T) {
	// What a connection holds as it parks, seen by the goroutine that
	// parks it (the test reading it would race with the next round).
	held := make(chan string, 10)
	s := &Server{testHookPark: func(cn *conn) {
		held <- fmt.Sprintf("%d messages, %d in a batch, kept strings %v", len(cn.msgs), len(cn.batch), cn.dec.names.e != nil)
	}}
	l := servePolled(t, s)
	c, err := net.Dial("tcp", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	state := func() int32 {
		s.mu.Lock()
		defer s.mu.Unlock()
		for cn := range s.conns {
			return cn.pc.state.Load()
		}
		return -1
	}
	waitState := func(want int32) {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for state() != want {
			if time.Now().After(deadline) {
				t.Fatalf("connection state %d, want %d", state(), want)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	for i := range 2 {
		exchange(t, c)
		waitState(pollIdle) // parked after parkAfter
		t.Logf("round %d: parked", i)
		if got, want := <-held, "0 messages, 0 in a batch, kept strings false"; got != want {
			t.Errorf("round %d: the parked connection holds %s, want %s", i, got, want)
		}
	}
}

// TestConnFootprint keeps the struct of a connection, which every idle
// one holds, in the 576-byte size class: the memory target for idle
// connections (at most 1 KB each; BenchmarkIdleConnections) has room for
// little more. A kept-strings cache inlined in the Decoder once moved it
// to 704 bytes, and an idle connection from 949 to 1,100 bytes.
func TestConnFootprint(t *testing.T) {
	if n := unsafe.Sizeof(conn{}); n > 576 {
		t.Errorf("conn is %d bytes, want at most 576", n)
	}
}

// exchange sends one request on c and reads its answer.
func exchange(t *testing.T, c net.Conn) {
	t.Helper()
	// An extension header the decoder keeps the strings of.
	req, err := Marshal(&Message{ContentType: ContentTypeJSON, ContentEncoding: EncodingUTF8, Content: []byte(`{"a": 1}`),
		Headers: []Header{{Key: "x-trace", Value: []byte(`"t-1"`)}}})
	if err != nil {
		t.Fatal(err)
	}
	c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := c.Write(req); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 1024)
	var d Decoder
	for {
		n, err := c.Read(buf)
		if err != nil {
			t.Fatal(err)
		}
		_, m, err := d.Decode(buf[:n])
		if err != nil {
			t.Fatal(err)
		}
		if m != nil {
			return
		}
	}
}

// TestPollLoopIdleTimeoutParked checks that the sweep closes a parked
// connection at its idle timeout, counted from its last answer, whether
// it was served before or never sent anything.
func TestPollLoopIdleTimeoutParked(t *testing.T) {
	s := &Server{IdleTimeout: 2 * parkAfter}
	l := servePolled(t, s)
	for _, send := range []bool{true, false} {
		c, err := net.Dial("tcp", l.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		if send {
			exchange(t, c)
		}
		c.SetReadDeadline(time.Now().Add(10 * time.Second))
		if n, err := c.Read(make([]byte, 1)); n != 0 || err == nil {
			t.Errorf("send %t: read %d, %v; want the server to close", send, n, err)
		}
		c.Close()
	}
	deadline := time.Now().Add(10 * time.Second)
	for s.Connections() != 0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if n := s.Connections(); n != 0 {
		t.Errorf("%d connections left", n)
	}
}

// TestPollLoopLeavesTLS checks that a TLS connection is served by the
// goroutine loop (the poll loop reads raw descriptors).
func TestPollLoopLeavesTLS(t *testing.T) {
	serverTLS, clientTLS := testcert.Configs(t)
	s := &Server{Handler: HandlerFunc(echo)}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	tl := tls.NewListener(l, serverTLS)
	served := make(chan error, 1)
	go func() { served <- s.Serve(tl) }()
	defer func() {
		s.Close()
		<-served
	}()
	c, err := tls.Dial("tcp", l.Addr().String(), clientTLS)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	exchange(t, c)
	s.mu.Lock()
	for cn := range s.conns {
		if st := cn.pc.state.Load(); st != pollNone {
			t.Errorf("TLS connection in poll state %d", st)
		}
	}
	s.mu.Unlock()
}

// TestPollLoopShutdownParked checks that Shutdown closes parked
// connections, served before or not, and answers a request sent to a
// parked connection just before it.
func TestPollLoopShutdownParked(t *testing.T) {
	s := &Server{}
	l := servePolled(t, s)
	var cs [3]net.Conn
	for i := range cs {
		var err error
		if cs[i], err = net.Dial("tcp", l.Addr().String()); err != nil {
			t.Fatal(err)
		}
		defer cs[i].Close()
	}
	exchange(t, cs[0])
	exchange(t, cs[2])
	deadline := time.Now().Add(10 * time.Second)
	for {
		parked := 0
		s.mu.Lock()
		for cn := range s.conns {
			if cn.pc.state.Load() == pollIdle {
				parked++
			}
		}
		s.mu.Unlock()
		if parked == len(cs) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d connections parked", parked, len(cs))
		}
		time.Sleep(10 * time.Millisecond)
	}
	req, err := Marshal(&Message{ContentType: ContentTypeJSON, ContentEncoding: EncodingUTF8, Content: []byte(`{"b": 2}`)})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cs[2].Write(req); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := s.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	// The request written before Shutdown was answered (it may have been
	// read before Shutdown began, or drained by it), then every
	// connection closed.
	var d Decoder
	buf := make([]byte, 1024)
	cs[2].SetReadDeadline(time.Now().Add(10 * time.Second))
	var got *Message
	for got == nil {
		n, err := cs[2].Read(buf)
		if err != nil {
			t.Fatalf("no answer to the request sent before Shutdown: %v", err)
		}
		if _, got, err = d.Decode(buf[:n]); err != nil {
			t.Fatal(err)
		}
	}
	for i, c := range cs {
		c.SetReadDeadline(time.Now().Add(10 * time.Second))
		if n, err := c.Read(buf); n != 0 || err == nil {
			t.Errorf("conn %d: read %d, %v; want closed", i, n, err)
		}
	}
}

// TestShutdownWakesDrainingRead checks, with either loop, that a request
// in the socket while a connection drains is answered even when
// Shutdown's wake of its read comes in the middle of the drain: the wake
// used to set its deadline between the drain clearing it and reading,
// which failed the read and closed the connection on the request unread
// (a reset for the client). The test stops the drain there, with a hook,
// and has Shutdown wake it then.
func TestShutdownWakesDrainingRead(t *testing.T) {
	draining := make(chan struct{}, 1)
	resume := make(chan struct{})
	s := &Server{}
	s.testHookDrainRead = func() {
		if s.stats.requests.Load() < 2 {
			return // the drain that reads the second request, if parked
		}
		select {
		case draining <- struct{}{}:
			<-resume // the first drain after the second answer only
		default:
		}
	}
	l := serveLocal(t, s)
	c, err := net.Dial("tcp", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	exchange(t, c)

	// Shutdown has begun and has not woken this connection yet: a request
	// now is read, answered, and followed by a drain, which the hook
	// stops.
	s.closing.Store(true)
	exchange(t, c)
	<-draining
	req, err := Marshal(&Message{ContentType: ContentTypeJSON, ContentEncoding: EncodingUTF8, Content: []byte(`{"b": 2}`)})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Write(req); err != nil {
		t.Fatal(err)
	}
	waitQueued(t, s)
	shut := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		shut <- s.Shutdown(ctx)
	}()
	time.Sleep(20 * time.Millisecond) // Shutdown wakes the connection, or waits to
	close(resume)

	var d Decoder
	buf := make([]byte, 1024)
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	var got *Message
	for got == nil {
		n, err := c.Read(buf)
		if err != nil {
			t.Fatalf("no answer to the request in the socket: %v", err)
		}
		if _, got, err = d.Decode(buf[:n]); err != nil {
			t.Fatal(err)
		}
	}
	if string(got.Content) != `{"b": 2}` {
		t.Errorf("answer %q", got.Content)
	}
	if err := <-shut; err != nil {
		t.Fatal(err)
	}
	if n, err := c.Read(buf); n != 0 || err == nil {
		t.Errorf("read %d, %v; want closed", n, err)
	}
}

// waitQueued waits until the server's one connection has bytes unread in
// its socket.
func waitQueued(t *testing.T, s *Server) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		s.mu.Lock()
		var fd int
		for cn := range s.conns {
			rc, err := cn.nc.(syscall.Conn).SyscallConn()
			if err != nil {
				t.Fatal(err)
			}
			rc.Control(func(f uintptr) { fd = int(f) })
		}
		s.mu.Unlock()
		if n, _ := unix.IoctlGetInt(fd, unix.SIOCINQ); n > 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("the request did not reach the server")
		}
		time.Sleep(time.Millisecond)
	}
}
