//go:build linux

package core

import (
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// The poll loop serves plain TCP and Unix connections on Linux without a
// goroutine or a read buffer per idle connection: one epoll instance per
// Server, edge-triggered, watches every idle connection; when one becomes
// readable it is handed to a goroutine (one waiting for work, or a new
// one), which borrows a read and a write buffer from a pool, reads what is
// there, and feeds it to the same handleFramed (or handleRaw) as the
// goroutine loop, which decodes, dispatches, answers and flushes exactly as
// it does there (a write that cannot finish at once waits, with
// WriteTimeout, as in the goroutine loop). The buffers go back to the pool
// when the socket is empty.
//
// Edge-triggered rather than one-shot: one-shot needs an epoll_ctl to
// re-arm after every read, a system call per request on a keep-alive
// connection; edge-triggered needs none. The price is that a connection
// must be read until it is empty before it goes back to idle, and that an
// edge arriving while a goroutine serves the connection must not be lost:
// pollConn.state records it (pollPending), and the goroutine reads again
// before it lets go. A read shorter than the buffer counts as emptying the
// socket (bytes arriving after it raise a new edge), which saves the read
// that would return EAGAIN, except after the peer's end of stream was
// reported, and while shutting down, when every byte already received
// must be read.
//
// Idle and read timeouts have no timer per connection: the poll goroutine
// sweeps the idle connections every sweepInterval and ends those whose
// deadline has passed, so a timeout fires up to one interval late.
//
// Shutdown and Close kick every connection: an idle one is handed to a
// goroutine, which reads what is left (Shutdown) or sees the closed
// connection (Close), and closes it as the goroutine loop would.
//
// Connections the poll loop cannot serve (TLS, or any net.Conn that is not
// a *net.TCPConn or *net.UnixConn) use the goroutine loop, as on other
// systems.

// Connection states in the poll loop, in pollConn.state's low bits.
const (
	pollNone    int32 = iota // not in the poll loop (yet)
	pollIdle                 // in epoll only; whoever moves it to pollBusy serves it
	pollBusy                 // a goroutine serves it
	pollPending              // a goroutine serves it and it was kicked again
	pollDone                 // closed

	pollStateMask int32 = 0xff
	// pollHup, in pollConn.state, says that the peer closed or the socket
	// failed: read it to the end instead of stopping at a short read.
	pollHup int32 = 0x100
)

// pollReader is what a goroutine of the poll loop borrows to serve a
// connection: the read buffer, the write buffer, and a read function made
// once, so that reads do not allocate.
type pollReader struct {
	buf   []byte
	wbuf  []byte
	n     int
	errno syscall.Errno
	fn    func(fd uintptr) bool
}

func (r *pollReader) read(fd uintptr) bool {
	n, err := syscall.Read(int(fd), r.buf)
	r.n, r.errno = n, 0
	if err != nil {
		r.errno, _ = err.(syscall.Errno)
		if r.errno == 0 {
			r.errno = syscall.EIO
		}
	}
	return true
}

var pollReaders = sync.Pool{New: func() any {
	r := &pollReader{buf: make([]byte, readBufferSize)}
	r.fn = r.read
	return r
}}

// pollConn is a connection's poll-loop state. It is kept small: it is
// part of every idle connection.
type pollConn struct {
	rc syscall.RawConn
	// deadline is when the connection, idle, times out, in nanoseconds
	// since the poller's epoch; 0 for never. Written by the goroutine
	// that serves the connection before it lets go, read by the sweep
	// once it holds it.
	deadline int64
	state    atomic.Int32
	fd       int32
}

// cas moves the state from one to another, keeping pollHup.
func (pc *pollConn) cas(from, to int32) bool {
	for {
		old := pc.state.Load()
		if old&pollStateMask != from {
			return false
		}
		if pc.state.CompareAndSwap(old, old&^pollStateMask|to) {
			return true
		}
	}
}

// poller is a Server's epoll instance and the goroutine that waits on it.
// The goroutine does not block in epoll_wait, which would hold a thread
// and, until the runtime noticed, a P: the epoll descriptor is itself
// watched by the runtime's poller, and epoll_wait is only called, without
// waiting, once it is readable.
type poller struct {
	s     *Server
	ep    *os.File // the epoll instance
	epfd  int
	evfd  int // eventfd that wakes the poll goroutine
	epoch time.Time
	sweep time.Duration

	// Goroutines that served a connection wait on work for the next one
	// (at most maxIdle of them), so that their stacks, grown
	// once, serve again; when none waits, a new goroutine is started.
	work        chan *conn
	quit        chan struct{} // closed when the poll goroutine ends
	idleWorkers atomic.Int32
	maxIdle     int32 // goroutines kept waiting at most

	mu     sync.Mutex
	slots  []*conn // by descriptor
	closed bool    // ep and evfd are closed
}

// serve has c, held busy, served by a waiting goroutine or a new one.
func (p *poller) serve(c *conn) {
	select {
	case p.work <- c:
	default:
		go p.worker(c)
	}
}

// worker serves c, then the connections it is handed, until there are
// enough goroutines waiting (p.maxIdle) or the poll goroutine ends.
func (p *poller) worker(c *conn) {
	for {
		c.pollServe(p)
		if p.idleWorkers.Add(1) > p.maxIdle {
			p.idleWorkers.Add(-1)
			return
		}
		select {
		case c = <-p.work:
			p.idleWorkers.Add(-1)
		case <-p.quit:
			p.idleWorkers.Add(-1)
			return
		}
	}
}

// start serves c: in the poll loop when it can, in a goroutine of its own
// otherwise.
func (c *conn) start() {
	if forceGoroutineLoop.Load() || !pollable(c.nc) {
		go c.serve()
		return
	}
	p, err := c.s.getPoller()
	if err == nil {
		err = p.add(c)
	}
	if err != nil {
		c.s.log.Debug("poll loop unavailable; serving in a goroutine", "error", err)
		go c.serve()
	}
}

func pollable(nc net.Conn) bool {
	switch nc.(type) {
	case *net.TCPConn, *net.UnixConn:
		return true
	}
	return false
}

// getPoller returns the Server's poller, starting it if need be. Once
// set, s.poll does not change.
func (s *Server) getPoller() (*poller, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.poll != nil {
		return s.poll, nil
	}
	epfd, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("epoll_create1: %w", err)
	}
	evfd, err := unix.Eventfd(0, unix.EFD_NONBLOCK|unix.EFD_CLOEXEC)
	if err != nil {
		unix.Close(epfd)
		return nil, fmt.Errorf("eventfd: %w", err)
	}
	err = unix.EpollCtl(epfd, unix.EPOLL_CTL_ADD, evfd, &unix.EpollEvent{Events: unix.EPOLLIN, Fd: int32(evfd)})
	if err == nil {
		err = unix.SetNonblock(epfd, true)
	}
	if err != nil {
		unix.Close(epfd)
		unix.Close(evfd)
		return nil, fmt.Errorf("epoll: %w", err)
	}
	p := &poller{
		s: s, ep: os.NewFile(uintptr(epfd), "epoll"), epfd: epfd, evfd: evfd, epoch: time.Now(),
		work: make(chan *conn), quit: make(chan struct{}),
		maxIdle: int32(max(8, 4*runtime.GOMAXPROCS(0))),
	}
	rc, err := p.ep.SyscallConn()
	if err != nil {
		p.ep.Close()
		unix.Close(evfd)
		return nil, err
	}
	p.sweep = sweepInterval(s)
	s.poll = p
	go p.run(rc)
	return p, nil
}

// sweepInterval is a tenth of the shortest idle or read timeout, within
// 10ms..500ms.
func sweepInterval(s *Server) time.Duration {
	d := 500 * time.Millisecond
	for _, t := range []time.Duration{orDuration(s.IdleTimeout, DefaultIdleTimeout), orDuration(s.ReadTimeout, DefaultReadTimeout)} {
		if t > 0 {
			d = min(d, t/10)
		}
	}
	return max(d, 10*time.Millisecond)
}

// add registers c, which the caller has counted in the Server.
func (p *poller) add(c *conn) error {
	sc := c.nc.(syscall.Conn)
	rc, err := sc.SyscallConn()
	if err != nil {
		return err
	}
	fd := -1
	if err := rc.Control(func(f uintptr) { fd = int(f) }); err != nil {
		return err
	}
	pc := &c.pc
	pc.rc, pc.fd = rc, int32(fd)
	c.log = c.s.log.With("remote", c.nc.RemoteAddr().String())
	c.log.Trace("connection opened")
	c.setPollDeadline(p)
	// Busy until registered, so that an early edge waits for us. From
	// here on a Shutdown or Close kicks c instead of waking a read.
	pc.state.Store(pollBusy)

	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		pc.state.Store(pollNone)
		return errors.New("poller closed")
	}
	if fd >= len(p.slots) {
		p.slots = append(p.slots, make([]*conn, fd+1-len(p.slots))...)
	}
	p.slots[fd] = c
	err = unix.EpollCtl(p.epfd, unix.EPOLL_CTL_ADD, fd, &unix.EpollEvent{
		Events: unix.EPOLLIN | unix.EPOLLRDHUP | unix.EPOLLET,
		Fd:     pc.fd,
	})
	if err != nil {
		p.slots[fd] = nil
	}
	p.mu.Unlock()
	if err != nil {
		pc.state.Store(pollNone)
		return fmt.Errorf("epoll_ctl: %w", err)
	}
	c.release()
	if c.s.closing.Load() {
		c.kick() // a Shutdown or Close may have missed c
	}
	return nil
}

// remove forgets c; closing its descriptor takes it out of epoll.
func (p *poller) remove(c *conn) {
	p.mu.Lock()
	if fd := c.pc.fd; p.slots[fd] == c {
		p.slots[fd] = nil
	}
	p.mu.Unlock()
}

// wake makes the poll goroutine look whether it should stop.
func (p *poller) wake() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.closed {
		one := [8]byte{1}
		unix.Write(p.evfd, one[:])
	}
}

// pollWake wakes the poll goroutine, if any, to stop once the server is
// closing and has no connection left.
func (s *Server) pollWake() {
	s.mu.Lock()
	p := s.poll
	s.mu.Unlock()
	if p != nil {
		p.wake()
	}
}

// run hands readable connections to goroutines and sweeps the idle ones,
// until the server is closing and has no connection left.
func (p *poller) run(rc syscall.RawConn) {
	events := make([]unix.EpollEvent, 256)
	var n int
	wait := func(fd uintptr) bool {
		var err error
		n, err = unix.EpollWait(int(fd), events, 0)
		return err != unix.EINTR && n != 0
	}
	next := time.Now().Add(p.sweep)
	var armed time.Time // the deadline set on ep
	for {
		if next != armed {
			p.ep.SetReadDeadline(next)
			armed = next
		}
		n = 0
		if err := rc.Read(wait); err != nil && !errors.Is(err, os.ErrDeadlineExceeded) {
			p.s.log.Error("epoll wait failed", "error", err)
			time.Sleep(10 * time.Millisecond)
		}
		p.mu.Lock()
		for _, ev := range events[:max(n, 0)] {
			if ev.Fd == int32(p.evfd) {
				var b [8]byte
				unix.Read(p.evfd, b[:])
				continue
			}
			if c := p.slots[ev.Fd]; c != nil {
				if ev.Events&(unix.EPOLLRDHUP|unix.EPOLLHUP|unix.EPOLLERR) != 0 {
					c.pc.state.Or(pollHup)
				}
				c.kick()
			}
		}
		p.mu.Unlock()
		if now := time.Now(); !now.Before(next) {
			p.sweepIdle(now)
			next = now.Add(p.sweep)
		}
		if p.s.closing.Load() && p.s.nconns.Load() == 0 {
			p.mu.Lock()
			p.closed = true
			p.ep.Close()
			unix.Close(p.evfd)
			p.mu.Unlock()
			close(p.quit)
			return
		}
	}
}

// sweepIdle ends the idle connections whose deadline has passed.
func (p *poller) sweepIdle(now time.Time) {
	t := now.Sub(p.epoch).Nanoseconds()
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range p.slots {
		if c == nil || !c.pc.cas(pollIdle, pollBusy) {
			continue
		}
		if d := c.pc.deadline; d != 0 && t >= d {
			go c.pollExpire(p)
			continue
		}
		c.release()
	}
}

// kick makes c served: by a new goroutine if it is idle, by the one that
// serves it otherwise.
func (c *conn) kick() {
	pc := &c.pc
	for {
		old := pc.state.Load()
		switch old & pollStateMask {
		case pollIdle:
			if pc.state.CompareAndSwap(old, old&^pollStateMask|pollBusy) {
				c.s.poll.serve(c)
				return
			}
		case pollBusy:
			if pc.state.CompareAndSwap(old, old&^pollStateMask|pollPending) {
				return
			}
		default:
			return
		}
	}
}

// release lets go of c, held busy; if it was kicked meanwhile, it is
// served at once.
func (c *conn) release() {
	if !c.pc.cas(pollBusy, pollIdle) {
		c.pc.cas(pollPending, pollBusy)
		c.s.poll.serve(c)
	}
}

// pollKick is wake for a connection of the poll loop: it reports false
// for one of the goroutine loop.
func (c *conn) pollKick() bool {
	if c.pc.state.Load() == pollNone {
		return false
	}
	c.kick()
	return true
}

// pollServe reads and answers c, held busy, until its socket is empty,
// then lets go of it or closes it.
func (c *conn) pollServe(p *poller) {
	pc := &c.pc
	for {
		r := pollReaders.Get().(*pollReader)
		c.wbuf = r.wbuf[:0]
		err := c.pollRead(r)
		// An idle connection keeps no buffer (flush has written all or
		// failed).
		r.wbuf = nil
		if cap(c.wbuf) <= writeBufKeep {
			r.wbuf = c.wbuf[:0]
		}
		c.wbuf = nil
		pollReaders.Put(r)
		if err != nil {
			c.pollFinish(p, err)
			return
		}
		c.setPollDeadline(p)
		if pc.cas(pollBusy, pollIdle) {
			return
		}
		pc.cas(pollPending, pollBusy) // kicked meanwhile: read again
	}
}

// pollRead reads c until its socket is empty, handling what it reads. It
// returns nil when c should wait for more, and otherwise why c must close,
// as loop does.
func (c *conn) pollRead(r *pollReader) error {
	pc := &c.pc
	for {
		closing := c.s.closing.Load()
		if err := pc.rc.Read(r.fn); err != nil {
			c.log.Trace("read failed", "error", err)
			return err
		}
		n := r.n
		switch errno := r.errno; {
		case errno == syscall.EAGAIN:
			if closing && !c.dec.Partial() {
				return errDrained
			}
			return nil
		case errno == syscall.EINTR:
			continue
		case errno != 0:
			c.log.Trace("read failed", "error", errno)
			return errno
		case n == 0:
			if c.dec.Partial() {
				c.log.Debug("client closed inside a message")
			}
			return io.EOF
		}
		c.readAt = time.Now()
		var stop error
		if c.raw != nil {
			stop = c.handleRaw(r.buf[:n])
		} else {
			stop = c.handleFramed(r.buf[:n])
		}
		if stop != nil {
			return stop
		}
		if c.dec.Partial() {
			if c.partialSince.IsZero() {
				c.partialSince = c.readAt
			}
		} else {
			c.partialSince = time.Time{}
		}
		// A short read emptied the socket: bytes that arrive later raise
		// a new edge. Not so for an end of stream already reported with
		// the bytes; and when shutting down, read on until EAGAIN, so
		// that everything already received is answered.
		if n < len(r.buf) && !closing && pc.state.Load()&pollHup == 0 {
			return nil
		}
	}
}

// setPollDeadline sets when c, about to be idle, times out: the read
// timeout from the first bytes of a message half read, the idle timeout
// from now otherwise.
func (c *conn) setPollDeadline(p *poller) {
	pc := &c.pc
	pc.deadline = 0
	var at time.Time
	if c.dec.Partial() {
		if t := orDuration(c.s.ReadTimeout, DefaultReadTimeout); t > 0 {
			at = c.partialSince.Add(t)
		}
	} else if t := orDuration(c.s.IdleTimeout, DefaultIdleTimeout); t > 0 {
		at = time.Now().Add(t)
	}
	if !at.IsZero() {
		pc.deadline = max(at.Sub(p.epoch).Nanoseconds(), 1)
	}
}

// pollExpire ends c, held busy, whose deadline has passed.
func (c *conn) pollExpire(p *poller) {
	if c.dec.Partial() {
		t := orDuration(c.s.ReadTimeout, DefaultReadTimeout)
		c.log.Debug("read timeout inside a message")
		c.pollFinish(p, c.fail(fmt.Errorf("%w: message not complete after %s", ErrReadTimeout, t)))
		return
	}
	c.log.Trace("idle timeout")
	c.pollFinish(p, nil)
}

// pollFinish closes c as serve does, after taking it out of the poller.
func (c *conn) pollFinish(p *poller, closeErr error) {
	c.pc.state.Store(pollDone)
	p.remove(c)
	if errors.Is(closeErr, errLinger) {
		lingerClose(c.nc)
	} else {
		c.nc.Close()
	}
	c.log.Trace("connection closed")
	c.s.removeConn(c)
	if c.s.closing.Load() && c.s.nconns.Load() == 0 {
		p.wake()
	}
}
