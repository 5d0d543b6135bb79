package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/msgrouter/router/core"
	"github.com/msgrouter/router/internal/loadgen"
)

type benchFlags struct {
	mix      string
	action   actionFlags
	requests string
	conns    int
	depth    int
	duration time.Duration
	count    int64
	warmup   time.Duration
	timeout  time.Duration
	oneShot  bool
	json     bool
}

var benchCmd = &command{
	name:    "bench",
	args:    "[ADDR]",
	summary: "send load to a router and report throughput and latency",
	desc: `Bench sends requests to a router at ADDR (default ` + defaultAddr + `) over
many connections, the tutorial's multiconn-client grown up, and reports how
many it got answered, the rate, the latency quantiles, the errors by kind and
the bytes sent and received.

The requests are --mix, a comma-separated list sent round-robin:

	search   {"action": "search", "value": "morpheus"} as text/json
	binary   a binary/custom-client-binary-type request, as 'router send
	         binary hello' sends it
	echo     {"action": "echo", "value": "hello"} as text/json

or --action NAME --value V, the one request {"action": NAME, "value": V}
as text/json, for any action (as 'router send --action NAME --value V'
sends it), or --requests FILE, a file of encoded request frames one after
the other (in the wire format that 'router send --raw' writes answers in),
sent round-robin. Only one of --mix, --action and --requests may be given.

Each of --conns connections keeps --depth requests in flight, written
together (pipelined). --one-shot opens a new connection for every request
(every batch of --depth) and closes it after the answer, like the
tutorial's app-client. The run lasts --duration, or until --count requests
have been sent, or whichever comes first when both are given, after a
--warmup whose results are not counted. Latency is per request with
--depth 1, and per batch (written together to the last answer) otherwise.

While it runs, a progress line is updated on stderr when it is a terminal.
The report goes to stdout, as text or, with --json, as one JSON object.
Error answers and broken connections are counted and do not stop the run:
a broken connection is opened again. So is one whose batch is not answered
within --timeout (a timeout error), or that is answered more than it asked
(an invalid answer); a run thus ends at most --timeout after --duration.
Latency quantiles are by nearest rank.

Exit codes: 0 when the run completes, even with error answers (they are
reported); 1 if no connection could be opened, the requests file cannot be
read, or the run is interrupted; 2 for a usage error.
`,
	examples: []string{
		"# 16 connections for 5s against the default address:\nrouter bench",
		"# An even mix of the three built-ins, 64 connections, 8 requests in flight each:\nrouter bench --mix search,binary,echo -c 64 --depth 8 127.0.0.1:7000",
		"# 10000 requests, a new connection each, as JSON:\nrouter bench -n 10000 --warmup 0 --one-shot --json",
		"# A plugin's own action, here examples/upper's:\nrouter bench --action upper --value hello",
		"# Your own requests, encoded frames one after the other, for 30s:\nrouter bench --requests requests.bin -d 30s",
	},
	interspersed: true,
	setup: func(fs *flag.FlagSet) func(context.Context, *cli, []string) error {
		f := new(benchFlags)
		fs.StringVar(&f.mix, "mix", "", "send the comma-separated `LIST` of search, binary and echo requests round-robin (default search)")
		fs.StringVar(&f.requests, "requests", "", "send the encoded request frames of `FILE`, round-robin, instead of --mix")
		fs.IntVar(&f.conns, "conns", 16, "number of connections, `N`")
		fs.IntVar(&f.conns, "c", 16, "short for --conns `N`")
		fs.IntVar(&f.depth, "depth", 1, "requests in flight per connection, `N`, written together (pipelining)")
		fs.DurationVar(&f.duration, "duration", 5*time.Second, "how long to send, after the warmup (default 5s, unless --count is given)")
		fs.DurationVar(&f.duration, "d", 5*time.Second, "short for --duration")
		fs.Int64Var(&f.count, "count", 0, "send `N` requests, after the warmup (rounded up to whole batches)")
		fs.Int64Var(&f.count, "n", 0, "short for --count `N`")
		fs.DurationVar(&f.warmup, "warmup", time.Second, "send for this long first without counting")
		fs.DurationVar(&f.timeout, "timeout", loadgen.DefaultTimeout, "longest wait for a batch's answers, or to connect; a batch over it is a timeout error, and its connection is opened again")
		fs.BoolVar(&f.oneShot, "one-shot", false, "open a new connection for every request (batch) and close it after the answer")
		fs.BoolVar(&f.json, "json", false, "print the report as one JSON object")
		f.action.declare(fs)
		return func(ctx context.Context, c *cli, args []string) error {
			set := map[string]bool{}
			fs.Visit(func(fl *flag.Flag) { set[fl.Name] = true })
			return f.run(ctx, c, args, set)
		}
	},
}

// benchRequests returns the encoded requests of the --mix LIST.
func benchRequests(list string) ([][]byte, error) {
	var out [][]byte
	for _, name := range strings.Split(list, ",") {
		var m *core.Message
		var err error
		switch strings.TrimSpace(name) {
		case "search":
			m, err = newRequest("search", "morpheus", false)
		case "binary":
			m, err = newRequest("binary", "hello", false)
		case "echo":
			m, err = newRequest("echo", "hello", true)
		default:
			return nil, usagef("bench", "invalid value %q for flag -mix: unknown request %q; want search, binary or echo", list, name)
		}
		if err != nil {
			return nil, err
		}
		wire, err := core.Marshal(m)
		if err != nil {
			return nil, err
		}
		out = append(out, wire)
	}
	return out, nil
}

// readFrames returns the frames of a file of encoded frames.
func readFrames(path string) ([][]byte, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var out [][]byte
	for p := data; len(p) > 0; {
		n, frame, err := core.ScanFrames(p, true)
		switch {
		case errors.Is(err, core.ErrTruncated):
			return nil, fmt.Errorf("%s: frame %d is cut short", path, len(out)+1)
		case err != nil:
			return nil, fmt.Errorf("%s: frame %d: %w", path, len(out)+1, err)
		}
		out = append(out, frame)
		p = p[n:]
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%s: no frames", path)
	}
	return out, nil
}

// checkSources reports a usage error unless at most one of --mix,
// --action and --requests says what to send.
func (f *benchFlags) checkSources() error {
	if err := f.action.check("bench"); err != nil {
		return err
	}
	var given []string
	for _, s := range []struct {
		flag string
		set  bool
	}{{"--mix", f.mix != ""}, {"--action", f.action.set}, {"--requests", f.requests != ""}} {
		if s.set {
			given = append(given, s.flag)
		}
	}
	if len(given) > 1 {
		return usagef("bench", "%s cannot go together: give one", strings.Join(given, " and "))
	}
	return nil
}

// load returns the encoded requests to send, and what they are for the
// report: the --mix LIST, the --action request's content, or the
// --requests file.
func (f *benchFlags) load() (reqs [][]byte, what string, err error) {
	switch {
	case f.requests != "":
		reqs, err = readFrames(f.requests)
		return reqs, fmt.Sprintf("%d frames of %s", len(reqs), f.requests), err
	case f.action.set:
		m, err := f.action.request()
		if err != nil {
			return nil, "", err
		}
		wire, err := core.Marshal(m)
		return [][]byte{wire}, string(m.Content), err
	}
	what = f.mix
	if what == "" {
		what = "search"
	}
	reqs, err = benchRequests(what)
	return reqs, what, err
}

func (f *benchFlags) run(ctx context.Context, c *cli, args []string, set map[string]bool) error {
	if len(args) > 1 {
		return usagef("bench", "want at most one ADDR, got %d arguments", len(args))
	}
	addr := defaultAddr
	if len(args) == 1 {
		addr = args[0]
	}
	if _, _, err := core.ParseAddr(addr); err != nil {
		return usagef("bench", "invalid ADDR %q: %s", addr, strings.TrimPrefix(err.Error(), "core: "))
	}
	switch {
	case f.conns < 1:
		return usagef("bench", "invalid value %d for flag -conns: want at least 1", f.conns)
	case f.depth < 1:
		return usagef("bench", "invalid value %d for flag -depth: want at least 1", f.depth)
	case f.count < 0:
		return usagef("bench", "invalid value %d for flag -count: want at least 1", f.count)
	case f.duration < 0 || (f.duration == 0 && (set["duration"] || set["d"])):
		return usagef("bench", "invalid value %s for flag -duration: want more than 0", f.duration)
	case f.warmup < 0:
		return usagef("bench", "invalid value %s for flag -warmup: want 0 or more", f.warmup)
	case f.timeout <= 0:
		return usagef("bench", "invalid value %s for flag -timeout: want more than 0", f.timeout)
	}
	if err := f.checkSources(); err != nil {
		return err
	}
	if (set["count"] || set["n"]) && f.count == 0 {
		return usagef("bench", "invalid value 0 for flag -count: want at least 1")
	}
	duration := f.duration
	if f.count > 0 && !set["duration"] && !set["d"] {
		duration = 0
	}
	reqs, what, err := f.load()
	if err != nil {
		return err
	}

	o := loadgen.Options{
		Addr: addr, Mix: reqs, Conns: f.conns, Depth: f.depth,
		Requests: f.count, Duration: duration, Warmup: f.warmup, OneShot: f.oneShot,
		Timeout: f.timeout,
	}
	var progressMu sync.Mutex
	progressShown := false
	if isTerminal(c.stderr) {
		o.Progress = func(p loadgen.Progress) {
			progressMu.Lock()
			defer progressMu.Unlock()
			progressShown = true
			if p.Warmup {
				fmt.Fprintf(c.stderr, "\r\033[Kwarming up %.1fs", p.Elapsed.Seconds())
				return
			}
			fmt.Fprintf(c.stderr, "\r\033[K%5.1fs  %d requests  %.0f req/s  %d errors",
				p.Elapsed.Seconds(), p.Requests, float64(p.Requests)/p.Elapsed.Seconds(), p.Errors)
		}
	}
	res, err := loadgen.Run(ctx, o)
	progressMu.Lock()
	if progressShown {
		fmt.Fprint(c.stderr, "\r\033[K")
	}
	progressMu.Unlock()
	var counted *loadgen.CountedErrors
	switch {
	case err == nil, errors.As(err, &counted):
		err = nil
	case errors.Is(err, loadgen.ErrNoConnection):
		return fmt.Errorf("%s", strings.Replace(err.Error(), ": dial tcp "+addr+": connect: ", ": ", 1))
	case ctx.Err() != nil:
		err = errors.New("interrupted")
	default:
		return err
	}
	rep := newBenchReport(addr, what, f, res)
	if f.json {
		b, jerr := json.MarshalIndent(rep, "", "  ")
		if jerr != nil {
			return jerr
		}
		fmt.Fprintf(c.stdout, "%s\n", b)
	} else {
		rep.writeText(c.stdout)
	}
	return err
}

// benchReport is the report, in the form --json prints.
type benchReport struct {
	Addr          string             `json:"addr"`
	Requests      string             `json:"mix"` // what was sent: the --mix, the --action request, or the --requests file
	Conns         int                `json:"conns"`
	Depth         int                `json:"depth"`
	OneShot       bool               `json:"one_shot"`
	Answered      int64              `json:"requests"`
	Seconds       float64            `json:"seconds"`
	Rate          float64            `json:"rate"`
	LatencyOf     string             `json:"latency_of"` // "request" or "batch"
	LatencyMicros map[string]float64 `json:"latency_us"`
	Errors        map[string]int64   `json:"errors"`
	ErrorSamples  map[string]string  `json:"error_samples,omitempty"`
	ErrorsTotal   int64              `json:"errors_total"`
	BytesSent     int64              `json:"bytes_sent"`
	BytesReceived int64              `json:"bytes_received"`

	lat map[string]time.Duration
}

var benchQuantiles = []struct {
	name string
	q    float64
}{{"p50", 0.5}, {"p90", 0.9}, {"p99", 0.99}, {"p99.9", 0.999}}

func newBenchReport(addr, what string, f *benchFlags, res loadgen.Result) *benchReport {
	r := &benchReport{
		Addr: addr, Requests: what, Conns: f.conns, Depth: f.depth, OneShot: f.oneShot,
		Answered: res.Requests, Seconds: res.Elapsed.Seconds(), LatencyOf: "request",
		LatencyMicros: map[string]float64{}, Errors: res.Errors, ErrorSamples: res.ErrorSamples,
		ErrorsTotal: res.ErrorCount(), BytesSent: res.BytesSent, BytesReceived: res.BytesReceived,
		lat: map[string]time.Duration{},
	}
	if r.Errors == nil {
		r.Errors = map[string]int64{}
	}
	if res.Elapsed > 0 {
		r.Rate = res.Rate()
	}
	if f.depth > 1 {
		r.LatencyOf = "batch"
	}
	for _, q := range benchQuantiles {
		d := res.Quantile(q.q)
		r.lat[q.name] = d
		r.LatencyMicros[q.name] = float64(d.Nanoseconds()) / 1e3
	}
	return r
}

func (r *benchReport) writeText(w io.Writer) {
	var b strings.Builder
	shot := ""
	if r.OneShot {
		shot = ", one-shot"
	}
	fmt.Fprintf(&b, "target     %s: %s, %d connections, depth %d%s\n", r.Addr, r.Requests, r.Conns, r.Depth, shot)
	fmt.Fprintf(&b, "requests   %d in %.3fs\n", r.Answered, r.Seconds)
	fmt.Fprintf(&b, "rate       %.0f req/s\n", r.Rate)
	fmt.Fprintf(&b, "latency    ")
	for i, q := range benchQuantiles {
		if i > 0 {
			b.WriteString("  ")
		}
		fmt.Fprintf(&b, "%s %s", q.name, r.lat[q.name].Round(time.Microsecond))
	}
	fmt.Fprintf(&b, " (per %s)\n", r.LatencyOf)
	if r.ErrorsTotal == 0 {
		b.WriteString("errors     0\n")
	} else {
		fmt.Fprintf(&b, "errors     %d\n", r.ErrorsTotal)
		kinds := make([]string, 0, len(r.Errors))
		for k := range r.Errors {
			kinds = append(kinds, k)
		}
		slices.Sort(kinds)
		for _, k := range kinds {
			fmt.Fprintf(&b, "  %-8s %d  (first: %s)\n", k, r.Errors[k], r.ErrorSamples[k])
		}
	}
	fmt.Fprintf(&b, "sent       %d bytes (%.1f MB/s)\n", r.BytesSent, perSecond(r.BytesSent, r.Seconds)/1e6)
	fmt.Fprintf(&b, "received   %d bytes (%.1f MB/s)\n", r.BytesReceived, perSecond(r.BytesReceived, r.Seconds)/1e6)
	io.WriteString(w, b.String())
}

func perSecond(n int64, s float64) float64 {
	if s <= 0 {
		return 0
	}
	return float64(n) / s
}

// isTerminal says whether w is a terminal (a character device).
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}
