package core

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/hashicorp/go-hclog"
)

// Defaults applied by a Server whose fields are zero.
const (
	DefaultMaxConnections = 10000
	DefaultIdleTimeout    = 60 * time.Second
	DefaultReadTimeout    = 10 * time.Second
	DefaultWriteTimeout   = 10 * time.Second
	DefaultHandlerTimeout = 5 * time.Second
)

const (
	maxBatch       = 256      // requests dispatched together at most
	readBufferSize = 16 << 10 // one read; also bounds the requests decoded ahead of their answers
	flushThreshold = 64 << 10 // answers are written once this much is pending, or when the read batch ends
	writeBufKeep   = 1 << 20  // a larger write buffer, grown for one big answer, is released
	lingerTimeout  = 500 * time.Millisecond
	lingerMax      = 256 << 10
	rejectTimeout  = time.Second
)

// Server serves the protocol on any number of listeners. Each connection
// is read, decoded, dispatched to Handler, and answered in request order.
//
// Requests on one connection are handled one at a time, in order.
// Pipelined requests wait, already decoded, in the connection's read
// buffer (at most 16 KiB of them) and then in the socket; the server reads
// no more from a connection while its answers cannot be written, so a
// client that sends and never reads is held back by TCP instead of
// buffered, and WriteTimeout ends it.
//
// On Linux, plain TCP and Unix connections are served by a poll loop: a
// connection silent for 250ms waits in an epoll set with no goroutine and
// no buffer (under 1 KB of memory per idle connection, against about 20
// KB with a goroutine), and is handed back to a goroutine when bytes
// arrive. TLS connections, and every connection on other systems, keep a
// goroutine each. Both run the same read loop, decoder and dispatch.
//
// The zero value, with a Handler, is ready to use: every limit and timeout
// has a default. A negative timeout or limit means none.
type Server struct {
	// Handler answers requests; usually a *Mux. Required.
	Handler Handler
	// Logger receives the server's logs under the name "server". Nil
	// means silent.
	Logger hclog.Logger

	// MaxConnections bounds open connections; a client over the limit is
	// answered {"error": ...} and closed. Zero means
	// DefaultMaxConnections.
	MaxConnections int
	// MaxHeaderLength bounds the JSON header. Zero means 65535.
	MaxHeaderLength int
	// MaxContentLength bounds content-length. Zero means
	// DefaultMaxContentLength (16 MiB).
	MaxContentLength int64

	// IdleTimeout closes a connection that sends nothing between
	// messages. Zero means DefaultIdleTimeout.
	IdleTimeout time.Duration
	// ReadTimeout bounds the time from a message's first bytes to its
	// last, however they trickle in (slowloris). Zero means
	// DefaultReadTimeout.
	ReadTimeout time.Duration
	// WriteTimeout bounds writing the answers of one read. Zero means
	// DefaultWriteTimeout.
	WriteTimeout time.Duration
	// HandlerTimeout is the deadline put on each request's context,
	// counted from when the request was read. A handler must honour it;
	// the server cannot stop one that does not. Zero means
	// DefaultHandlerTimeout.
	HandlerTimeout time.Duration

	// RequestIDHeader names the extension header that carries a
	// request's id. A request that has it gets it back, unchanged, in its
	// answer (error answers included), and the server's log lines about
	// the request name it. Empty means DefaultRequestIDHeader
	// ("request-id").
	RequestIDHeader string
	// GenerateRequestIDs gives a request that arrives without the
	// request-id header a fresh one, before any handler sees it: plugins
	// receive it, and the answer carries it.
	GenerateRequestIDs bool

	mu        sync.Mutex
	listeners map[*net.Listener]struct{}
	conns     map[*conn]struct{}
	wg        sync.WaitGroup // one per connection, served or being refused
	closing   atomic.Bool    // Shutdown or Close began
	nconns    atomic.Int64
	baseCtx   context.Context
	cancel    context.CancelFunc
	log       hclog.Logger
	ids       *idGenerator
	stats     counters
	poll      *poller // the poll loop (Linux), started by the first connection it serves

	testHookDrainRead func()      // tests only: run by drainRead before it reads
	testHookPark      func(*conn) // tests only: run by the poll loop as it parks a connection
}

func (s *Server) init() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.baseCtx != nil {
		return
	}
	s.baseCtx, s.cancel = context.WithCancel(context.Background())
	s.listeners = make(map[*net.Listener]struct{})
	s.conns = make(map[*conn]struct{})
	s.ids = newIDGenerator()
	if s.Logger == nil {
		s.log = hclog.NewNullLogger()
	} else {
		s.log = s.Logger.Named("server")
	}
}

func orDuration(v, def time.Duration) time.Duration {
	switch {
	case v == 0:
		return def
	case v < 0:
		return 0
	}
	return v
}

// ListenAndServe listens on addr (see ParseAddr) and serves it.
func (s *Server) ListenAndServe(addr string) error {
	l, err := Listen(context.Background(), addr)
	if err != nil {
		return err
	}
	return s.Serve(l)
}

// Serve accepts connections on l and serves the framed protocol on each.
// It always returns a non-nil error; after Shutdown or Close it is
// ErrServerClosed. l is closed when Serve returns.
func (s *Server) Serve(l net.Listener) error {
	return s.serve(l, nil)
}

// ServeRaw accepts connections on l and serves them unframed, as the
// tutorial's echo-server does: each chunk of bytes one read returns goes
// to h as the Content of a "application/octet-stream" message, and the
// answer's Content is written back as it is. A nil h means the Server's
// Handler. A handler error closes the connection, since an unframed
// stream has no way to say it.
func (s *Server) ServeRaw(l net.Listener, h Handler) error {
	if h == nil {
		h = s.Handler
	}
	return s.serve(l, h)
}

func (s *Server) serve(l net.Listener, raw Handler) error {
	s.init()
	if s.Handler == nil && raw == nil {
		l.Close()
		return errors.New("core: Server.Handler is nil")
	}
	s.mu.Lock()
	if s.closing.Load() {
		s.mu.Unlock()
		l.Close()
		return ErrServerClosed
	}
	s.listeners[&l] = struct{}{}
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		delete(s.listeners, &l)
		s.mu.Unlock()
		l.Close()
	}()
	s.log.Info("listening", "addr", l.Addr().String(), "raw", raw != nil)

	var backoff time.Duration
	for {
		nc, err := l.Accept()
		if err != nil {
			if s.closing.Load() {
				return ErrServerClosed
			}
			if isTemporaryAccept(err) {
				backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
				s.log.Warn("accept failed; retrying", "error", err, "delay", backoff)
				time.Sleep(backoff)
				continue
			}
			return err
		}
		backoff = 0
		s.startConn(nc, raw)
	}
}

// isTemporaryAccept reports accept errors that pass: running out of file
// descriptors, or a connection aborted before it was accepted.
func isTemporaryAccept(err error) bool {
	var ne net.Error
	return errors.Is(err, syscall.EMFILE) || errors.Is(err, syscall.ENFILE) ||
		errors.Is(err, syscall.ECONNABORTED) || errors.Is(err, syscall.ENOBUFS) ||
		(errors.As(err, &ne) && ne.Timeout())
}

func (s *Server) startConn(nc net.Conn, raw Handler) {
	max := int64(s.MaxConnections)
	if max == 0 {
		max = DefaultMaxConnections
	}
	c := &conn{s: s, nc: nc, raw: raw}
	c.dec.MaxHeaderLength = s.MaxHeaderLength
	c.dec.MaxContentLength = s.MaxContentLength
	s.mu.Lock()
	if s.closing.Load() {
		s.mu.Unlock()
		nc.Close()
		return
	}
	if max > 0 && s.nconns.Load() >= max {
		s.wg.Add(1)
		s.mu.Unlock()
		s.stats.connsRejected.Add(1)
		s.log.Warn("connection refused: limit reached", "remote", nc.RemoteAddr().String(), "limit", max)
		go func() {
			defer s.wg.Done()
			reject(nc, fmt.Errorf("%w: limit is %d", ErrTooManyConnections, max), raw != nil)
		}()
		return
	}
	s.nconns.Add(1)
	s.stats.connsTotal.Add(1)
	s.conns[c] = struct{}{}
	s.wg.Add(1)
	s.mu.Unlock()
	c.start() // in the poll loop, or in a goroutine running serve
}

// reject tells a client over the connection limit why, and closes.
func reject(nc net.Conn, err error, raw bool) {
	if !raw {
		nc.SetWriteDeadline(time.Now().Add(rejectTimeout))
		if b, e := AppendFrame(nil, NewError(err.Error())); e == nil {
			nc.Write(b)
		}
	}
	lingerClose(nc)
}

func (s *Server) removeConn(c *conn) {
	s.mu.Lock()
	delete(s.conns, c)
	s.mu.Unlock()
	s.nconns.Add(-1)
	s.wg.Done()
}

// Shutdown stops the server gracefully: it closes the listeners, lets each
// connection finish the requests it has received (including those already
// in its socket), answers them, and closes it. It waits until all
// connections are closed or ctx ends, and then returns ctx's error; the
// caller may then Close to stop the rest.
func (s *Server) Shutdown(ctx context.Context) error {
	s.init()
	s.mu.Lock()
	s.closing.Store(true)
	s.closeListenersLocked()
	for c := range s.conns {
		c.wake()
	}
	s.mu.Unlock()
	s.pollWake()
	s.log.Info("shutting down", "connections", s.nconns.Load())

	done := make(chan struct{})
	go func() {
		s.wg.Wait()
		close(done)
	}()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Close stops the server at once: it closes the listeners and every
// connection, and cancels the context of requests in flight.
func (s *Server) Close() error {
	s.init()
	s.mu.Lock()
	s.closing.Store(true)
	s.closeListenersLocked()
	for c := range s.conns {
		c.nc.Close()
		c.pollKick() // the poll loop closes it once it sees the error
	}
	s.mu.Unlock()
	s.pollWake()
	s.cancel()
	return nil
}

func (s *Server) closeListenersLocked() {
	for l := range s.listeners {
		(*l).Close()
	}
}

// Connections returns the number of open connections.
func (s *Server) Connections() int { return int(s.nconns.Load()) }

// conn is one served connection. Its goroutine owns everything but mu.
type conn struct {
	s   *Server
	nc  net.Conn
	raw Handler // non-nil for an unframed connection

	// mu orders the read deadline set before each read against wake, so
	// that a Shutdown cannot be missed by a read about to block.
	mu sync.Mutex

	dec    Decoder
	wbuf   []byte
	log    hclog.Logger
	readAt time.Time // when the current batch was read: handler deadlines count from it

	// idleSince is when the connection last began to wait for a message,
	// its answers written: the poll loop's idle timeout counts from it.
	idleSince time.Time

	partialSince time.Time // when the message now half read began to arrive

	// One batch: the requests decoded from one read, and their results.
	// The Messages are reused from batch to batch.
	msgs    []*Message
	batch   []*Message
	answers []*Message
	errs    []error
	ids     []Header // request-id of each request, Key "" for none

	pc pollConn // the poll loop's state, when it serves the connection
}

func (c *conn) wake() {
	c.pollKick() // a parked connection of the poll loop has no read to wake
	c.mu.Lock()
	c.nc.SetReadDeadline(time.Now())
	c.mu.Unlock()
}

func (c *conn) serve() {
	s := c.s
	defer s.removeConn(c)
	c.log = s.log.With("remote", c.nc.RemoteAddr().String())
	c.log.Trace("connection opened")
	buf := make([]byte, readBufferSize)
	closeErr := c.loop(buf)
	switch {
	case closeErr == nil:
		c.nc.Close()
	case errors.Is(closeErr, errLinger):
		lingerClose(c.nc)
	default:
		c.nc.Close()
	}
	c.log.Trace("connection closed")
}

// errLinger asks serve to close after letting the client read what was
// written, instead of resetting the connection.
var errLinger = errors.New("linger")

// errDrained: the server is shutting down and the connection has nothing
// more to read.
var errDrained = errors.New("drained")

// loop serves the connection until it should close.
func (c *conn) loop(buf []byte) error {
	for {
		n, err := c.read(buf)
		if n > 0 {
			c.readAt = time.Now()
			var stop error
			if c.raw != nil {
				stop = c.handleRaw(buf[:n])
			} else {
				stop = c.handleFramed(buf[:n])
			}
			if stop != nil {
				return stop
			}
		}
		if err == nil {
			continue
		}
		var ne net.Error
		switch {
		case errors.Is(err, errDrained):
			return nil
		case errors.As(err, &ne) && ne.Timeout():
			if c.dec.Partial() {
				t := orDuration(c.s.ReadTimeout, DefaultReadTimeout)
				if t <= 0 || time.Now().Before(c.partialSince.Add(t)) {
					continue // woken early by Shutdown: finish the message
				}
				c.log.Debug("read timeout inside a message")
				return c.fail(fmt.Errorf("%w: message not complete after %s", ErrReadTimeout, t))
			}
			if c.s.closing.Load() {
				continue // woken by Shutdown: read what is left, then close
			}
			return c.idleTimedOut() // close, or park in the poll loop
		case errors.Is(err, io.EOF):
			if c.dec.Partial() {
				c.log.Debug("client closed inside a message")
			}
			return nil
		default:
			c.log.Trace("read failed", "error", err)
			return nil
		}
	}
}

// read reads once, with the deadline that applies, or, once the server is
// shutting down and no message is half read, only what is already there.
func (c *conn) read(buf []byte) (int, error) {
	c.mu.Lock()
	if c.s.closing.Load() && !c.dec.Partial() {
		// Under mu: Shutdown's wake must not set its deadline between
		// drainRead clearing it and reading, which would fail the read
		// and close the connection on the bytes it holds.
		defer c.mu.Unlock()
		return c.drainRead(buf)
	}
	// Between messages the idle timeout runs from now; inside one, the
	// read timeout runs from its first bytes, so a client that dribbles a
	// byte at a time cannot stretch it.
	var deadline time.Time
	if c.dec.Partial() {
		if c.partialSince.IsZero() {
			c.partialSince = c.readAt
		}
		if t := orDuration(c.s.ReadTimeout, DefaultReadTimeout); t > 0 {
			deadline = c.partialSince.Add(t)
		}
	} else {
		c.partialSince = time.Time{}
		deadline = c.idleDeadline(orDuration(c.s.IdleTimeout, DefaultIdleTimeout))
	}
	c.nc.SetReadDeadline(deadline)
	c.mu.Unlock()
	return c.nc.Read(buf)
}

// drainRead returns what the socket already holds, without waiting.
func (c *conn) drainRead(buf []byte) (int, error) {
	c.nc.SetReadDeadline(time.Time{})
	if h := c.s.testHookDrainRead; h != nil {
		h()
	}
	sc, ok := c.nc.(syscall.Conn)
	if !ok {
		// No raw descriptor (e.g. TLS): allow a moment for queued bytes.
		c.nc.SetReadDeadline(time.Now().Add(10 * time.Millisecond))
		n, err := c.nc.Read(buf)
		if n == 0 {
			return 0, errDrained
		}
		return n, err
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return 0, errDrained
	}
	var n int
	var rerr error
	err = rc.Read(func(fd uintptr) bool {
		n, rerr = readNonBlocking(fd, buf)
		return true
	})
	if err != nil || rerr != nil || n <= 0 {
		return 0, errDrained
	}
	return n, nil
}

// handleFramed decodes, dispatches and answers every message in p, in
// batches of the messages one read delivered. It returns non-nil when the
// connection must close.
func (c *conn) handleFramed(p []byte) error {
	c.s.stats.bytesRead.Add(uint64(len(p)))
	for len(p) > 0 {
		batch := c.batch[:0]
		closeAfter := false
		var frameErr error
		for len(p) > 0 && len(batch) < maxBatch {
			if len(c.msgs) == len(batch) {
				c.msgs = append(c.msgs, new(Message))
			}
			m := c.msgs[len(batch)]
			k, ok, err := c.dec.DecodeTo(m, p)
			p = p[k:]
			if err != nil {
				frameErr = err
				break
			}
			if !ok {
				break
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
		if len(batch) > 0 {
			c.dispatch(batch)
			debug := c.log.IsDebug()
			for i, m := range batch {
				ans := c.answers[i]
				err := c.errs[i]
				if err != nil {
					ans = NewError(err.Error())
				}
				id := c.ids[i]
				if debug {
					c.logRequest(m, id, err)
				}
				if id.Key != "" && !hasHeader(ans, id.Key) {
					c.wbuf = c.appendAnswer(c.wbuf, ans, id)
				} else {
					c.wbuf = c.appendAnswer(c.wbuf, ans)
				}
			}
			clear(c.answers)
			clear(c.errs)
		}
		if frameErr != nil {
			c.s.stats.invalidFrames.Add(1)
			c.log.Warn("invalid frame; closing connection", "error", frameErr)
			c.wbuf = c.appendAnswer(c.wbuf, NewError(frameErr.Error()))
			c.flush()
			return errLinger
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
	c.log.Error("cannot encode answer", "error", err)
	e := NewError("cannot encode answer: " + err.Error())
	if out, err := AppendFrameWith(dst, e, extra...); err == nil {
		return out
	}
	out, _ = AppendFrameWith(dst, e)
	return out
}

// logRequest writes the debug log line of one answered request.
func (c *conn) logRequest(m *Message, id Header, err error) {
	args := []any{"content_type", m.ContentType, "content_length", len(m.Content), "duration", time.Since(c.readAt)}
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
	ans, err := handleSafe(ctx, c.raw, &m)
	rc.end()
	if err != nil {
		c.logHandlerError(err, Header{})
		c.log.Warn("raw handler failed; closing connection", "error", err)
		return err
	}
	c.wbuf = append(c.wbuf, ans.Content...)
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
			c.answers[i], c.errs[i] = handleSafe(ctx, c.s.Handler, m)
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
	var pe *panicError
	if errors.As(err, &pe) {
		log.Error("handler panicked", "panic", pe.value, "stack", string(pe.stack))
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
	t := orDuration(c.s.HandlerTimeout, DefaultHandlerTimeout)
	if t <= 0 {
		return c.s.baseCtx, nil
	}
	rc = &reqCtx{parent: c.s.baseCtx, deadline: c.readAt.Add(t)}
	return rc, rc
}

// flush writes the pending answers.
func (c *conn) flush() error {
	if len(c.wbuf) == 0 {
		return nil
	}
	if t := orDuration(c.s.WriteTimeout, DefaultWriteTimeout); t > 0 {
		c.nc.SetWriteDeadline(time.Now().Add(t))
	}
	n, err := c.nc.Write(c.wbuf)
	c.s.stats.bytesWritten.Add(uint64(n))
	c.wbuf = c.wbuf[:0]
	if cap(c.wbuf) > writeBufKeep {
		c.wbuf = nil
	}
	if err != nil {
		c.log.Debug("write failed", "error", err)
		return err
	}
	return nil
}

// fail answers a connection-level error and asks for a lingering close.
func (c *conn) fail(err error) error {
	if c.raw == nil {
		c.wbuf = c.appendAnswer(c.wbuf, NewError(err.Error()))
		c.flush()
	}
	return errLinger
}

// lingerClose closes the write side, then reads and discards for a moment
// before closing, so that a client still sending does not make the kernel
// reset the connection and destroy the answer it has not read yet.
func lingerClose(nc net.Conn) {
	if cw, ok := nc.(interface{ CloseWrite() error }); ok {
		if cw.CloseWrite() == nil {
			nc.SetReadDeadline(time.Now().Add(lingerTimeout))
			io.CopyN(io.Discard, nc, lingerMax)
		}
	}
	nc.Close()
}
