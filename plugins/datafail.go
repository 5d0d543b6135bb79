package plugins

import (
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"syscall"
	"time"
)

// errProtocol is the cause of a connection failed because the plugin broke
// the data protocol (the router then kills it, and restarts it).
var errProtocol = errors.New("killed for breaking the data protocol")

// fail ends the connection: every pending call gets ErrExited.
func (c *dataClient) fail(cause error) {
	c.mu.Lock()
	if c.err != nil {
		c.mu.Unlock()
		return
	}
	switch {
	case errors.Is(cause, io.EOF) || errors.Is(cause, syscall.ECONNRESET):
		cause = errProcessExited
	case errors.Is(cause, net.ErrClosed):
		if werr := c.w.failure(); werr != nil {
			// A write failed and closed it.
			cause = writeFailure(werr, c.w.timeout)
			break
		}
		// The router closed it first: its health check found the
		// process dead or frozen, or it is being stopped.
		cause = errors.New("connection closed by the router (the process failed a health check, or is being stopped)")
	}
	c.err = fmt.Errorf("%w: %s: %w", ErrExited, c.label, cause)
	close(c.closed)
	c.watchT.Stop()
	c.idleT.Stop()
	c.pending.takeAll(func(s slot) {
		s.b.errs[s.i] = c.err
		s.b.left--
		if s.b.left == 0 {
			c.unlistLocked(s.b)
			close(s.b.done)
		}
	})
	err := c.err
	c.mu.Unlock()
	c.nc.Close()
	if c.onFail != nil {
		c.onFail(err)
	}
}

// writeFailure says why a write of requests to the plugin failed, with
// timeout the writes' limit.
func writeFailure(err error, timeout time.Duration) error {
	switch {
	case errors.Is(err, os.ErrDeadlineExceeded):
		return fmt.Errorf("the plugin read none of its requests for %s (%w)", timeout, err)
	case errors.Is(err, syscall.EPIPE) || errors.Is(err, syscall.ECONNRESET):
		return errProcessExited
	}
	return fmt.Errorf("cannot write to the plugin: %w", err)
}

// abandonment returns the counts Process.Abandoned reports.
func (c *dataClient) abandonment() (abandoned, late uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.abandoned, c.late
}

// lost returns why the connection was lost, or nil while it works.
func (c *dataClient) lost() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.err
}

// close ends the connection on purpose: the requests in flight get
// ErrExited with cause, or, if it is nil, saying the router closed it.
func (c *dataClient) close(cause error) {
	if cause == nil {
		cause = net.ErrClosed
	}
	c.fail(cause) // closes nc
	<-c.readDone
}
