package core_test

import (
	"crypto/tls"
	"errors"
	"io"
	"net"
	"testing"
	"time"

	"github.com/msgrouter/router/core"
	"github.com/msgrouter/router/internal/testcert"
)

// startTLSServer serves s with testHandler on a TLS listener on loopback
// until the test ends, and returns the address and the client config.
func startTLSServer(t *testing.T, s *core.Server) (string, *tls.Config) {
	t.Helper()
	if s.Handler == nil {
		s.Handler = testHandler
	}
	sc, cc := testcert.Configs(t)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- s.Serve(tls.NewListener(l, sc)) }()
	t.Cleanup(func() {
		s.Close()
		if err := <-served; !errors.Is(err, core.ErrServerClosed) {
			t.Errorf("Serve returned %v, want ErrServerClosed", err)
		}
	})
	return l.Addr().String(), cc
}

// TestTLSHandshakeReadTimeout: a client that sends part of a ClientHello
// and stalls is closed at the read timeout, not held for the idle timeout;
// a client whose handshake completed then waits longer than the read
// timeout between messages, as the idle timeout allows.
func TestTLSHandshakeReadTimeout(t *testing.T) {
	const readTimeout = 300 * time.Millisecond
	s := &core.Server{ReadTimeout: readTimeout, IdleTimeout: time.Minute}
	addr, cc := startTLSServer(t, s)

	stalled := dialT(t, addr)
	// A handshake record announcing 512 bytes, and 10 of them.
	if _, err := stalled.Write([]byte{0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, 0xfc, 0x03, 0x03, 0, 0, 0, 0}); err != nil {
		t.Fatal(err)
	}
	// Generous: far above the read timeout, far below the idle timeout.
	stalled.SetReadDeadline(time.Now().Add(15 * time.Second))
	n, err := io.Copy(io.Discard, stalled)
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		t.Fatalf("a stalled handshake was still open after 15s (read timeout %s)", readTimeout)
	}
	if n > 0 {
		t.Errorf("the server sent %d bytes to a partial ClientHello", n)
	}

	c, err := tls.Dial("tcp", addr, cc)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	checkServed(t, c, "first")
	time.Sleep(3 * readTimeout) // idle, between messages
	checkServed(t, c, "after a pause")
}
