package plugins

import (
	"bytes"
	"fmt"
	"io"
	"log"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/hashicorp/go-hclog"
)

// Defaults applied by a LogLimits whose fields are zero.
const (
	// DefaultLogLinesPerSecond is the rate at which a plugin's log lines
	// are let through once its burst is spent.
	DefaultLogLinesPerSecond = 100
	// DefaultLogBurst is how many lines a plugin may log at once, after
	// a quiet time, before the rate applies.
	DefaultLogBurst = 200
	// DefaultMaxLogLine is the length in bytes past which a line's
	// message, and each of its key/value arguments, is cut.
	DefaultMaxLogLine = 4 << 10
)

// logDropReportEvery is how often, at most, a limiter reports the lines
// it dropped.
const logDropReportEvery = time.Second

// LogLimits bounds what one plugin adds to the router's log: go-plugin
// re-emits every line the plugin writes to its stderr, and a plugin that
// writes as fast as it can would otherwise grow the router's log as fast
// as it writes (issue 16). Lines over the rate are dropped and
// counted, and the count is logged at most once a second, as "plugin log
// lines dropped" with dropped=N. The zero value applies the defaults.
type LogLimits struct {
	// LinesPerSecond is the steady rate of lines let through. Zero means
	// DefaultLogLinesPerSecond; negative means no limit on the rate (long
	// lines are still cut).
	LinesPerSecond int
	// Burst is how many lines may pass at once before the rate applies.
	// Zero means DefaultLogBurst; negative means no burst: one line at a
	// time, at the rate.
	Burst int
	// MaxLineLength is the length in bytes past which a line's message,
	// and each string (or error, Stringer, []byte, JSON array or
	// object) among its key/value arguments, is cut on a UTF-8 boundary
	// and marked with the number of bytes cut. Zero means
	// DefaultMaxLogLine; negative means no limit.
	MaxLineLength int
}

// logLimiter is the state that a limited logger and all the loggers made
// from it (Named, With, ResetNamed) share: go-plugin re-emits a plugin's
// stderr through a Named child of the logger it is given, and the child
// must spend from the same bucket.
type logLimiter struct {
	report    hclog.Logger // where "plugin log lines dropped" goes
	rate      float64      // lines a second; 0 for no limit
	burst     float64
	max       int // MaxLineLength; 0 for no limit
	now       func() time.Time
	afterFunc func(time.Duration, func()) stopper

	mu         sync.Mutex
	tokens     float64
	last       time.Time // when tokens was last refilled
	pending    uint64    // dropped since the last report
	total      uint64    // dropped since the limiter was made
	timer      stopper   // the report to come, if one is armed
	lastReport time.Time
	closed     bool
}

// stopper is a timer's Stop, which tests replace with a fake.
type stopper interface{ Stop() bool }

// limitedLogger is an hclog.Logger that passes the lines of a plugin to
// an inner logger within a LogLimits. The loggers made from it share its
// limits and counts.
type limitedLogger struct {
	inner hclog.Logger
	lim   *logLimiter
}

var _ hclog.Logger = (*limitedLogger)(nil)

// newLogLimiter returns a logger that writes to inner within cfg's limits,
// for one plugin: give it to go-plugin as ClientConfig.Logger. Lines
// below inner's level are dropped without spending from the bucket or
// being counted, as inner would drop them (so an hclog InterceptLogger's
// sinks, which see every level, do not see them either). The count of
// dropped lines is reported through inner, at WARN. Close it when the
// plugin is shut down, to report the last drops at once.
func newLogLimiter(inner hclog.Logger, cfg LogLimits) *limitedLogger {
	lim := &logLimiter{
		report: inner,
		now:    time.Now,
		afterFunc: func(d time.Duration, f func()) stopper {
			return time.AfterFunc(d, f)
		},
	}
	switch {
	case cfg.LinesPerSecond == 0:
		lim.rate = DefaultLogLinesPerSecond
	case cfg.LinesPerSecond > 0:
		lim.rate = float64(cfg.LinesPerSecond)
	}
	switch {
	case cfg.Burst == 0:
		lim.burst = DefaultLogBurst
	case cfg.Burst < 0:
		lim.burst = 1
	default:
		lim.burst = float64(cfg.Burst)
	}
	switch {
	case cfg.MaxLineLength == 0:
		lim.max = DefaultMaxLogLine
	case cfg.MaxLineLength > 0:
		lim.max = cfg.MaxLineLength
	}
	lim.tokens = lim.burst
	lim.last = lim.now()
	return &limitedLogger{inner: inner, lim: lim}
}

// allow spends a token for one line. If it has none, the line is
// counted as dropped and a report is armed. report is the count a line
// let through must report first: only after Close, when no timer reports.
func (lim *logLimiter) allow() (ok bool, report uint64) {
	if lim.rate == 0 {
		return true, 0
	}
	lim.mu.Lock()
	defer lim.mu.Unlock()
	now := lim.now()
	if d := now.Sub(lim.last); d > 0 {
		lim.tokens = min(lim.burst, lim.tokens+d.Seconds()*lim.rate)
		lim.last = now
	}
	if lim.tokens < 1 {
		lim.pending++
		lim.total++
		if lim.timer == nil && !lim.closed {
			lim.timer = lim.afterFunc(logDropReportEvery, lim.flush)
		}
		return false, 0
	}
	lim.tokens--
	if lim.closed && lim.pending > 0 && now.Sub(lim.lastReport) >= logDropReportEvery {
		report, lim.pending, lim.lastReport = lim.pending, 0, now
	}
	return true, report
}

// flush reports the lines dropped since the last report; the armed timer
// calls it. It reports with the lock held, as Close does, so that once
// Close has returned every drop before it has been reported.
func (lim *logLimiter) flush() {
	lim.mu.Lock()
	defer lim.mu.Unlock()
	lim.reportDropped(lim.pending)
	lim.pending, lim.timer, lim.lastReport = 0, nil, lim.now()
}

func (lim *logLimiter) reportDropped(n uint64) {
	if n > 0 {
		lim.report.Warn("plugin log lines dropped", "dropped", n,
			"lines_per_second", lim.rate, "burst", lim.burst)
	}
}

// Close stops the limiter's timer and reports the lines dropped since the
// last report at once; without it, the timer reports them within a
// second. Once it has returned, every line dropped before it has been
// reported. It may be called more than once, and from any of the loggers
// made from the same limiter. Lines logged after Close are still limited,
// and their drops are reported by the next line let through, at most once
// a second.
func (l *limitedLogger) Close() {
	lim := l.lim
	lim.mu.Lock()
	lim.closed = true
	if lim.timer != nil {
		lim.timer.Stop()
		lim.timer = nil
	}
	if lim.pending > 0 {
		lim.reportDropped(lim.pending)
		lim.pending, lim.lastReport = 0, lim.now()
	}
	lim.mu.Unlock()
}

// Dropped returns how many lines the limiter has dropped since it was
// made, over all the loggers made from it.
func (l *limitedLogger) Dropped() uint64 {
	l.lim.mu.Lock()
	defer l.lim.mu.Unlock()
	return l.lim.total
}

// Log emits a line at level, if the limits let it through, with its
// message and arguments cut to MaxLineLength.
func (l *limitedLogger) Log(level hclog.Level, msg string, args ...any) {
	if level < l.inner.GetLevel() {
		return // inner would drop it: it costs no token
	}
	ok, report := l.lim.allow()
	if !ok {
		return
	}
	l.lim.reportDropped(report)
	if limit := l.lim.max; limit > 0 {
		msg = cutString(msg, limit)
		args = cutArgs(args, limit)
	}
	l.inner.Log(level, msg, args...)
}

// Trace emits a line at the TRACE level; see Log.
func (l *limitedLogger) Trace(msg string, args ...any) { l.Log(hclog.Trace, msg, args...) }

// Debug emits a line at the DEBUG level; see Log.
func (l *limitedLogger) Debug(msg string, args ...any) { l.Log(hclog.Debug, msg, args...) }

// Info emits a line at the INFO level; see Log.
func (l *limitedLogger) Info(msg string, args ...any) { l.Log(hclog.Info, msg, args...) }

// Warn emits a line at the WARN level; see Log.
func (l *limitedLogger) Warn(msg string, args ...any) { l.Log(hclog.Warn, msg, args...) }

// Error emits a line at the ERROR level; see Log.
func (l *limitedLogger) Error(msg string, args ...any) { l.Log(hclog.Error, msg, args...) }

// IsTrace reports whether the inner logger emits TRACE lines.
func (l *limitedLogger) IsTrace() bool { return l.inner.IsTrace() }

// IsDebug reports whether the inner logger emits DEBUG lines.
func (l *limitedLogger) IsDebug() bool { return l.inner.IsDebug() }

// IsInfo reports whether the inner logger emits INFO lines.
func (l *limitedLogger) IsInfo() bool { return l.inner.IsInfo() }

// IsWarn reports whether the inner logger emits WARN lines.
func (l *limitedLogger) IsWarn() bool { return l.inner.IsWarn() }

// IsError reports whether the inner logger emits ERROR lines.
func (l *limitedLogger) IsError() bool { return l.inner.IsError() }

// ImpliedArgs returns the inner logger's With arguments.
func (l *limitedLogger) ImpliedArgs() []any { return l.inner.ImpliedArgs() }

// With returns a logger with args on every line, cut as a line's
// arguments are, that shares this one's limits.
func (l *limitedLogger) With(args ...any) hclog.Logger {
	if l.lim.max > 0 {
		args = cutArgs(args, l.lim.max)
	}
	return &limitedLogger{inner: l.inner.With(args...), lim: l.lim}
}

// Name returns the inner logger's name.
func (l *limitedLogger) Name() string { return l.inner.Name() }

// Named returns a logger under the sub-name name that shares this one's
// limits.
func (l *limitedLogger) Named(name string) hclog.Logger {
	return &limitedLogger{inner: l.inner.Named(name), lim: l.lim}
}

// ResetNamed returns a logger named name that shares this one's limits.
func (l *limitedLogger) ResetNamed(name string) hclog.Logger {
	return &limitedLogger{inner: l.inner.ResetNamed(name), lim: l.lim}
}

// SetLevel sets the inner logger's level.
func (l *limitedLogger) SetLevel(level hclog.Level) { l.inner.SetLevel(level) }

// GetLevel returns the inner logger's level.
func (l *limitedLogger) GetLevel() hclog.Level { return l.inner.GetLevel() }

// StandardLogger returns a log.Logger whose lines go through this
// logger's limits; see StandardWriter.
func (l *limitedLogger) StandardLogger(opts *hclog.StandardLoggerOptions) *log.Logger {
	return log.New(l.StandardWriter(opts), "", 0)
}

// StandardWriter returns a writer that emits each write as a line
// through this logger's limits, at the level opts say, as hclog's own
// does. The inner logger's writer would bypass the limits.
func (l *limitedLogger) StandardWriter(opts *hclog.StandardLoggerOptions) io.Writer {
	w := &stdWriter{log: l}
	if opts != nil {
		w.opts = *opts
	}
	return w
}

// stdWriter is hclog's stdlogAdapter over a limited logger.
type stdWriter struct {
	log  hclog.Logger
	opts hclog.StandardLoggerOptions
}

func (w *stdWriter) Write(p []byte) (int, error) {
	s := string(bytes.TrimRight(p, " \t\n"))
	level := hclog.Info
	switch {
	case w.opts.ForceLevel != hclog.NoLevel:
		_, s = pickLevel(s)
		level = w.opts.ForceLevel
	case w.opts.InferLevels:
		if w.opts.InferLevelsWithTimestamp {
			s = strings.TrimLeftFunc(s, isTimestampRune)
		}
		level, s = pickLevel(s)
	}
	if level < hclog.Trace || level > hclog.Error {
		level = hclog.Info // as hclog's adapter does
	}
	w.log.Log(level, s)
	return len(p), nil
}

// pickLevel reads the level a line starts with, as hclog's adapter
// does: "[DEBUG] text" is text at DEBUG; a line without one is INFO.
func pickLevel(s string) (hclog.Level, string) {
	for _, p := range [...]struct {
		prefix string
		level  hclog.Level
	}{
		{"[DEBUG]", hclog.Debug}, {"[TRACE]", hclog.Trace}, {"[INFO]", hclog.Info},
		{"[WARN]", hclog.Warn}, {"[ERROR]", hclog.Error}, {"[ERR]", hclog.Error},
	} {
		if rest, ok := strings.CutPrefix(s, p.prefix); ok {
			return p.level, strings.TrimSpace(rest)
		}
	}
	return hclog.Info, s
}

// isTimestampRune reports whether r may be part of a timestamp that
// starts a line: what hclog's adapter means to trim, without its
// regexp's accidental range '+'-'T'.
func isTimestampRune(r rune) bool {
	return unicode.IsDigit(r) || unicode.IsSpace(r) || strings.ContainsRune(":/.+-TZ", r)
}

// cutIndex returns where to cut b, of more than max bytes, so that at most
// max bytes are kept and a UTF-8 sequence is not split: a sequence is at
// most utf8.UTFMax bytes long, so its start is near. Bytes that are not
// UTF-8 are cut at max.
func cutIndex[T ~string | ~[]byte](b T, max int) int {
	for i := max; i >= 0 && i > max-utf8.UTFMax; i-- {
		if utf8.RuneStart(b[i]) {
			return i
		}
	}
	return max
}

// cutMarked returns the first i bytes of b and a marker saying how many
// were cut.
func cutMarked[T ~string | ~[]byte](b T, max int) string {
	i := cutIndex(b, max)
	return string(b[:i]) + "... [" + strconv.Itoa(len(b)-i) + " bytes cut]"
}

// cutString cuts s to at most max bytes, and a marker, if it is longer.
func cutString(s string, max int) string {
	if len(s) <= max {
		return s
	}
	return cutMarked(s, max)
}

// cutArgs returns args with each value longer than max bytes, as hclog
// would print it, cut to a string of max bytes and a marker. args is not
// modified: it is copied if one value is cut.
func cutArgs(args []any, max int) []any {
	out, copied := args, false
	for i, v := range args {
		c, ok := cutValue(v, max)
		if !ok {
			continue
		}
		if !copied {
			out, copied = append([]any(nil), args...), true
		}
		out[i] = c
	}
	return out
}

// cutValue returns v cut to max bytes, and whether it was. It handles the
// values that may be long: strings, bytes, errors, Stringers, hclog.Format
// and hclog.Quote, and the arrays and objects of a plugin's JSON log line.
func cutValue(v any, max int) (any, bool) {
	var s string
	switch x := v.(type) {
	case string:
		s = x
	case hclog.Quote:
		if len(x) <= max {
			return nil, false
		}
		return hclog.Quote(cutMarked(x, max)), true
	case []byte:
		if len(x) <= max {
			return nil, false
		}
		return cutMarked(x, max), true
	case error:
		s = x.Error()
	case fmt.Stringer:
		s = x.String()
	case hclog.Format:
		if len(x) == 0 {
			return nil, false
		}
		format, _ := x[0].(string)
		s = fmt.Sprintf(format, x[1:]...)
	case []any, map[string]any:
		s = fmt.Sprint(x)
	default:
		return nil, false
	}
	if len(s) <= max {
		return nil, false
	}
	return cutMarked(s, max), true
}
