package core

import (
	"bytes"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"
)

const (
	// sampleEvery is how often a sampled log line is written at most,
	// per key.
	sampleEvery = time.Second
	// sampleKeys bounds the keys a logSampler tracks (panic sites are
	// keys); further keys share one.
	sampleKeys = 256
)

// logSampler bounds the log lines that a client can cause: a flood of bad
// frames, of connections over the limit or of requests that make a
// handler panic would otherwise write a line (or a stack trace) each and
// fill the disk. For each key it lets the first line through, then at
// most one per sampleEvery; a line written after suppressed ones carries
// their count ("suppressed"=N), and flush writes the counts still
// pending. Every event is thus either logged or counted in a later line.
//
// The zero value is ready to use.
type logSampler struct {
	every time.Duration // zero means sampleEvery; tests set it shorter
	mu    sync.Mutex
	keys  map[string]*sampleState
}

// sampleState is what a logSampler knows of one key.
type sampleState struct {
	last       time.Time // when a line was last written for the key
	suppressed int       // lines dropped since
	level      hclog.Level
	msg        string
}

// allow reports whether a line for key may be written now and, if so,
// how many were suppressed before it. The line's level and message are
// kept for flush.
func (ls *logSampler) allow(key string, level hclog.Level, msg string) (ok bool, suppressed int) {
	now := time.Now()
	ls.mu.Lock()
	defer ls.mu.Unlock()
	st := ls.keys[key]
	if st == nil {
		if ls.keys == nil {
			ls.keys = make(map[string]*sampleState)
		}
		if len(ls.keys) >= sampleKeys {
			key = "(other)"
			if st = ls.keys[key]; st != nil {
				return ls.take(st, now)
			}
		}
		st = &sampleState{level: level, msg: msg}
		ls.keys[key] = st
		st.last = now
		return true, 0
	}
	return ls.take(st, now)
}

// take decides for a known key; ls.mu is held.
func (ls *logSampler) take(st *sampleState, now time.Time) (bool, int) {
	every := ls.every
	if every == 0 {
		every = sampleEvery
	}
	if now.Sub(st.last) < every {
		st.suppressed++
		return false, 0
	}
	n := st.suppressed
	st.last, st.suppressed = now, 0
	return true, n
}

// log writes msg with args through l, at level, if the sampler allows
// a line for key now; args get "suppressed"=N when lines were dropped.
func (ls *logSampler) log(l hclog.Logger, level hclog.Level, key, msg string, args ...any) {
	ok, n := ls.allow(key, level, msg)
	if !ok {
		return
	}
	if n > 0 {
		args = append(args, "suppressed", n)
	}
	l.Log(level, msg, args...)
}

// flush writes, through l, one line per key with lines suppressed since
// its last, so that the counts of a flood that ended are not lost:
// "log lines suppressed: line=MSG suppressed=N".
func (ls *logSampler) flush(l hclog.Logger) {
	ls.mu.Lock()
	defer ls.mu.Unlock()
	for _, st := range ls.keys {
		if st.suppressed > 0 {
			l.Log(st.level, "log lines suppressed", "line", st.msg, "suppressed", st.suppressed)
			st.suppressed = 0
		}
	}
}

// panicSite returns where a recovered panic was raised, as the function
// and file:line of the first frame below the panic call that is not the
// runtime's, from a debug.Stack trace; "" if it cannot tell. It keys the
// sampling of panic stack traces.
func panicSite(stack []byte) string {
	i := bytes.Index(stack, []byte("\npanic("))
	if i < 0 {
		return ""
	}
	lines := bytes.Split(stack[i+1:], []byte("\n"))
	// lines: "panic(...)", its file, then function / file pairs.
	for j := 2; j+1 < len(lines); j += 2 {
		fn := lines[j]
		if bytes.HasPrefix(fn, []byte("runtime.")) || bytes.HasPrefix(fn, []byte("internal/runtime/")) {
			continue // a runtime error raised for the caller (sigpanic, ...)
		}
		file := bytes.TrimSpace(lines[j+1])
		if k := bytes.LastIndex(file, []byte(" +0x")); k >= 0 {
			file = file[:k]
		}
		if k := bytes.LastIndexByte(fn, '('); k > 0 {
			fn = fn[:k]
		}
		return string(fn) + " " + string(file)
	}
	return ""
}
