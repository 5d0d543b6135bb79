package plugins

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/hashicorp/go-hclog"

	"github.com/msgrouter/router/core"
	"github.com/msgrouter/router/internal/syncbuf"
)

// logFloodKind is the ROUTER_TEST_PLUGIN kind of the plugin that floods
// its stderr on request. It is served from init, before TestMain
// (plugin_test.go) sees the kind, as faultyKind is.
const logFloodKind = "logflood"

func init() {
	if os.Getenv("ROUTER_TEST_PLUGIN") == logFloodKind {
		serveLogFloodPlugin()
	}
}

// serveLogFloodPlugin serves the handler "stderr", which writes to the
// plugin's stderr what its content says:
//
//	flood DURATION  lines as fast as it can for DURATION, one in ten as
//	                hclog JSON, each with "flood-line"; it answers
//	                "LINES BYTES", what it wrote
//	huge SIZE       SIZE bytes "x", with no newline until the end
func serveLogFloodPlugin() {
	ServePlugin(&Plugin{Name: logFloodKind, Handlers: []HandlerSpec{{Name: "stderr",
		Handler: core.HandlerFunc(func(_ context.Context, m *core.Message) (*core.Message, error) {
			what, arg, _ := strings.Cut(string(m.Content), " ")
			var ans string
			var err error
			switch d, derr := time.ParseDuration(arg); {
			case what == "flood" && derr == nil:
				lines, size, ferr := floodStderr(d)
				ans, err = fmt.Sprint(lines, size), ferr
			case what == "huge":
				n, _ := strconv.Atoi(arg)
				_, err = stderr.Write(append(bytes.Repeat([]byte("x"), n), '\n'))
			default:
				err = fmt.Errorf("bad request %q", m.Content)
			}
			return core.NewBinary("text/plain", []byte(ans)), err
		})}}})
}

// floodStderr writes lines to the plugin's stderr for d and returns how
// many, and how many bytes.
func floodStderr(d time.Duration) (lines, size int, err error) {
	cw := &countingWriter{w: stderr}
	w := bufio.NewWriterSize(cw, 64<<10)
	jsonLog := hclog.New(&hclog.LoggerOptions{Output: w, JSONFormat: true, Level: hclog.Trace})
	pad := strings.Repeat("y", 60)
	var line []byte
	for end := time.Now().Add(d); time.Now().Before(end); {
		for range 100 {
			if lines%10 == 0 {
				jsonLog.Info("flood-line json", "n", lines, "pad", pad)
			} else {
				line = append(line[:0], "flood-line plain "...)
				line = append(strconv.AppendInt(line, int64(lines), 10), pad...)
				w.Write(append(line, '\n')) // an error sticks: Flush returns it
			}
			lines++
		}
	}
	err = w.Flush()
	return lines, cw.n, err
}

type countingWriter struct {
	w io.Writer
	n int
}

func (c *countingWriter) Write(p []byte) (n int, err error) {
	n, err = c.w.Write(p)
	c.n += n
	return n, err
}

// fakeClock is a clock for a logLimiter that moves only when told, and
// fires its timers then.
type fakeClock struct {
	mu     sync.Mutex
	t      time.Time
	timers []*fakeTimer
}

type fakeTimer struct {
	at   time.Time
	f    func()
	done bool // fired or stopped
}

func (t *fakeTimer) Stop() bool {
	was := !t.done
	t.done = true
	return was
}

func (c *fakeClock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) afterFunc(d time.Duration, f func()) stopper {
	c.mu.Lock()
	defer c.mu.Unlock()
	t := &fakeTimer{at: c.t.Add(d), f: f}
	c.timers = append(c.timers, t)
	return t
}

// armed returns how many timers wait to fire.
func (c *fakeClock) armed() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := 0
	for _, t := range c.timers {
		if !t.done {
			n++
		}
	}
	return n
}

// advance moves the clock by d and fires the timers then due.
func (c *fakeClock) advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	var due []*fakeTimer
	for _, t := range c.timers {
		if !t.done && !t.at.After(c.t) {
			t.done = true
			due = append(due, t)
		}
	}
	c.mu.Unlock()
	for _, t := range due {
		t.f()
	}
}

// newFakeLimiter returns a limiter on a fake clock over a logger at
// level that writes to the returned buffer.
func newFakeLimiter(cfg LogLimits, level hclog.Level) (*limitedLogger, *syncbuf.Buffer, *fakeClock) {
	var out syncbuf.Buffer
	inner := hclog.New(&hclog.LoggerOptions{Name: "router", Output: &out, Level: level, DisableTime: true})
	clock := &fakeClock{t: time.Unix(1700000000, 0)}
	l := newLogLimiter(inner, cfg)
	l.lim.now, l.lim.afterFunc = clock.now, clock.afterFunc
	l.lim.last = clock.now()
	return l, &out, clock
}

// reportedDrops returns the counts of the "dropped" lines in a log, and
// their sum.
func reportedDrops(log string) (counts []uint64, sum uint64) {
	re := regexp.MustCompile(`plugin log lines dropped: dropped=(\d+)`)
	for _, m := range re.FindAllStringSubmatch(log, -1) {
		n, _ := strconv.ParseUint(m[1], 10, 64)
		counts, sum = append(counts, n), sum+n
	}
	return counts, sum
}

// logBurst logs n lines through l and returns how many reached out.
func logBurst(l hclog.Logger, out *syncbuf.Buffer, n int) int {
	before := strings.Count(out.String(), "line ")
	for i := range n {
		l.Info("line " + strconv.Itoa(i))
	}
	return strings.Count(out.String(), "line ") - before
}

func TestLogLimiterBucket(t *testing.T) {
	for _, tc := range []struct {
		name        string
		cfg         LogLimits
		first, then int // lines let through of 300 at once, and of 300 two seconds later
		timer       bool
	}{
		{"defaults", LogLimits{}, DefaultLogBurst, DefaultLogBurst, true},
		{"small", LogLimits{LinesPerSecond: 5, Burst: 10}, 10, 10, true},
		{"slow refill", LogLimits{LinesPerSecond: 20, Burst: 100}, 100, 40, true},
		{"no burst", LogLimits{Burst: -1}, 1, 1, true},
		{"no rate limit", LogLimits{LinesPerSecond: -1}, 300, 300, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l, out, clock := newFakeLimiter(tc.cfg, hclog.Info)
			if got := logBurst(l, out, 300); got != tc.first {
				t.Errorf("first burst: %d lines through, want %d", got, tc.first)
			}
			if got := clock.armed(); (got == 1) != tc.timer || got > 1 {
				t.Errorf("%d report timers armed, want one: %v", got, tc.timer)
			}
			clock.advance(2 * time.Second) // fires the report
			if got := logBurst(l, out, 300); got != tc.then {
				t.Errorf("two seconds later: %d lines through, want %d", got, tc.then)
			}
			clock.advance(2 * time.Second)
			wantDropped := uint64(600 - tc.first - tc.then)
			if got := l.Dropped(); got != wantDropped {
				t.Errorf("Dropped() = %d, want %d", got, wantDropped)
			}
			reports, sum := reportedDrops(out.String())
			if sum != wantDropped || (wantDropped > 0 && len(reports) != 2) {
				t.Errorf("reported drops %v, want two reports summing to %d; log:\n%s", reports, wantDropped, out)
			}
		})
	}
}

func TestLogLimiterReportsOncePerSecond(t *testing.T) {
	l, out, clock := newFakeLimiter(LogLimits{LinesPerSecond: 10, Burst: 10}, hclog.Info)
	logBurst(l, out, 15)
	clock.advance(500 * time.Millisecond) // 5 tokens back
	logBurst(l, out, 8)
	if got := clock.armed(); got != 1 {
		t.Fatalf("%d timers armed by two rounds of drops, want 1", got)
	}
	if got, _ := reportedDrops(out.String()); len(got) != 0 {
		t.Fatalf("drops reported before the second was up: %v", got)
	}
	clock.advance(500 * time.Millisecond)
	if got, _ := reportedDrops(out.String()); len(got) != 1 || got[0] != 8 {
		t.Fatalf("reports after a second: %v, want [8]", got)
	}
	clock.advance(5 * time.Second)
	if got, _ := reportedDrops(out.String()); len(got) != 1 {
		t.Fatalf("reports with no new drops: %v, want the one before", got)
	}
	if got := clock.armed(); got != 0 {
		t.Errorf("%d timers armed with nothing to report", got)
	}
	logBurst(l, out, 12)
	clock.advance(time.Second)
	if got, _ := reportedDrops(out.String()); len(got) != 2 || got[1] != 2 {
		t.Errorf("reports after new drops: %v, want [8 2]", got)
	}
	if !strings.Contains(out.String(), "[WARN]  router: plugin log lines dropped: dropped=8 lines_per_second=10 burst=10") {
		t.Errorf("report line not as expected; log:\n%s", out)
	}
}

// The report of the last drops comes even when the plugin logs nothing
// more: a real timer, not the next line, brings it.
func TestLogLimiterReportsAfterFloodStops(t *testing.T) {
	var out syncbuf.Buffer
	l := newLogLimiter(hclog.New(&hclog.LoggerOptions{Output: &out, Level: hclog.Info}),
		LogLimits{LinesPerSecond: 1, Burst: 1})
	defer l.Close()
	logBurst(l, &out, 50)
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(out.String(), "dropped=") && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if got, _ := reportedDrops(out.String()); len(got) != 1 || got[0] != 49 {
		t.Errorf("reported drops %v, want [49]; log:\n%s", got, out.String())
	}
}

func TestLogLimiterClose(t *testing.T) {
	l, out, clock := newFakeLimiter(LogLimits{LinesPerSecond: 1, Burst: 1}, hclog.Info)
	logBurst(l, out, 5)
	l.Named("child").(*limitedLogger).Close() // any logger of the family may close it
	if got, _ := reportedDrops(out.String()); len(got) != 1 || got[0] != 4 {
		t.Fatalf("reports after Close: %v, want [4]", got)
	}
	if got := clock.armed(); got != 0 {
		t.Fatalf("%d timers armed after Close", got)
	}
	l.Close()
	if got, _ := reportedDrops(out.String()); len(got) != 1 {
		t.Fatalf("a second Close reported again: %v", got)
	}
	// After Close no timer is armed: the next line let through reports.
	logBurst(l, out, 3) // all dropped: no token yet
	if got := clock.armed(); got != 0 {
		t.Fatalf("%d timers armed by drops after Close", got)
	}
	clock.advance(time.Second)
	if got := logBurst(l, out, 1); got != 1 {
		t.Fatalf("%d lines through after a second, want 1", got)
	}
	if got, _ := reportedDrops(out.String()); len(got) != 2 || got[1] != 3 {
		t.Errorf("reports after Close and a line: %v, want [4 3]", got)
	}
	if log := out.String(); strings.Index(log, "dropped=3") > strings.LastIndex(log, "line 0") {
		t.Errorf("the report of the drops comes after the line that brought it:\n%s", log)
	}
}

// go-plugin re-emits a plugin's stderr through a Named child of its
// logger: the whole family spends from one bucket.
func TestLogLimiterFamilySharesBucket(t *testing.T) {
	l, out, clock := newFakeLimiter(LogLimits{LinesPerSecond: 1, Burst: 5}, hclog.Info)
	std := l.StandardLogger(&hclog.StandardLoggerOptions{InferLevels: true})
	l.Named("stderr").Info("one")
	l.With("k", "v").Warn("two")
	l.ResetNamed("other").Error("three")
	l.Named("a").Named("b").With("x", 1).Info("four")
	std.Print("[ERROR] five")
	l.Named("stderr").Info("six")
	std.Print("[ERROR] seven")
	l.Info("eight")
	clock.advance(time.Second)
	want := []string{
		"[INFO]  router.stderr: one\n",
		"[WARN]  router: two: k=v\n",
		"[ERROR] other: three\n",
		"[INFO]  router.a.b: four: x=1\n",
		"[ERROR] router: five\n",
		"[WARN]  router: plugin log lines dropped: dropped=3 lines_per_second=1 burst=5\n",
	}
	if got := out.String(); got != strings.Join(want, "") {
		t.Errorf("log:\n%s\nwant:\n%s", got, strings.Join(want, ""))
	}
	if got := l.Named("x").With("k", "v").Name(); got != "router.x" {
		t.Errorf("Name() = %q", got)
	}
	if got := l.With("k", "v").ImpliedArgs(); len(got) != 2 || got[0] != "k" {
		t.Errorf("ImpliedArgs() = %v", got)
	}
}

func TestLogLimiterLevels(t *testing.T) {
	l, out, _ := newFakeLimiter(LogLimits{LinesPerSecond: 1, Burst: 2}, hclog.Info)
	for range 1000 {
		l.Debug("not for this level")
		l.Trace("nor this")
	}
	if got := l.Dropped(); got != 0 {
		t.Errorf("lines below the level counted as dropped: %d", got)
	}
	if got := logBurst(l, out, 3); got != 2 {
		t.Errorf("%d info lines through after debug ones, want the whole burst of 2", got)
	}
	if l.IsDebug() || !l.IsInfo() || !l.IsWarn() || !l.IsError() || l.IsTrace() {
		t.Errorf("Is* do not follow the inner level")
	}
	l.Named("child").SetLevel(hclog.Trace) // hclog's children share their parent's level
	if l.GetLevel() != hclog.Trace || !l.IsTrace() {
		t.Errorf("SetLevel on a child did not reach the inner logger: %v", l.GetLevel())
	}
}

func TestLogLimiterCutsLongLines(t *testing.T) {
	for _, tc := range []struct {
		name, in string
		max      int
		want     string
	}{
		{"short", "hello", 5, "hello"},
		{"ascii", "hello world", 5, "hello... [6 bytes cut]"},
		{"two-byte rune split", "ééé", 5, "éé... [2 bytes cut]"},
		{"two-byte rune whole", "ééé", 4, "éé... [2 bytes cut]"},
		{"four-byte rune split", "😀😀", 7, "😀... [4 bytes cut]"},
		{"rune longer than max", "😀", 2, "... [4 bytes cut]"},
		{"not utf-8", "\x80\x80\x80\x80\x80\x80\x80", 5, "\x80\x80\x80\x80\x80... [2 bytes cut]"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := cutString(tc.in, tc.max); got != tc.want {
				t.Errorf("cutString(%q, %d) = %q, want %q", tc.in, tc.max, got, tc.want)
			}
		})
	}
	// Every cut of valid UTF-8 keeps valid UTF-8.
	s := strings.Repeat("aé€😀", 50)
	for n := range len(s) {
		if got := cutString(s, n); !utf8.ValidString(got) || len(got) > n+len("... [9999 bytes cut]") {
			t.Fatalf("cutString(_, %d) = %q", n, got)
		}
	}
}

func TestLogLimiterCutsLongArgs(t *testing.T) {
	long := strings.Repeat("z", 40)
	cut := strings.Repeat("z", 10) + "... [30 bytes cut]"
	l, out, _ := newFakeLimiter(LogLimits{MaxLineLength: 10}, hclog.Info)
	args := []any{"s", long, "b", []byte(long), "e", errors.New(long), "st", bytes.NewBufferString(long),
		"f", hclog.Fmt("%s", long), "j", []any{long}, "q", hclog.Quote(long), long, 1, "short", "ok", "n", 12345678901234}
	keep := append([]any(nil), args...)
	l.With("w", long).Info(long, args...)
	q := `"` + cut + `"` // hclog quotes a value with spaces
	want := `[INFO]  router: ` + cut + `: w=` + q + ` s=` + q + ` b=` + q + ` e=` + q + ` st=` + q + ` f=` + q +
		` j="[` + strings.Repeat("z", 9) + `... [32 bytes cut]" q=` + q + ` ` + cut + `=1 short=ok n=12345678901234` + "\n"
	if got := out.String(); got != want {
		t.Errorf("log:\n%s\nwant:\n%s", got, want)
	}
	for i := range args {
		if fmt.Sprint(args[i]) != fmt.Sprint(keep[i]) {
			t.Errorf("the caller's args[%d] was changed: %v", i, args[i])
		}
	}

	l, out, _ = newFakeLimiter(LogLimits{MaxLineLength: -1}, hclog.Info)
	l.Info(long, "s", long)
	if got, want := out.String(), "[INFO]  router: "+long+": s="+long+"\n"; got != want {
		t.Errorf("no limit: %q, want %q", got, want)
	}
}

func TestLogLimiterStandardWriter(t *testing.T) {
	l, out, _ := newFakeLimiter(LogLimits{LinesPerSecond: 1, Burst: 4, MaxLineLength: 20}, hclog.Debug)
	infer := l.StandardWriter(&hclog.StandardLoggerOptions{InferLevels: true, InferLevelsWithTimestamp: true})
	io.WriteString(infer, "2024/01/02 15:04:05 [DEBUG] hello\n")
	io.WriteString(infer, "[WARN] "+strings.Repeat("w", 30)+"\n")
	io.WriteString(l.StandardWriter(&hclog.StandardLoggerOptions{ForceLevel: hclog.Error}), "[INFO] forced\n")
	io.WriteString(l.StandardWriter(nil), "plain\n")
	io.WriteString(l.StandardWriter(nil), "dropped\n")
	want := "[DEBUG] router: hello\n[WARN]  router: " + strings.Repeat("w", 20) + "... [10 bytes cut]\n" +
		"[ERROR] router: forced\n[INFO]  router: plain\n"
	if got := out.String(); got != want {
		t.Errorf("log:\n%s\nwant:\n%s", got, want)
	}
	if l.Dropped() != 1 {
		t.Errorf("Dropped() = %d, want 1", l.Dropped())
	}
}

// Every line is either let through or counted, whatever the goroutines.
func TestLogLimiterConcurrent(t *testing.T) {
	var out syncbuf.Buffer
	l := newLogLimiter(hclog.New(&hclog.LoggerOptions{Output: &out, Level: hclog.Info}),
		LogLimits{LinesPerSecond: 1000, Burst: 50})
	const goroutines, each = 8, 2000
	var wg sync.WaitGroup
	for g := range goroutines {
		log := l.Named("g" + strconv.Itoa(g))
		wg.Go(func() {
			for i := range each {
				log.Info("line", "i", i)
			}
		})
	}
	wg.Wait()
	l.Close()
	log := out.String()
	passed := uint64(strings.Count(log, ": line: i="))
	if passed+l.Dropped() != goroutines*each {
		t.Errorf("%d lines through and %d dropped, want %d in all", passed, l.Dropped(), goroutines*each)
	}
	if _, got := reportedDrops(log); got != l.Dropped() {
		t.Errorf("reports sum to %d, Dropped() = %d", got, l.Dropped())
	}
}

// keepCalling starts the test plugin ("basic") with log as its logger,
// and calls its handler upper until stop is called, which returns how
// many calls it answered; it fails the test on any error. want is the
// fewest answers to expect: ten a second would do.
func keepCalling(t *testing.T, log hclog.Logger) (want int, stop func() int) {
	t.Helper()
	p, err := Start(context.Background(), Config{
		Name: "other", Cmd: os.Args[0], Env: []string{"ROUTER_TEST_PLUGIN=basic"}, Logger: log, HealthInterval: -1,
	})
	if err != nil {
		t.Fatal(err)
	}
	h, err := p.Handler("upper")
	if err != nil {
		t.Fatal(err)
	}
	done, result := make(chan struct{}), make(chan int)
	go func() {
		n := 0
		defer func() { result <- n }()
		for {
			select {
			case <-done:
				return
			case <-time.After(100 * time.Millisecond):
			}
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			ans, err := h.Handle(ctx, core.NewBinary("text/plain", []byte("x")))
			cancel()
			if err != nil || string(ans.Content) != "X" {
				t.Errorf("another plugin during the flood: %v, %v", ans, err)
				return
			}
			n++
		}
	}()
	return 5, func() int {
		close(done)
		n := <-result
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		p.Shutdown(ctx)
		return n
	}
}

// startFlooder runs the logflood plugin with log as its logger, and
// returns a function that calls its handler, and the limiter the Process
// puts between the plugin's lines and log.
func startFlooder(t *testing.T, log hclog.Logger) (call func(content string) string, lim *limitedLogger) {
	t.Helper()
	p, err := Start(context.Background(), Config{
		Name: "flood", Cmd: os.Args[0], Env: []string{"ROUTER_TEST_PLUGIN=" + logFloodKind},
		Logger: log, HealthInterval: -1,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		p.Shutdown(ctx)
	})
	h, err := p.Handler("stderr")
	if err != nil {
		t.Fatal(err)
	}
	return func(content string) string {
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		ans, err := h.Handle(ctx, core.NewBinary("text/plain", []byte(content)))
		if err != nil {
			t.Fatal(err)
		}
		return string(ans.Content)
	}, p.plog
}

// A real plugin process writes to its stderr as fast as it can for two
// seconds; go-plugin re-emits its lines through the limiter that Start
// puts in front of the router's logger.
func TestLogLimitPluginFlood(t *testing.T) {
	var out syncbuf.Buffer
	call, lim := startFlooder(t, hclog.New(&hclog.LoggerOptions{Name: "router", Output: &out, Level: hclog.Debug}))
	started := len(out.String())
	// Another plugin, logging to the same log, answers throughout.
	answered, stopOther := keepCalling(t, hclog.New(&hclog.LoggerOptions{Name: "router", Output: &out, Level: hclog.Debug}))
	var n, written uint64
	if _, err := fmt.Sscan(call("flood 2s"), &n, &written); err != nil {
		t.Fatal(err)
	}
	if got := stopOther(); got < answered {
		t.Errorf("another plugin answered %d requests during the flood; want at least %d", got, answered)
	}
	// The host may still be reading what the pipe holds: wait until each
	// line written is accounted for, through or dropped.
	passed := func() uint64 { return uint64(strings.Count(out.String(), "flood-line")) }
	deadline := time.Now().Add(30 * time.Second)
	for passed()+lim.Dropped() < n && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	logged, dropped := len(out.String())-started, lim.Dropped()
	reports, _ := reportedDrops(out.String())
	t.Logf("plugin wrote %d lines, %d bytes; the router logged %d bytes, %d lines through, %d dropped, reported as %v",
		n, written, logged, passed(), dropped, reports)
	if passed()+dropped != n {
		t.Errorf("%d lines through and %d dropped, want the %d written", passed(), dropped, n)
	}
	if logged >= 2<<20 {
		t.Errorf("the router's log grew by %d bytes in a 2s flood, want < 2 MiB", logged)
	}
	if len(reports) == 0 || reports[0] == 0 {
		t.Errorf("no report of dropped lines while the flood lasted: %v", reports)
	}
	if !strings.Contains(out.String(), "[INFO]  router.flood.") || !strings.Contains(out.String(), "flood-line json: n=") {
		t.Errorf("the plugin's lines do not come under its name, JSON parsed; log starts:\n%.2000s", out.String())
	}
	lim.Close()
	if _, got := reportedDrops(out.String()); got != dropped {
		t.Errorf("reports sum to %d after Close, want %d", got, dropped)
	}
}

// A real plugin process writes 100 MB to stderr without a newline:
// go-plugin reads it in pieces of its 64 KiB buffer, each re-emitted at
// DEBUG as a line, which the limiter cuts and drops.
func TestLogLimitPluginHugeLine(t *testing.T) {
	const size = 100 << 20
	var out syncbuf.Buffer
	call, lim := startFlooder(t, hclog.New(&hclog.LoggerOptions{Name: "router", Output: &out, Level: hclog.Debug}))
	started, start := len(out.String()), time.Now()
	stopSampling := sampleHeap()
	call("huge " + strconv.Itoa(size))
	// The newline ends the last piece; then each piece is accounted for.
	const pieces = size/(64<<10) + 1
	cutLines := func() uint64 { return uint64(strings.Count(out.String(), "x... [61440 bytes cut]")) }
	deadline := time.Now().Add(30 * time.Second)
	for cutLines()+lim.Dropped() < pieces-1 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	peak := stopSampling()
	elapsed := time.Since(start)
	logged := len(out.String()) - started
	t.Logf("plugin wrote a %d MiB line; the router logged %d bytes: %d pieces cut to %d bytes, %d dropped; heap grew by at most %d MiB",
		size>>20, logged, cutLines(), DefaultMaxLogLine, lim.Dropped(), peak>>20)
	if got := cutLines() + lim.Dropped(); got < pieces-1 || got > pieces {
		t.Errorf("%d pieces through or dropped, want %d", got, pieces)
	}
	// However fast the host read, it let through no more lines than the
	// limits allow in the time it took, each cut to the limit.
	maxLines := DefaultLogBurst + DefaultLogLinesPerSecond*elapsed.Seconds() + 10
	if limit := int(maxLines * (DefaultMaxLogLine + 200)); logged > limit {
		t.Errorf("the router's log grew by %d bytes, want <= %d", logged, limit)
	}
	if peak > size/2 {
		t.Errorf("the heap grew by %d MiB reading a %d MiB line", peak>>20, size>>20)
	}
}

// sampleHeap watches the growth of the heap until stop is called, which
// returns its peak.
func sampleHeap() (stop func() uint64) {
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	base, peak := ms.HeapAlloc, uint64(0)
	done, finished := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(finished)
		for t := time.NewTicker(10 * time.Millisecond); ; {
			runtime.ReadMemStats(&ms)
			peak = max(peak, ms.HeapAlloc-min(base, ms.HeapAlloc))
			select {
			case <-done:
				t.Stop()
				return
			case <-t.C:
			}
		}
	}()
	return func() uint64 { close(done); <-finished; return peak }
}
