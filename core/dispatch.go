package core

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/hashicorp/go-hclog"
)

// handleFramed decodes, dispatches and answers every message in p, in
// batches of the messages one read delivered; or, with refuse, answers
// each with the shutting-down error instead (see refuseAfterDrain). It
// returns non-nil when the connection must close.
func (c *conn) handleFramed(p []byte, refuse bool) error {
	c.s.stats.bytesRead.Add(uint64(len(p)))
	for len(p) > 0 {
		k, spilled, closeAfter, frameErr := c.decodeBatch(p)
		p = p[k:]
		if len(c.batch) > 0 {
			c.answerBatch(c.batch, refuse)
		}
		if spilled != nil {
			c.dropSpilled(spilled)
		}
		if frameErr == errGrant {
			if len(c.batch) > 0 {
				continue // answered and released what came first; ask next time
			}
			if refuse {
				c.flush()
				return errLinger // no wait for budget to refuse a message
			}
			if err := c.flush(); err != nil {
				return err
			}
			frameErr = c.acquireGrant()
			if frameErr == nil {
				continue
			}
			if errors.Is(frameErr, ErrReadTimeout) {
				return c.fail(frameErr)
			}
			if frameErr == ErrServerClosed {
				return frameErr
			}
		}
		if frameErr != nil {
			c.s.stats.invalidFrames.Add(1)
			c.s.logs.log(c.log, hclog.Warn, "invalid-frame", "invalid frame; closing connection", "error", frameErr)
			return c.fail(frameErr)
		}
		if closeAfter {
			if err := c.flush(); err != nil {
				return err
			}
			return errLinger
		}
		if len(c.wbuf) >= flushThreshold {
			if err := c.flush(); err != nil {
				return err
			}
		}
	}
	return c.flush()
}

// decodeBatch decodes the messages of p into c.batch, at most maxBatch,
// and returns how many bytes it consumed, the message of the batch that
// spanned reads (the first, if any), whether a message asked to close
// after it, and the decoder's error: a frame error, or errGrant.
//
// It is the one reader of frames that calls DecodeTo itself rather than
// ranging over Decoder.MessagesInto: it stops a batch at maxBatch, at a
// message that asks to close, or where the input budget must grant the
// next message, and the caller resumes from the byte where it stopped.
func (c *conn) decodeBatch(p []byte) (n int, spilled *Message, closeAfter bool, err error) {
	batch := c.batch[:0]
	for n < len(p) && len(batch) < maxBatch {
		if len(c.msgs) == len(batch) {
			c.msgs = append(c.msgs, new(Message))
		}
		m := c.msgs[len(batch)]
		partial := c.dec.Partial()
		k, ok, derr := c.dec.DecodeTo(m, p[n:])
		n += k
		if derr != nil {
			err = derr
			break
		}
		if !ok {
			break
		}
		if partial {
			spilled = m
		}
		// The next message's read timeout runs from its own first
		// bytes, not from those of this one.
		c.partialSince = time.Time{}
		batch = append(batch, m)
		if m.WantsClose() {
			closeAfter = true // what follows is not answered
			break
		}
	}
	c.batch = batch
	return n, spilled, closeAfter, err
}

// answerBatch dispatches a batch, or refuses it, and appends the answers
// to c.wbuf.
func (c *conn) answerBatch(batch []*Message, refuse bool) {
	if refuse {
		c.refuse(batch)
	} else {
		c.dispatch(batch)
	}
	debug := c.log.IsDebug()
	var namer RouteNamer // a refused request has no route
	if debug && !refuse {
		namer, _ = c.s.Handler.(RouteNamer)
	}
	for i, m := range batch {
		ans := c.answers[i]
		err := c.errs[i]
		if err != nil {
			ans = NewError(err.Error())
		}
		id := c.ids[i]
		if debug {
			c.logRequest(m, id, err, namer)
		}
		if id.Key != "" && !hasHeader(ans, id.Key) {
			c.wbuf = c.appendAnswer(c.wbuf, ans, id)
		} else {
			c.wbuf = c.appendAnswer(c.wbuf, ans)
		}
	}
	// Encoded, all of them: lent answers go back to their handlers.
	for _, ans := range c.answers {
		if ans != nil {
			ans.Release()
		}
	}
	clear(c.answers)
	clear(c.errs)
}

// dropSpilled lets go of the buffer of a message that spanned reads, now
// answered, and of the grant it held, if any: an idle connection must not
// pin it (the Message and the request ids, which alias it, are reused
// only by the next batch).
func (c *conn) dropSpilled(m *Message) {
	*m = Message{}
	clear(c.ids)
	if !c.dec.granted {
		c.releaseGrant() // the grant, if any, was this message's
	}
}

// appendAnswer encodes an answer with the extra headers, or an error
// answer if it cannot be encoded: every request gets its answer, in
// order. The error answer carries the extra headers if they fit, and
// goes without them if they are what makes the header too large (a
// request-id near the header limit, echoed into a header written with
// more spaces than the client used).
func (c *conn) appendAnswer(dst []byte, ans *Message, extra ...Header) []byte {
	out, err := AppendFrameWith(dst, ans, extra...)
	if err == nil {
		return out
	}
	c.s.logs.log(c.log, hclog.Error, "encode", "cannot encode answer", "error", err)
	e := NewError("cannot encode answer: " + err.Error())
	if out, err := AppendFrameWith(dst, e, extra...); err == nil {
		return out
	}
	out, _ = AppendFrameWith(dst, e)
	return out
}

// logRequest writes the debug log line of one answered request: the
// route that took it, if namer (which may be nil) names one, and its
// result.
func (c *conn) logRequest(m *Message, id Header, err error, namer RouteNamer) {
	args := make([]any, 0, 14)
	res := ResultOf(err)
	if namer != nil {
		if route := namer.RouteName(m); route != "" {
			args = append(args, "route", route)
			if res == ResultNoRoute {
				// The route's handler, a Mux of its own, found none:
				// an error of this route, as the metrics count it.
				res = ResultError
			}
		}
	}
	args = append(args, "result", res.String(),
		"content_type", m.ContentType, "content_length", len(m.Content), "duration", time.Since(c.readAt))
	if id.Key != "" {
		args = append(args, "request_id", jsonText(id.Value))
	}
	if err != nil {
		args = append(args, "error", err)
	}
	c.log.Debug("request", args...)
}

func (c *conn) handleRaw(p []byte) error {
	c.s.stats.bytesRead.Add(uint64(len(p)))
	m := Message{ContentType: defaultContentType, ContentEncoding: EncodingBinary, Content: p}
	ctx, rc := c.requestContext()
	ans, err := Call(ctx, c.raw, &m)
	rc.end()
	if err != nil {
		if ans != nil {
			ans.Release()
		}
		c.logHandlerError(err, Header{})
		c.s.logs.log(c.log, hclog.Warn, "raw-failed", "raw handler failed; closing connection", "error", err)
		return err
	}
	c.wbuf = append(c.wbuf, ans.Content...)
	ans.Release()
	return c.flush()
}

// dispatch answers a batch into c.answers and c.errs.
func (c *conn) dispatch(batch []*Message) {
	c.answers = append(c.answers[:0], make([]*Message, len(batch))...)
	c.errs = append(c.errs[:0], make([]error, len(batch))...)
	c.ids = c.ids[:0]
	for _, m := range batch {
		id, _ := c.requestID(m)
		c.ids = append(c.ids, id)
	}
	c.s.stats.requests.Add(uint64(len(batch)))
	ctx, rc := c.requestContext()
	defer rc.end()
	// An error is said to be a timeout when the deadline had passed as
	// its handler returned, or, for a batch handler (whose requests end
	// together), when the deadline has passed and the error says so
	// itself: a request of the batch that failed before another timed
	// out keeps its own error.
	if bh, ok := c.s.Handler.(BatchHandler); ok && len(batch) > 1 {
		handleBatchSafe(ctx, bh, batch, c.answers, c.errs)
		if ctx.Err() == context.DeadlineExceeded {
			for i, err := range c.errs {
				if err != nil && errors.Is(err, context.DeadlineExceeded) {
					c.errs[i] = asTimeout(err)
				}
			}
		}
	} else {
		for i, m := range batch {
			c.answers[i], c.errs[i] = Call(ctx, c.s.Handler, m)
			if c.errs[i] != nil && ctx.Err() == context.DeadlineExceeded {
				c.errs[i] = asTimeout(c.errs[i])
			}
		}
	}
	for i, err := range c.errs {
		if err != nil {
			c.logHandlerError(err, c.ids[i])
		}
	}
}

// asTimeout labels a handler's error as the handler timeout it is.
func asTimeout(err error) error {
	if errors.Is(err, ErrHandlerTimeout) {
		return err
	}
	return fmt.Errorf("%w: %w", ErrHandlerTimeout, err)
}

func (c *conn) logHandlerError(err error, id Header) {
	log := c.log
	if id.Key != "" {
		log = log.With("request_id", jsonText(id.Value))
	}
	var pe *PanicError
	if errors.As(err, &pe) {
		// A stack trace per panic would let a client that makes a
		// handler panic fill the disk: one per panic site and second,
		// with the count of the others.
		const msg = "handler panicked"
		if ok, n := c.s.logs.allow("panic "+panicSite(pe.Stack), hclog.Error, msg); ok {
			args := []any{"panic", pe.Value, "stack", string(pe.Stack)}
			if n > 0 {
				args = append(args, "suppressed", n)
			}
			log.Error(msg, args...)
		}
		return
	}
	log.Debug("handler failed", "error", err)
}

// requestContext returns the context for the requests of the current
// read: they share its deadline, counted from when they were read.
//
// The caller ends the context with rc.end() (rc may be nil): a release
// func, as WithLazyDeadline returns, would cost an allocation per batch.
func (c *conn) requestContext() (ctx context.Context, rc *reqCtx) {
	t := c.s.t.handler
	if t <= 0 {
		return c.s.baseCtx, nil
	}
	rc = &reqCtx{parent: c.s.baseCtx, deadline: c.readAt.Add(t)}
	return rc, rc
}
