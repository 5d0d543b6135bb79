package core

import (
	"crypto/rand"
	"encoding/hex"
	"strconv"
	"sync/atomic"
)

// DefaultRequestIDHeader is the extension header that carries a request's
// id when Server.RequestIDHeader is empty.
const DefaultRequestIDHeader = "request-id"

// idGenerator makes request ids that are unique within a process run and,
// with high probability, across runs: a random prefix drawn once, then a
// counter. Cheaper than a random id per request, and still sortable by
// arrival within one router.
type idGenerator struct {
	prefix []byte
	n      atomic.Uint64
}

func newIDGenerator() *idGenerator {
	var b [6]byte
	rand.Read(b[:]) // never fails on the systems Go supports (crypto/rand docs)
	p := make([]byte, 0, 13)
	p = hex.AppendEncode(p, b[:])
	return &idGenerator{prefix: append(p, '-')}
}

// next returns a fresh id as a JSON string, ready to be a Header value.
func (g *idGenerator) next() []byte {
	v := make([]byte, 0, 32)
	v = append(v, '"')
	v = append(v, g.prefix...)
	v = strconv.AppendUint(v, g.n.Add(1), 10)
	return append(v, '"')
}

// requestIDHeader returns the name of the request-id header.
func (s *Server) requestIDHeader() string {
	if s.RequestIDHeader != "" {
		return s.RequestIDHeader
	}
	return DefaultRequestIDHeader
}

// requestID returns m's request-id header, giving m a fresh one first when
// it has none and the server generates them. ok is false when m has none.
func (c *conn) requestID(m *Message) (h Header, ok bool) {
	key := c.s.requestIDHeader()
	for i := len(m.Headers) - 1; i >= 0; i-- {
		if m.Headers[i].Key == key {
			return m.Headers[i], true
		}
	}
	if !c.s.GenerateRequestIDs {
		return Header{}, false
	}
	h = Header{Key: key, Value: c.s.ids.next()}
	m.Headers = append(m.Headers, h)
	return h, true
}

// hasHeader reports whether m carries the extension header key.
func hasHeader(m *Message, key string) bool {
	for _, h := range m.Headers {
		if h.Key == key {
			return true
		}
	}
	return false
}
