// Package soak runs a bounded soak test against a router: a steady load
// (internal/loadgen), connections that check every answer one by one, and
// faults injected at intervals, then a report of what was sent, what was
// answered, the errors by kind and the peak memory. `router soak` uses it
// with a router it runs itself; the faults that need the router (killing
// a plugin, reloading) are the caller's, those that need only the address
// (hostile connections, a connection storm) are here.
//
// Every request is accounted for. The load generator's requests are
// counted from the bytes it wrote (each of its runs sends one frame over
// and over), its answers by decoding them; the checking connections send
// echo requests that each carry their own sequence number, so that an
// answer that is missing, repeated, out of order or someone else's is
// seen, and read to the end of the stream after the last answer, so that
// an extra answer is seen too.
package soak

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"net"
	"slices"
	"sync"
	"time"

	"github.com/msgrouter/router/core"
)

// Errors of Run.
var (
	// ErrOptions: the Options cannot be run.
	ErrOptions = errors.New("soak: invalid options")
	// ErrLost: some request got no answer, or more than one, or another's.
	ErrLost = errors.New("soak: requests lost or answered wrongly")
)

// MaxDuration bounds Options.Duration: a soak is a bounded test.
const MaxDuration = time.Hour

// Fault is one kind of fault injected during the run. Inject does it and
// returns a line for the log; an error is counted and logged, and does
// not stop the run.
type Fault struct {
	Name   string
	Inject func(ctx context.Context) (string, error)
}

// Options says what to run.
type Options struct {
	// Addr is the router's address (see core.ParseAddr). It must be on
	// this machine.
	Addr string
	// Duration is how long the load runs; at most MaxDuration.
	Duration time.Duration
	// Conns and Depth are the load generator's per request kind (search,
	// binary, echo): Conns connections each, Depth requests in flight on
	// each.
	Conns, Depth int
	// Checkers is the number of checking connections, each with Depth
	// requests in flight.
	Checkers int
	// FaultEvery is the time between two faults; zero means none.
	FaultEvery time.Duration
	// Faults are injected in turn, every FaultEvery.
	Faults []Fault
	// Log, if set, receives a line per fault and a progress line every
	// ten seconds.
	Log io.Writer
	// Grace is how long the answers still in flight when Duration ends
	// are waited for; zero means 30s. A request unanswered then is lost.
	Grace time.Duration
	// Tally, if set, is the one the Faults of Faults count into; nil
	// means a new one.
	Tally *Tally
}

// run is one Run: its options with the defaults set, and what its
// goroutines share.
type run struct {
	o                Options
	network, address string
	grace            time.Duration
	t                *tally
	start            time.Time
	peaks            memPeaks
	logMu            sync.Mutex // one log line at a time
}

// Run runs the soak and returns its report; the error wraps ErrLost when
// a request was lost or answered wrongly (the report is valid then).
func Run(ctx context.Context, o Options) (*Report, error) {
	r, err := newRun(o)
	if err != nil {
		return nil, err
	}
	r.start = time.Now()
	// The load stops sending at the end of Duration; what is in flight
	// then has Grace to be answered.
	loadCtx, cancelLoad := context.WithTimeout(ctx, o.Duration+r.grace)
	defer cancelLoad()
	// stopSending closes at the end of Duration, or when ctx ends.
	stopSending := make(chan struct{})
	var stopOnce sync.Once
	stop := func() { stopOnce.Do(func() { close(stopSending) }) }
	stopTimer := time.AfterFunc(o.Duration, stop)
	defer stopTimer.Stop()
	defer context.AfterFunc(ctx, stop)()

	var wg sync.WaitGroup
	// The load generator: one run per request kind, each one frame.
	frames, err := requestFrames()
	if err != nil {
		return nil, err
	}
	for _, name := range slices.Sorted(maps.Keys(frames)) {
		wg.Go(func() { load(loadCtx, o, name, frames[name], r.t) })
	}
	for i := range o.Checkers {
		wg.Go(func() { check(loadCtx, stopSending, r.network, r.address, i, o.Depth, r.t) })
	}
	watched := make(chan struct{})
	go func() {
		defer close(watched)
		r.watch(loadCtx, stopSending)
	}()
	wg.Wait()
	<-watched
	return r.report(ctx)
}

// newRun checks o and sets its defaults.
func newRun(o Options) (*run, error) {
	switch {
	case o.Duration <= 0 || o.Duration > MaxDuration:
		return nil, fmt.Errorf("%w: duration %s, want more than 0 and at most %s", ErrOptions, o.Duration, MaxDuration)
	case o.Conns < 1 || o.Depth < 1 || o.Checkers < 0:
		return nil, fmt.Errorf("%w: conns %d, depth %d, checkers %d", ErrOptions, o.Conns, o.Depth, o.Checkers)
	}
	network, address, err := core.ParseAddr(o.Addr)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrOptions, err)
	}
	if err := loopbackOnly(network, address); err != nil {
		return nil, err
	}
	if o.Tally == nil {
		o.Tally = NewTally()
	}
	return &run{o: o, network: network, address: address, grace: cmp.Or(o.Grace, 30*time.Second), t: o.Tally.t}, nil
}

// watch samples the plugin processes' memory every second, logs the
// progress every ten, and injects a fault every o.FaultEvery, until stop
// closes; it returns when the faults it began have ended.
func (r *run) watch(ctx context.Context, stop <-chan struct{}) {
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	var nextFault <-chan time.Time
	if r.o.FaultEvery > 0 && len(r.o.Faults) > 0 {
		ft := time.NewTicker(r.o.FaultEvery)
		defer ft.Stop()
		nextFault = ft.C
	}
	var faults sync.WaitGroup
	defer faults.Wait()
	progress := time.Now()
	for n := 0; ; {
		select {
		case <-stop:
			return
		case <-tick.C:
			r.peaks.sample()
			if time.Since(progress) >= 10*time.Second {
				progress = time.Now()
				r.logf("%s: %d sent by the checkers and storms, %d answered", time.Since(r.start).Round(time.Second), r.t.sent.Load(), r.t.answered.Load())
			}
		case <-nextFault:
			f := r.o.Faults[n%len(r.o.Faults)]
			n++
			r.t.count(r.t.faults, f.Name)
			faults.Go(func() { r.inject(ctx, f) })
		}
	}
}

// inject injects f and logs what it did, or counts its failure.
func (r *run) inject(ctx context.Context, f Fault) {
	at := time.Since(r.start).Round(time.Second)
	line, err := f.Inject(ctx)
	took := time.Since(r.start).Round(time.Second) - at
	if err != nil {
		r.t.count(r.t.faultErrors, f.Name)
		r.logf("%s (+%s): fault %s failed: %v", at, took, f.Name, err)
		return
	}
	r.logf("%s (+%s): fault %s: %s", at, took, f.Name, line)
}

// logf writes a line to o.Log, if set. Faults run in goroutines of their
// own and log as they end: one line at a time, whatever o.Log is.
func (r *run) logf(format string, args ...any) {
	if r.o.Log != nil {
		r.logMu.Lock()
		defer r.logMu.Unlock()
		fmt.Fprintf(r.o.Log, "soak: "+format+"\n", args...)
	}
}

// report returns the ended run's report, and the error Run returns with it.
func (r *run) report(ctx context.Context) (*Report, error) {
	rep := r.t.report(time.Since(r.start))
	rep.PeakRSS = statusBytes("/proc/self/status", "VmHWM:")
	rep.PeakChildRSS, rep.PeakChild = r.peaks.children.Load(), r.peaks.child.Load()
	if err := ctx.Err(); err != nil {
		rep.Interrupted = true
		return rep, fmt.Errorf("soak: interrupted: %w", err)
	}
	if !rep.OK() {
		return rep, fmt.Errorf("%w: %d sent, %d answered, %d unanswered, %d answered twice, %d wrong", ErrLost,
			rep.Sent, rep.Answered, rep.Unanswered, rep.Duplicated, rep.Mismatched)
	}
	return rep, nil
}

// loopbackOnly refuses an address that is not on this machine.
func loopbackOnly(network, address string) error {
	if network == "unix" {
		return nil
	}
	host, _, err := net.SplitHostPort(address)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrOptions, err)
	}
	if ip := net.ParseIP(host); host == "localhost" || (ip != nil && ip.IsLoopback()) {
		return nil
	}
	return fmt.Errorf("%w: address %s is not a loopback address: a soak runs on this machine only", ErrOptions, address)
}
