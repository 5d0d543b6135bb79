package core

import (
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"syscall"
	"time"

	"github.com/hashicorp/go-hclog"
)

// conn is one served connection. Its goroutine owns everything but mu.
type conn struct {
	s   *Server
	nc  net.Conn
	raw Handler // non-nil for an unframed connection

	// mu orders the read deadline set before each read against wake, so
	// that a Shutdown cannot be missed by a read about to block.
	mu sync.Mutex

	dec    Decoder
	wbuf   []byte
	log    hclog.Logger
	readAt time.Time // when the current batch was read: handler deadlines count from it

	// idleSince is when the connection last began to wait for a message,
	// its answers written: the poll loop's idle timeout counts from it,
	// and Shutdown tells an idle connection by it.
	idleSince time.Time

	partialSince time.Time // when the message now half read began to arrive

	// held is the input budget granted to the connection: 0, or the size
	// of the one frame the decoder buffers or the batch holds (see
	// budget.go).
	held int64

	// One batch: the requests decoded from one read, and their results.
	// The Messages are reused from batch to batch.
	msgs    []*Message
	batch   []*Message
	answers []*Message
	errs    []error
	ids     []Header // request-id of each request, Key "" for none

	pc pollConn // the poll loop's state, when it serves the connection
}

func (c *conn) wake() {
	c.pollKick() // a parked connection of the poll loop has no read to wake
	c.mu.Lock()
	c.nc.SetReadDeadline(time.Now())
	c.mu.Unlock()
}

func (c *conn) serve() {
	s := c.s
	defer s.removeConn(c)
	c.log = s.log.With("remote", c.nc.RemoteAddr().String())
	c.log.Trace("connection opened")
	if err := c.handshake(); err != nil {
		c.log.Debug("TLS handshake failed", "error", err)
		c.nc.Close()
		return
	}
	buf := make([]byte, readBufferSize)
	closeErr := c.loop(buf)
	switch {
	case closeErr == nil:
		c.nc.Close()
	case errors.Is(closeErr, errLinger):
		lingerClose(c.nc)
	default:
		c.nc.Close()
	}
	c.log.Trace("connection closed")
}

// handshake completes the TLS handshake of a TLS connection, within the
// read timeout (or, if there is none, the idle timeout). Left to the
// first Read, it would run under the idle deadline that read sets, and a
// client that sent part of a ClientHello would hold the connection for
// the idle timeout. Shutdown and Close end a handshake in progress: the
// connection has no request yet.
func (c *conn) handshake() error {
	tc, ok := c.nc.(*tls.Conn)
	if !ok {
		return nil
	}
	t := c.s.t.read
	if t <= 0 {
		t = c.s.t.idle
	}
	// Under mu, as read sets its deadline: a Shutdown's wake comes after
	// and ends the handshake, or has come before and is seen here.
	c.mu.Lock()
	if c.s.closing.Load() {
		c.mu.Unlock()
		return ErrServerClosed
	}
	if t > 0 {
		tc.SetDeadline(time.Now().Add(t))
	}
	c.mu.Unlock()
	if err := tc.Handshake(); err != nil {
		return err
	}
	// read and flush set the deadlines from here on; a wake that this
	// clears is not lost, as read looks at closing itself.
	tc.SetDeadline(time.Time{})
	return nil
}

// errLinger asks serve to close after letting the client read what was
// written, instead of resetting the connection.
var errLinger = errors.New("linger")

// errDrained: the server is shutting down and the connection has nothing
// more to read.
var errDrained = errors.New("drained")

// loop serves the connection until it should close.
func (c *conn) loop(buf []byte) error {
	for {
		n, err := c.read(buf)
		if n > 0 {
			c.readAt = time.Now()
			var stop error
			if c.raw != nil {
				stop = c.handleRaw(buf[:n])
			} else {
				stop = c.handleFramed(buf[:n], false)
			}
			if stop != nil {
				return stop
			}
		}
		if err == nil {
			continue
		}
		var ne net.Error
		switch {
		case errors.Is(err, errDrained):
			return c.refuseAfterDrain(buf)
		case errors.As(err, &ne) && ne.Timeout():
			if c.dec.Partial() {
				t := c.s.t.read
				if t <= 0 || time.Now().Before(c.partialSince.Add(t)) {
					continue // woken early by Shutdown: finish the message
				}
				c.log.Debug("read timeout inside a message")
				return c.fail(fmt.Errorf("%w: message not complete after %s", ErrReadTimeout, t))
			}
			if c.s.closing.Load() {
				continue // woken by Shutdown: read what is left, then close
			}
			return c.idleTimedOut() // close, or park in the poll loop
		case errors.Is(err, io.EOF):
			if c.dec.Partial() {
				c.log.Debug("client closed inside a message")
			}
			return nil
		default:
			c.log.Trace("read failed", "error", err)
			return nil
		}
	}
}

// read reads once, with the deadline that applies, or, once the server is
// shutting down and no message is half read, only what is already there.
func (c *conn) read(buf []byte) (int, error) {
	c.mu.Lock()
	if c.s.closing.Load() && !c.dec.Partial() {
		// Under mu: Shutdown's wake must not set its deadline between
		// drainRead clearing it and reading, which would fail the read
		// and close the connection on the bytes it holds.
		defer c.mu.Unlock()
		return c.drainRead(buf)
	}
	// Between messages the idle timeout runs from now; inside one, the
	// read timeout runs from its first bytes, so a client that dribbles a
	// byte at a time cannot stretch it.
	var deadline time.Time
	if c.dec.Partial() {
		if c.partialSince.IsZero() {
			c.partialSince = c.readAt
		}
		if t := c.s.t.read; t > 0 {
			deadline = c.partialSince.Add(t)
		}
	} else {
		c.partialSince = time.Time{}
		deadline = c.idleDeadline(c.s.t.idle)
	}
	c.nc.SetReadDeadline(deadline)
	c.mu.Unlock()
	return c.nc.Read(buf)
}

// drainRead returns what the socket already holds, without waiting.
func (c *conn) drainRead(buf []byte) (int, error) {
	c.nc.SetReadDeadline(time.Time{})
	if h := c.s.testHookDrainRead; h != nil {
		h()
	}
	sc, ok := c.nc.(syscall.Conn)
	if !ok {
		// No raw descriptor (e.g. TLS): allow a moment for queued bytes.
		c.nc.SetReadDeadline(time.Now().Add(10 * time.Millisecond))
		n, err := c.nc.Read(buf)
		if n == 0 {
			return 0, errDrained
		}
		return n, err
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return 0, errDrained
	}
	var n int
	var rerr error
	err = rc.Read(func(fd uintptr) bool {
		n, rerr = readNonBlocking(fd, buf)
		return true
	})
	if err != nil || rerr != nil || n <= 0 {
		return 0, errDrained
	}
	return n, nil
}

// flush writes the pending answers.
func (c *conn) flush() error {
	if len(c.wbuf) == 0 {
		return nil
	}
	if t := c.s.t.write; t > 0 {
		c.nc.SetWriteDeadline(time.Now().Add(t))
	}
	n, err := c.nc.Write(c.wbuf)
	c.s.stats.bytesWritten.Add(uint64(n))
	c.wbuf = c.wbuf[:0]
	if cap(c.wbuf) > writeBufKeep {
		c.wbuf = nil
	}
	if err != nil {
		c.log.Debug("write failed", "error", err)
		return err
	}
	return nil
}

// fail answers a connection-level error and asks for a lingering close.
func (c *conn) fail(err error) error {
	if c.raw == nil {
		c.wbuf = c.appendAnswer(c.wbuf, NewError(err.Error()))
		c.flush()
	}
	return errLinger
}

// lingerClose closes the write side, then reads and discards for a moment
// before closing, so that a client still sending does not make the kernel
// reset the connection and destroy the answer it has not read yet.
func lingerClose(nc net.Conn) {
	if cw, ok := nc.(interface{ CloseWrite() error }); ok {
		if cw.CloseWrite() == nil {
			nc.SetReadDeadline(time.Now().Add(lingerTimeout))
			io.CopyN(io.Discard, nc, lingerMax)
		}
	}
	nc.Close()
}
