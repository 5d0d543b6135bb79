package plugins

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/msgrouter/router/core"
)

// dataClient is the router side of a plugin's data path: requests are
// written with an id, answers matched to their waiting callers by it.
//
// One goroutine at a time reads the answers: it holds the turn to read. A
// caller that finds the turn free takes it and reads its answers itself,
// delivering any others it reads; a caller that finds it taken waits to be
// handed its answers. Reading one's own answers saves the hand-off from a
// reading goroutine, which wakes another thread and cost more than the
// bare round trip to another process it was added to (measured: see
// BENCHMARKS.md, "Figures that were in code comments").
// Once its answers are in, a caller passes the turn to readLoop if other
// callers still wait, and readLoop keeps it while its reads bring several
// answers: under load, one reader serves the callers better than a turn
// passed from caller to caller. When nobody has read for idleRead,
// readLoop takes the turn too, so that a plugin that dies while idle is
// noticed, and the late answers of requests given up on are read.
type dataClient struct {
	nc    net.Conn
	label string
	proto int // the data protocol the plugin speaks
	w     *frameWriter
	log   hclog.Logger

	mu      sync.Mutex
	pending pendingSet
	nextID  uint64
	err     error // set once the connection is lost

	// abandoned counts the requests given up on (their context ended
	// before their answer came), late the answers that came for requests
	// no longer waited for: see Process.Abandoned.
	abandoned, late uint64
	onFail          func(error)
	closed          chan struct{} // closed when the connection is lost
	readDone        chan struct{} // closed when readLoop returns

	// The turn to read: reading says somebody holds it, leader which
	// caller (nil for readLoop). dec and buf belong to the holder.
	reading  bool
	leader   *batchWait
	dec      core.Decoder // protocol 1's answers
	env      envReader    // protocol 2's envelopes
	answers  answerAlloc  // the Messages they are decoded into
	buf      []byte
	lastRead int // answers in the last read

	// readTurn hands the turn to readLoop; idleT does so once nobody has
	// read for idleRead.
	readTurn  chan struct{}
	idleT     *time.Timer
	idleArmed bool

	// The batches not yet watching their contexts (a list through
	// batchWait.next), and when the watch runs next (zero: not set).
	waiting *batchWait
	watchAt time.Time
	watchT  *time.Timer
}

// A batch watches its context once it has waited slowWait, or from its
// deadline if that comes first: asking a request context for Done arms a
// timer, which costs more than most plugin requests take (see
// core.WithLazyDeadline). The watch's own timer is set rarely and far
// ahead, since a timer due within a millisecond or so, set again and again,
// slows every round trip to another process (see slowBatch; measured: see
// BENCHMARKS.md, "Figures that were in code comments").
const slowWait = 100 * time.Millisecond

// batchWait collects the answers of one HandleBatch call.
type batchWait struct {
	ctx     context.Context
	answers []*core.Message
	errs    []error
	left    int
	done    chan struct{}

	// slow is closed by the watch at attend; the batch then watches its
	// context too. prev and next list it in dataClient.waiting until
	// then. stop ends the context's interruption of a read (see
	// watchRead).
	slow       chan struct{}
	attend     time.Time
	prev, next *batchWait
	listed     bool
	stop       func() bool
}

type slot struct {
	b *batchWait
	i int
}

// dialData connects to a plugin's data socket at path (a plugin without
// the data pipes, see pipeconn.go); see newDataClient for the rest.
func dialData(ctx context.Context, path, label string, proto int, maxAnswer int64, log hclog.Logger, onFail func(error)) (*dataClient, error) {
	var d net.Dialer
	nc, err := d.DialContext(ctx, "unix", path)
	if err != nil {
		return nil, err
	}
	return newDataClient(nc, label, proto, maxAnswer, log, onFail), nil
}

// newDataClient runs the router's side of a plugin's data connection nc,
// in data protocol proto; label names the plugin in errors, and maxAnswer
// bounds its answers' content-length (see Config.MaxAnswerLength).
func newDataClient(nc net.Conn, label string, proto int, maxAnswer int64, log hclog.Logger, onFail func(error)) *dataClient {
	c := &dataClient{
		nc:       nc,
		label:    label,
		proto:    proto,
		env:      envReader{maxBody: maxAnswerBody(maxAnswer)},
		w:        &frameWriter{nc: nc, timeout: dataWriteTimeout},
		log:      log,
		onFail:   onFail,
		closed:   make(chan struct{}),
		readDone: make(chan struct{}),
		dec:      core.Decoder{MaxContentLength: maxAnswer},
		buf:      make([]byte, 64<<10),
		readTurn: make(chan struct{}, 1),
	}
	c.watchT = time.AfterFunc(time.Hour, c.watch)
	c.watchT.Stop()
	c.idleT = time.AfterFunc(time.Hour, c.wakeIdle)
	c.idleT.Stop()
	// Nobody waits yet: readLoop reads from the start.
	c.reading = true
	c.readTurn <- struct{}{}
	go c.readLoop()
	return c
}

// do sends reqs to the plugin's handler h in one write and waits for their
// answers, or for ctx to end.
func (c *dataClient) do(ctx context.Context, h *remoteHandler, reqs, answers []*core.Message, errs []error) {
	dl, hasDeadline := ctx.Deadline()
	b := &batchWait{ctx: ctx, answers: answers, errs: errs, left: len(reqs), done: make(chan struct{}), slow: make(chan struct{})}
	c.mu.Lock()
	if c.err != nil {
		c.mu.Unlock()
		for i := range errs {
			errs[i] = c.err
		}
		return
	}
	first := c.nextID + 1
	for i := range reqs {
		c.nextID++
		c.pending.add(c.nextID, slot{b, i})
	}
	c.listLocked(b, dl, hasDeadline)
	alone := c.pending.len() == len(reqs)
	lead := !c.reading
	if lead {
		c.reading, c.leader = true, b
	}
	c.mu.Unlock()

	var encodeErrs []int
	// Alone, the write goes out at once; with other calls in flight, it
	// lets them add their requests first (see frameWriter.add).
	werr := c.w.add(ctx, !alone, func(dst []byte) ([]byte, error) {
		if c.proto == dataProtocolEnvelope {
			return c.appendEnvelopes(dst, h, reqs, first, dl, hasDeadline, &encodeErrs), nil
		}
		return appendRequestFrames(dst, h, reqs, first, dl, hasDeadline, &encodeErrs), nil
	})
	if werr != nil && ctx.Err() == nil {
		// The connection is gone: the reader fails every pending call.
		c.log.Debug("write to plugin failed", "error", werr)
	}
	for _, i := range encodeErrs {
		c.resolve(first+uint64(i), nil, fmt.Errorf("plugins: cannot send request to plugin: headers too large"))
	}

	timeout := func(err error) error {
		return fmt.Errorf("%w: plugin handler %q: %w", core.ErrHandlerTimeout, h.name, err)
	}
	var answered bool
	if lead {
		answered = c.read(ctx, b)
	} else {
		answered = c.wait(ctx, b)
	}
	if !answered {
		c.giveUp(ctx, b, first, len(reqs), timeout)
	}
	// The plugin's own clock may have ended a request a moment before
	// ours, or its answer come as we gave up: a request past its deadline
	// that the plugin failed is reported as the timeout it is.
	if hasDeadline && !time.Now().Before(dl) {
		for i, err := range errs {
			if _, ok := err.(answerError); ok { // stored as is by deliver
				errs[i] = timeout(err)
			}
		}
	}
}

// giveUp gives up on the answers of b still missing, once ctx has ended,
// and tells the plugin.
func (c *dataClient) giveUp(ctx context.Context, b *batchWait, first uint64, n int, timeout func(error) error) {
	err := ctx.Err()
	if errors.Is(err, context.DeadlineExceeded) {
		err = timeout(err)
	}
	var cancelled []uint64
	c.mu.Lock()
	for i := range n {
		id := first + uint64(i)
		if s, ok := c.pending.take(id); ok {
			s.b.errs[s.i] = err
			cancelled = append(cancelled, id)
		}
	}
	c.abandoned += uint64(len(cancelled))
	c.unlistLocked(b)
	if c.leader == b {
		c.passLocked()
	}
	c.mu.Unlock()
	if len(cancelled) > 0 {
		// Never waits: the caller has given up already.
		c.w.addLater(func(dst []byte) ([]byte, error) {
			for _, id := range cancelled {
				if c.proto == dataProtocolEnvelope {
					dst = appendEnvHeader(dst, envCancel, id)
					continue
				}
				m := core.Message{Headers: []core.Header{{Key: hdrCancel, Value: strconv.AppendUint(nil, id, 10)}}}
				dst, _ = core.AppendFrame(dst, &m)
			}
			return dst, nil
		})
	}
}

// resolve delivers the answer or error for id, if its caller still waits.
func (c *dataClient) resolve(id uint64, ans *core.Message, err error) {
	c.mu.Lock()
	c.resolveLocked(id, ans, err)
	c.mu.Unlock()
}

func (c *dataClient) resolveLocked(id uint64, ans *core.Message, err error) {
	s, ok := c.pending.take(id)
	if !ok {
		c.late++ // its caller gave up
		if ans != nil {
			ans.Release()
		}
		return
	}
	if err != nil {
		s.b.errs[s.i] = err
	} else {
		s.b.answers[s.i] = ans
	}
	s.b.left--
	if s.b.left == 0 {
		c.unlistLocked(s.b)
		close(s.b.done)
	}
}

// listLocked adds b, whose context's deadline is dl if hasDeadline, to
// the batches the watch looks at, and sets the watch's timer if it is not
// set or set too late for b.
func (c *dataClient) listLocked(b *batchWait, dl time.Time, hasDeadline bool) {
	now := time.Now()
	b.attend = now.Add(slowWait)
	if hasDeadline && dl.Before(b.attend) {
		b.attend = dl
	}
	b.listed = true
	b.next = c.waiting
	if c.waiting != nil {
		c.waiting.prev = b
	}
	c.waiting = b
	if c.watchAt.IsZero() || b.attend.Before(c.watchAt) {
		c.watchAt = b.attend
		c.watchT.Reset(b.attend.Sub(now))
	}
}

func (c *dataClient) unlistLocked(b *batchWait) {
	if !b.listed {
		return
	}
	if b.prev != nil {
		b.prev.next = b.next
	} else {
		c.waiting = b.next
	}
	if b.next != nil {
		b.next.prev = b.prev
	}
	b.prev, b.next, b.listed = nil, nil, false
}

// watch makes the batches whose time has come watch their contexts, and
// sets its timer for the next one.
func (c *dataClient) watch() {
	c.mu.Lock()
	defer c.mu.Unlock()
	now := time.Now()
	var next time.Time
	for b := c.waiting; b != nil; {
		nb := b.next
		if b.attend.After(now) {
			if next.IsZero() || b.attend.Before(next) {
				next = b.attend
			}
		} else {
			c.unlistLocked(b)
			close(b.slow)
			if c.leader == b {
				c.watchRead(b)
			}
		}
		b = nb
	}
	c.watchAt = next
	if !next.IsZero() {
		c.watchT.Reset(next.Sub(now))
	}
}

// watchRead makes the end of b's context interrupt the read of b, the
// leader.
func (c *dataClient) watchRead(b *batchWait) {
	if b.stop == nil {
		b.stop = context.AfterFunc(b.ctx, func() { c.nc.SetReadDeadline(time.Unix(1, 0)) })
	}
}

// wait waits for b's answers, which another goroutine reads, and reports
// whether they all came, or whether ctx ended first.
func (c *dataClient) wait(ctx context.Context, b *batchWait) bool {
	select {
	case <-b.done:
		return true
	case <-b.slow:
	}
	select {
	case <-b.done:
		return true
	case <-ctx.Done():
		return false
	}
}
