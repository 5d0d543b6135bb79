package core

import (
	"context"
	"errors"
	"fmt"
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
// no buffer, so that an idle connection holds a small fraction of the
// memory it would with a goroutine (measured: see BENCHMARKS.md, "Figures
// that were in code comments"), and is handed back to a goroutine when
// bytes arrive. TLS connections, and every connection on other systems, keep a
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
	// MaxBuffered bounds the bytes held by messages that span reads, on
	// all connections together: such a message of more than 64 KiB (its
	// whole frame: 2 + header + content-length bytes) reserves its size
	// once its header is read, before its content, and releases it once
	// answered. A connection that cannot have its reservation stops
	// reading until others release enough, within its read timeout; a
	// message larger than MaxBuffered is refused as over the
	// content-length limit. Memory for messages half received is thus at
	// most MaxBuffered plus 128 KiB per connection (see SECURITY.md).
	// Zero means a quarter of the memory the process may use (the
	// smallest of the physical memory, the cgroup's memory.max on Linux,
	// and GOMEMLIMIT), at least 32 MiB, or DefaultMaxBuffered (1 GiB)
	// where it cannot be read. Negative means no limit: nothing is
	// reserved, and such a message's buffer grows as its bytes arrive.
	MaxBuffered int64

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
	budget    inputBudget // resolved from MaxBuffered by init
	t         timeouts    // resolved from the timeouts by init
	logs      logSampler  // the log lines clients cause
	poll      *poller     // the poll loop (Linux), started by the first connection it serves

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
	s.budget.max = resolveMaxBuffered(s.MaxBuffered)
	s.t = timeouts{
		idle:    orDuration(s.IdleTimeout, DefaultIdleTimeout),
		read:    orDuration(s.ReadTimeout, DefaultReadTimeout),
		write:   orDuration(s.WriteTimeout, DefaultWriteTimeout),
		handler: orDuration(s.HandlerTimeout, DefaultHandlerTimeout),
	}
	if s.Logger == nil {
		s.log = hclog.NewNullLogger()
	} else {
		s.log = s.Logger.Named("server")
	}
}

// timeouts are the Server's timeouts with their defaults applied, once,
// by init: 0 means none.
type timeouts struct {
	idle, read, write, handler time.Duration
}

// orDuration applies a default: zero means def, negative none (0).
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
	c := &conn{s: s, nc: nc, raw: raw, idleSince: time.Now()}
	c.dec.MaxHeaderLength = s.MaxHeaderLength
	c.dec.MaxContentLength = s.MaxContentLength
	c.dec.grants = s.budget.max > 0
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
		s.logs.log(s.log, hclog.Warn, "conn-limit", "connection refused: limit reached", "remote", nc.RemoteAddr().String(), "limit", max)
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
	c.releaseGrant() // of a message left half read
	s.mu.Lock()
	delete(s.conns, c)
	s.mu.Unlock()
	s.nconns.Add(-1)
	s.wg.Done()
}

// Shutdown stops the server gracefully: it closes the listeners, lets each
// connection finish the requests it has received (including those already
// in its socket), answers them, and closes it. A connection active in the
// last 250ms, whose client may be writing its next request, first goes on
// reading for 250ms to 500ms and answers each request that arrives with
// the error ErrShuttingDown and the header "connection": "close": a
// keep-alive client that stops writing on that answer gets an answer or
// an error answer for every request it wrote, never a bare end of stream.
// Shutdown waits until all connections are closed or ctx ends, and then
// returns ctx's error; the caller may then Close to stop the rest.
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
	defer s.logs.flush(s.log)
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
	s.logs.flush(s.log)
	return nil
}

func (s *Server) closeListenersLocked() {
	for l := range s.listeners {
		(*l).Close()
	}
}

// Connections returns the number of open connections.
func (s *Server) Connections() int { return int(s.nconns.Load()) }
