package plugins

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/msgrouter/router/core"
)

// dataClient is the router side of a plugin's data socket: requests are
// written with an id, answers matched to their waiting callers by it.
type dataClient struct {
	nc    net.Conn
	label string
	w     *frameWriter
	log   hclog.Logger

	mu      sync.Mutex
	pending map[uint64]slot
	nextID  uint64
	err     error // set once the connection is lost
	onFail  func(error)
	done    chan struct{}

	// maxAnswer bounds an answer's content-length, as a core.Decoder's
	// MaxContentLength does.
	maxAnswer int64

	// The batches waiting for answers since the watch last ran (a list
	// through batchWait.next), and whether its timer is set.
	waiting  *batchWait
	watching bool
	watchT   *time.Timer
}

// watchTick is how often the watch runs while batches wait: a batch starts
// watching its context (its deadline, or a cancel) after at most that.
const watchTick = time.Millisecond

// batchWait collects the answers of one HandleBatch call.
type batchWait struct {
	answers []*core.Message
	errs    []error
	left    int
	done    chan struct{}

	// slow is closed by the watch once the batch has waited a while; it
	// then watches its context too. prev and next list it in
	// dataClient.waiting until then.
	slow       chan struct{}
	prev, next *batchWait
	listed     bool
}

type slot struct {
	b *batchWait
	i int
}

// dialData connects to a plugin's data socket at path; label names the
// plugin in errors, and maxAnswer bounds its answers' content-length (see
// Config.MaxAnswerLength).
func dialData(ctx context.Context, path, label string, maxAnswer int64, log hclog.Logger, onFail func(error)) (*dataClient, error) {
	var d net.Dialer
	nc, err := d.DialContext(ctx, "unix", path)
	if err != nil {
		return nil, err
	}
	c := &dataClient{
		nc:      nc,
		label:   label,
		w:       &frameWriter{nc: nc, timeout: dataWriteTimeout},
		log:     log,
		pending: make(map[uint64]slot),
		onFail:  onFail,
		done:    make(chan struct{}),
	}
	c.maxAnswer = maxAnswer
	c.watchT = time.AfterFunc(time.Hour, c.watch)
	c.watchT.Stop()
	go c.readLoop()
	return c, nil
}

// do sends reqs to the plugin's handler h in one write and waits for their
// answers, or for ctx to end.
func (c *dataClient) do(ctx context.Context, h *remoteHandler, reqs, answers []*core.Message, errs []error) {
	b := &batchWait{answers: answers, errs: errs, left: len(reqs), done: make(chan struct{}), slow: make(chan struct{})}
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
		c.pending[c.nextID] = slot{b, i}
	}
	c.listLocked(b)
	c.mu.Unlock()

	var deadline []byte
	if dl, ok := ctx.Deadline(); ok {
		deadline = strconv.AppendInt(nil, dl.UnixNano(), 10)
	}
	var encodeErrs []int
	var idBuf [20]byte
	extra := [3]core.Header{{Key: hdrID}, {Key: hdrHandler, Value: h.nameJSON}, {Key: hdrDeadline, Value: deadline}}
	nextra := 2
	if deadline != nil {
		nextra = 3
	}
	werr := c.w.add(func(dst []byte) ([]byte, error) {
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
	if werr != nil {
		// The connection is gone: the reader fails every pending call.
		c.log.Debug("write to plugin failed", "error", werr)
	}
	for _, i := range encodeErrs {
		c.resolve(first+uint64(i), nil, fmt.Errorf("plugins: cannot send request to plugin: headers too large"))
	}

	timeout := func(err error) error {
		return fmt.Errorf("%w: plugin handler %q: %w", core.ErrHandlerTimeout, h.name, err)
	}
	answered := false
	select {
	case <-b.done:
		answered = true
	case <-b.slow:
		// Only a batch that has waited a while watches ctx: asking a
		// request context for Done arms its timer, which costs more than
		// most plugin requests take (see core.WithLazyDeadline).
		select {
		case <-b.done:
			answered = true
		case <-ctx.Done():
		}
	}
	if answered {
		// The plugin's own clock may have ended a request a moment
		// before ours: report it as the timeout it is.
		if dl, ok := ctx.Deadline(); ok && !time.Now().Before(dl) {
			for i, err := range errs {
				if err != nil && !errors.Is(err, core.ErrHandlerTimeout) {
					errs[i] = timeout(err)
				}
			}
		}
		return
	}
	// Give up on the answers still missing, and tell the plugin.
	err := ctx.Err()
	if errors.Is(err, context.DeadlineExceeded) {
		err = timeout(err)
	}
	var cancelled []uint64
	c.mu.Lock()
	for i := range reqs {
		id := first + uint64(i)
		if s, ok := c.pending[id]; ok {
			delete(c.pending, id)
			s.b.errs[s.i] = err
			cancelled = append(cancelled, id)
		}
	}
	c.mu.Unlock()
	if len(cancelled) > 0 {
		c.w.add(func(dst []byte) ([]byte, error) {
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
	s, ok := c.pending[id]
	if !ok {
		return // its caller gave up
	}
	delete(c.pending, id)
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

// listLocked adds b to the batches the watch looks at, and sets its timer
// if it is not set.
func (c *dataClient) listLocked(b *batchWait) {
	b.listed = true
	b.next = c.waiting
	if c.waiting != nil {
		c.waiting.prev = b
	}
	c.waiting = b
	if !c.watching {
		c.watching = true
		c.watchT.Reset(watchTick)
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

// watch runs every watchTick while batches wait: each batch listed since
// its last run has waited long enough to watch its context.
func (c *dataClient) watch() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for b := c.waiting; b != nil; {
		next := b.next
		b.prev, b.next, b.listed = nil, nil, false
		close(b.slow)
		b = next
	}
	c.waiting = nil
	c.watching = false
}

func (c *dataClient) readLoop() {
	defer close(c.done)
	dec := core.Decoder{MaxContentLength: c.maxAnswer}
	buf := make([]byte, 64<<10)
	type result struct {
		id  uint64
		ans *core.Message
		err error
	}
	var results []result
	var err error
	for err == nil {
		var n int
		n, err = c.nc.Read(buf)
		// The answers outlive buf: they are decoded from one copy of what
		// this read returned, which they then own (one allocation per
		// read rather than a copy of each answer).
		p := append([]byte(nil), buf[:n]...)
		results = results[:0]
		for len(p) > 0 {
			m := new(core.Message)
			k, ok, derr := dec.DecodeTo(m, p)
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
				results = append(results, result{id: id, err: errors.New(text)})
				continue
			}
			stripRouterHeaders(m)
			results = append(results, result{id: id, ans: m})
		}
		// One lock for all the answers of a read.
		c.mu.Lock()
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
		clear(results)
	}
	c.fail(err)
}

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
		cause = errors.New("connection closed (the process died or was killed)")
	case errors.Is(cause, net.ErrClosed):
		// The router closed it first: its health check found the
		// process dead or frozen, or it is being stopped.
		cause = errors.New("connection closed by the router (the process failed a health check, or is being stopped)")
	}
	c.err = fmt.Errorf("%w: %s: %w", ErrExited, c.label, cause)
	for id, s := range c.pending {
		delete(c.pending, id)
		s.b.errs[s.i] = c.err
		s.b.left--
		if s.b.left == 0 {
			c.unlistLocked(s.b)
			close(s.b.done)
		}
	}
	err := c.err
	c.mu.Unlock()
	c.nc.Close()
	if c.onFail != nil {
		c.onFail(err)
	}
}

// lost returns why the connection was lost, or nil while it works.
func (c *dataClient) lost() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.err
}

// close ends the connection on purpose.
func (c *dataClient) close() {
	c.nc.Close()
	<-c.done
}
