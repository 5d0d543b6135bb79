package plugins

import (
	"sync"
	"sync/atomic"

	"github.com/msgrouter/router/core"
)

// The answers read from a plugin are decoded into Messages the data
// client lends to its callers (see core.Message.Lend), in chunks of
// answersPerChunk, and taken back once the Server has written them. On
// the pipelined plugin path, a Message and its headers allocated per
// answer were most of the router's allocations and a fifth of its CPU
// went to the garbage collector (measured: see BENCHMARKS.md, "Answers
// lent"). An answer that is never released (a caller that keeps it, or
// does not know of lending, such as a test that calls a handler) leaves
// its chunk to the garbage collector, as before.

// answersPerChunk is the number of answers in a chunk. A chunk goes back
// to its pool once all its answers are released, so a larger one is
// reused later; a smaller one costs a pool round trip more often.
const answersPerChunk = 32

// answerHeaders is the room for extension headers each answer has in its
// chunk: the router-id, a request id and a few of the plugin's; more are
// appended elsewhere.
const answerHeaders = 4

// lentAnswer is one answer of a chunk, and the Releaser it is lent by.
type lentAnswer struct {
	msg   core.Message
	hdrs  [answerHeaders]core.Header
	chunk *answerChunk
}

// Release clears the answer, so that the chunk pins no read buffer
// through it, and lets go of it.
func (la *lentAnswer) Release(*core.Message) {
	ch := la.chunk
	la.msg = core.Message{}
	la.hdrs = [answerHeaders]core.Header{}
	ch.unref()
}

// answerChunk is a block of answers. refs counts the answers lent and not
// yet released, plus one while the allocator still hands out its
// answers; at zero, it goes back to the pool.
type answerChunk struct {
	answers [answersPerChunk]lentAnswer
	used    int // answers handed out by the allocator
	refs    atomic.Int32
	pool    *sync.Pool
}

func (ch *answerChunk) unref() {
	if ch.refs.Add(-1) != 0 {
		return
	}
	// Answers handed out but never lent (a frame that failed to decode)
	// are cleared here; the others were by their Release.
	for i := range ch.answers[:ch.used] {
		la := &ch.answers[i]
		la.msg = core.Message{}
		la.hdrs = [answerHeaders]core.Header{}
	}
	ch.used = 0
	ch.pool.Put(ch)
}

// answerAlloc hands out the Messages that answers are decoded into, and
// lends them. It belongs to whoever holds the turn to read; the chunks'
// reference counts are what Release, on other goroutines, touches.
type answerAlloc struct {
	pool    sync.Pool // of *answerChunk
	cur     *answerChunk
	results []answerResult // the answers of the current read
}

// next returns a cleared Message, with room for answerHeaders headers, to
// decode an answer into.
func (a *answerAlloc) next() *core.Message {
	ch := a.cur
	if ch == nil || ch.used == answersPerChunk {
		if ch != nil {
			ch.unref()
		}
		ch, _ = a.pool.Get().(*answerChunk)
		if ch == nil {
			ch = &answerChunk{pool: &a.pool}
			for i := range ch.answers {
				ch.answers[i].chunk = ch
			}
		}
		ch.refs.Store(1)
		a.cur = ch
	}
	la := &ch.answers[ch.used]
	ch.used++
	la.msg.Headers = la.hdrs[:0]
	return &la.msg
}

// lend lends m, decoded into the Message that next returned last. (Any
// other m is not lent, and left to the garbage collector.)
func (a *answerAlloc) lend(m *core.Message) {
	ch := a.cur
	if ch == nil || ch.used == 0 || m != &ch.answers[ch.used-1].msg {
		return
	}
	ch.refs.Add(1)
	m.Lend(&ch.answers[ch.used-1])
}
