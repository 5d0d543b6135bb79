package core

// Releaser takes back the answers a handler lends from a pool of its own:
// see Message.Lend.
type Releaser interface {
	// Release is called once for each answer lent, when whoever had it
	// is done with it. The Message and the memory it references may be
	// reused from then on.
	Release(m *Message)
}

// Lend marks m, an answer, as lent by r: the one who is done with it
// (the Server, once it has written the answer to its client) calls
// Release, which hands m back to r. A handler that answers from a pool
// of Messages lends them, so that a busy router does not allocate a
// Message per answer and have the garbage collector find it (the
// plugin client does: its answers were most of the router's allocations
// on the pipelined plugin path; measured: see BENCHMARKS.md,
// "Answers lent").
//
// A lent Message answers one request: the same Message lent as the
// answer to two would be released twice, and the second Release could
// hand back the Message after the Releaser had lent it again. An answer
// that is never released, because its caller keeps it or does not know
// of lending, is left to the garbage collector like any other: a
// Releaser must not rely on getting every Message back. Reset and
// decoding into m clear the mark.
func (m *Message) Lend(r Releaser) { m.lender = r }

// Release hands m back to the Releaser it was lent by (see Lend), once:
// the caller must not use m, nor the memory its fields reference,
// afterwards. It does nothing for a Message that was not lent.
func (m *Message) Release() {
	r := m.lender
	if r == nil {
		return
	}
	m.lender = nil
	r.Release(m)
}
