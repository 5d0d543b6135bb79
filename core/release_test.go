package core_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"testing"
	"time"

	"github.com/msgrouter/router/core"
)

// lender answers "ok:CONTENT" in Messages it lends, and counts them back.
// Release scribbles over the answer's content, so that a Server that
// released an answer before writing it would put the scribble on the
// wire. With fail, it also returns an error with each answer.
type lender struct {
	fail bool

	mu       sync.Mutex
	lent     int
	released map[*core.Message]int
}

func (l *lender) Handle(_ context.Context, req *core.Message) (*core.Message, error) {
	m := core.NewBinary("text/plain", append([]byte("ok:"), req.Content...))
	m.Lend(l)
	l.mu.Lock()
	l.lent++
	l.mu.Unlock()
	if l.fail {
		return m, errors.New("failed anyway")
	}
	return m, nil
}

func (l *lender) Release(m *core.Message) {
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

// check waits for every answer lent to be released, once.
func (l *lender) check(t *testing.T, want int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		l.mu.Lock()
		lent, back := l.lent, len(l.released)
		twice := 0
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

// batchLender is a lender that also answers batches.
type batchLender struct{ *lender }

func (b batchLender) HandleBatch(ctx context.Context, reqs, answers []*core.Message, errs []error) {
	for i, req := range reqs {
		answers[i], errs[i] = b.Handle(ctx, req)
	}
}

// TestServerReleasesLentAnswers: the Server releases every lent answer
// once, after writing it, whether it came alone or in a batch, or with
// an error (which is what is written then).
func TestServerReleasesLentAnswers(t *testing.T) {
	const n = 50
	for _, tc := range []struct {
		name      string
		batch     bool // the handler is a BatchHandler
		pipelined bool // the requests go in one write
		fail      bool
	}{
		{name: "one at a time"},
		{name: "pipelined, Handle", pipelined: true},
		{name: "pipelined, HandleBatch", batch: true, pipelined: true},
		{name: "answer with an error", fail: true, pipelined: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l := &lender{fail: tc.fail}
			var h core.Handler = l
			if tc.batch {
				h = batchLender{l}
			}
			addr := startServer(t, &core.Server{Handler: h})
			c := dialT(t, addr)
			fr := &frameReader{r: c}
			var all []byte
			for i := range n {
				req := frame(t, core.NewBinary("text/plain", fmt.Appendf(nil, "%d", i)))
				if !tc.pipelined {
					c.Write(req)
					checkLentAnswer(t, fr, i, tc.fail)
					continue
				}
				all = append(all, req...)
			}
			if tc.pipelined {
				c.Write(all)
				for i := range n {
					checkLentAnswer(t, fr, i, tc.fail)
				}
			}
			l.check(t, n)
		})
	}
}

func checkLentAnswer(t *testing.T, fr *frameReader, i int, fail bool) {
	t.Helper()
	m, err := fr.next()
	if err != nil {
		t.Fatalf("answer %d: %v", i, err)
	}
	want := fmt.Sprintf("ok:%d", i)
	if fail {
		want = `{"error": "failed anyway"}`
	}
	if string(m.Content) != want {
		t.Fatalf("answer %d = %q, want %q", i, m.Content, want)
	}
}

// TestServerRawReleasesLentAnswers: a raw listener's handler may lend its
// answers too.
func TestServerRawReleasesLentAnswers(t *testing.T) {
	s := &core.Server{}
	l, err := core.Listen(context.Background(), "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	h := &lender{}
	go s.ServeRaw(l, h)
	t.Cleanup(func() { s.Close() })
	c := dialT(t, l.Addr().String())
	c.Write([]byte("hello"))
	got := make([]byte, len("ok:hello"))
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.ReadFull(c, got); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, []byte("ok:hello")) {
		t.Errorf("raw answer = %q, want %q", got, "ok:hello")
	}
	h.check(t, 1)
}

func TestMessageRelease(t *testing.T) {
	l := &lender{}
	m := core.NewBinary("a/b", []byte("x"))
	m.Release() // not lent: nothing happens
	m.Lend(l)
	m.Release()
	m.Release() // released already: nothing happens
	if len(l.released) != 1 || l.released[m] != 1 {
		t.Errorf("released %v, want m once", l.released)
	}
	m.Lend(l)
	m.Reset()
	m.Release() // Reset cleared the mark
	if l.released[m] != 1 {
		t.Errorf("released after Reset: %v", l.released)
	}
}
