// Package loadgen drives a router over the network: a number of
// connections, each keeping a number of requests in flight (pipelined when
// more than one), with round-trip latencies recorded. The benchmarks and
// `router bench` use it, so that every figure comes from the same load
// generator.
//
// Latency is measured per batch: from writing a connection's Depth
// requests together to reading the last of their answers. With Depth 1
// (the default) that is the round trip of each request.
package loadgen

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"math"
	"net"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/msgrouter/router/core"
)

// Options says what load to send.
type Options struct {
	// Addr is the router's address (see core.ParseAddr).
	Addr string
	// Request is one encoded request frame, sent over and over. It is
	// used when Mix is empty.
	Request []byte
	// Mix, if not empty, holds encoded request frames sent round-robin
	// instead of Request: each connection cycles through them, starting
	// at a different one.
	Mix [][]byte
	// Conns is the number of connections; zero means 1.
	Conns int
	// Depth is the number of requests each connection keeps in flight,
	// written together; zero means 1.
	Depth int
	// Requests is the total to send (rounded up to whole batches), after
	// the warmup. Zero means none, or no limit when Duration is set.
	Requests int64
	// Duration, if not zero, stops the run that long after the warmup
	// (the batches in flight are finished).
	Duration time.Duration
	// Warmup is a period at the start whose requests, errors and bytes
	// are not counted.
	Warmup time.Duration
	// OneShot opens a new connection for every batch (every request with
	// Depth 1) and closes it after the answers, like the tutorial's
	// app-client.
	OneShot bool
	// Timeout bounds each batch's round trip, and each connection
	// attempt: a batch not answered in time counts as a KindTimeout error
	// and its connection is closed (and opened again). A run thus lasts
	// at most Duration and the warmup, plus Timeout. Zero means
	// DefaultTimeout.
	Timeout time.Duration
	// Progress, if set, is called about every 500ms while the run lasts,
	// from a goroutine of its own.
	Progress func(Progress)
}

// DefaultTimeout is the Timeout of Options that set none.
const DefaultTimeout = 10 * time.Second

// Progress is a snapshot of a running run.
type Progress struct {
	// Elapsed is the time since the end of the warmup; during the warmup
	// (Warmup true) it is the time since the start.
	Elapsed time.Duration
	Warmup  bool
	// Requests, Errors and the bytes are counted since the warmup.
	Requests, Errors         int64
	BytesSent, BytesReceived int64
}

// Error kinds, the keys of Result.Errors.
const (
	KindAnswer  = "answer"  // an {"error": ...} answer
	KindConnect = "connect" // a connection could not be opened
	KindClosed  = "closed"  // the server closed the connection before answering
	KindReset   = "reset"   // the connection was reset
	KindTimeout = "timeout" // a read or write timed out
	KindInvalid = "invalid" // an answer that is not a valid frame
	KindIO      = "io"      // another read or write error
)

// Result is what a run measured, after the warmup.
type Result struct {
	// Requests is the number of answers received, error answers included.
	Requests int64
	Elapsed  time.Duration
	// Latencies holds the round trip of every batch, sorted: of every
	// request when Depth is 1.
	Latencies []time.Duration
	// Errors counts the errors by kind (KindAnswer...): error answers one
	// per answer, failures one per failed connection attempt or broken
	// connection. Nil when there were none. They do not stop the run: a
	// broken connection is opened again.
	Errors map[string]int64
	// ErrorSamples holds the message of the first error of each kind.
	ErrorSamples map[string]string
	// BytesSent and BytesReceived count the bytes written and read.
	BytesSent, BytesReceived int64
}

// Rate returns requests per second.
func (r Result) Rate() float64 { return float64(r.Requests) / r.Elapsed.Seconds() }

// ErrorCount returns the number of errors of every kind.
func (r Result) ErrorCount() int64 {
	var n int64
	for _, v := range r.Errors {
		n += v
	}
	return n
}

// Quantile returns the q-quantile (0..1) of the batch round trips, by
// the nearest rank: the smallest round trip that at least q of them do
// not exceed.
func (r Result) Quantile(q float64) time.Duration {
	n := len(r.Latencies)
	if n == 0 {
		return 0
	}
	// Less a hair: q*n may come out a rounding error above a whole
	// number (0.07*100 is 7.000000000000001).
	i := int(math.Ceil(q*float64(n)-1e-9)) - 1
	return r.Latencies[min(max(i, 0), n-1)]
}

// ErrNoConnection is returned, wrapped, when not one connection could be
// opened at the start of a run.
var ErrNoConnection = errors.New("cannot connect")

// CountedErrors is the error Run returns when the run completed but
// counted errors (Result.Errors).
type CountedErrors struct {
	Counts  map[string]int64
	Samples map[string]string
}

// Error lists the kinds of error counted, with a sample of each.
func (e *CountedErrors) Error() string {
	kinds := make([]string, 0, len(e.Counts))
	for k := range e.Counts {
		kinds = append(kinds, k)
	}
	sort.Strings(kinds)
	var b strings.Builder
	b.WriteString("loadgen: errors:")
	for i, k := range kinds {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, " %d %s (%s)", e.Counts[k], k, e.Samples[k])
	}
	return b.String()
}

// worker is one connection's state; its counters are read by Progress.
type worker struct {
	requests, errors, sent, received atomic.Int64

	lat     []time.Duration
	kinds   map[string]int64
	samples map[string]string
	_       [64]byte // keep workers' counters off each other's cache lines
}

func (w *worker) fail(kind string, err error) {
	w.errors.Add(1)
	if w.kinds == nil {
		w.kinds, w.samples = map[string]int64{}, map[string]string{}
	}
	if w.kinds[kind] == 0 {
		w.samples[kind] = err.Error()
	}
	w.kinds[kind]++
}

// run is what every worker shares.
type run struct {
	o                Options
	network, address string
	depth            int
	// ring holds the mix repeated so that the batch starting at mix index
	// i is ring[offs[i]:offs[i+depth]].
	ring     []byte
	offs     []int
	nmix     int
	left     atomic.Int64
	limit    bool      // left counts down
	measure  time.Time // end of the warmup
	deadline time.Time // zero for none
	timeout  time.Duration
}

// Run sends the load and waits for every answer. Connections are opened
// before the clock starts. It returns an error wrapping ErrNoConnection
// when none could be opened, ctx's error when ctx ended the run early,
// and *CountedErrors when the run completed with errors; the Result is
// valid with the last two.
func Run(ctx context.Context, o Options) (Result, error) {
	r, err := newRun(o)
	if err != nil {
		return Result{}, err
	}
	ws := make([]worker, max(o.Conns, 1))
	cs, err := r.open(ctx, ws)
	if err != nil {
		return Result{}, err
	}

	start := time.Now()
	r.measure = start.Add(o.Warmup)
	if o.Duration > 0 {
		r.deadline = r.measure.Add(o.Duration)
	}
	var wg sync.WaitGroup
	for i := range ws {
		wg.Go(func() { r.drive(ctx, &ws[i], cs[i], i%r.nmix) })
	}
	stopProgress := r.progress(ws, start)
	wg.Wait()
	end := time.Now()
	stopProgress()
	return r.result(ctx, ws, end)
}

// newRun returns the run of o, its batches laid out in the ring.
func newRun(o Options) (*run, error) {
	network, address, err := core.ParseAddr(o.Addr)
	if err != nil {
		return nil, err
	}
	mix := o.Mix
	if len(mix) == 0 {
		mix = [][]byte{o.Request}
	}
	depth := max(o.Depth, 1)
	r := &run{o: o, network: network, address: address, depth: depth, nmix: len(mix), timeout: cmp.Or(o.Timeout, DefaultTimeout)}
	for i := 0; i < len(mix)+depth; i++ {
		r.offs = append(r.offs, len(r.ring))
		r.ring = append(r.ring, mix[i%len(mix)]...)
	}
	r.offs = append(r.offs, len(r.ring))
	r.left.Store(o.Requests)
	r.limit = o.Requests > 0 || o.Duration == 0
	return r, nil
}

// open opens a connection for each worker of ws, before the clock starts;
// a worker whose connection failed opens one when it begins. With OneShot
// it opens only one, and closes it at once: a check that the server is
// there, not part of the run. It fails with ErrNoConnection when not one
// opened.
func (r *run) open(ctx context.Context, ws []worker) ([]net.Conn, error) {
	cs := make([]net.Conn, len(ws))
	var firstErr error
	opened := 0
	for i := range cs {
		if r.o.OneShot && i > 0 {
			break
		}
		c, err := r.dial(ctx)
		if err != nil {
			if firstErr == nil {
				firstErr = err
			}
			ws[i].fail(KindConnect, err)
			continue
		}
		opened++
		if r.o.OneShot {
			c.Close()
		} else {
			cs[i] = c
		}
	}
	if opened == 0 {
		return nil, fmt.Errorf("%w to %s: %w", ErrNoConnection, r.o.Addr, firstErr)
	}
	if r.o.OneShot {
		ws[0] = worker{} // the check is not part of the run
	}
	return cs, nil
}

// progress calls o.Progress, if set, about every 500ms from a goroutine
// of its own, until stop is called; stop returns after the last call.
func (r *run) progress(ws []worker, start time.Time) (stop func()) {
	if r.o.Progress == nil {
		return func() {}
	}
	quit := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		t := time.NewTicker(500 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-quit:
				return
			case now := <-t.C:
				r.o.Progress(r.snapshot(ws, start, now))
			}
		}
	}()
	return func() {
		close(quit)
		<-done
	}
}

// result sums up the workers' counts, after the run ended at end, and
// returns the error Run returns with them.
func (r *run) result(ctx context.Context, ws []worker, end time.Time) (Result, error) {
	res := Result{Elapsed: max(end.Sub(r.measure), 0)}
	n := 0
	for i := range ws {
		n += len(ws[i].lat)
	}
	res.Latencies = make([]time.Duration, 0, n)
	for i := range ws {
		w := &ws[i]
		res.Requests += w.requests.Load()
		res.BytesSent += w.sent.Load()
		res.BytesReceived += w.received.Load()
		res.Latencies = append(res.Latencies, w.lat...)
		for k, v := range w.kinds {
			if res.Errors == nil {
				res.Errors, res.ErrorSamples = map[string]int64{}, map[string]string{}
			}
			if res.Errors[k] == 0 {
				res.ErrorSamples[k] = w.samples[k]
			}
			res.Errors[k] += v
		}
	}
	slices.Sort(res.Latencies)
	if err := ctx.Err(); err != nil {
		return res, err
	}
	if res.Errors != nil {
		return res, &CountedErrors{Counts: res.Errors, Samples: res.ErrorSamples}
	}
	return res, nil
}

func (r *run) snapshot(ws []worker, start, now time.Time) Progress {
	p := Progress{Elapsed: now.Sub(r.measure)}
	if now.Before(r.measure) {
		p.Warmup, p.Elapsed = true, now.Sub(start)
	}
	for i := range ws {
		w := &ws[i]
		p.Requests += w.requests.Load()
		p.Errors += w.errors.Load()
		p.BytesSent += w.sent.Load()
		p.BytesReceived += w.received.Load()
	}
	return p
}

func (r *run) dial(ctx context.Context) (net.Conn, error) {
	d := net.Dialer{Timeout: r.timeout}
	return d.DialContext(ctx, r.network, r.address)
}

// next says whether to send another batch started at t0, and whether it
// is counted (after the warmup).
func (r *run) next(ctx context.Context, t0 time.Time) (ok, counted bool) {
	if ctx.Err() != nil {
		return false, false
	}
	if t0.Before(r.measure) {
		return true, false
	}
	if !r.deadline.IsZero() && !t0.Before(r.deadline) {
		return false, false
	}
	if r.limit && r.left.Add(-int64(r.depth)) <= -int64(r.depth) {
		return false, false
	}
	return true, true
}

// drive sends batches on c (nil: open one first) until the run ends.
func (r *run) drive(ctx context.Context, w *worker, c net.Conn, pos int) {
	depth := r.depth
	var d core.Decoder
	d.MaxContentLength = -1
	buf := make([]byte, 64<<10)
	var stop func() bool
	closeConn := func() {
		if c != nil {
			stop()
			c.Close()
			c = nil
		}
	}
	defer closeConn()
	watch := func() {
		cc := c
		stop = context.AfterFunc(ctx, func() { cc.SetDeadline(time.Unix(1, 0)) })
	}
	if c != nil {
		watch()
	}
	for {
		t0 := time.Now()
		ok, counted := r.next(ctx, t0)
		if !ok {
			return
		}
		batch := r.ring[r.offs[pos]:r.offs[pos+depth]]
		pos = (pos + depth) % r.nmix
		if c == nil {
			nc, err := r.dial(ctx)
			if err != nil {
				if ctx.Err() != nil {
					return
				}
				if counted {
					w.fail(KindConnect, err)
				}
				time.Sleep(10 * time.Millisecond) // do not spin on a refusing server
				continue
			}
			c = nc
			d.Reset()
			watch()
		}
		// The batch's deadline; the end of ctx sets one in the past
		// (watch), which this must not undo.
		c.SetDeadline(t0.Add(r.timeout))
		if ctx.Err() != nil {
			return
		}
		ex := exchange(c, &d, batch, depth, buf)
		if counted {
			w.sent.Add(int64(ex.sent))
			w.received.Add(int64(ex.recv))
			w.requests.Add(int64(ex.answered))
			for range ex.errAnswers {
				w.fail(KindAnswer, ex.errAnswers[0])
			}
			if ex.err != nil && ctx.Err() == nil {
				w.fail(ex.kind, ex.err)
			}
			if ex.err == nil {
				w.lat = append(w.lat, time.Since(t0))
			}
		}
		if ex.err != nil || r.o.OneShot {
			closeConn()
		}
	}
}
