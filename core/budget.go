package core

import (
	"errors"
	"fmt"
	"math"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"
)

// The input budget bounds the memory that messages spanning reads hold,
// across all connections and both loops.
//
// A message that arrives whole in one read is decoded in the read buffer
// and costs nothing here. A message that spans reads is buffered by its
// connection's decoder: its proto-header and JSON header as they arrive
// (at most ungrantedMax bytes, which a connection may always hold, as it
// must to learn the message's size), then, once the header is read, the
// whole frame in one buffer of its exact size. A frame of at most
// ungrantedMax bytes gets that buffer at once. A larger one needs a grant
// of its size from the budget first; if the budget cannot give it, the
// connection stops reading (its client is held back by TCP) until other
// connections release enough, within its read timeout, which runs on.
//
// The invariant that rules out deadlock: a connection holds at most one
// grant, for one whole frame, and waits for a grant only while it holds
// none. A connection that holds a grant never needs more budget to finish
// its message: it waits only for its client, for at most its read timeout,
// and then releases. So every wait ends, by a grant or by a timeout.
// Before it waits, a connection answers and releases the messages it has
// read (a grant is released once its message is answered), and writes out
// its answers, so that its client is not kept waiting for them.
//
// A frame larger than the whole budget can never be granted: it is
// refused as a content-length over the limit.
//
// When a burst of large messages is over (a second without a new grant,
// after at least returnAfter bytes were released and the budget was once
// wholly free), the freed memory is returned to the operating system with
// debug.FreeOSMemory: the collector alone would keep it until its next
// cycle, which an idle router may not run for two minutes.

// DefaultMaxBuffered is the input budget (Server.MaxBuffered) where the
// memory available to the process cannot be read.
const DefaultMaxBuffered = 1 << 30

const (
	minMaxBuffered = 32 << 20    // the smallest default budget: two messages of the default limit
	returnAfter    = 64 << 20    // bytes released before memory is returned to the OS
	returnQuiet    = time.Second // without a grant, before memory is returned
)

// inputBudget is a Server's budget for buffered input. The zero value has
// no limit and accounts nothing.
type inputBudget struct {
	max     int64 // bytes that may be granted at once; 0 for no limit (no grants)
	inUse   atomic.Int64
	waiters atomic.Int32

	mu    sync.Mutex
	freed chan struct{} // closed when bytes are released while some wait

	grants    atomic.Uint64 // grants made, ever: tells a quiet from a burst
	released  atomic.Int64  // bytes released since memory was last returned
	returning atomic.Bool   // a return of memory is scheduled
}

// resolveMaxBuffered is the budget a Server uses for its MaxBuffered
// field: 0 for no limit.
func resolveMaxBuffered(v int64) int64 {
	switch {
	case v < 0:
		return 0
	case v > 0:
		return v
	}
	mem := usableMemory()
	if mem <= 0 {
		return DefaultMaxBuffered
	}
	return max(mem/4, minMaxBuffered)
}

// usableMemory is the memory the process may use: the smallest of the
// physical memory and cgroup limit (physicalMemory) and GOMEMLIMIT; 0 if
// none is known.
func usableMemory() int64 {
	mem := physicalMemory()
	if lim := debug.SetMemoryLimit(-1); lim > 0 && lim < math.MaxInt64 && (mem <= 0 || lim < mem) {
		mem = lim
	}
	return mem
}

// tryAcquire reserves n bytes if the budget has them.
func (b *inputBudget) tryAcquire(n int64) bool {
	for {
		cur := b.inUse.Load()
		if cur+n > b.max {
			return false
		}
		if b.inUse.CompareAndSwap(cur, cur+n) {
			b.grants.Add(1)
			return true
		}
	}
}

// errBudgetTimeout: the deadline passed while waiting for a grant.
var errBudgetTimeout = errors.New("core: read timeout while waiting for input budget")

// acquire reserves n bytes, waiting for them until deadline (none if
// zero: errBudgetTimeout) or until done is closed (ErrServerClosed). The
// caller holds no grant (see the invariant above).
func (b *inputBudget) acquire(n int64, deadline time.Time, done <-chan struct{}) error {
	if b.tryAcquire(n) {
		return nil
	}
	b.waiters.Add(1)
	defer b.waiters.Add(-1)
	var expired <-chan time.Time
	if !deadline.IsZero() {
		t := time.NewTimer(time.Until(deadline))
		defer t.Stop()
		expired = t.C
	}
	for {
		// Take the channel before trying: a release after the try closes
		// it, one before the try is seen by it.
		b.mu.Lock()
		if b.freed == nil {
			b.freed = make(chan struct{})
		}
		freed := b.freed
		b.mu.Unlock()
		if b.tryAcquire(n) {
			return nil
		}
		select {
		case <-freed:
		case <-expired:
			return errBudgetTimeout
		case <-done:
			return ErrServerClosed
		}
	}
}

// release returns n granted bytes, wakes those waiting, and, once a burst
// has ended, has the freed memory returned to the OS.
func (b *inputBudget) release(n int64) {
	rel := b.released.Add(n)
	left := b.inUse.Add(-n)
	if b.waiters.Load() > 0 {
		b.mu.Lock()
		if b.freed != nil {
			close(b.freed)
			b.freed = nil
		}
		b.mu.Unlock()
	}
	if left == 0 && rel >= returnAfter && b.returning.CompareAndSwap(false, true) {
		seen := b.grants.Load()
		time.AfterFunc(returnQuiet, func() { b.returnMemory(seen) })
	}
}

// returnMemory returns freed memory to the OS if no grant was made since
// seen grants, a second ago; otherwise the burst goes on, and it looks
// again a second later.
func (b *inputBudget) returnMemory(seen uint64) {
	if now := b.grants.Load(); now != seen {
		time.AfterFunc(returnQuiet, func() { b.returnMemory(now) })
		return
	}
	b.released.Store(0)
	b.returning.Store(false)
	debug.FreeOSMemory()
}

// acquireGrant reserves the frame the decoder waits for (errGrant) and
// lets it read on. It waits, if need be, within the message's read
// timeout, or until Close. The connection holds no grant.
func (c *conn) acquireGrant() error {
	b := &c.s.budget
	n := int64(c.dec.grantSize())
	if n > b.max {
		return fmt.Errorf("%w: a message of %d bytes is above the server's input budget of %d bytes", ErrContentTooLarge, n, b.max)
	}
	if !b.tryAcquire(n) {
		c.s.stats.bufferWaits.Add(1)
		since := c.partialSince
		if since.IsZero() {
			since = c.readAt // the message began in this read
		}
		var deadline time.Time
		t := c.s.t.read
		if t > 0 {
			deadline = since.Add(t)
		}
		if err := b.acquire(n, deadline, c.s.baseCtx.Done()); err != nil {
			if err == errBudgetTimeout {
				c.log.Debug("read timeout inside a message, waiting for input budget")
				return fmt.Errorf("%w: message not complete after %s", ErrReadTimeout, t)
			}
			return err
		}
	}
	c.held = n
	c.dec.grant()
	return nil
}

// releaseGrant returns the connection's grant, if it holds one.
func (c *conn) releaseGrant() {
	if c.held > 0 {
		c.s.budget.release(c.held)
		c.held = 0
	}
}
