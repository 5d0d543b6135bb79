package core

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"time"
)

// maxPending bounds the requests a Client has written and not yet had
// answered; Do blocks beyond it.
const maxPending = 4096

// Client is a connection to a router (or to the tutorial's app-server).
// It is safe for concurrent use: concurrent calls to Do are pipelined on
// the one connection and matched to their answers in order.
type Client struct {
	nc       net.Conn
	wmu      sync.Mutex // serializes writes and the order of pending
	wbuf     []byte
	mu       sync.Mutex // guards err; taken after wmu, or alone
	err      error      // why the client stopped
	pending  chan *call
	stopping chan struct{} // closed when the reader begins to stop
	done     chan struct{} // closed when the reader has failed every pending call
	dec      Decoder
}

type call struct {
	ans chan result // buffered: the reader never blocks on a caller gone
}

type result struct {
	m   *Message
	err error
}

// Dial connects to addr (see ParseAddr) and returns a Client.
func Dial(ctx context.Context, addr string) (*Client, error) {
	nc, err := dial(ctx, addr)
	if err != nil {
		return nil, err
	}
	return NewClient(nc), nil
}

// NewClient returns a Client that speaks the protocol on nc, which it
// takes over and closes on Close.
func NewClient(nc net.Conn) *Client {
	c := &Client{
		nc:       nc,
		pending:  make(chan *call, maxPending),
		stopping: make(chan struct{}),
		done:     make(chan struct{}),
	}
	c.dec.MaxContentLength = -1 // the client trusts the server it chose
	go c.readLoop()
	return c
}

// Do sends req and waits for its answer. An {"error": ...} answer is a
// message like any other, not an error: see AnswerError. If ctx ends first,
// Do returns ctx's error; the answer, when it comes, is discarded.
//
// The answer belongs to the caller.
func (c *Client) Do(ctx context.Context, req *Message) (*Message, error) {
	cl := &call{ans: make(chan result, 1)}
	c.wmu.Lock()
	if err := c.failure(); err != nil {
		c.wmu.Unlock()
		return nil, err
	}
	var err error
	c.wbuf, err = AppendFrame(c.wbuf[:0], req)
	if err != nil {
		c.wmu.Unlock()
		return nil, err
	}
	// Queue the call before writing, so that the reader, which may see
	// the answer before Write returns, always finds it.
	select {
	case c.pending <- cl:
	case <-c.stopping:
		err := c.fail(fmt.Errorf("%w: connection lost", ErrClientClosed))
		c.wmu.Unlock()
		return nil, err
	case <-ctx.Done():
		c.wmu.Unlock()
		return nil, ctx.Err()
	}
	if dl, ok := ctx.Deadline(); ok {
		c.nc.SetWriteDeadline(dl)
	} else {
		c.nc.SetWriteDeadline(time.Time{})
	}
	if _, err := c.nc.Write(c.wbuf); err != nil {
		// The reader fails the queued call with this error.
		c.fail(fmt.Errorf("%w: write: %w", ErrClientClosed, err))
	}
	c.wmu.Unlock()
	select {
	case r := <-cl.ans:
		return r.m, r.err
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// Close closes the connection. Calls waiting in Do, writing included,
// return ErrClientClosed.
func (c *Client) Close() error {
	// Not under wmu: a Do may hold it in a write that only closing the
	// connection ends.
	c.fail(ErrClientClosed)
	<-c.done
	return nil
}

// fail records why the client stops, unless it already has, closes the
// connection, and returns the reason; the reader then fails every
// pending call.
func (c *Client) fail(err error) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.err == nil {
		c.err = err
		c.nc.Close()
	}
	return c.err
}

// failure returns why the client stopped, or nil.
func (c *Client) failure() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.err
}

func (c *Client) readLoop() {
	defer close(c.done)
	buf := make([]byte, 32<<10)
	var err error
	for err == nil {
		var n int
		n, err = c.nc.Read(buf)
	decode:
		for m, derr := range c.dec.Messages(buf[:n]) {
			if derr != nil {
				err = derr
				break
			}
			select {
			case cl := <-c.pending:
				cl.ans <- result{m: m.Clone()}
			default:
				err = errors.New("core: answer received with no request pending")
				if aerr := AnswerError(m); aerr != nil {
					err = fmt.Errorf("core: unsolicited answer: %w", aerr)
				}
				break decode
			}
		}
	}
	close(c.stopping)
	// Under wmu: a Do that queues a call after this sees c.err first.
	c.wmu.Lock()
	if prev := c.failure(); errors.Is(err, net.ErrClosed) && prev != nil {
		err = prev
	} else {
		if c.dec.Partial() {
			err = fmt.Errorf("%w: %w", ErrTruncated, err)
		}
		err = c.fail(fmt.Errorf("%w: %w", ErrClientClosed, err))
	}
	c.wmu.Unlock()
	// No Do can queue a call now that c.err is set.
	for {
		select {
		case cl := <-c.pending:
			cl.ans <- result{err: err}
		default:
			return
		}
	}
}

// AnswerError returns the text of an {"error": ...} answer as an error, or
// nil if m is not an error answer.
func AnswerError(m *Message) error {
	// Most answers are not errors: one without the key "error", written
	// plainly or with an escape, needs no scan of its JSON.
	if !m.IsJSON() || (!bytes.Contains(m.Content, []byte(`"error"`)) && bytes.IndexByte(m.Content, '\\') < 0) {
		return nil
	}
	raw, ok, err := m.Field("error")
	if err != nil || !ok {
		return nil
	}
	return &RemoteError{Text: jsonText(raw)}
}

// RemoteError is an {"error": ...} answer from the server.
type RemoteError struct {
	Text string
}

// Error returns the server's text after "server answered error: ".
func (e *RemoteError) Error() string { return "server answered error: " + e.Text }
