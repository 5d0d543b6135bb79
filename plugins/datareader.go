package plugins

import (
	"context"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/msgrouter/router/core"
)

// idleRead is how long the turn to read stays free before readLoop takes
// it.
const idleRead = 50 * time.Millisecond

// read reads answers, holding the turn to read, until b has all its
// answers (or errors for them), and then passes the turn on; or until ctx
// ends, and then reports false, still holding the turn.
//
// The end of ctx interrupts a read that waits (see watchRead) once the
// watch has reached b.
func (c *dataClient) read(ctx context.Context, b *batchWait) bool {
	for {
		c.mu.Lock()
		if b.left == 0 {
			c.passLocked()
			c.mu.Unlock()
			return true
		}
		c.mu.Unlock()
		err := c.readOnce()
		if errors.Is(err, os.ErrDeadlineExceeded) {
			// The end of a context: b's, or a former leader's, late.
			c.nc.SetReadDeadline(time.Time{})
			if ctx.Err() != nil {
				return false
			}
			continue
		}
		if err != nil {
			c.fail(err) // b too gets its errors
		}
	}
}

// readOnce reads once and delivers the answers read.
func (c *dataClient) readOnce() error {
	n, err := c.nc.Read(c.buf)
	if n > 0 {
		if derr := c.deliver(c.buf[:n]); derr != nil {
			return derr
		}
	}
	return err
}

// passLocked gives up the turn to read: to readLoop at once if callers
// wait for answers or an answer is partly read, else after idleRead
// unless a caller takes it first.
func (c *dataClient) passLocked() {
	if l := c.leader; l != nil && l.stop != nil {
		l.stop()
		l.stop = nil
	}
	c.reading = false
	c.leader = nil
	if c.err != nil {
		return
	}
	if c.pending.len() > 0 || c.dec.Partial() || c.env.partial() {
		c.reading = true
		c.readTurn <- struct{}{}
		return
	}
	if !c.idleArmed {
		c.idleArmed = true
		c.idleT.Reset(idleRead)
	}
}

// wakeIdle gives the turn to read to readLoop, if nobody has it.
func (c *dataClient) wakeIdle() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.idleArmed = false
	if !c.reading && c.err == nil {
		c.reading = true
		c.readTurn <- struct{}{}
	}
}

// readLoop reads each time it gets the turn to read. It keeps the turn
// while its reads bring several answers at once, the sign of many callers:
// a caller would otherwise take the turn whenever all the answers had
// come, and pass it back with its own, a hand-off more each time
// (measured: see BENCHMARKS.md, "Figures that were in code comments").
// Otherwise it passes the turn on after one read (to itself again while
// callers wait). It returns once the connection fails or is closed.
func (c *dataClient) readLoop() {
	defer close(c.readDone)
	for {
		select {
		case <-c.readTurn:
		case <-c.closed:
			return
		}
		for {
			err := c.readOnce()
			if errors.Is(err, os.ErrDeadlineExceeded) {
				// The end of a caller's context, after its read.
				c.nc.SetReadDeadline(time.Time{})
				err = nil
			}
			if err != nil {
				c.fail(err)
			}
			c.mu.Lock()
			if c.err == nil && c.lastRead > 1 {
				c.mu.Unlock()
				continue
			}
			c.passLocked()
			c.mu.Unlock()
			break
		}
	}
}

// deliver decodes the answers in p and hands them to their callers.
func (c *dataClient) deliver(p []byte) error {
	// The answers outlive c.buf: they are decoded from one copy of what
	// the read returned, which they then own (one allocation per read
	// rather than a copy of each answer).
	p = append([]byte(nil), p...)
	a := &c.answers
	a.results = a.results[:0]
	var err error
	if c.proto == dataProtocolEnvelope {
		err = c.decodeEnvelopes(p, a)
	} else {
		err = c.decodeFrames(p, a)
	}
	// One lock for all the answers of a read.
	c.mu.Lock()
	c.lastRead = len(a.results)
	for i, r := range a.results {
		if r.id == 0 || r.id > c.nextID {
			// An id never sent: the plugin is broken. (An id sent
			// before and no longer pending is the late answer of a
			// request the router gave up on, or a repeat: dropped.)
			err = fmt.Errorf("%w: answer from plugin for router-id %d, which the router never sent", errProtocol, r.id)
			for _, r := range a.results[i:] {
				if r.ans != nil {
					r.ans.Release()
				}
			}
			break
		}
		c.resolveLocked(r.id, r.ans, r.err)
	}
	c.mu.Unlock()
	clear(a.results)
	return err
}

// decodeFrames decodes the answers of data protocol 1 in p into a.
func (c *dataClient) decodeFrames(p []byte, a *answerAlloc) error {
	for m, derr := range c.dec.MessagesInto(p, a.next) {
		if derr != nil {
			return fmt.Errorf("%w: bad frame from plugin: %w", errProtocol, derr)
		}
		id, ok := uintHeader(m, hdrID)
		if !ok {
			return fmt.Errorf("%w: answer from plugin without router-id", errProtocol)
		}
		if text, isErr := m.Header(hdrError); isErr {
			a.results = append(a.results, answerResult{id: id, err: answerError(text)})
			continue
		}
		stripRouterHeaders(m)
		a.lend(m)
		a.results = append(a.results, answerResult{id: id, ans: m})
	}
	return nil
}

// answerResult is one answer read, or the error that replaced it.
type answerResult struct {
	id  uint64
	ans *core.Message
	err error
}

// answerError is the error a plugin answered for a request: its text, as
// the plugin's handler gave it.
type answerError string

func (e answerError) Error() string { return string(e) }
