package plugins

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/hashicorp/go-hclog"

	"github.com/msgrouter/router/core"
)

// dataServer is the plugin side of the data path. One goroutine reads a
// batch of requests and answers it itself, in order, as the router does in
// process: no request waits for a hand-off between goroutines, which costs
// more than the request here. When a request takes longer than slowBatch
// (a slow or hung handler), a new goroutine takes over the rest of its
// batch and the reading, so other requests, which may have come in the
// same write from other clients, are held up by at most that long; and
// its handler is marked slow: from then on each of its requests runs in a
// goroutine of its own as soon as it is read, so slow handlers run
// concurrently with no start-up cadence (how many at once is bounded by
// the router, see Config.MaxInFlight).
type dataServer struct {
	handlers map[string]*servedHandler
	log      hclog.Logger
	// maxAnswer bounds an answer's content-length, as the router asked
	// at start (envMaxAnswer); zero means no bound. A larger answer is
	// that request's error: the router would not take it.
	maxAnswer int64
	panics    *panicLog
	proto     int // the data protocol spoken
}

// servedHandler is a handler of the plugin and how fast it has been.
type servedHandler struct {
	name string
	h    core.Handler
	// slow is set once one of its requests has taken slowBatch or more;
	// its requests then run each in a goroutine of its own. quick counts
	// the requests in a row run that way in under quickRun; at
	// quickRuns of them, it is no longer slow.
	slow  atomic.Bool
	quick atomic.Int32
}

// quickRun and quickRuns decide when a slow handler runs inline again:
// requests that take this little cost more to hand to a goroutine than to
// run in turn, and after this many of them in a row the handler is taken
// to be fast again.
const (
	quickRun  = time.Millisecond
	quickRuns = 64
)

// ran records that one of h's requests, run in a goroutine of its own,
// took d.
func (h *servedHandler) ran(d time.Duration) {
	if d >= quickRun {
		h.quick.Store(0)
		return
	}
	if h.quick.Add(1) >= quickRuns {
		h.quick.Store(0)
		h.slow.Store(false)
	}
}

func newDataServer(handlers map[string]core.Handler, log hclog.Logger, maxAnswer int64, proto int) *dataServer {
	s := &dataServer{handlers: make(map[string]*servedHandler, len(handlers)), log: log, maxAnswer: maxAnswer, panics: newPanicLog(log), proto: proto}
	for name, h := range handlers {
		s.handlers[name] = &servedHandler{name: name, h: h}
	}
	return s
}

// serve accepts the router's connection, and serves it. After the first
// connection the socket is unlinked (cleanup), so no other process can
// connect.
func (s *dataServer) serve(l net.Listener, cleanup func()) {
	nc, err := l.Accept()
	l.Close()
	cleanup()
	if err != nil {
		s.log.Error("data socket accept failed", "error", err)
		return
	}
	s.serveConn(nc)
}

// serveConn serves the router's data connection until it fails.
func (s *dataServer) serveConn(nc net.Conn) {
	c := &dataConn{s: s, nc: nc, w: &frameWriter{nc: nc, timeout: dataWriteTimeout}, inflight: make(map[uint64]context.CancelFunc)}
	c.base, c.cancelAll = context.WithCancel(context.Background())
	c.dec.MaxContentLength = -1 // the router has applied its limits
	c.env.maxBody = math.MaxUint32
	c.loop(nil)
}

// slowBatch is how long one request may take before another goroutine
// takes over the rest of its batch and the reading of the connection.
//
// It is longer than the kernel's scheduler tick (4 ms at the usual 250
// Hz) on purpose: a timer armed for every batch that would fire before
// the tick made each round trip through the plugin slower (measured: see
// BENCHMARKS.md, "Figures that were in code comments"), since the kernel
// reprograms its timer hardware for the earliest timer on a CPU, and in a
// virtual machine that traps to the hypervisor.
const slowBatch = 10 * time.Millisecond

// dataConn is the plugin side of one data connection.
type dataConn struct {
	s   *dataServer
	nc  net.Conn
	w   *frameWriter
	dec core.Decoder // used by one reader at a time
	env envReader    // protocol 2's envelopes, as dec

	mu        sync.Mutex
	inflight  map[uint64]context.CancelFunc
	base      context.Context
	cancelAll context.CancelFunc
}

var readBufs = sync.Pool{New: func() any { b := make([]byte, 64<<10); return &b }}

// work is a batch of requests being answered. Its requests are claimed
// one at a time, so that a goroutine taking over from a slow one answers
// the rest of the batch.
type work struct {
	batch []dataReq
	next  atomic.Int32
	// alone is set once a request of the batch runs in a goroutine of
	// its own: the batch's messages then outlive the loop's turn.
	alone atomic.Bool
}

// loop answers what is left of w, if any, then reads and answers batches
// until the connection ends, or until a request is slow and another loop
// has taken over.
func (c *dataConn) loop(w *work) {
	bp := readBufs.Get().(*[]byte)
	l := &loopState{c: c, out: &pending{w: c.w}}
	l.watchdog = time.AfterFunc(time.Hour, l.check)
	l.watchdog.Stop()
	var msgs []dataReq // reused from batch to batch
	for {
		if w == nil {
			batch, err := c.readBatch(*bp, msgs)
			if err != nil {
				// The router closed the connection or died: stop what runs.
				c.nc.Close()
				c.cancelAll()
				readBufs.Put(bp)
				return
			}
			if cap(batch) > cap(msgs) {
				msgs = batch[:cap(batch)]
			}
			w = &work{batch: batch}
		}
		l.cur.Store(w)
		l.busy.Store(true)
		if l.armed.CompareAndSwap(false, true) {
			l.watchdog.Reset(slowBatch)
		}
		if !l.answerBatch(w) {
			// Slow: another loop has the rest. The batch may still
			// alias bp, so it is left to the garbage collector.
			l.out.flush()
			return
		}
		l.busy.Store(false)
		// The timer is stopped, not left to run out: a process that
		// waits for requests with a timer pending waits with a timeout.
		// If it has fired, check clears armed itself.
		if l.watchdog.Stop() {
			l.armed.Store(false)
		}
		l.out.flush() // the answers of a batch go out in one write
		if w.alone.Load() {
			// Requests of the batch still run, and their messages alias
			// bp and msgs: the next read gets buffers of its own.
			bp = readBufs.Get().(*[]byte)
			msgs = nil
		}
		w = nil
	}
}

// answerBatch answers the requests of w not yet claimed: those of a slow
// handler each in a goroutine of its own, the others in turn. It reports
// false if the watchdog took over the rest of w meanwhile.
func (l *loopState) answerBatch(w *work) bool {
	c := l.c
	for {
		i := int(w.next.Add(1)) - 1
		if i >= len(w.batch) {
			return true
		}
		r := w.batch[i]
		if r.h != nil && r.h.slow.Load() {
			w.alone.Store(true)
			go c.answerAlone(r)
			continue
		}
		l.running.Store(r.h)
		l.state.Add(1) // odd: a request runs
		ans, err := c.run(r)
		l.out.add(c.s, r.id, ans, err)
		if v := l.state.Load(); v&takenOver != 0 || !l.state.CompareAndSwap(v, v+1) {
			return false
		}
	}
}

// answerAlone answers m, for the slow handler h, in a goroutine of its
// own; the answer is written as soon as it is ready.
func (c *dataConn) answerAlone(r dataReq) {
	start := time.Now()
	ans, err := c.run(r)
	r.h.ran(time.Since(start))
	c.w.add(context.Background(), true, func(dst []byte) ([]byte, error) {
		return c.s.appendAnswer(dst, r.id, ans, err), nil
	})
}

// loopState is what a loop shares with its watchdog. The watchdog runs
// every slowBatch while the loop answers a batch (it is armed once per
// batch, not per request); when it finds the same request running as at
// its previous check, that request has taken at least slowBatch: the
// watchdog marks its handler slow and takes over the rest of the batch
// and the reading. A request is thus given between one and two slowBatch
// before the others move on.
type loopState struct {
	c        *dataConn
	out      *pending
	cur      atomic.Pointer[work]
	running  atomic.Pointer[servedHandler] // the handler of the request that runs
	watchdog *time.Timer
	// state counts the loop's requests: it is odd while one runs, and has
	// takenOver set once the watchdog has taken over. Whichever of the
	// loop (ending the request) and the watchdog changes it first wins.
	state atomic.Uint64
	seen  atomic.Uint64 // state at the watchdog's previous check
	busy  atomic.Bool   // the loop is answering a batch
	armed atomic.Bool   // the watchdog's timer is set
}

const takenOver = 1 << 63

// check is the watchdog.
func (l *loopState) check() {
	v := l.state.Load()
	if v&1 == 1 && v == l.seen.Load() && l.state.CompareAndSwap(v, v|takenOver) {
		if h := l.running.Load(); h != nil {
			h.quick.Store(0)
			h.slow.Store(true)
		}
		l.out.flush() // what the loop answered before it got stuck
		l.c.loop(l.cur.Load())
		return
	}
	l.seen.Store(v)
	// Stay armed while the loop answers a batch. The loop arms the timer
	// itself when it starts one: armed tells which of the two does.
	l.armed.Store(false)
	if l.busy.Load() && l.armed.CompareAndSwap(false, true) {
		l.watchdog.Reset(slowBatch)
	}
}

// pending holds the answers a loop has encoded and not yet written.
type pending struct {
	w   *frameWriter
	mu  sync.Mutex // the loop appends; its takeover timer may flush
	buf []byte
}

func (p *pending) add(s *dataServer, id uint64, ans *core.Message, err error) {
	p.mu.Lock()
	p.buf = s.appendAnswer(p.buf, id, ans, err)
	p.mu.Unlock()
}

func (p *pending) flush() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.buf) > 0 {
		p.w.add(context.Background(), false, func(dst []byte) ([]byte, error) { return append(dst, p.buf...), nil })
		p.buf = p.buf[:0]
	}
}

// run runs r's handler (or reports the error of finding it) and returns
// its answer or error.
func (c *dataConn) run(r dataReq) (ans *core.Message, err error) {
	if r.herr != nil {
		return nil, r.herr
	}
	var ctx context.Context
	var cancel context.CancelFunc
	if r.deadline != 0 {
		ctx, cancel = core.WithLazyDeadline(c.base, time.Unix(0, r.deadline))
	} else {
		ctx, cancel = context.WithCancel(c.base)
	}
	c.mu.Lock()
	c.inflight[r.id] = cancel
	c.mu.Unlock()
	ans, err = c.s.handle(ctx, r.h, r.m)
	c.mu.Lock()
	delete(c.inflight, r.id)
	c.mu.Unlock()
	cancel()
	if err == nil && c.s.maxAnswer > 0 && int64(len(ans.Content)) > c.s.maxAnswer {
		// The router would fail the whole data path on it: it is this
		// request's error instead.
		n := len(ans.Content)
		ans.Release()
		ans, err = nil, fmt.Errorf("%w: handler %q answered %d bytes of content, above the router's limit of %d (limits.max_content_length)",
			ErrAnswerTooLarge, r.h.name, n, c.s.maxAnswer)
	}
	return ans, err
}

func (s *dataServer) handlerFor(m *core.Message) (*servedHandler, error) {
	raw, ok := m.RawHeader(hdrHandler)
	if !ok {
		return nil, errors.New("plugin: request names no handler")
	}
	// A JSON string without escapes is its name between the quotes:
	// looked up as it is, without decoding it (no allocation).
	if len(raw) >= 2 && raw[0] == '"' && raw[len(raw)-1] == '"' && bytes.IndexByte(raw, '\\') < 0 {
		if h, ok := s.handlers[string(raw[1:len(raw)-1])]; ok {
			return h, nil
		}
	}
	name, _ := m.Header(hdrHandler)
	h, ok := s.handlers[name]
	if !ok {
		return nil, fmt.Errorf("plugin: no handler %q", name)
	}
	return h, nil
}

// handle calls h as a Server would (core.Call): a panic is that
// request's error, not the plugin's death, and its stack is logged, once
// a second at most for each handler.
func (s *dataServer) handle(ctx context.Context, h *servedHandler, req *core.Message) (*core.Message, error) {
	ans, err := core.Call(ctx, h.h, req)
	if pe, ok := errors.AsType[*core.PanicError](err); ok {
		s.panics.record(h.name, pe)
	}
	return ans, err
}

// appendAnswer encodes a plugin answer, or the error that replaced it,
// in the data protocol spoken, and then releases the answer (see
// core.Message.Lend).
func (s *dataServer) appendAnswer(dst []byte, id uint64, ans *core.Message, err error) []byte {
	if s.proto == dataProtocolEnvelope {
		dst = s.appendAnswerEnvelope(dst, id, ans, err)
	} else {
		dst = s.appendAnswerFrame(dst, id, ans, err)
	}
	if ans != nil {
		ans.Release()
	}
	return dst
}

// appendAnswerFrame is appendAnswer for data protocol 1.
func (s *dataServer) appendAnswerFrame(dst []byte, id uint64, ans *core.Message, err error) []byte {
	log := s.log
	var idBuf [20]byte
	idHdr := core.Header{Key: hdrID, Value: strconv.AppendUint(idBuf[:0], id, 10)}
	if err == nil {
		out, eerr := core.AppendFrameWith(dst, ans, idHdr)
		if eerr == nil {
			return out
		}
		log.Error("cannot encode answer", "error", eerr)
		err = fmt.Errorf("plugin: cannot encode answer: %w", eerr)
	}
	e := core.Message{ContentType: core.ContentTypeJSON, ContentEncoding: core.EncodingUTF8}
	out, _ := core.AppendFrameWith(dst, &e, idHdr, core.Header{Key: hdrError, Value: core.AppendString(nil, errorText(err))})
	return out
}

// maxErrorText bounds the text of an error answer, which travels in a
// header (at most 65,535 bytes, escapes included).
const maxErrorText = 8 << 10

// errorText is err's text, cut to maxErrorText on a character boundary.
func errorText(err error) string {
	s := err.Error()
	if len(s) <= maxErrorText {
		return s
	}
	n := maxErrorText
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return fmt.Sprintf("%s… (%d bytes cut)", s[:n], len(s)-n)
}
