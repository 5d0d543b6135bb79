package core

// Frame returns the frame m was decoded from, when that frame is byte for
// byte what AppendFrame writes for m as it is now: the decoder read it in
// the encoder's own layout (the reference's, see PROTOCOL.md), and the
// fields, headers and content of m still say what the frame says. It
// returns nil otherwise: for a message that was not decoded, decoded from
// another layout, or changed since.
//
// The frame aliases what the decoder read, as m's Content does. A proxy
// forwards it, and AppendFrame copies it instead of encoding m again.
func (m *Message) Frame() []byte {
	if m.wire == nil || !m.wireMatches() {
		return nil
	}
	return m.wire
}

// wireMatches reports whether m.wire is what AppendFrame writes for m:
// the content must be the frame's own tail (the same bytes), the three
// fields those decoded from it, and the extension headers what the frame
// holds, in order.
func (m *Message) wireMatches() bool {
	f := m.wire
	end := len(f) - len(m.Content)
	if end < 3 || !sameSlice(f[end:], m.Content) {
		return false
	}
	if m.ByteOrder != m.wireFields[0] || m.ContentType != m.wireFields[1] || m.ContentEncoding != m.wireFields[2] {
		return false
	}
	i := m.wireExt
	var ok bool
	for _, x := range m.Headers {
		if !plainString(x.Key) || len(x.Value) == 0 {
			return false
		}
		if i, ok = skipLiteral(f, i, `, "`); !ok {
			return false
		}
		if i, ok = skipLiteral(f, i, x.Key); !ok {
			return false
		}
		if i, ok = skipLiteral(f, i, `": `); !ok {
			return false
		}
		if i, ok = skipLiteral(f, i, string(x.Value)); !ok {
			return false
		}
	}
	return i == end-1
}

// appendWire appends m's frame, m.Frame(), with the extra headers spliced
// in before the header's closing brace. ok is false when m has no frame
// or the extra headers do not fit; dst is then unchanged.
func appendWire(dst []byte, m *Message, extra []Header) ([]byte, bool) {
	f := m.Frame()
	if f == nil {
		return dst, false
	}
	if len(extra) == 0 {
		return append(dst, f...), true
	}
	start := len(dst)
	hend := len(f) - len(m.Content) - 1 // the closing brace
	dst = append(dst, f[:hend]...)
	dst, bad := appendExtHeaders(dst, extra)
	if bad >= 0 {
		return dst[:start], false // the encoder words the error
	}
	dst, _, ok := closeHeader(dst, start)
	if !ok {
		return dst, false
	}
	return append(dst, m.Content...), true
}

// plainString reports whether s is non-empty printable ASCII without '"'
// or '\\': a string the encoder writes as itself between quotes, and the
// only kind a frame in its layout holds (see plainASCII).
func plainString(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c >= 0x7f || c == '"' || c == '\\' {
			return false
		}
	}
	return true
}
