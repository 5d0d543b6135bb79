package plugins

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"sync"
	"syscall"
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
// reading goroutine, which on the two cores this was measured on woke
// another thread and cost more than a bare round trip to another process
// (such a round trip took 69-83 µs with the hand-off, 27-31 µs without).
// Once its answers are in, a caller passes the turn to readLoop if other
// callers still wait, and readLoop keeps it while its reads bring several
// answers: under load, one reader serves the callers better than a turn
// passed from caller to caller. When nobody has read for idleRead,
// readLoop takes the turn too, so that a plugin that dies while idle is
// noticed, and the late answers of requests given up on are read.
type dataClient struct {
	nc    net.Conn
	label string
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
	dec      core.Decoder
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
// doubled the latency of a round trip to another process here.
const slowWait = 100 * time.Millisecond

// idleRead is how long the turn to read stays free before readLoop takes
// it.
const idleRead = 50 * time.Millisecond

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
func dialData(ctx context.Context, path, label string, maxAnswer int64, log hclog.Logger, onFail func(error)) (*dataClient, error) {
	var d net.Dialer
	nc, err := d.DialContext(ctx, "unix", path)
	if err != nil {
		return nil, err
	}
	return newDataClient(nc, label, maxAnswer, log, onFail), nil
}

// newDataClient runs the router's side of a plugin's data connection nc;
// label names the plugin in errors, and maxAnswer bounds its answers'
// content-length (see Config.MaxAnswerLength).
func newDataClient(nc net.Conn, label string, maxAnswer int64, log hclog.Logger, onFail func(error)) *dataClient {
	c := &dataClient{
		nc:       nc,
		label:    label,
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

	var deadline []byte
	if hasDeadline {
		deadline = strconv.AppendInt(nil, dl.UnixNano(), 10)
	}
	var encodeErrs []int
	var idBuf [20]byte
	extra := [3]core.Header{{Key: hdrID}, {Key: hdrHandler, Value: h.nameJSON}, {Key: hdrDeadline, Value: deadline}}
	nextra := 2
	if deadline != nil {
		nextra = 3
	}
	// Alone, the write goes out at once; with other calls in flight, it
	// lets them add their requests first (see frameWriter.add).
	werr := c.w.add(ctx, !alone, func(dst []byte) ([]byte, error) {
		for i, req := range reqs {
			extra[0].Value = strconv.AppendUint(idBuf[:0], first+uint64(i), 10)
			out, err := core.AppendFrameWith(dst, req, extra[:nextra]...)
			if err != nil {
				encodeErrs = append(encodeErrs, i)
				continue
			}
			dst = out
		}
		return dst, nil
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
	if c.pending.len() > 0 || c.dec.Partial() {
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
// come, and pass it back with its own, a hand-off more each time (with 64
// clients that each wait for their answer, 0.47-0.57x of in process with
// the turn kept, 0.43-0.56x without, in noisy runs). Otherwise it passes
// the turn on after one read (to itself again while callers wait). It
// returns once the connection fails or is closed.
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
	type result struct {
		id  uint64
		ans *core.Message
		err error
	}
	// The Messages, and room for their headers, are allocated together
	// too, in chunks that double as the answers keep coming.
	results := make([]result, 0, firstAnswerChunk)
	var msgs []core.Message
	var hdrs []core.Header
	chunk := firstAnswerChunk
	var err error
	for len(p) > 0 {
		if len(msgs) == 0 {
			msgs = make([]core.Message, chunk)
			hdrs = make([]core.Header, chunk*answerHeaders)
			chunk = min(2*chunk, maxAnswerChunk)
		}
		m := &msgs[0]
		msgs = msgs[1:]
		m.Headers, hdrs = hdrs[:0:answerHeaders], hdrs[answerHeaders:]
		k, ok, derr := c.dec.DecodeTo(m, p)
		p = p[k:]
		if derr != nil {
			err = fmt.Errorf("%w: bad frame from plugin: %w", errProtocol, derr)
			break
		}
		if !ok {
			break
		}
		id, ok := uintHeader(m, hdrID)
		if !ok {
			err = fmt.Errorf("%w: answer from plugin without router-id", errProtocol)
			break
		}
		if text, isErr := m.Header(hdrError); isErr {
			results = append(results, result{id: id, err: answerError(text)})
			continue
		}
		stripRouterHeaders(m)
		results = append(results, result{id: id, ans: m})
	}
	// One lock for all the answers of a read.
	c.mu.Lock()
	c.lastRead = len(results)
	for _, r := range results {
		if r.id == 0 || r.id > c.nextID {
			// An id never sent: the plugin is broken. (An id sent
			// before and no longer pending is the late answer of a
			// request the router gave up on, or a repeat: dropped.)
			err = fmt.Errorf("%w: answer from plugin for router-id %d, which the router never sent", errProtocol, r.id)
			break
		}
		c.resolveLocked(r.id, r.ans, r.err)
	}
	c.mu.Unlock()
	return err
}

// How deliver allocates the answers of a read: firstAnswerChunk of them,
// then twice as many each time up to maxAnswerChunk, with room for
// answerHeaders headers each (the router-id, a request id, and a few of
// the plugin's; more are appended elsewhere).
const (
	firstAnswerChunk = 4
	maxAnswerChunk   = 128
	answerHeaders    = 4
)

// answerError is the error a plugin answered for a request: its text, as
// the plugin's handler gave it.
type answerError string

func (e answerError) Error() string { return string(e) }

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
