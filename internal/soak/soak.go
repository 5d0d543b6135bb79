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
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/msgrouter/router/core"
	"github.com/msgrouter/router/internal/loadgen"
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

// Report is what a run saw.
type Report struct {
	Duration time.Duration
	// Sent and Answered count the requests of the load, the checkers and
	// the storms; ErrorAnswers is how many of the answers were
	// {"error": ...}.
	Sent, Answered, ErrorAnswers int64
	// Unanswered, Duplicated and Mismatched are the failures: requests
	// that got no answer, extra answers, answers that were not the
	// request's (checkers only).
	Unanswered, Duplicated, Mismatched int64
	// Errors counts the errors by kind: the error answers by what they
	// say ("plugin exited", "handler timed out"...), and the load
	// generator's connection errors by its kinds.
	Errors map[string]int64
	// Samples holds one message of each error kind.
	Samples map[string]string
	// Faults counts the faults injected, by name; FaultErrors those that
	// failed.
	Faults, FaultErrors map[string]int64
	// Hostile counts the hostile connections by what the router did with
	// them.
	Hostile map[string]int64
	// PeakRSS is this process's peak resident set (VmHWM), PeakChildRSS
	// the largest sum of its children's resident sets seen (sampled every
	// second), PeakChild the largest peak of one child, in bytes.
	PeakRSS, PeakChildRSS, PeakChild int64
	// Extra holds lines the caller adds (plugin restarts...), printed
	// after the counts.
	Extra []string
	// Interrupted is set when Run's context ended the run: the requests
	// in flight then were abandoned, not lost.
	Interrupted bool
}

// OK reports whether every request got exactly one answer, its own.
func (r *Report) OK() bool {
	return r.Unanswered == 0 && r.Duplicated == 0 && r.Mismatched == 0 && r.Sent == r.Answered
}

// Write prints the report.
func (r *Report) Write(w io.Writer) {
	fmt.Fprintf(w, "soak: %s\n", r.Duration.Round(time.Millisecond))
	fmt.Fprintf(w, "requests sent:      %d\n", r.Sent)
	fmt.Fprintf(w, "answers received:   %d (%d of them error answers)\n", r.Answered, r.ErrorAnswers)
	fmt.Fprintf(w, "unanswered:         %d\n", r.Unanswered)
	fmt.Fprintf(w, "answered twice:     %d\n", r.Duplicated)
	fmt.Fprintf(w, "wrong answer:       %d\n", r.Mismatched)
	fmt.Fprintf(w, "errors by kind:%s\n", countList(r.Errors))
	for _, k := range slices.Sorted(maps.Keys(r.Samples)) {
		fmt.Fprintf(w, "  %s: e.g. %s\n", k, r.Samples[k])
	}
	fmt.Fprintf(w, "faults injected:%s\n", countList(r.Faults))
	if len(r.FaultErrors) > 0 {
		fmt.Fprintf(w, "faults failed:%s\n", countList(r.FaultErrors))
	}
	fmt.Fprintf(w, "hostile connections:%s\n", countList(r.Hostile))
	for _, l := range r.Extra {
		fmt.Fprintln(w, l)
	}
	fmt.Fprintf(w, "peak RSS:           %s (this process), %s (plugin processes together), %s (largest plugin process)\n",
		mib(r.PeakRSS), mib(r.PeakChildRSS), mib(r.PeakChild))
	switch {
	case r.Interrupted:
		fmt.Fprintln(w, "result:             INTERRUPTED: the requests in flight were abandoned")
	case r.OK():
		fmt.Fprintln(w, "result:             OK: every request got exactly one answer")
	default:
		fmt.Fprintln(w, "result:             FAILED: requests lost or answered wrongly")
	}
}

func mib(n int64) string { return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20)) }

func countList(m map[string]int64) string {
	if len(m) == 0 {
		return " none"
	}
	var b strings.Builder
	for i, k := range slices.Sorted(maps.Keys(m)) {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, " %s %d", k, m[k])
	}
	return b.String()
}

// tally collects counts from many goroutines.
type tally struct {
	sent, answered, errAnswers         atomic.Int64
	unanswered, duplicated, mismatched atomic.Int64

	mu          sync.Mutex
	errors      map[string]int64
	samples     map[string]string
	faults      map[string]int64
	faultErrors map[string]int64
	hostile     map[string]int64
}

func newTally() *tally {
	return &tally{errors: map[string]int64{}, samples: map[string]string{}, faults: map[string]int64{},
		faultErrors: map[string]int64{}, hostile: map[string]int64{}}
}

func (t *tally) addError(kind, sample string, n int64) {
	if n == 0 {
		return
	}
	t.mu.Lock()
	if t.errors[kind] == 0 && sample != "" {
		t.samples[kind] = sample
	}
	t.errors[kind] += n
	t.mu.Unlock()
}

// errorAnswer counts an {"error": ...} answer by what it says.
func (t *tally) errorAnswer(err error) {
	t.errAnswers.Add(1)
	t.addError(ErrorKind(err.Error()), err.Error(), 1)
}

func (t *tally) count(m map[string]int64, k string) {
	t.mu.Lock()
	m[k]++
	t.mu.Unlock()
}

// ErrorKind names the kind of an error answer's text, for the report.
func ErrorKind(text string) string {
	for _, k := range []struct{ substr, kind string }{
		{"plugin exited", "answer: plugin exited"},
		{"plugin is restarting", "answer: plugin restarting"},
		{"plugin failed", "answer: plugin failed (restart limit)"},
		{"plugin stopped", "answer: plugin stopped"},
		{"timed out", "answer: handler timed out"},
		{"too many connections", "answer: too many connections"},
	} {
		if strings.Contains(text, k.substr) {
			return k.kind
		}
	}
	return "answer: other"
}

// Run runs the soak and returns its report; the error wraps ErrLost when
// a request was lost or answered wrongly (the report is valid then).
func Run(ctx context.Context, o Options) (*Report, error) {
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
	grace := o.Grace
	if grace == 0 {
		grace = 30 * time.Second
	}
	if o.Tally == nil {
		o.Tally = NewTally()
	}
	t := o.Tally.t
	// Faults run in goroutines of their own and log as they end: one
	// line at a time, whatever o.Log is.
	var logMu sync.Mutex
	logf := func(format string, args ...any) {
		if o.Log != nil {
			logMu.Lock()
			defer logMu.Unlock()
			fmt.Fprintf(o.Log, "soak: "+format+"\n", args...)
		}
	}
	start := time.Now()
	// The load stops sending at the end of Duration; what is in flight
	// then has Grace to be answered.
	loadCtx, cancelLoad := context.WithTimeout(ctx, o.Duration+grace)
	defer cancelLoad()
	// stopSending closes at the end of Duration, or when ctx ends.
	stopSending := make(chan struct{})
	var stopOnce sync.Once
	stopTimer := time.AfterFunc(o.Duration, func() { stopOnce.Do(func() { close(stopSending) }) })
	defer stopTimer.Stop()
	defer context.AfterFunc(ctx, func() { stopOnce.Do(func() { close(stopSending) }) })()

	var wg sync.WaitGroup
	// The load generator: one run per request kind, each one frame.
	frames, err := requestFrames()
	if err != nil {
		return nil, err
	}
	for _, name := range slices.Sorted(maps.Keys(frames)) {
		frame := frames[name]
		wg.Add(1)
		go func() {
			defer wg.Done()
			res, _ := loadgen.Run(loadCtx, loadgen.Options{
				Addr: o.Addr, Request: frame, Conns: o.Conns, Depth: o.Depth, Duration: o.Duration,
			})
			sent := res.BytesSent / int64(len(frame))
			t.sent.Add(sent)
			t.answered.Add(res.Requests)
			t.errAnswers.Add(res.Errors[loadgen.KindAnswer])
			if lost := sent - res.Requests; lost > 0 {
				t.unanswered.Add(lost)
			} else if lost < 0 {
				t.duplicated.Add(-lost)
			}
			for k, n := range res.Errors {
				if k == loadgen.KindAnswer {
					// loadgen counts the error answers together, with
					// the first as sample; the checkers' are by kind.
					t.addError("answer: "+name+" load, every kind (the first: "+strings.TrimPrefix(ErrorKind(res.ErrorSamples[k]), "answer: ")+")", res.ErrorSamples[k], n)
					continue
				}
				t.addError("load "+name+": connection "+k, res.ErrorSamples[k], n)
			}
		}()
	}
	// The checkers.
	for i := range o.Checkers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			check(loadCtx, stopSending, network, address, i, o.Depth, t)
		}()
	}
	// The faults, and the memory samples.
	var peakChildren, peakChild atomic.Int64
	sampleDone := make(chan struct{})
	go func() {
		defer close(sampleDone)
		tick := time.NewTicker(time.Second)
		defer tick.Stop()
		var nextFault <-chan time.Time
		if o.FaultEvery > 0 && len(o.Faults) > 0 {
			ft := time.NewTicker(o.FaultEvery)
			defer ft.Stop()
			nextFault = ft.C
		}
		var faultWG sync.WaitGroup
		defer faultWG.Wait()
		progress := time.Now()
		for n := 0; ; {
			select {
			case <-stopSending:
				return
			case <-tick.C:
				sum, top := childrenRSS()
				atomicMax(&peakChildren, sum)
				atomicMax(&peakChild, top)
				if time.Since(progress) >= 10*time.Second {
					progress = time.Now()
					logf("%s: %d sent by the checkers and storms, %d answered", time.Since(start).Round(time.Second), t.sent.Load(), t.answered.Load())
				}
			case <-nextFault:
				f := o.Faults[n%len(o.Faults)]
				n++
				t.count(t.faults, f.Name)
				faultWG.Add(1)
				go func() {
					defer faultWG.Done()
					at := time.Since(start).Round(time.Second)
					line, err := f.Inject(loadCtx)
					took := time.Since(start).Round(time.Second) - at
					if err != nil {
						t.count(t.faultErrors, f.Name)
						logf("%s (+%s): fault %s failed: %v", at, took, f.Name, err)
						return
					}
					logf("%s (+%s): fault %s: %s", at, took, f.Name, line)
				}()
			}
		}
	}()
	wg.Wait()
	<-sampleDone

	r := &Report{
		Duration:     time.Since(start),
		Sent:         t.sent.Load(),
		Answered:     t.answered.Load(),
		ErrorAnswers: t.errAnswers.Load(),
		Unanswered:   t.unanswered.Load(),
		Duplicated:   t.duplicated.Load(),
		Mismatched:   t.mismatched.Load(),
		Errors:       t.errors,
		Samples:      t.samples,
		Faults:       t.faults,
		FaultErrors:  t.faultErrors,
		Hostile:      t.hostile,
		PeakRSS:      statusBytes("/proc/self/status", "VmHWM:"),
		PeakChildRSS: peakChildren.Load(),
		PeakChild:    peakChild.Load(),
	}
	if err := ctx.Err(); err != nil {
		r.Interrupted = true
		return r, fmt.Errorf("soak: interrupted: %w", err)
	}
	if !r.OK() {
		return r, fmt.Errorf("%w: %d sent, %d answered, %d unanswered, %d answered twice, %d wrong", ErrLost,
			r.Sent, r.Answered, r.Unanswered, r.Duplicated, r.Mismatched)
	}
	return r, nil
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

// requestFrames returns the load generator's requests, one per kind, as
// `router bench --mix` sends them.
func requestFrames() (map[string][]byte, error) {
	search, err := core.NewJSON(core.Object{{Key: "action", Value: "search"}, {Key: "value", Value: "morpheus"}})
	if err != nil {
		return nil, err
	}
	echo, err := core.NewJSON(core.Object{{Key: "action", Value: "echo"}, {Key: "value", Value: "hello"}})
	if err != nil {
		return nil, err
	}
	out := map[string][]byte{}
	for name, m := range map[string]*core.Message{
		"search": search, "echo": echo,
		"binary": core.NewBinary("binary/custom-client-binary-type", []byte("binaryhello")),
	} {
		if out[name], err = core.Marshal(m); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// echoRequest returns the encoded echo request that carries tag.
func echoRequest(tag string) []byte {
	m, err := core.NewJSON(core.Object{{Key: "action", Value: "echo"}, {Key: "value", Value: tag}})
	if err != nil {
		panic(err) // a string always encodes
	}
	b, err := core.Marshal(m)
	if err != nil {
		panic(err)
	}
	return b
}

// check is one checking connection: it writes depth echo requests, each
// tagged with its own number, reads depth answers and checks that each is
// its request's (or an error answer), until stop; then it half-closes the
// connection and reads to the end, where no answer may be left.
func check(ctx context.Context, stop <-chan struct{}, network, address string, id, depth int, t *tally) {
	var d net.Dialer
	seq := 0
	for {
		select {
		case <-stop:
			return
		default:
		}
		nc, err := d.DialContext(ctx, network, address)
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			t.addError("checker: connect", err.Error(), 1)
			time.Sleep(10 * time.Millisecond)
			continue
		}
		// Abort the reads when the grace period is over.
		stopWatch := context.AfterFunc(ctx, func() { nc.SetDeadline(time.Unix(1, 0)) })
		broken := checkConn(nc, stop, id, &seq, depth, t)
		stopWatch()
		nc.Close()
		if !broken {
			return
		}
	}
}

// checkConn runs checks on one connection; it reports whether the
// connection broke (and another should be opened).
func checkConn(nc net.Conn, stop <-chan struct{}, id int, seq *int, depth int, t *tally) bool {
	var dec core.Decoder
	dec.MaxContentLength = -1
	buf := make([]byte, 64<<10)
	var pending [][]byte // the contents awaited, in order
	var batch []byte
	for {
		select {
		case <-stop:
			// Nothing in flight: half-close and read to the end.
			if cw, ok := nc.(interface{ CloseWrite() error }); ok {
				cw.CloseWrite()
			}
			nc.SetReadDeadline(time.Now().Add(10 * time.Second))
			rest, err := io.ReadAll(nc)
			if len(rest) > 0 {
				n := countFrames(rest)
				t.duplicated.Add(int64(max(n, 1)))
				t.addError("checker: answer after the last request", fmt.Sprintf("%d bytes", len(rest)), 1)
			}
			if err != nil && !errors.Is(err, syscall.ECONNRESET) {
				t.addError("checker: end of stream", err.Error(), 1)
			}
			return false
		default:
		}
		batch = batch[:0]
		pending = pending[:0]
		for range depth {
			*seq++
			tag := "checker-" + strconv.Itoa(id) + "-" + strconv.Itoa(*seq)
			req := echoRequest(tag)
			batch = append(batch, req...)
			pending = append(pending, req)
		}
		if _, err := nc.Write(batch); err != nil {
			// What was written cannot be known: the whole batch is
			// counted as sent and unanswered.
			t.sent.Add(int64(depth))
			t.unanswered.Add(int64(depth))
			t.addError("checker: write", err.Error(), 1)
			return true
		}
		t.sent.Add(int64(depth))
		got := 0
		for got < depth {
			n, err := nc.Read(buf)
			p := buf[:n]
			for len(p) > 0 {
				k, m, derr := dec.Decode(p)
				p = p[k:]
				if derr != nil {
					t.unanswered.Add(int64(depth - got))
					t.addError("checker: invalid answer", derr.Error(), 1)
					return true
				}
				if m == nil {
					break
				}
				if got == depth {
					t.duplicated.Add(1)
					continue
				}
				t.answered.Add(1)
				if aerr := core.AnswerError(m); aerr != nil {
					t.errorAnswer(aerr)
				} else if !bytes.Equal(m.Content, contentOf(pending[got])) {
					t.mismatched.Add(1)
					t.addError("checker: wrong answer", fmt.Sprintf("%.80q, want %.80q", m.Content, contentOf(pending[got])), 1)
				}
				got++
			}
			if err != nil && got < depth {
				t.unanswered.Add(int64(depth - got))
				t.addError("checker: connection lost", err.Error(), 1)
				return true
			}
		}
	}
}

// contentOf returns the content of an encoded frame.
func contentOf(frame []byte) []byte {
	m, err := core.Unmarshal(frame)
	if err != nil {
		return nil
	}
	return m.Content
}

// countFrames counts the whole frames in b.
func countFrames(b []byte) int {
	var dec core.Decoder
	dec.MaxContentLength = -1
	n := 0
	for len(b) > 0 {
		k, m, err := dec.Decode(b)
		b = b[k:]
		if err != nil || m == nil {
			break
		}
		n++
	}
	return n
}

// storm opens n connections at once, each sending one echo request and
// reading its answer: every one is accounted for.
func (t *tally) storm(ctx context.Context, network, address string, n int) (string, error) {
	var wg sync.WaitGroup
	var ok, refused atomic.Int64
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var d net.Dialer
			nc, err := d.DialContext(ctx, network, address)
			if err != nil {
				refused.Add(1)
				return
			}
			defer nc.Close()
			nc.SetDeadline(time.Now().Add(30 * time.Second))
			req := echoRequest("storm-" + strconv.Itoa(i))
			t.sent.Add(1)
			if _, err := nc.Write(req); err != nil {
				t.unanswered.Add(1)
				t.addError("storm: write", err.Error(), 1)
				return
			}
			var dec core.Decoder
			dec.MaxContentLength = -1
			buf := make([]byte, 4096)
			for {
				k, err := nc.Read(buf)
				p := buf[:k]
				for len(p) > 0 {
					c, m, derr := dec.Decode(p)
					p = p[c:]
					if derr != nil || m == nil {
						break
					}
					t.answered.Add(1)
					if aerr := core.AnswerError(m); aerr != nil {
						t.errorAnswer(aerr)
					} else if !bytes.Equal(m.Content, contentOf(req)) {
						t.mismatched.Add(1)
					}
					ok.Add(1)
					return
				}
				if err != nil {
					t.unanswered.Add(1)
					t.addError("storm: connection lost", err.Error(), 1)
					return
				}
			}
		}()
	}
	wg.Wait()
	return fmt.Sprintf("%d connections, %d answered, %d refused", n, ok.Load(), refused.Load()), nil
}

// hostileBurst opens n connections of each hostile kind, and counts what
// the router did with them. None sends a request that expects an answer.
func (t *tally) hostileBurst(ctx context.Context, network, address string, n int) (string, error) {
	kinds := []struct {
		name string
		run  func(nc net.Conn) string
	}{
		{"garbage", func(nc net.Conn) string {
			junk := make([]byte, 256)
			for i := range junk {
				junk[i] = byte(rand.IntN(256))
			}
			junk[0], junk[1] = 0, 40 // a header length, then no JSON
			nc.Write(junk)
			return readToEnd(nc, 20*time.Second)
		}},
		{"slowloris", func(nc net.Conn) string {
			// A header that trickles in a byte a second: the router's
			// read timeout closes it.
			frame := echoRequest("slow")
			for i := 0; i < len(frame); i++ {
				if _, err := nc.Write(frame[i : i+1]); err != nil {
					return "closed by the router"
				}
				select {
				case <-time.After(time.Second):
				case <-ctx.Done():
					return "given up"
				}
				if i > 25 {
					break
				}
			}
			return readToEnd(nc, 20*time.Second)
		}},
		{"reset mid-request", func(nc net.Conn) string {
			frame := echoRequest("reset")
			nc.Write(frame[:len(frame)/2])
			resetClose(nc)
			return "reset by us"
		}},
		{"reset before the answer", func(nc net.Conn) string {
			nc.Write(echoRequest("reset"))
			resetClose(nc)
			return "reset by us"
		}},
		{"silent", func(nc net.Conn) string {
			// Connects and sends nothing; closes after a while.
			select {
			case <-time.After(2 * time.Second):
			case <-ctx.Done():
			}
			return "closed by us"
		}},
	}
	var wg sync.WaitGroup
	var opened atomic.Int64
	for _, k := range kinds {
		for range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				var d net.Dialer
				nc, err := d.DialContext(ctx, network, address)
				if err != nil {
					t.count(t.hostile, k.name+": refused")
					return
				}
				opened.Add(1)
				defer nc.Close()
				t.count(t.hostile, k.name+": "+k.run(nc))
			}()
		}
	}
	wg.Wait()
	return fmt.Sprintf("%d hostile connections (%d each of garbage, slowloris, resets, silent)", opened.Load(), n), nil
}

// readToEnd reads until the router closes the connection, or limit.
func readToEnd(nc net.Conn, limit time.Duration) string {
	nc.SetReadDeadline(time.Now().Add(limit))
	_, err := io.Copy(io.Discard, nc)
	var ne net.Error
	switch {
	case err == nil:
		return "closed by the router"
	case errors.As(err, &ne) && ne.Timeout():
		return "still open after " + limit.String()
	case errors.Is(err, syscall.ECONNRESET):
		return "reset by the router"
	}
	return "error: " + err.Error()
}

// resetClose closes nc with a reset rather than a FIN.
func resetClose(nc net.Conn) {
	if tc, ok := nc.(*net.TCPConn); ok {
		tc.SetLinger(0)
	}
	nc.Close()
}

// Faults returns the faults that need only the router's address: a burst
// of n hostile connections of each kind, and a storm of m connections of
// one request each. Their counts go into the report of the run whose
// Options hold them: pass the same Tally to Run.
func Faults(tl *Tally, addr string, n, m int) ([]Fault, error) {
	network, address, err := core.ParseAddr(addr)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrOptions, err)
	}
	return []Fault{
		{Name: "hostile", Inject: func(ctx context.Context) (string, error) { return tl.t.hostileBurst(ctx, network, address, n) }},
		{Name: "storm", Inject: func(ctx context.Context) (string, error) { return tl.t.storm(ctx, network, address, m) }},
	}, nil
}

// Tally holds the counts of a run; the faults of Faults add to it.
type Tally struct{ t *tally }

// NewTally returns an empty Tally.
func NewTally() *Tally { return &Tally{t: newTally()} }

// statusBytes returns a "kB" field of a /proc status file, in bytes.
func statusBytes(path, field string) int64 {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, field); ok {
			f := strings.Fields(rest)
			if len(f) > 0 {
				n, _ := strconv.ParseInt(f[0], 10, 64)
				return n << 10
			}
		}
	}
	return 0
}

// Children returns the pids of this process's children.
func Children() []int {
	self := os.Getpid()
	dirs, _ := filepath.Glob("/proc/[0-9]*/stat")
	var out []int
	for _, p := range dirs {
		b, err := os.ReadFile(p)
		if err != nil {
			continue
		}
		// pid (comm) state ppid ...: comm may hold spaces, so parse
		// after its closing parenthesis.
		i := bytes.LastIndexByte(b, ')')
		if i < 0 {
			continue
		}
		f := strings.Fields(string(b[i+1:]))
		if len(f) < 2 {
			continue
		}
		if ppid, _ := strconv.Atoi(f[1]); ppid == self {
			pid, _ := strconv.Atoi(filepath.Base(filepath.Dir(p)))
			out = append(out, pid)
		}
	}
	return out
}

// childrenRSS returns the sum of the children's resident sets and the
// largest peak of one.
func childrenRSS() (sum, top int64) {
	for _, pid := range Children() {
		dir := "/proc/" + strconv.Itoa(pid) + "/status"
		sum += statusBytes(dir, "VmRSS:")
		top = max(top, statusBytes(dir, "VmHWM:"))
	}
	return sum, top
}

func atomicMax(a *atomic.Int64, v int64) {
	for {
		cur := a.Load()
		if v <= cur || a.CompareAndSwap(cur, v) {
			return
		}
	}
}
