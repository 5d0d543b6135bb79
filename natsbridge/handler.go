package natsbridge

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/msgrouter/router/core"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/micro"
)

// DefaultTimeout bounds a Handler's NATS request whose context has no
// deadline.
const DefaultTimeout = 30 * time.Second

// DefaultMaxOutstanding is the default of Handler.MaxOutstanding.
const DefaultMaxOutstanding = 16

// Handler is a core.Handler that sends each request to one NATS subject
// and returns the answer of whichever worker takes it (see the package
// documentation for the wire mapping). It is safe for concurrent use.
//
// While fewer than MaxOutstanding of its messages await their answers, a
// request goes out at once, alone, in the single form (a batch of
// pipelined requests goes out as one batch message). Past that, the
// requests that arrive queue, and go out together, in one batch message,
// as soon as an outstanding message is answered: under load, NATS then
// carries a message for many requests (see batch.go).
//
// The request's context deadline bounds its wait. Errors:
// ErrNoWorkers at once when no worker serves the subject;
// core.ErrHandlerTimeout by the deadline when no answer comes;
// ErrTooLarge at once when the request is over the max payload (or the
// worker's answer was); ErrDisconnected at once while the connection is
// down; a *RemoteError with the worker handler's error text.
type Handler struct {
	c       *Client
	own     bool // c is the Handler's own (NewHandler)
	subject string
	// Timeout bounds a request whose context has no deadline;
	// DefaultTimeout when zero.
	Timeout time.Duration
	// MaxOutstanding is how many messages may await their answers
	// before requests are queued into batches; DefaultMaxOutstanding
	// when zero.
	MaxOutstanding int

	mu          sync.Mutex
	outstanding int
	queue       []*call
	queued      int // bytes of the queued requests' frames
}

var _ core.BatchHandler = (*Handler)(nil)

// NewHandler returns a Handler that sends requests over nc to subject,
// with a Client of its own: Close it when done. The caller owns nc.
func NewHandler(nc *nats.Conn, subject string) *Handler {
	return &Handler{c: NewClient(nc), own: true, subject: subject}
}

// Handler returns a Handler that sends requests to subject through c.
func (c *Client) Handler(subject string) *Handler {
	return &Handler{c: c, subject: subject}
}

// Close closes the Handler's own Client, if NewHandler made it.
func (h *Handler) Close() error {
	if h.own {
		return h.c.Close()
	}
	return nil
}

// Subject returns the subject requests are sent to.
func (h *Handler) Subject() string { return h.subject }

// Handle sends req to the subject and returns the worker's answer.
func (h *Handler) Handle(ctx context.Context, req *core.Message) (*core.Message, error) {
	ctx, cancel := h.bound(ctx)
	defer cancel()
	dl, _ := ctx.Deadline()
	k := newCall(req, dl)
	h.submit([]*call{k})
	return h.wait(ctx, k)
}

// HandleBatch sends the requests together, in one batch message if none
// is queued, and waits for every answer. Each request's answer or error
// is the one Handle gives.
func (h *Handler) HandleBatch(ctx context.Context, reqs []*core.Message, answers []*core.Message, errs []error) {
	if len(reqs) == 1 {
		answers[0], errs[0] = h.Handle(ctx, reqs[0])
		return
	}
	ctx, cancel := h.bound(ctx)
	defer cancel()
	dl, _ := ctx.Deadline()
	calls := make([]*call, len(reqs))
	for i, req := range reqs {
		calls[i] = newCall(req, dl)
	}
	h.submit(calls)
	for i, k := range calls {
		answers[i], errs[i] = h.wait(ctx, k)
	}
}

// bound gives ctx a deadline, if it has none.
func (h *Handler) bound(ctx context.Context) (context.Context, context.CancelFunc) {
	if _, ok := ctx.Deadline(); ok {
		return ctx, func() {}
	}
	t := h.Timeout
	if t <= 0 {
		t = DefaultTimeout
	}
	return context.WithTimeout(ctx, t)
}

// wait returns k's answer, or the error of ctx if it ends first.
func (h *Handler) wait(ctx context.Context, k *call) (*core.Message, error) {
	select {
	case <-k.done:
		return k.ans, k.err
	case <-ctx.Done():
		select {
		case <-k.done: // both ready: the answer wins
			return k.ans, k.err
		default:
		}
		if errors.Is(ctx.Err(), context.DeadlineExceeded) {
			return nil, fmt.Errorf("%w: nats request to %s: no answer by the deadline", core.ErrHandlerTimeout, h.subject)
		}
		return nil, fmt.Errorf("natsbridge: nats request to %s: %w", h.subject, ctx.Err())
	}
}

// settleNow gives calls err at once.
func settleNow(calls []*call, err error) {
	for _, k := range calls {
		k.settled, k.err = true, err
		close(k.done)
	}
}

// submit sends calls now, as one message, if the window has room and
// nothing is queued; else it queues them for the next batch.
func (h *Handler) submit(calls []*call) {
	nc := h.c.nc
	if !nc.IsConnected() {
		settleNow(calls, fmt.Errorf("%w: nats request to %s: connection %s", ErrDisconnected, h.subject, nc.Status()))
		return
	}
	if err := h.c.subscribe(); err != nil {
		settleNow(calls, fmt.Errorf("%w: nats request to %s: %w", ErrDisconnected, h.subject, err))
		return
	}
	h.mu.Lock()
	if h.outstanding < h.window() && len(h.queue) == 0 {
		h.outstanding++ // reserved for the first message
		h.mu.Unlock()
		h.dispatch(calls)
		return
	}
	h.mu.Unlock()
	// Encoded here, in the caller's goroutine, not in the one that sends
	// the batch.
	calls = h.encodeFrames(calls)
	h.mu.Lock()
	for _, k := range calls {
		h.queue = append(h.queue, k)
		h.queued += len(k.frame)
	}
	// A queue that fills a message goes out whatever the window; and if
	// the messages outstanding were all answered while these were being
	// encoded, nobody else would send them.
	full := len(h.queue) >= maxBatch || int64(h.queued) >= h.c.nc.MaxPayload()/2
	room := h.outstanding < h.window()
	h.mu.Unlock()
	if full || room {
		h.flush(full)
	}
}

// window returns MaxOutstanding or its default.
func (h *Handler) window() int {
	if h.MaxOutstanding > 0 {
		return h.MaxOutstanding
	}
	return DefaultMaxOutstanding
}

// released is called when a message of h has all its answers: the queue,
// if any, goes out.
func (h *Handler) released() {
	h.mu.Lock()
	h.outstanding--
	h.mu.Unlock()
	h.flush(false)
}

// flush sends the queued requests, as batch messages that fit the max
// payload, if the window has room or force is set.
func (h *Handler) flush(force bool) {
	for {
		h.mu.Lock()
		if len(h.queue) == 0 || (!force && h.outstanding >= h.window()) {
			h.mu.Unlock()
			return
		}
		n, size := fitting(len(h.queue), func(i int) int { return len(h.queue[i].frame) }, h.limit())
		calls := append([]*call(nil), h.queue[:n]...)
		h.queue = append(h.queue[:0], h.queue[n:]...)
		h.queued -= size
		h.outstanding++
		h.mu.Unlock()
		h.send(calls) // they fit: encodeFrames checked each
		force = false
	}
}

// limit is the most bytes of frames a batch message may hold: the max
// payload, less room for its NATS headers.
func (h *Handler) limit() int64 { return h.c.nc.MaxPayload() - batchHeaderRoom }

// encodeFrames encodes the frame of each call for a batch, and returns
// the calls that can go in one: one whose request does not encode, or is
// over the max payload alone, gets its error at once.
func (h *Handler) encodeFrames(calls []*call) []*call {
	out := calls[:0:0]
	for _, k := range calls {
		if k.frame == nil {
			f, err := core.AppendFrame(nil, k.req)
			if err != nil {
				settleNow([]*call{k}, fmt.Errorf("natsbridge: encode request for %s: %w", h.subject, err))
				continue
			}
			k.frame = f
		}
		if int64(len(k.frame)) > h.limit() {
			settleNow([]*call{k}, fmt.Errorf("%w: request to %s of %d bytes (max %d)", ErrTooLarge, h.subject, len(k.frame), h.c.nc.MaxPayload()))
			continue
		}
		out = append(out, k)
	}
	return out
}

// dispatch sends calls now, one window slot being reserved for them:
// alone in the single form, or in batch messages that fit the max
// payload, each taking a slot of its own past the first.
func (h *Handler) dispatch(calls []*call) {
	if len(calls) == 1 {
		h.send(calls)
		return
	}
	calls = h.encodeFrames(calls)
	reserved := true
	for len(calls) > 0 {
		n, _ := fitting(len(calls), func(i int) int { return len(calls[i].frame) }, h.limit())
		if !reserved {
			h.mu.Lock()
			h.outstanding++
			h.mu.Unlock()
		}
		reserved = false
		h.send(calls[:n])
		calls = calls[n:]
	}
	if reserved {
		h.released() // every request had its error: the slot is free
	}
}

// send sends calls as one message: the single form for one, the batch
// form for more.
func (h *Handler) send(calls []*call) {
	m := h.c.register(h, calls)
	if m == nil {
		settleNow(calls, fmt.Errorf("%w: the client was closed", ErrDisconnected))
		h.released()
		return
	}
	msg, err := h.message(m)
	if err == nil {
		err = h.c.nc.PublishMsg(msg)
	}
	if err != nil {
		m.failAll(h.publishError(err))
	}
}

// message returns the NATS message of m.
func (h *Handler) message(m *outMsg) (*nats.Msg, error) {
	left := max(time.Until(m.latest).Milliseconds(), 1)
	msg := &nats.Msg{Subject: h.subject, Reply: m.reply()}
	if len(m.calls) == 1 && m.calls[0].frame == nil {
		hdr, data, err := encode(m.calls[0].req, nil)
		if err != nil {
			return nil, fmt.Errorf("natsbridge: encode request for %s: %w", h.subject, err)
		}
		msg.Header, msg.Data = hdr, data
	} else {
		size := 0
		for _, k := range m.calls {
			if k.frame == nil {
				f, err := core.AppendFrame(nil, k.req)
				if err != nil {
					return nil, fmt.Errorf("natsbridge: encode request for %s: %w", h.subject, err)
				}
				k.frame = f
			}
			size += len(k.frame)
		}
		data := make([]byte, 0, size)
		for _, k := range m.calls {
			data = append(data, k.frame...)
		}
		msg.Header = nats.Header{HeaderBatch: []string{strconv.Itoa(len(m.calls))}}
		msg.Data = data
	}
	msg.Header[HeaderTimeout] = []string{strconv.FormatInt(left, 10)}
	return msg, nil
}

// publishError maps an error of publishing a request to this package's.
func (h *Handler) publishError(err error) error {
	switch {
	case errors.Is(err, nats.ErrMaxPayload):
		return fmt.Errorf("%w: request to %s (max %d bytes)", ErrTooLarge, h.subject, h.c.nc.MaxPayload())
	case errors.Is(err, nats.ErrConnectionClosed), errors.Is(err, nats.ErrConnectionDraining),
		errors.Is(err, nats.ErrConnectionReconnecting), errors.Is(err, nats.ErrDisconnected):
		return fmt.Errorf("%w: nats request to %s: %w", ErrDisconnected, h.subject, err)
	}
	return fmt.Errorf("natsbridge: nats request to %s: %w", h.subject, err)
}

// answer decodes a worker's reply in the single form: an answer, or an
// error answer.
func (h *Handler) answer(resp *nats.Msg) (*core.Message, error) {
	if desc := resp.Header.Get(micro.ErrorHeader); desc != "" {
		code := resp.Header.Get(micro.ErrorCodeHeader)
		if code == codeTooLarge {
			return nil, fmt.Errorf("%w: answer from %s: %s", ErrTooLarge, h.subject, resp.Data)
		}
		text := string(resp.Data)
		if text == "" {
			text = desc
		}
		return nil, &RemoteError{Subject: h.subject, Code: code, Text: text}
	}
	ans, err := decode(resp.Header, resp.Data)
	if err != nil {
		return nil, fmt.Errorf("answer from %s: %w", h.subject, err)
	}
	return ans, nil
}
