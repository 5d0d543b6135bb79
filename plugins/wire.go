package plugins

import (
	"math"

	"github.com/msgrouter/router/core"
)

// Extension headers the router adds to requests on the data path, and
// the plugin to answers. They are appended last, and the last occurrence
// of a header wins, so a client cannot forge them.
const (
	hdrID       = "router-id"
	hdrHandler  = "router-handler"
	hdrDeadline = "router-deadline" // Unix nanoseconds
	hdrError    = "router-error"
	hdrCancel   = "router-cancel" // a frame that cancels the request with this id
)

// uintHeader returns the header key as a non-negative integer.
func uintHeader(m *core.Message, key string) (uint64, bool) {
	raw, ok := m.RawHeader(key)
	if !ok {
		return 0, false
	}
	return parseUint(raw)
}

// parseUint parses a non-negative decimal integer as strconv.ParseUint
// does in base 10, for the few digits of an id or a deadline at a
// fraction of its cost.
func parseUint(b []byte) (uint64, bool) {
	if len(b) == 0 {
		return 0, false
	}
	var n uint64
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		d := uint64(c - '0')
		if n > (math.MaxUint64-d)/10 {
			return 0, false // overflow
		}
		n = n*10 + d
	}
	return n, true
}

// stripRouterHeaders removes the data-path headers, so that handlers and
// clients see the message as it was sent.
func stripRouterHeaders(m *core.Message) {
	out := m.Headers[:0]
	for _, h := range m.Headers {
		switch h.Key {
		case hdrID, hdrHandler, hdrDeadline, hdrError, hdrCancel:
			continue
		}
		out = append(out, h)
	}
	m.Headers = out
}
