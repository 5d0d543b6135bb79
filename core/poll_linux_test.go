//go:build linux

package core

import (
	"context"
	"errors"
	"net"
	"testing"
	"time"
)

// TestPollLoopServes checks that, unless the goroutine loop is forced, a
// TCP connection is served by the poll loop, and that Close stops the
// poll goroutine.
func TestPollLoopServes(t *testing.T) {
	if forceGoroutineLoop.Load() {
		t.Skip("goroutine loop forced")
	}
	s := &Server{Handler: HandlerFunc(func(_ context.Context, m *Message) (*Message, error) { return m, nil })}
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
	req, err := Marshal(&Message{ContentType: ContentTypeJSON, ContentEncoding: EncodingUTF8, Content: []byte(`{"a": 1}`)})
	if err != nil {
		t.Fatal(err)
	}
	c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := c.Write(req); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 1024)
	var d Decoder
	for done := false; !done; {
		n, err := c.Read(buf)
		if err != nil {
			t.Fatal(err)
		}
		_, m, err := d.Decode(buf[:n])
		if err != nil {
			t.Fatal(err)
		}
		done = m != nil
	}
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
