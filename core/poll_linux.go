//go:build linux

package core

import (
	"errors"
	"fmt"
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
// goroutine or a read buffer per idle connection. A connection is served
// in one of two ways:
//
//   - parked: no goroutine, no buffer. One epoll instance per Server
//     watches it (EPOLLONESHOT). A connection starts parked, and returns
//     to it after parkAfter without a byte (or its idle timeout, if
//     shorter, which closes it as in the goroutine loop).
//   - active: a goroutine (one waiting for work, or a new one) borrows a
//     read and a write buffer from a pool and runs the goroutine loop's
//     own loop on it: the same read deadlines, handleFramed (or
//     handleRaw), decoder, dispatch, answers and flush. A busy connection
//     thus costs what it costs in the goroutine loop.
//
// One-shot rather than edge-triggered: a parked connection's first event
// disarms it, so the kernel does not keep waking the epoll instance while
// the connection is active (the runtime's poller, which serves the reads
// and writes of active connections, is woken anyway); parking re-arms it
// with one epoll_ctl, which happens only after parkAfter of silence. An
// earlier version was edge-triggered and read in the poll goroutine's
// workers until EAGAIN: it cost more CPU per request under load (measured:
// see BENCHMARKS.md, "Figures that were in code comments"), every event
// waking two epoll instances and two goroutines.
//
// pollConn.state orders the hand-overs: whoever moves a parked connection
// from pollIdle to pollBusy serves it; a kick (an event, Shutdown, Close)
// that finds it busy leaves pollPending, and the goroutine serves it again
// instead of parking it.
//
// The idle timeout of a parked connection has no timer: the poll goroutine
// sweeps the parked connections every sweepInterval and closes those whose
// deadline has passed, so it fires up to one interval late. Read timeouts
// (a message half read) are the active loop's, exact, as a connection does
// not park inside a message.
//
// Shutdown and Close kick every connection as well as waking its read: a
// parked one is handed to a goroutine, which reads what is left
// (Shutdown) or sees the closed connection (Close), and closes it as the
// goroutine loop would.
//
// Connections the poll loop cannot serve (TLS, or any net.Conn that is not
// a *net.TCPConn or *net.UnixConn) use the goroutine loop, as on other
// systems.

// parkAfter is how long an active connection waits for bytes before it is
// parked.
const parkAfter = 250 * time.Millisecond

// errPark: the connection has been silent for parkAfter; park it.
var errPark = errors.New("park")

// Connection states in the poll loop (pollConn.state).
const (
	pollNone    int32 = iota // not in the poll loop (yet)
	pollIdle                 // in epoll only; whoever moves it to pollBusy serves it
	pollBusy                 // a goroutine serves it
	pollPending              // a goroutine serves it and it was kicked again
	pollDone                 // closed
)

// pollBuffers is what an active connection borrows: its read and write
// buffers.
type pollBuffers struct {
	r, w []byte
}

var pollBufferPool = sync.Pool{New: func() any {
	return &pollBuffers{r: make([]byte, readBufferSize)}
}}

// pollConn is a connection's poll-loop state. It is kept small: it is
// part of every idle connection.
type pollConn struct {
	// deadline is when the connection, parked, times out, in nanoseconds
	// since the poller's epoch; 0 for never. Written by the goroutine
	// that parks the connection, read by the sweep once it holds it.
	deadline int64
	state    atomic.Int32
	fd       int32
}

// cas moves the state from one to another.
func (pc *pollConn) cas(from, to int32) bool {
	return pc.state.CompareAndSwap(from, to)
}

// poller is a Server's epoll instance for parked connections, and the
// goroutine that waits on it. The goroutine does not block in epoll_wait, which would hold a thread
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
	// (at most maxIdle of them), so that their stacks, grown once, serve
	// again; when none waits, a new goroutine is started.
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

// sweepInterval is a tenth of the idle timeout, within 10ms..500ms: how
// late a parked connection may be closed.
func sweepInterval(s *Server) time.Duration {
	d := 500 * time.Millisecond
	if t := s.t.idle; t > 0 {
		d = min(d, t/10)
	}
	return max(d, 10*time.Millisecond)
}

// add registers c, which the caller has counted in the Server.
func (p *poller) add(c *conn) error {
	rc, err := c.nc.(syscall.Conn).SyscallConn()
	if err != nil {
		return err
	}
	fd := -1
	if err := rc.Control(func(f uintptr) { fd = int(f) }); err != nil {
		return err
	}
	pc := &c.pc
	pc.fd = int32(fd)
	c.log = c.s.log.With("remote", c.nc.RemoteAddr().String())
	c.log.Trace("connection opened")
	c.idleSince = time.Now() // the idle timeout runs from here
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
	err = unix.EpollCtl(p.epfd, unix.EPOLL_CTL_ADD, fd, &unix.EpollEvent{Events: pollEvents, Fd: pc.fd})
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

// pollEvents is what a parked connection waits for.
const pollEvents = unix.EPOLLIN | unix.EPOLLRDHUP | unix.EPOLLONESHOT

// arm parks c again in epoll.
func (p *poller) arm(c *conn) error {
	rc, err := c.nc.(syscall.Conn).SyscallConn()
	if err != nil {
		return err
	}
	cerr := rc.Control(func(fd uintptr) {
		err = unix.EpollCtl(p.epfd, unix.EPOLL_CTL_MOD, int(fd), &unix.EpollEvent{Events: pollEvents, Fd: int32(fd)})
	})
	if cerr != nil {
		return cerr
	}
	return err
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
		switch pc.state.Load() {
		case pollIdle:
			if pc.state.CompareAndSwap(pollIdle, pollBusy) {
				c.s.poll.serve(c)
				return
			}
		case pollBusy:
			if pc.state.CompareAndSwap(pollBusy, pollPending) {
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

// pollKick is wake for a connection of the poll loop: a parked one is
// handed to a goroutine, an active one will not park before it looks at
// the server again. It reports false for one of the goroutine loop.
func (c *conn) pollKick() bool {
	if c.pc.state.Load() == pollNone {
		return false
	}
	c.kick()
	return true
}

// pollServe serves c, held busy, with the goroutine loop's loop until c
// has been silent for parkAfter, then parks it, or closes it.
func (c *conn) pollServe(p *poller) {
	pc := &c.pc
	for {
		b := pollBufferPool.Get().(*pollBuffers)
		c.wbuf = b.w[:0]
		err := c.loop(b.r)
		// A parked connection keeps no buffer (flush has written all or
		// failed).
		b.w = nil
		if cap(c.wbuf) <= writeBufKeep {
			b.w = c.wbuf[:0]
		}
		c.wbuf = nil
		// The last batch's Messages point into the read buffer: drop
		// them, so that a parked connection does not pin a buffer (and
		// keeps no batch), nor the decoder's kept header strings.
		c.msgs, c.batch, c.answers, c.errs, c.ids = nil, nil, nil, nil, nil
		c.dec.names.drop()
		pollBufferPool.Put(b)
		if err != errPark {
			c.pollFinish(p, err)
			return
		}
		c.setPollDeadline(p)
		if h := c.s.testHookPark; h != nil {
			h(c)
		}
		if err := p.arm(c); err != nil {
			c.log.Trace("cannot park", "error", err)
			c.pollFinish(p, err)
			return
		}
		if pc.cas(pollBusy, pollIdle) {
			return
		}
		pc.cas(pollPending, pollBusy) // kicked meanwhile: serve again
	}
}

// idleDeadline is the read deadline between messages, given the idle
// timeout t: for a connection of the poll loop, no later than parkAfter.
// The wait it begins is recorded (idleSince).
func (c *conn) idleDeadline(t time.Duration) time.Time {
	now := time.Now()
	c.idleSince = now
	if c.pc.state.Load() != pollNone {
		if t <= 0 || t > parkAfter {
			t = parkAfter
		}
		return now.Add(t)
	}
	if t <= 0 {
		return time.Time{}
	}
	return now.Add(t)
}

// idleTimedOut says what a read timeout between messages means: close
// (nil) at the idle timeout, or park (errPark) before it in the poll loop.
func (c *conn) idleTimedOut() error {
	if c.pc.state.Load() != pollNone {
		t := c.s.t.idle
		if t <= 0 || time.Since(c.idleSince) < t {
			return errPark
		}
	}
	c.log.Trace("idle timeout")
	return nil
}

// setPollDeadline sets when c, about to park, times out: the idle timeout
// from when it began to wait, its last answers written, as in the
// goroutine loop (not from its last read, which would count the time its
// handlers took against the client).
func (c *conn) setPollDeadline(p *poller) {
	pc := &c.pc
	pc.deadline = 0
	if t := c.s.t.idle; t > 0 {
		pc.deadline = max(c.idleSince.Add(t).Sub(p.epoch).Nanoseconds(), 1)
	}
}

// pollExpire ends c, held busy, whose deadline has passed.
func (c *conn) pollExpire(p *poller) {
	if c.dec.Partial() {
		t := c.s.t.read
		c.log.Debug("read timeout inside a message")
		c.pollFinish(p, c.fail(fmt.Errorf("%w: message not complete after %s", ErrReadTimeout, t)))
		return
	}
	c.log.Trace("idle timeout")
	c.pollFinish(p, nil)
}

// pollFinish closes c as serve does, after taking it out of the poller.
// closeErr is what loop returned.
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
