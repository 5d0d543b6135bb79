package natsbridge

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/micro"

	"github.com/msgrouter/router/core"
)

// job is one request received, for the pool: a single request (reqs
// nil: the pool decodes it from hdr and data), or the requests reqs of a
// batch, from index i.
type job struct {
	h       core.Handler
	hdr     nats.Header
	data    []byte
	reply   string
	arrived time.Time
	timeout time.Duration // from Router-Timeout; 0 for none

	reqs []*core.Message
	b    *batchReply
	i    int
}

// size returns the number of requests j holds.
func (j job) size() int { return max(1, len(j.reqs)) }

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
		if j.reply == "" {
			return // a publish, not a request: nobody to answer
		}
		n, _, err := batchHeader(j.hdr)
		if n == 0 && err == nil {
			s.enqueue(j) // the single form
			return
		}
		var reqs []*core.Message
		if err == nil {
			reqs, err = decodeFrames(j.data, n)
		}
		if err != nil {
			s.respondError(j.reply, codeBadRequest, err.Error())
			return
		}
		b := &batchReply{s: s, reply: j.reply, items: make([][]byte, n)}
		b.left.Store(int32(n))
		// A job takes up to chunk requests, which go to the handler in
		// one batch (to a plugin process, in one write).
		for i := 0; i < n; i += s.chunk {
			part := j
			part.reqs, part.b, part.i = reqs[i:min(n, i+s.chunk)], b, i
			s.enqueue(part)
		}
	}
}

// enqueue counts j in and queues it, or drops it if the Service is shut
// down (its requester times out).
func (s *Service) enqueue(j job) {
	s.mu.Lock()
	s.active += j.size()
	s.arrivals += uint64(j.size())
	s.mu.Unlock()
	select {
	case s.jobs <- j:
	case <-s.base.Done():
		s.finished(j.size())
	}
}

// work is one goroutine of the pool: it serves queued requests until the
// Service is shut down.
func (s *Service) work() {
	for {
		select {
		case j := <-s.jobs:
			if !s.slots.take(j.size()) {
				s.finished(j.size())
				return // shut down
			}
			if j.b != nil {
				s.serveItems(j)
			} else {
				s.serve(j)
			}
			s.slots.give(j.size())
			s.finished(j.size())
		case <-s.base.Done():
			return
		}
	}
}

// finished counts n requests out.
func (s *Service) finished(n int) {
	s.mu.Lock()
	s.active -= n
	s.mu.Unlock()
}

// deadline returns the context j's requests are handled in: their
// Router-Timeout from their arrival. Its error is set if that has passed
// already (the requests waited in the queue past it).
func (s *Service) deadline(j job) (context.Context, context.CancelFunc) {
	if j.timeout <= 0 {
		return s.base, func() {}
	}
	return context.WithDeadline(s.base, j.arrived.Add(j.timeout))
}

// queuedTooLong is the error text of a request that waited in the queue
// past its deadline: the router has given up on it, and the handler is
// spared.
var queuedTooLong = fmt.Sprintf("%v: queued at the worker past its deadline", core.ErrHandlerTimeout)

// errorCode returns the code of a handler's error.
func errorCode(err error) string {
	if errors.Is(err, core.ErrHandlerTimeout) || errors.Is(err, context.DeadlineExceeded) {
		return codeTimeout
	}
	return codeHandler
}

// serve serves a single request and sends its answer or error.
func (s *Service) serve(j job) {
	req, err := decode(j.hdr, j.data)
	if err != nil {
		s.respondError(j.reply, codeBadRequest, err.Error())
		return
	}
	ctx, cancel := s.deadline(j)
	defer cancel()
	if ctx.Err() != nil {
		s.respondError(j.reply, codeTimeout, queuedTooLong)
		return
	}
	ans, err := core.Call(ctx, j.h, req)
	if ans != nil {
		// Once published (copied) or dropped: a lent answer goes back.
		defer ans.Release()
	}
	if err != nil {
		s.respondError(j.reply, errorCode(err), err.Error())
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

// serveItems serves the requests of a batch that j holds, in one batch
// to the handler.
func (s *Service) serveItems(j job) {
	ctx, cancel := s.deadline(j)
	defer cancel()
	n := len(j.reqs)
	if ctx.Err() != nil {
		for k := range n {
			j.b.items[j.i+k] = appendErrorItem(nil, codeTimeout, queuedTooLong)
		}
	} else {
		answers, errs := make([]*core.Message, n), make([]error, n)
		core.CallBatch(ctx, j.h, j.reqs, answers, errs)
		for k := range n {
			j.b.items[j.i+k] = itemOf(answers[k], errs[k])
		}
		// Encoded, all of them: lent answers go back.
		for _, ans := range answers {
			if ans != nil {
				ans.Release()
			}
		}
	}
	if j.b.left.Add(-int32(n)) == 0 {
		j.b.send()
	}
}

// itemOf returns the item of a batch answer for a handler's answer or
// error.
func itemOf(ans *core.Message, err error) []byte {
	if err != nil {
		return appendErrorItem(nil, errorCode(err), err.Error())
	}
	f, err := core.AppendFrame(nil, ans)
	if err != nil {
		return appendErrorItem(nil, codeHandler, err.Error())
	}
	return f
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
		rest := b.items[first:]
		n, size := fitting(len(rest), func(i int) int { return len(rest[i]) }, limit)
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

// slots counts the requests a Service handles at once: a job takes one
// per request it holds, all at once, and waits until they are free.
type slots struct {
	mu     sync.Mutex
	cond   sync.Cond
	free   int
	closed bool
}

func newSlots(n int) *slots {
	s := &slots{free: n}
	s.cond.L = &s.mu
	return s
}

// take waits for n free slots and takes them; false once closed.
func (s *slots) take(n int) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	for s.free < n && !s.closed {
		s.cond.Wait()
	}
	if s.closed {
		return false
	}
	s.free -= n
	return true
}

// give frees n slots.
func (s *slots) give(n int) {
	s.mu.Lock()
	s.free += n
	s.mu.Unlock()
	s.cond.Broadcast()
}

// close wakes every waiter, for good: the Service is shut down.
func (s *slots) close() {
	s.mu.Lock()
	s.closed = true
	s.mu.Unlock()
	s.cond.Broadcast()
}
