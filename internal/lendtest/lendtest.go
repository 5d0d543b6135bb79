// Package lendtest is a handler for tests that lends its answers (see
// core.Message.Lend) and counts them back, scribbling over each answer's
// content as it is released: a caller that released an answer before
// writing it would write the scribble.
package lendtest

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/msgrouter/router/core"
)

// ErrFail is the error a Lender with Fail returns with each answer.
var ErrFail = errors.New("failed anyway")

// Lender answers each request with Prefix and the request's content, in a
// Message it lends; with Fail, it returns ErrFail along with the answer.
type Lender struct {
	Prefix string
	Fail   bool

	mu       sync.Mutex
	lent     int
	released map[*core.Message]int
}

// Handle answers req in a lent Message.
func (l *Lender) Handle(_ context.Context, req *core.Message) (*core.Message, error) {
	m := core.NewBinary("text/plain", append([]byte(l.Prefix), req.Content...))
	m.Lend(l)
	l.mu.Lock()
	l.lent++
	l.mu.Unlock()
	if l.Fail {
		return m, ErrFail
	}
	return m, nil
}

// Release scribbles over m's content and counts m back.
func (l *Lender) Release(m *core.Message) {
	for i := range m.Content {
		m.Content[i] = 'X'
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.released == nil {
		l.released = make(map[*core.Message]int)
	}
	l.released[m]++
}

// Check waits up to 10 s for want answers to be lent and every one of
// them released, and fails t if one was released more than once or they
// do not all come back.
func (l *Lender) Check(t testing.TB, want int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		l.mu.Lock()
		lent, back, twice := l.lent, len(l.released), 0
		for _, n := range l.released {
			if n != 1 {
				twice++
			}
		}
		l.mu.Unlock()
		if twice > 0 {
			t.Fatalf("%d answers released more than once", twice)
		}
		if lent == want && back == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("lent %d answers and got %d back, want %d and %d", lent, back, want, want)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// Batch is a Lender that also answers batches, one request after
// another.
type Batch struct{ *Lender }

// HandleBatch answers each request with Handle.
func (b Batch) HandleBatch(ctx context.Context, reqs, answers []*core.Message, errs []error) {
	for i, req := range reqs {
		answers[i], errs[i] = b.Handle(ctx, req)
	}
}
