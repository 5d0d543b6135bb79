package plugins

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/msgrouter/router/core"
)

// TestAnswerAlloc: a chunk goes back to its pool once every answer lent
// from it is released and the allocator has moved on, not before; a
// released answer is cleared; an answer handed out but never lent (a frame
// that failed to decode) does not hold its chunk.
func TestAnswerAlloc(t *testing.T) {
	var a answerAlloc
	decoded := func() *core.Message {
		m := a.next()
		m.ContentType = "text/plain"
		m.Content = []byte("answer")
		m.Headers = append(m.Headers, core.Header{Key: "k", Value: []byte(`"v"`)})
		a.lend(m)
		return m
	}
	var first []*core.Message
	for range answersPerChunk - 1 {
		first = append(first, decoded())
	}
	a.next() // a frame that failed to decode: not lent
	ch := a.cur
	if got := ch.refs.Load(); got != answersPerChunk {
		t.Fatalf("refs = %d, want %d (the lent answers and the allocator)", got, answersPerChunk)
	}
	second := decoded() // from the next chunk: the allocator lets go of the first
	if a.cur == ch {
		t.Fatal("the allocator did not move on to a new chunk")
	}
	if &second.Headers[0] != &a.cur.answers[0].hdrs[0] {
		t.Error("an answer's headers are not in its chunk")
	}
	for i, m := range first {
		if ch.used == 0 {
			t.Fatalf("the chunk went back to the pool with %d answers still lent", len(first)-i)
		}
		m.Release()
		if m.Content != nil || m.Headers != nil {
			t.Errorf("a released answer holds %q, %v", m.Content, m.Headers)
		}
	}
	if ch.used != 0 || ch.refs.Load() != 0 {
		t.Errorf("after every release: used %d, refs %d, want 0 and 0 (back in the pool)", ch.used, ch.refs.Load())
	}
	for i := range ch.answers {
		if ch.answers[i].msg.Content != nil || ch.answers[i].hdrs[0].Value != nil {
			t.Fatalf("answer %d of a chunk back in the pool pins memory", i)
		}
	}
	second.Release()
	if got := a.cur.refs.Load(); got != 1 {
		t.Errorf("the current chunk's refs = %d after its answer came back, want 1 (the allocator's)", got)
	}

	// A Message not from the allocator is not lent.
	other := &core.Message{}
	a.lend(other)
	other.Release() // not lent: nothing to do
	if got := a.cur.refs.Load(); got != 1 {
		t.Errorf("lending a foreign Message changed refs to %d", got)
	}
}

// TestLateAnswerReleased: the answer to a request its caller gave up on
// goes back to its chunk at once, in both data protocols: nobody else
// would release it, and its chunk would never be reused.
func TestLateAnswerReleased(t *testing.T) {
	for _, proto := range []int{dataProtocolHeaders, dataProtocolEnvelope} {
		t.Run(fmt.Sprint("protocol ", proto), func(t *testing.T) {
			c, pipes, h := pipeDataClient(t, proto)
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
			defer cancel()
			errs := make([]error, 1)
			c.do(ctx, h, []*core.Message{core.NewBinary("x", []byte("req"))}, make([]*core.Message, 1), errs)
			if !errors.Is(errs[0], core.ErrHandlerTimeout) {
				t.Fatalf("error %v, want a handler timeout", errs[0])
			}
			// The plugin answers request 1 after all.
			s := &dataServer{proto: proto, log: hclog.NewNullLogger()}
			if _, err := pipes.child[1].Write(s.appendAnswer(nil, 1, core.NewBinary("x", []byte("late")), nil)); err != nil {
				t.Fatal(err)
			}
			deadline := time.Now().Add(10 * time.Second)
			for {
				_, late := c.abandonment()
				if late == 1 {
					break
				}
				if time.Now().After(deadline) {
					t.Fatal("the late answer was not read")
				}
				time.Sleep(time.Millisecond)
			}
			c.mu.Lock() // after deliver's: its allocator's writes are seen
			ch := c.answers.cur
			c.mu.Unlock()
			if ch == nil || ch.used != 1 {
				t.Fatalf("the late answer was not decoded into a chunk")
			}
			if got := ch.refs.Load(); got != 1 {
				t.Errorf("chunk refs = %d after the late answer, want 1 (the allocator's): it was not released", got)
			}
		})
	}
}
