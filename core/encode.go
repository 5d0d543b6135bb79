package core

import (
	"encoding/binary"
	"fmt"
	"strconv"
)

// AppendFrame appends m's wire form to dst: the 2-byte big-endian header
// length, the JSON header in the reference layout, then the content. The
// header keys are written in the reference's order (byteorder,
// content-type, content-encoding, content-length), followed by the
// extension headers in order. It allocates nothing when dst has room.
//
// On error dst is returned unchanged.
func AppendFrame(dst []byte, m *Message) ([]byte, error) {
	return AppendFrameWith(dst, m)
}

// AppendFrameWith is AppendFrame with extra extension headers written after
// m's own, without changing m: a proxy adds its headers this way to a
// message it does not own.
func AppendFrameWith(dst []byte, m *Message, extra ...Header) ([]byte, error) {
	// A message decoded from a frame in this very layout, and unchanged,
	// is copied rather than encoded again (see Message.Frame).
	if m.wire != nil {
		if out, ok := appendWire(dst, m, extra); ok {
			return out, nil
		}
	}
	return appendFrameEncoded(dst, m, extra)
}

// appendFrameEncoded is AppendFrameWith without the copy of a decoded
// frame: it encodes m field by field.
func appendFrameEncoded(dst []byte, m *Message, extra []Header) ([]byte, error) {
	start := len(dst)
	dst = append(dst, 0, 0)
	dst = append(dst, `{"byteorder": `...)
	dst = AppendString(dst, or(m.ByteOrder, nativeByteOrder))
	dst = append(dst, `, "content-type": `...)
	dst = AppendString(dst, or(m.ContentType, defaultContentType))
	dst = append(dst, `, "content-encoding": `...)
	dst = AppendString(dst, or(m.ContentEncoding, EncodingBinary))
	dst = append(dst, `, "content-length": `...)
	dst = strconv.AppendInt(dst, int64(len(m.Content)), 10)
	for _, hs := range [2][]Header{m.Headers, extra} {
		var bad int
		if dst, bad = appendExtHeaders(dst, hs); bad >= 0 {
			return dst[:start], fmt.Errorf("core: extension header %q has no value", hs[bad].Key)
		}
	}
	dst, hlen, ok := closeHeader(dst, start)
	if !ok {
		return dst, fmt.Errorf("%w: %d bytes", ErrHeaderTooLarge, hlen)
	}
	return append(dst, m.Content...), nil
}

// appendExtHeaders appends `, "KEY": VALUE` for each header of hs. bad
// is the index in hs of the first one without a value (dst then holds
// part of the headers), or -1.
func appendExtHeaders(dst []byte, hs []Header) (out []byte, bad int) {
	for i, h := range hs {
		if len(h.Value) == 0 {
			return dst, i
		}
		dst = append(dst, ", "...)
		dst = AppendString(dst, h.Key)
		dst = append(dst, ": "...)
		dst = append(dst, h.Value...)
	}
	return dst, -1
}

// closeHeader closes the JSON header of the frame that begins at
// dst[start] and writes its length into the frame's first two bytes. ok
// is false, and dst cut back to start, when the header is longer than
// MaxHeaderLength; hlen is its length either way.
func closeHeader(dst []byte, start int) (out []byte, hlen int, ok bool) {
	dst = append(dst, '}')
	hlen = len(dst) - start - 2
	if hlen > MaxHeaderLength {
		return dst[:start], hlen, false
	}
	binary.BigEndian.PutUint16(dst[start:], uint16(hlen))
	return dst, hlen, true
}

// Marshal returns m's wire form. See AppendFrame.
func Marshal(m *Message) ([]byte, error) {
	return AppendFrame(make([]byte, 0, 128+len(m.Content)), m)
}

// Unmarshal decodes exactly one frame from b, with no content-length limit.
// The message aliases b.
func Unmarshal(b []byte) (*Message, error) {
	var d Decoder
	d.MaxContentLength = -1
	n, m, err := d.Decode(b)
	switch {
	case err != nil:
		return nil, err
	case m == nil:
		return nil, fmt.Errorf("%w: %d bytes", ErrTruncated, len(b))
	case n != len(b):
		return nil, fmt.Errorf("core: %d bytes after the frame", len(b)-n)
	}
	return m, nil
}

func or(s, def string) string {
	if s == "" {
		return def
	}
	return s
}
