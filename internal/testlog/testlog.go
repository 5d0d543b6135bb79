// Package testlog sends logs to a test's log: they show only for a test
// that fails, or with go test -v.
package testlog

import (
	"strings"
	"sync"
	"testing"

	"github.com/hashicorp/go-hclog"
)

// New returns a logger named name, at debug level, that writes to t's
// log (see Writer).
func New(t testing.TB, name string) hclog.Logger {
	return hclog.New(&hclog.LoggerOptions{Name: name, Level: hclog.Debug, Output: NewWriter(t), Color: hclog.ColorOff})
}

// Writer writes each Write to t.Log until the test ends, then nowhere:
// plugin processes and goroutines may log after it, and t.Log would then
// panic.
type Writer struct {
	t    testing.TB
	mu   sync.Mutex
	done bool
}

// NewWriter returns a Writer for t.
func NewWriter(t testing.TB) *Writer {
	w := &Writer{t: t}
	t.Cleanup(func() {
		w.mu.Lock()
		w.done = true
		w.mu.Unlock()
	})
	return w
}

// Write logs p, without its final newline, unless the test has ended.
func (w *Writer) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.done {
		w.t.Log(strings.TrimRight(string(p), "\n"))
	}
	return len(p), nil
}
