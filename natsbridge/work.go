package natsbridge

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/micro"

	"github.com/msgrouter/router/core"
)

// job is one request received, for the pool: a single request (req nil,
// decoded from hdr and data by the pool), or item i of a batch.
type job struct {
	h       core.Handler
	hdr     nats.Header
	data    []byte
	reply   string
	arrived time.Time
	timeout time.Duration // from Router-Timeout; 0 for none

	req *core.Message
	b   *batchReply
	i   int
}

// handlerFor returns the micro handler of an endpoint: it queues the
// request, or each request of a batch, for the pool, noting when it
// arrived. micro calls it for one message at a time per endpoint; with
// the pool busy and the queue (MaxInFlight long) full, it waits, and the
// endpoint reads no more. The pool answers with its own publish rather
// than through micro.Request, whose Respond and Error write fields micro
// reads once the handler returns.
func (s *Service) handlerFor(h core.Handler) micro.HandlerFunc {
	return func(r micro.Request) {
		// The request's time counts from here: its wait in the queue is
		// part of it.
		j := job{h: h, hdr: nats.Header(r.Headers()), data: r.Data(), reply: r.Reply(), arrived: time.Now()}
		if ms, err := strconv.ParseInt(j.hdr.Get(HeaderTimeout), 10, 64); err == nil && ms > 0 {
			j.timeout = time.Duration(ms) * time.Millisecond
		}
		n, _, err := batchHeader(j.hdr)
		if err != nil || n == 0 || j.reply == "" {
			s.enqueue(j) // serve answers a bad batch header
			return
		}
		reqs, err := decodeFrames(j.data, n)
		if err != nil {
			s.respondError(j.reply, codeBadRequest, err.Error())
			return
		}
		b := &batchReply{s: s, reply: j.reply, items: make([][]byte, n)}
		b.left.Store(int32(n))
		for i, req := range reqs {
			item := j
			item.req, item.b, item.i = req, b, i
			s.enqueue(item)
		}
	}
}

// enqueue counts j in and queues it, or drops it if the Service is shut
// down (its requester times out).
func (s *Service) enqueue(j job) {
	s.mu.Lock()
	s.active++
	s.arrivals++
	s.mu.Unlock()
	select {
	case s.jobs <- j:
	case <-s.base.Done():
		s.finished()
	}
}

// work is one goroutine of the pool: it serves queued requests until the
// Service is shut down.
func (s *Service) work() {
	for {
		select {
		case j := <-s.jobs:
			if j.b != nil {
				s.serveItem(j)
			} else {
				s.serve(j)
			}
			s.finished()
		case <-s.base.Done():
			return
		}
	}
}

// finished counts a request out.
func (s *Service) finished() {
	s.mu.Lock()
	s.active--
	s.mu.Unlock()
}

// run calls j's handler with j's request, within its deadline: the
// answer, or the error code and text to answer.
func (s *Service) run(j job) (ans *core.Message, code, text string) {
	ctx, cancel := s.base, context.CancelFunc(func() {})
	if j.timeout > 0 {
		ctx, cancel = context.WithDeadline(s.base, j.arrived.Add(j.timeout))
	}
	defer cancel()
	if ctx.Err() != nil {
		// It waited in the queue past its deadline: the router has given
		// up on it, and the handler is spared.
		return nil, codeTimeout, fmt.Sprintf("%v: queued at the worker past its deadline", core.ErrHandlerTimeout)
	}
	ans, err := core.Call(ctx, j.h, j.req)
	if err != nil {
		code := codeHandler
		if errors.Is(err, core.ErrHandlerTimeout) || errors.Is(err, context.DeadlineExceeded) {
			code = codeTimeout
		}
		return nil, code, err.Error()
	}
	return ans, "", ""
}

// serve serves a single request and sends its answer or error.
func (s *Service) serve(j job) {
	if j.reply == "" {
		return // a publish, not a request: nobody to answer
	}
	if _, _, err := batchHeader(j.hdr); err != nil {
		s.respondError(j.reply, codeBadRequest, err.Error())
		return
	}
	req, err := decode(j.hdr, j.data)
	if err != nil {
		s.respondError(j.reply, codeBadRequest, err.Error())
		return
	}
	j.req = req
	ans, code, text := s.run(j)
	if ans == nil {
		s.respondError(j.reply, code, text)
		return
	}
	ahdr, adata, err := encode(ans, nil)
	if err != nil {
		s.respondError(j.reply, codeHandler, err.Error())
		return
	}
	err = s.nc.PublishMsg(&nats.Msg{Subject: j.reply, Header: ahdr, Data: adata})
	if errors.Is(err, nats.ErrMaxPayload) {
		s.respondError(j.reply, codeTooLarge, fmt.Sprintf("%v: answer of %d bytes (max %d)",
			ErrTooLarge, len(adata), s.nc.MaxPayload()))
	}
}

// respondError sends an error answer in micro's form: the error headers,
// and text as the data.
func (s *Service) respondError(reply, code, text string) {
	_ = s.nc.PublishMsg(&nats.Msg{Subject: reply, Header: nats.Header{
		micro.ErrorHeader:     []string{"handler error"},
		micro.ErrorCodeHeader: []string{code},
	}, Data: []byte(text)})
}

// batchReply gathers the answers of a batch; the last one in sends them.
type batchReply struct {
	s     *Service
	reply string
	items [][]byte // each an answer's frame or an error item
	left  atomic.Int32
}

// serveItem serves item j.i of a batch.
func (s *Service) serveItem(j job) {
	ans, code, text := s.run(j)
	var item []byte
	if ans != nil {
		f, err := core.AppendFrame(nil, ans)
		if err != nil {
			item = appendErrorItem(nil, codeHandler, err.Error())
		} else {
			item = f
		}
	} else {
		item = appendErrorItem(nil, code, text)
	}
	j.b.items[j.i] = item
	if j.b.left.Add(-1) == 0 {
		j.b.send()
	}
}

// send sends a batch's answers, in as few messages as fit the max
// payload; an answer over it alone becomes a 413 error item.
func (b *batchReply) send() {
	limit := b.s.nc.MaxPayload() - batchHeaderRoom
	for i, it := range b.items {
		if int64(len(it)) > limit {
			b.items[i] = appendErrorItem(nil, codeTooLarge, fmt.Sprintf("%v: answer of %d bytes (max %d)", ErrTooLarge, len(it), b.s.nc.MaxPayload()))
		}
	}
	for first := 0; first < len(b.items); {
		n, size := 0, 0
		for first+n < len(b.items) && (n == 0 || int64(size+len(b.items[first+n])) <= limit) {
			size += len(b.items[first+n])
			n++
		}
		data := make([]byte, 0, size)
		for _, it := range b.items[first : first+n] {
			data = append(data, it...)
		}
		_ = b.s.nc.PublishMsg(&nats.Msg{Subject: b.reply, Data: data, Header: nats.Header{
			HeaderBatch:      []string{strconv.Itoa(n)},
			HeaderBatchIndex: []string{strconv.Itoa(first)},
		}})
		first += n
	}
}
