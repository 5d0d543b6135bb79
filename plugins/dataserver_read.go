package plugins

import (
	"errors"
	"fmt"

	"github.com/msgrouter/router/core"
)

// dataReq is a request read from the router, with what its data protocol
// said of it.
type dataReq struct {
	m        *core.Message
	id       uint64
	deadline int64          // Unix nanoseconds; 0 for none
	h        *servedHandler // nil when herr says why
	herr     error
}

// readBatch reads once into buf and decodes the requests it completes,
// into the messages of reqs (reused, and extended as needed). It handles
// the cancels it reads itself.
func (c *dataConn) readBatch(buf []byte, reqs []dataReq) ([]dataReq, error) {
	batch := reqs[:0]
	n, err := c.nc.Read(buf)
	next := func() *core.Message { // a message of reqs to reuse, or a new one
		if len(batch) < cap(batch) {
			if m := batch[:len(batch)+1][len(batch)].m; m != nil {
				m.Reset()
				return m
			}
		}
		return new(core.Message)
	}
	var derr error
	if c.s.proto == dataProtocolEnvelope {
		derr = c.readEnvelopes(buf[:n], &batch, next)
	} else {
		derr = c.readFrames(buf[:n], &batch, next)
	}
	if derr != nil {
		c.s.log.Error("bad frame from the router", "error", derr)
		return nil, derr
	}
	if err != nil && len(batch) == 0 {
		return nil, err
	}
	return batch, nil
}

// readFrames decodes the frames of data protocol 1 in p.
func (c *dataConn) readFrames(p []byte, batch *[]dataReq, next func() *core.Message) error {
	for m, derr := range c.dec.MessagesInto(p, next) {
		if derr != nil {
			return derr
		}
		// A cancel frame carries router-cancel and no router-id; a request
		// always ends with the router's router-id, so a client's own
		// router-cancel header cannot pass for one.
		if _, isReq := m.RawHeader(hdrID); !isReq {
			cid, ok := uintHeader(m, hdrCancel)
			if !ok {
				c.s.log.Error("frame from the router with neither router-id nor router-cancel")
				continue
			}
			c.cancel(cid)
			continue
		}
		id, ok := uintHeader(m, hdrID)
		if !ok {
			c.s.log.Error("request without router-id from the router")
			continue
		}
		r := dataReq{m: m, id: id}
		if dl, ok := uintHeader(m, hdrDeadline); ok {
			r.deadline = int64(dl)
		}
		r.h, r.herr = c.s.handlerFor(m)
		stripRouterHeaders(m)
		*batch = append(*batch, r)
	}
	return nil
}

// readEnvelopes decodes the envelopes of data protocol 2 in p. A request
// whose frame or handler is wrong is answered its error; an envelope that
// breaks the stream ends the connection.
func (c *dataConn) readEnvelopes(p []byte, batch *[]dataReq, next func() *core.Message) error {
	return c.env.feed(p, func(e envelope) error {
		switch e.kind {
		case envCancel:
			c.cancel(e.id)
			return nil
		case envRequest:
		default:
			return fmt.Errorf("%w: kind %d from the router", errEnvelope, e.kind)
		}
		deadline, name, frame, err := parseRequestBody(e.body)
		if err != nil {
			return err
		}
		r := dataReq{m: next(), id: e.id, deadline: deadline}
		if n, ok, derr := c.dec.DecodeTo(r.m, frame); derr != nil || !ok || n != len(frame) {
			c.dec.Reset()
			if derr == nil {
				derr = errors.New("the envelope does not hold one whole frame")
			}
			r.herr = fmt.Errorf("plugin: bad frame from the router: %w", derr)
		} else if h := c.s.handlers[string(name)]; h != nil {
			r.h = h
		} else {
			r.herr = fmt.Errorf("plugin: no handler %q", name)
		}
		*batch = append(*batch, r)
		return nil
	})
}

// cancel cancels the request id, if it runs.
func (c *dataConn) cancel(id uint64) {
	c.mu.Lock()
	if cancel := c.inflight[id]; cancel != nil {
		cancel()
	}
	c.mu.Unlock()
}

// appendAnswerEnvelope is appendAnswer for data protocol 2.
func (s *dataServer) appendAnswerEnvelope(dst []byte, id uint64, ans *core.Message, err error) []byte {
	start := len(dst)
	if err == nil {
		out, eerr := core.AppendFrame(appendEnvHeader(dst, envAnswer, id), ans)
		if eerr == nil && setEnvLength(out, start) {
			return out
		}
		if eerr == nil {
			eerr = errors.New("answer too large for an envelope")
		}
		s.log.Error("cannot encode answer", "error", eerr)
		err = fmt.Errorf("plugin: cannot encode answer: %w", eerr)
	}
	dst = appendEnvHeader(dst[:start], envError, id)
	dst = append(dst, errorText(err)...)
	setEnvLength(dst, start)
	return dst
}
