package plugins

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
)

// Data protocol 2 wraps each frame in a small binary envelope instead of
// adding the router's extension headers to it: the router forwards the
// client's frame as it was read, and the plugin's answer frame, checked,
// goes to the client as the plugin wrote it (see core.Message.Frame).
//
// Every envelope starts with envHeaderLen bytes: its kind (1 byte), the
// request's id (8 bytes, big-endian) and the length of its body (4
// bytes, big-endian). The body of
//
//   - envRequest (router to plugin) is the deadline in Unix nanoseconds
//     (8 bytes, big-endian, two's complement; 0 for none), the handler's
//     name (1 byte of length, then the name), and the request's frame;
//   - envCancel (router to plugin) is empty: the router gave up on id;
//   - envAnswer (plugin to router) is the answer's frame;
//   - envError (plugin to router) is the handler's error text (cut to
//     maxErrorText).
//
// The handler goes by name rather than by an index into the plugin's
// list: names need no table that a restarted plugin could change.
const (
	envRequest = 1
	envCancel  = 2
	envAnswer  = 3
	envError   = 4
)

// envHeaderLen is the size of an envelope's fixed part.
const envHeaderLen = 1 + 8 + 4

// envelope is one envelope of data protocol 2. body aliases what was
// read.
type envelope struct {
	kind byte
	id   uint64
	body []byte
}

// errEnvelope says that a stream of envelopes is broken.
var errEnvelope = errors.New("bad envelope")

// parseEnvHeader parses the fixed part of an envelope at the start of p
// (which holds envHeaderLen bytes at least), and checks its kind and that
// its body is at most maxBody bytes.
func parseEnvHeader(p []byte, maxBody int64) (kind byte, id uint64, n int, err error) {
	kind = p[0]
	if kind < envRequest || kind > envError {
		return 0, 0, 0, fmt.Errorf("%w: kind %d", errEnvelope, kind)
	}
	id = binary.BigEndian.Uint64(p[1:])
	blen := int64(binary.BigEndian.Uint32(p[9:]))
	if blen > maxBody {
		return 0, 0, 0, fmt.Errorf("%w: body of %d bytes, above the limit of %d", errEnvelope, blen, maxBody)
	}
	if kind == envCancel && blen != 0 {
		return 0, 0, 0, fmt.Errorf("%w: cancel with a body", errEnvelope)
	}
	return kind, id, int(blen), nil
}

// appendEnvHeader appends an envelope's fixed part with a body length of
// zero; setEnvLength sets it once the body is appended.
func appendEnvHeader(dst []byte, kind byte, id uint64) []byte {
	dst = append(dst, kind)
	dst = binary.BigEndian.AppendUint64(dst, id)
	return append(dst, 0, 0, 0, 0)
}

// setEnvLength sets the body length of the envelope that starts at
// dst[start:] and runs to the end of dst. It reports false if the body
// is too large for the 4 bytes of its length.
func setEnvLength(dst []byte, start int) bool {
	n := len(dst) - start - envHeaderLen
	if n > math.MaxUint32 {
		return false
	}
	binary.BigEndian.PutUint32(dst[start+9:], uint32(n))
	return true
}

// parseRequestBody splits the body of an envRequest.
func parseRequestBody(body []byte) (deadline int64, handler, frame []byte, err error) {
	if len(body) < 9 {
		return 0, nil, nil, fmt.Errorf("%w: request body of %d bytes", errEnvelope, len(body))
	}
	deadline = int64(binary.BigEndian.Uint64(body))
	hlen := int(body[8])
	if len(body) < 9+hlen {
		return 0, nil, nil, fmt.Errorf("%w: handler name past the body", errEnvelope)
	}
	return deadline, body[9 : 9+hlen], body[9+hlen:], nil
}

// appendRequestHead appends an envRequest's fixed part and the start of
// its body, up to the frame. ok is false for a handler's name longer
// than 255 bytes, which does not fit: that request fails.
func appendRequestHead(dst []byte, id uint64, deadline int64, handler string) ([]byte, bool) {
	if len(handler) > math.MaxUint8 {
		return dst, false
	}
	dst = appendEnvHeader(dst, envRequest, id)
	dst = binary.BigEndian.AppendUint64(dst, uint64(deadline))
	dst = append(dst, byte(len(handler)))
	return append(dst, handler...), true
}

// envReader splits a stream of envelopes read in pieces. An envelope that
// one read holds whole aliases that read's bytes; one that spans reads is
// assembled in a buffer of its own, which it then owns. Lengths are
// checked before bytes are buffered, and the buffer grows with what
// arrives, never by what a length claims.
type envReader struct {
	maxBody int64
	part    []byte // a partial envelope
	total   int    // its full size, once its fixed part is in (else 0)
}

// partial reports whether the reader holds part of an envelope.
func (r *envReader) partial() bool { return len(r.part) > 0 }

// feed calls yield with each envelope that p completes, in order. It
// stops at the first error, of the stream or of yield.
func (r *envReader) feed(p []byte, yield func(envelope) error) error {
	for len(p) > 0 {
		if len(r.part) == 0 && len(p) >= envHeaderLen {
			kind, id, n, err := parseEnvHeader(p, r.maxBody)
			if err != nil {
				return err
			}
			if end := envHeaderLen + n; len(p) >= end {
				if err := yield(envelope{kind, id, p[envHeaderLen:end:end]}); err != nil {
					return err
				}
				p = p[end:]
				continue
			}
		}
		k, err := r.buffer(p)
		if err != nil {
			return err
		}
		p = p[k:]
		if r.total == 0 || len(r.part) < r.total {
			return nil // p is used up
		}
		env := envelope{r.part[0], binary.BigEndian.Uint64(r.part[1:]), r.part[envHeaderLen:r.total:r.total]}
		r.part, r.total = nil, 0
		if err := yield(env); err != nil {
			return err
		}
	}
	return nil
}

// buffer appends to r.part what p holds of the partial envelope, and
// returns how many bytes of p it took.
func (r *envReader) buffer(p []byte) (int, error) {
	taken := 0
	if r.total == 0 {
		k := min(envHeaderLen-len(r.part), len(p))
		r.part = append(r.part, p[:k]...)
		taken = k
		if len(r.part) < envHeaderLen {
			return taken, nil
		}
		_, _, n, err := parseEnvHeader(r.part, r.maxBody)
		if err != nil {
			return taken, err
		}
		r.total = envHeaderLen + n
		part := make([]byte, envHeaderLen, min(r.total, envHeaderLen+64<<10))
		copy(part, r.part)
		r.part = part
	}
	k := min(r.total-len(r.part), len(p)-taken)
	r.part = append(r.part, p[taken:taken+k]...)
	return taken + k, nil
}
