package router

import (
	"io"
	"slices"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/msgrouter/router/config"
)

// NewLogger returns the logger the log section describes, writing to w.
// In JSON it writes durations as text ("1.5s"), as the text format does.
func NewLogger(l config.Log, w io.Writer) hclog.Logger {
	log := hclog.New(&hclog.LoggerOptions{
		Name:       "router",
		Level:      hclog.LevelFromString(l.Level),
		Output:     w,
		JSONFormat: l.Format == "json",
		Color:      hclog.ColorOff,
	})
	if l.Format == "json" {
		return durationText{log}
	}
	return log
}

// durationText is an hclog.Logger that logs each time.Duration value as
// its String ("1.5s", "250ms"), and so do the loggers made from it.
// hclog's JSON writes a Duration as its integer of nanoseconds, which no
// reader takes for a duration; its text format already writes the String.
type durationText struct{ hclog.Logger }

var _ hclog.Logger = durationText{}

// Log logs at level, durations as text.
func (l durationText) Log(level hclog.Level, msg string, args ...any) {
	l.Logger.Log(level, msg, durationStrings(args)...)
}

// Trace logs at trace level, durations as text.
func (l durationText) Trace(msg string, args ...any) { l.Logger.Trace(msg, durationStrings(args)...) }

// Debug logs at debug level, durations as text.
func (l durationText) Debug(msg string, args ...any) { l.Logger.Debug(msg, durationStrings(args)...) }

// Info logs at info level, durations as text.
func (l durationText) Info(msg string, args ...any) { l.Logger.Info(msg, durationStrings(args)...) }

// Warn logs at warn level, durations as text.
func (l durationText) Warn(msg string, args ...any) { l.Logger.Warn(msg, durationStrings(args)...) }

// Error logs at error level, durations as text.
func (l durationText) Error(msg string, args ...any) { l.Logger.Error(msg, durationStrings(args)...) }

// With returns a logger with args on each line, durations as text.
func (l durationText) With(args ...any) hclog.Logger {
	return durationText{l.Logger.With(durationStrings(args)...)}
}

// Named returns a sub-logger that logs durations as text too.
func (l durationText) Named(name string) hclog.Logger { return durationText{l.Logger.Named(name)} }

// ResetNamed returns a logger named name that logs durations as text too.
func (l durationText) ResetNamed(name string) hclog.Logger {
	return durationText{l.Logger.ResetNamed(name)}
}

// durationStrings returns args, key-value pairs, with each value that is
// a time.Duration replaced by its String. args is not changed: it is
// copied when it has a duration.
func durationStrings(args []any) []any {
	copied := false
	for i := 1; i < len(args); i += 2 {
		d, ok := args[i].(time.Duration)
		if !ok {
			continue
		}
		if !copied {
			args, copied = slices.Clone(args), true
		}
		args[i] = d.String()
	}
	return args
}
