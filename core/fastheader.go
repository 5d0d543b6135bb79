package core

// The header almost every client sends is the one the reference writes:
// json.dumps of the four required keys, in order, with ", " and ": "
// between them and nothing else. parseCanonicalHeader reads exactly that
// layout with a few comparisons, and declines anything else, which the
// general parser then reads; FuzzCanonicalHeader checks that the two agree
// wherever the fast one answers.

const (
	canonByteOrder = `{"byteorder": "`
	canonType      = `", "content-type": "`
	canonEncoding  = `", "content-encoding": "`
	canonLength    = `", "content-length": `
)

// parseCanonicalHeader parses b if it is a header in the reference's
// layout with plain ASCII strings and no escapes, a content-length of
// digits within maxContent, and at most a few extension headers after it
// in the same layout whose values are plain strings or digits. ok is
// false when it is not, and m is then untouched.
func parseCanonicalHeader(b []byte, m *Message, maxContent int64, names *nameCache) (clen int64, ok bool) {
	i, ok := skipLiteral(b, 0, canonByteOrder)
	if !ok {
		return 0, false
	}
	var bo string
	switch {
	case hasLiteral(b, i, `little`):
		bo, i = ByteOrderLittle, i+len(`little`)
	case hasLiteral(b, i, `big`):
		bo, i = ByteOrderBig, i+len(`big`)
	default:
		return 0, false
	}
	if i, ok = skipLiteral(b, i, canonType); !ok {
		return 0, false
	}
	ct, i, ok := plainASCII(b, i)
	if !ok {
		return 0, false
	}
	if i, ok = skipLiteral(b, i, canonEncoding); !ok {
		return 0, false
	}
	ce, i, ok := plainASCII(b, i)
	if !ok {
		return 0, false
	}
	if i, ok = skipLiteral(b, i, canonLength); !ok {
		return 0, false
	}
	// Digits: no sign, fraction, exponent or leading zero, which the
	// general parser judges.
	start := i
	for i < len(b) && b[i] >= '0' && b[i] <= '9' {
		clen = clen*10 + int64(b[i]-'0')
		i++
	}
	if n := i - start; n == 0 || n > 18 || (b[start] == '0' && n > 1) {
		return 0, false
	}
	if maxContent >= 0 && clen > maxContent {
		return 0, false // the general parser words the error
	}
	// Then extension headers, as the router and its plugins add them:
	// `, "key": "plain"` or `, "key": digits`, a few at most.
	var ext [maxCanonExt]Header
	n := 0
	extStart := i
	for {
		if i == len(b)-1 && b[i] == '}' {
			break
		}
		if n == len(ext) {
			return 0, false
		}
		if i, ok = skipLiteral(b, i, `, "`); !ok {
			return 0, false
		}
		key, k, ok := plainASCII(b, i)
		if !ok || isRequiredKey(key) {
			return 0, false // a repeated required key: the last one wins
		}
		if i, ok = skipLiteral(b, k, `": `); !ok {
			return 0, false
		}
		vstart := i
		if i < len(b) && b[i] == '"' {
			_, end, ok := plainASCII(b, i+1)
			if !ok {
				return 0, false
			}
			i = end + 1
		} else {
			for i < len(b) && b[i] >= '0' && b[i] <= '9' {
				i++
			}
			if d := i - vstart; d == 0 || (b[vstart] == '0' && d > 1) {
				return 0, false
			}
		}
		ext[n] = Header{Key: names.get(key), Value: b[vstart:i]}
		n++
	}
	m.Reset()
	m.ByteOrder = bo
	m.ContentType = names.get(ct)
	m.ContentEncoding = names.get(ce)
	m.Headers = append(m.Headers, ext[:n]...)
	// What Message.Frame compares the message with, should the decoder
	// keep the frame.
	m.wireFields = [3]string{m.ByteOrder, m.ContentType, m.ContentEncoding}
	m.wireExt = 2 + extStart
	return clen, true
}

// maxCanonExt is the most extension headers the fast path reads: the
// router's own to a plugin (router-id, router-handler, router-deadline)
// and a few of the client's.
const maxCanonExt = 6

// isRequiredKey reports whether key is one of the four required header
// keys.
func isRequiredKey(key []byte) bool {
	switch string(key) {
	case "byteorder", "content-type", "content-encoding", "content-length":
		return true
	}
	return false
}

// skipLiteral returns the index after lit if b holds it at i.
func skipLiteral(b []byte, i int, lit string) (int, bool) {
	if !hasLiteral(b, i, lit) {
		return 0, false
	}
	return i + len(lit), true
}

func hasLiteral(b []byte, i int, lit string) bool {
	return len(b)-i >= len(lit) && string(b[i:i+len(lit)]) == lit
}

// plainASCII returns the bytes of a JSON string's body from i up to the
// closing quote, and the index of that quote, if they are all printable
// ASCII other than '\\': such a body means itself, and is valid UTF-8.
func plainASCII(b []byte, i int) ([]byte, int, bool) {
	for j := i; j < len(b); j++ {
		switch c := b[j]; {
		case c == '"':
			return b[i:j], j, true
		case c < 0x20 || c >= 0x7f || c == '\\':
			return nil, 0, false
		}
	}
	return nil, 0, false
}

// nameCache keeps the strings a Decoder made for header keys and values
// that internString does not know, so that a connection sending the same
// extension headers (a request id, or the router's own on the data path
// to a plugin) or an uncommon content type in every message allocates
// them once rather than once a message.
//
// The strings live in a nameEntries allocated at the first one to keep:
// a Decoder is part of every connection, idle ones included, and most
// connections never send a header the interned strings lack.
type nameCache struct {
	e *nameEntries
}

type nameEntries struct {
	s    [8]string
	next int
}

// get returns s as a string, from the cache when it holds it; a nil cache
// only interns.
func (c *nameCache) get(s []byte) string {
	if v := internString(s); v != "" {
		return v
	}
	if c == nil {
		return string(s)
	}
	e := c.e
	if e == nil {
		e = new(nameEntries)
		c.e = e
	}
	for _, v := range e.s {
		if v == string(s) {
			return v
		}
	}
	v := string(s)
	e.s[e.next] = v
	e.next = (e.next + 1) % len(e.s)
	return v
}

// drop lets go of the kept strings.
func (c *nameCache) drop() { c.e = nil }
