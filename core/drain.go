package core

import (
	"errors"
	"net"
	"time"
)

// What a keep-alive client sees when the server shuts down.
//
// Shutdown wakes every connection. A connection finishes the message it
// is reading (within its read timeout), answers every request it has read
// or finds in its socket, as usual, and writes those answers. Then:
//
//   - a connection that has been silent for shutdownIdle (250ms, as long
//     as the poll loop waits to park one) or more is closed at once;
//   - a connection active within shutdownIdle, whose client may well be
//     writing its next request, goes on reading for shutdownQuiet
//     (250ms), and for shutdownQuiet after the first bytes it reads then,
//     if those come later. Every request read then is answered, in
//     order, with {"error": "core: server shutting down"}, its
//     request-id, and the header "connection": "close"; then the
//     connection closes as after a bad frame (its write side first, so
//     that the answers are not lost).
//
// A client that stops writing when it reads such an answer, or its end of
// stream, thus gets an answer or an error answer for every request it
// wrote: none meets a bare end of stream or a reset. A client that goes
// on writing regardless gets end of stream for what arrives after the
// grace, which lasts at most 2 × shutdownQuiet. A message incomplete when
// the grace ends is not answered, nor one larger than ungrantedMax (which
// would need input budget).

const (
	shutdownIdle  = 250 * time.Millisecond
	shutdownQuiet = 250 * time.Millisecond
)

// shuttingDown is the answer to a request that arrives once Shutdown has
// answered all those a connection had.
var shuttingDown = func() *Message {
	m := NewError(ErrShuttingDown.Error())
	m.Headers = []Header{{Key: HeaderConnection, Value: []byte(`"` + ConnectionClose + `"`)}}
	return m
}()

// refuseAfterDrain is what a connection does once Shutdown has begun and
// it has answered what it had (drainRead found its socket empty): close
// (nil) if it was idle, or refuse what its client still sends for the
// grace, and linger (errLinger).
func (c *conn) refuseAfterDrain(buf []byte) error {
	now := time.Now()
	last := c.idleSince
	if c.readAt.After(last) {
		last = c.readAt
	}
	if c.raw != nil || now.Sub(last) >= shutdownIdle {
		return nil
	}
	deadline := now.Add(shutdownQuiet)
	extended := false
	for {
		c.nc.SetReadDeadline(deadline)
		n, err := c.nc.Read(buf)
		if n > 0 {
			c.readAt = time.Now()
			if !extended {
				// The client gets its first refusal now: it has
				// shutdownQuiet to see it and stop.
				deadline, extended = c.readAt.Add(shutdownQuiet), true
			}
			if stop := c.handleFramed(buf[:n], true); stop != nil {
				return stop
			}
		}
		var ne net.Error
		switch {
		case err == nil:
		case errors.As(err, &ne) && ne.Timeout():
			if time.Now().Before(deadline) {
				continue // Shutdown's wake, come late: it set a deadline of now
			}
			return errLinger
		default:
			return nil // end of stream, or closed
		}
	}
}

// refuse answers a batch, as dispatch does, with the shutting-down error.
func (c *conn) refuse(batch []*Message) {
	c.answers = append(c.answers[:0], make([]*Message, len(batch))...)
	c.errs = append(c.errs[:0], make([]error, len(batch))...)
	c.ids = c.ids[:0]
	for i, m := range batch {
		id, _ := c.requestID(m)
		c.ids = append(c.ids, id)
		c.answers[i] = shuttingDown
	}
}
