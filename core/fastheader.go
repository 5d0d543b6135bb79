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
// layout with plain ASCII strings, no escapes and no extension headers,
// and a content-length of digits within maxContent. ok is false when it
// is not, and m is then untouched.
func parseCanonicalHeader(b []byte, m *Message, maxContent int64) (clen int64, ok bool) {
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
	// Digits, then '}' as the last byte: no sign, fraction, exponent or
	// leading zero, which the general parser judges.
	if i >= len(b) {
		return 0, false
	}
	digits := b[i : len(b)-1]
	if len(digits) == 0 || len(digits) > 18 || b[len(b)-1] != '}' || (digits[0] == '0' && len(digits) > 1) {
		return 0, false
	}
	for _, c := range digits {
		if c < '0' || c > '9' {
			return 0, false
		}
		clen = clen*10 + int64(c-'0')
	}
	if maxContent >= 0 && clen > maxContent {
		return 0, false // the general parser words the error
	}
	m.Reset()
	m.ByteOrder = bo
	m.ContentType = stringOf(ct)
	m.ContentEncoding = stringOf(ce)
	return clen, true
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

// stringOf returns s as a string, without allocating for the values the
// reference messages carry.
func stringOf(s []byte) string {
	if c := internString(s); c != "" {
		return c
	}
	return string(s)
}
