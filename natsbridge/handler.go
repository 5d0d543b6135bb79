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

// Handler is a core.Handler that sends each request as a NATS request to
// one subject and returns the answer of whichever worker takes it (see the
// package documentation for the wire mapping). It is safe for concurrent
// use.
//
// The request's context deadline bounds the NATS request. Errors:
// ErrNoWorkers at once when no worker serves the subject;
// core.ErrHandlerTimeout by the deadline when no answer comes;
// ErrTooLarge at once when the request is over the max payload (or the
// worker's answer was); ErrDisconnected at once while the connection is
// down; a *RemoteError with the worker handler's error text.
type Handler struct {
	conn    *nats.Conn
	subject string
	// Timeout bounds a request whose context has no deadline;
	// DefaultTimeout when zero.
	Timeout time.Duration
}

var _ core.BatchHandler = (*Handler)(nil)

// NewHandler returns a Handler that sends requests over nc to subject.
// The caller owns nc (its reconnect options, its Close).
func NewHandler(nc *nats.Conn, subject string) *Handler {
	return &Handler{conn: nc, subject: subject}
}

// Subject returns the subject requests are sent to.
func (h *Handler) Subject() string { return h.subject }

// Handle sends req to the subject and returns the worker's answer.
func (h *Handler) Handle(ctx context.Context, req *core.Message) (*core.Message, error) {
	if !h.conn.IsConnected() {
		return nil, fmt.Errorf("%w: nats request to %s: connection %s", ErrDisconnected, h.subject, h.conn.Status())
	}
	hdr, data, err := encode(req, nil)
	if err != nil {
		return nil, fmt.Errorf("natsbridge: encode request for %s: %w", h.subject, err)
	}
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, orDefault(h.Timeout, DefaultTimeout))
		defer cancel()
	}
	dl, _ := ctx.Deadline()
	left := time.Until(dl).Milliseconds()
	if left <= 0 {
		left = 1
	}
	hdr[HeaderTimeout] = []string{strconv.FormatInt(left, 10)}
	msg := &nats.Msg{Subject: h.subject, Header: hdr, Data: data}
	resp, err := h.conn.RequestMsgWithContext(ctx, msg)
	if err != nil {
		return nil, h.requestError(ctx, err)
	}
	return h.answer(resp)
}

// HandleBatch sends every request at once, each as its own NATS request
// (so each may go to a different worker), and waits for all the answers:
// a batch of pipelined requests costs about one round trip, not one per
// request. Each request's answer or error is the one Handle gives.
func (h *Handler) HandleBatch(ctx context.Context, reqs []*core.Message, answers []*core.Message, errs []error) {
	if len(reqs) == 1 {
		answers[0], errs[0] = h.Handle(ctx, reqs[0])
		return
	}
	var wg sync.WaitGroup
	for i, req := range reqs {
		wg.Go(func() { answers[i], errs[i] = h.Handle(ctx, req) })
	}
	wg.Wait()
}

// orDefault returns d, or def when d is not positive.
func orDefault(d, def time.Duration) time.Duration {
	if d <= 0 {
		return def
	}
	return d
}

// requestError maps an error of the NATS request to this package's.
func (h *Handler) requestError(ctx context.Context, err error) error {
	switch {
	case errors.Is(err, nats.ErrNoResponders):
		return fmt.Errorf("%w for %s", ErrNoWorkers, h.subject)
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, nats.ErrTimeout):
		return fmt.Errorf("%w: nats request to %s: no answer by the deadline", core.ErrHandlerTimeout, h.subject)
	case errors.Is(err, nats.ErrMaxPayload):
		return fmt.Errorf("%w: request to %s (max %d bytes)", ErrTooLarge, h.subject, h.conn.MaxPayload())
	case errors.Is(err, nats.ErrConnectionClosed), errors.Is(err, nats.ErrConnectionDraining),
		errors.Is(err, nats.ErrConnectionReconnecting), errors.Is(err, nats.ErrDisconnected):
		return fmt.Errorf("%w: nats request to %s: %w", ErrDisconnected, h.subject, err)
	case ctx.Err() != nil:
		return fmt.Errorf("natsbridge: nats request to %s: %w", h.subject, ctx.Err())
	}
	return fmt.Errorf("natsbridge: nats request to %s: %w", h.subject, err)
}

// answer decodes a worker's reply: an answer, or an error answer.
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
