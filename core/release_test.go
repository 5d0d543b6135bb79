package core_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"testing"
	"time"

	"github.com/msgrouter/router/core"
	"github.com/msgrouter/router/internal/lendtest"
)

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
			l := &lendtest.Lender{Prefix: "ok:", Fail: tc.fail}
			var h core.Handler = l
			if tc.batch {
				h = lendtest.Batch{Lender: l}
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
			l.Check(t, n)
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
		want = `{"error": "` + lendtest.ErrFail.Error() + `"}`
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
	h := &lendtest.Lender{Prefix: "ok:"}
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
	h.Check(t, 1)
}

// countBack counts the Messages released to it.
type countBack map[*core.Message]int

func (c countBack) Release(m *core.Message) { c[m]++ }

func TestMessageRelease(t *testing.T) {
	back := countBack{}
	m := core.NewBinary("a/b", []byte("x"))
	m.Release() // not lent: nothing happens
	m.Lend(back)
	m.Release()
	m.Release() // released already: nothing happens
	if len(back) != 1 || back[m] != 1 {
		t.Errorf("released %v, want m once", back)
	}
	m.Lend(back)
	m.Reset()
	m.Release() // Reset cleared the mark
	if back[m] != 1 {
		t.Errorf("released after Reset: %v", back)
	}
}
