package core

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"unicode/utf8"
)

// Limits applied by a Decoder whose fields are zero.
const (
	// MaxHeaderLength is the largest header the 2-byte length can announce.
	MaxHeaderLength = 1<<16 - 1
	// DefaultMaxContentLength is the content-length limit when none is set.
	DefaultMaxContentLength = 16 << 20
)

// scratchKeep is the largest scratch buffer a Decoder keeps between
// messages; a larger one, grown for one big message, is released.
const scratchKeep = 64 << 10

// ungrantedMax is the largest frame a Decoder with grants buffers without
// asking for a grant: the largest proto-header and header, which it must
// hold to learn a frame's size. Larger frames wait for errGrant's answer
// once their header is read.
const ungrantedMax = 2 + MaxHeaderLength

// errGrant: the frame being decoded spans reads and is larger than
// ungrantedMax; the decoder (with grants) buffers none of its content
// before the caller has reserved grantSize bytes for it and called grant.
// It is not a frame error: DecodeTo returns it, consuming nothing more,
// until then.
var errGrant = errors.New("core: decoder needs a grant")

// Decoder is the incremental, resumable decoder of the protocol: a state
// machine (proto-header, JSON header, content) fed whatever one read
// returned. Limits are checked before bytes are buffered, so a hostile
// length never makes it allocate more than what was actually received.
//
// The zero value is ready to use with MaxHeaderLength and
// DefaultMaxContentLength as limits.
type Decoder struct {
	// MaxHeaderLength is the largest JSON header accepted, in bytes.
	// Zero means MaxHeaderLength (65535).
	MaxHeaderLength int
	// MaxContentLength is the largest content-length accepted, in bytes.
	// Zero means DefaultMaxContentLength (16 MiB); negative means no limit
	// beyond what fits in memory.
	MaxContentLength int64

	state int    // what buf holds: stateLength, stateHeader, stateGrant or stateContent
	buf   []byte // bytes of the message being assembled across reads
	hlen  int    // header length, once known
	total int    // full frame length, once the header has been parsed
	done  bool   // buf holds a message already returned
	// grants makes a frame larger than ungrantedMax that spans reads wait
	// for a grant (errGrant), and buffers every frame that spans reads in
	// one allocation of its exact size, made once its header is read.
	// The Server sets it to account such frames against its budget.
	grants  bool
	granted bool     // buf was allocated for a grant, not yet handed over
	err     error    // sticky frame error
	msg     *Message // Decode's, made at its first call: most decoders use DecodeTo
	names   nameCache
}

const (
	stateLength = iota
	stateHeader
	stateGrant // header read; waiting for a grant of total bytes
	stateContent
)

func (d *Decoder) maxHeader() int {
	if d.MaxHeaderLength <= 0 || d.MaxHeaderLength > MaxHeaderLength {
		return MaxHeaderLength
	}
	return d.MaxHeaderLength
}

// maxFrameContent is the largest content-length for which the whole frame
// (2 + header + content) still fits in an int. "No limit" means this one:
// beyond it the frame offsets would overflow.
const maxFrameContent = math.MaxInt - 2 - MaxHeaderLength

func (d *Decoder) maxContent() int64 {
	switch {
	case d.MaxContentLength == 0:
		return DefaultMaxContentLength
	case d.MaxContentLength < 0 || d.MaxContentLength > maxFrameContent:
		return maxFrameContent
	}
	return d.MaxContentLength
}

// Decode consumes bytes from p and returns how many it consumed and, when a
// message is complete, that message. A nil message with a nil error means
// all of p was consumed and more input is needed. Call Decode again with
// p[n:] while bytes remain.
//
// The message and everything it references are valid until the next call
// to Decode or Reset, and may alias p. After a frame error every call
// returns the same error: the stream is out of sync.
func (d *Decoder) Decode(p []byte) (n int, m *Message, err error) {
	if d.msg == nil {
		d.msg = new(Message)
	}
	n, ok, err := d.DecodeTo(d.msg, p)
	if !ok {
		return n, nil, err
	}
	return n, d.msg, nil
}

// DecodeTo is Decode into the caller's message m, which it resets and
// fills when a message is complete (ok). Unlike Decode's message, m stays
// valid across later calls: its content aliases p when the whole frame was
// in p, and otherwise a buffer the decoder hands over to m. This lets a
// caller decode a batch of messages from one read before answering them.
func (d *Decoder) DecodeTo(m *Message, p []byte) (n int, ok bool, err error) {
	if d.err != nil {
		return 0, false, d.err
	}
	if d.done {
		d.done = false
		d.buf = d.buf[:0]
		if cap(d.buf) > scratchKeep {
			d.buf = nil
		}
	}
	if len(d.buf) == 0 {
		// Fast path: the whole frame is in p; parse it in place.
		if n, ok, err := d.decodeDirect(m, p); ok || err != nil {
			if err != nil {
				d.err = err
				return 0, false, err
			}
			return n, true, nil
		}
	}
	for {
		switch d.state {
		case stateLength:
			k := min(2-len(d.buf), len(p)-n)
			d.buf = append(d.buf, p[n:n+k]...)
			n += k
			if len(d.buf) < 2 {
				return n, false, nil
			}
			d.hlen = int(binary.BigEndian.Uint16(d.buf))
			if err := d.checkHeaderLength(d.hlen); err != nil {
				d.err = err
				return n, false, err
			}
			d.state = stateHeader
		case stateHeader:
			k := min(2+d.hlen-len(d.buf), len(p)-n)
			d.buf = append(d.buf, p[n:n+k]...)
			n += k
			if len(d.buf) < 2+d.hlen {
				return n, false, nil
			}
			clen, err := parseHeader(d.buf[2:], m, d.maxContent(), &d.names)
			if err != nil {
				d.err = err
				return n, false, err
			}
			d.total = 2 + d.hlen + int(clen)
			d.state = stateContent
			if d.grants {
				if d.total > ungrantedMax {
					d.state = stateGrant
					return n, false, errGrant
				}
				d.buf = exactly(d.buf, d.total)
			}
		case stateGrant:
			return n, false, errGrant
		case stateContent:
			// Grow with what arrives, never by what the header claims.
			k := min(d.total-len(d.buf), len(p)-n)
			d.buf = append(d.buf, p[n:n+k]...)
			n += k
			if len(d.buf) < d.total {
				return n, false, nil
			}
			// The header was parsed when it completed, possibly into
			// another message: parse it again into m (a short header,
			// and only for frames that spanned reads).
			_, canon, err := parseHeaderCanon(d.buf[2:2+d.hlen], m, d.maxContent(), &d.names)
			if err != nil {
				d.err = err
				return n, false, err
			}
			m.Content = d.buf[2+d.hlen : d.total : d.total]
			if canon {
				m.wire = d.buf[:d.total:d.total]
			}
			d.state = stateLength
			d.granted = false
			if m == d.msg {
				d.done = true // reuse the buffer on the next call
			} else {
				d.buf = nil // m owns it now
			}
			return n, true, nil
		}
	}
}

// grantSize is the size of the frame a grant is asked for (errGrant).
func (d *Decoder) grantSize() int { return d.total }

// grant tells the decoder that grantSize bytes were reserved for the
// frame it waits with (errGrant): it allocates the frame's buffer, of
// exactly that size, and reads on.
func (d *Decoder) grant() {
	d.buf = exactly(d.buf, d.total)
	d.granted = true
	d.state = stateContent
}

// exactly returns b with a capacity of n, copied if need be: a frame
// whose size is known is buffered in one allocation, instead of growing
// by appends that leave copies behind for the collector.
func exactly(b []byte, n int) []byte {
	if cap(b) >= n {
		return b
	}
	nb := make([]byte, len(b), n)
	copy(nb, b)
	return nb
}

// decodeDirect parses into m a frame wholly contained in p, without
// copying. It reports ok=false, err=nil when p holds only part of a frame.
func (d *Decoder) decodeDirect(m *Message, p []byte) (int, bool, error) {
	if len(p) < 2 {
		return 0, false, nil
	}
	hlen := int(binary.BigEndian.Uint16(p))
	if err := d.checkHeaderLength(hlen); err != nil {
		return 0, false, err
	}
	if len(p) < 2+hlen {
		return 0, false, nil
	}
	clen, canon, err := parseHeaderCanon(p[2:2+hlen], m, d.maxContent(), &d.names)
	if err != nil {
		return 0, false, err
	}
	end := 2 + hlen + int(clen)
	if len(p) < end {
		return 0, false, nil
	}
	m.Content = p[2+hlen : end : end]
	if canon {
		m.wire = p[:end:end]
	}
	return end, true, nil
}

func (d *Decoder) checkHeaderLength(hlen int) error {
	if hlen == 0 {
		return fmt.Errorf("%w: header length is 0", ErrHeaderLength)
	}
	if max := d.maxHeader(); hlen > max {
		return fmt.Errorf("%w: header length %d is above the limit of %d bytes", ErrHeaderLength, hlen, max)
	}
	return nil
}

// Partial reports whether the decoder holds part of a message: bytes were
// fed that do not yet make a whole message.
func (d *Decoder) Partial() bool {
	return !d.done && len(d.buf) > 0
}

// Err returns the frame error that stopped the decoder, if any.
func (d *Decoder) Err() error { return d.err }

// Reset discards any partial message and error, keeping the limits.
func (d *Decoder) Reset() {
	buf := d.buf[:0]
	if d.granted || cap(buf) > scratchKeep {
		buf = nil
	}
	*d = Decoder{MaxHeaderLength: d.MaxHeaderLength, MaxContentLength: d.MaxContentLength, buf: buf, msg: d.msg, names: d.names, grants: d.grants}
	if d.msg != nil {
		d.msg.Reset()
	}
}

// parseHeader decodes the JSON header b into m, resetting m first, and
// returns the content-length. Any valid JSON object is read: compact or
// spaced, any key order, escaped or raw non-ASCII. Duplicate keys: the last
// one wins, as in Python's json.loads. names, if not nil, keeps the
// strings made for keys and values across messages.
func parseHeader(b []byte, m *Message, maxContent int64, names *nameCache) (int64, error) {
	clen, _, err := parseHeaderCanon(b, m, maxContent, names)
	return clen, err
}

// parseHeaderCanon is parseHeader, and reports whether b was in the
// encoder's own layout (see parseCanonicalHeader): the frame is then
// byte for byte what AppendFrame writes for m, and is kept as m's wire
// form (see Message.Frame).
func parseHeaderCanon(b []byte, m *Message, maxContent int64, names *nameCache) (int64, bool, error) {
	if clen, ok := parseCanonicalHeader(b, m, maxContent, names); ok {
		return clen, true, nil
	}
	clen, err := parseHeaderGeneral(b, m, maxContent, names)
	return clen, false, err
}

// parseHeaderGeneral is parseHeader for any header: a JSON object read
// by the scanner, key by key.
func parseHeaderGeneral(b []byte, m *Message, maxContent int64, names *nameCache) (int64, error) {
	m.Reset()
	if !utf8.Valid(b) {
		return 0, ErrHeaderNotUTF8
	}
	if i := skipSpace(b, 0); i >= len(b) || b[i] != '{' {
		if _, err := validJSON(b); err != nil {
			return 0, fmt.Errorf("%w: %w", ErrHeaderSyntax, err)
		}
		return 0, ErrHeaderNotObject
	}
	var have int        // the required keys seen: haveByteOrder...
	var req [4]rawField // byteorder, content-type, content-encoding, content-length
	err := walkMembers(b, "header object", func(f jsonMember) error {
		name := f.key[1 : len(f.key)-1]
		if f.keyEsc {
			name = []byte(unquote(f.key))
		}
		// Required keys are checked after the scan: the last
		// occurrence wins, as in Python's json.loads.
		switch string(name) {
		case "byteorder":
			req[0], have = rawField{f.value, f.valueEsc}, have|haveByteOrder
		case "content-type":
			req[1], have = rawField{f.value, f.valueEsc}, have|haveType
		case "content-encoding":
			req[2], have = rawField{f.value, f.valueEsc}, have|haveEncoding
		case "content-length":
			req[3], have = rawField{f.value, f.valueEsc}, have|haveLength
		default:
			var k string
			if f.keyEsc {
				k = unquote(f.key)
			} else {
				k = names.get(name)
			}
			m.Headers = append(m.Headers, Header{Key: k, Value: f.value})
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("%w: %w", ErrHeaderSyntax, err)
	}
	return requiredFields(m, &req, have, maxContent, names)
}

// The required header keys, as bits of what parseHeaderGeneral saw.
const (
	haveByteOrder = 1 << iota
	haveType
	haveEncoding
	haveLength
	haveAll = haveByteOrder | haveType | haveEncoding | haveLength
)

// requiredFields checks the four required keys the scan found (have, and
// their values in req, in the order of haveByteOrder...) and sets them
// in m; it returns the content-length.
func requiredFields(m *Message, req *[4]rawField, have int, maxContent int64, names *nameCache) (int64, error) {
	if have != haveAll {
		for _, f := range [...]struct {
			bit  int
			name string
		}{{haveByteOrder, "byteorder"}, {haveType, "content-type"}, {haveEncoding, "content-encoding"}, {haveLength, "content-length"}} {
			if have&f.bit == 0 {
				return 0, fmt.Errorf("%w: %q", ErrMissingField, f.name)
			}
		}
	}
	var err error
	if m.ByteOrder, err = stringField("byteorder", req[0].val, req[0].esc, nil); err != nil {
		return 0, err
	}
	if m.ByteOrder != ByteOrderLittle && m.ByteOrder != ByteOrderBig {
		return 0, fmt.Errorf(`%w: "byteorder" must be "little" or "big", got %s`, ErrFieldType, abbrev(req[0].val))
	}
	if m.ContentType, err = stringField("content-type", req[1].val, req[1].esc, names); err != nil {
		return 0, err
	}
	if m.ContentEncoding, err = stringField("content-encoding", req[2].val, req[2].esc, names); err != nil {
		return 0, err
	}
	return contentLength(req[3].val, maxContent)
}

// rawField is a header value as scanned: its JSON text, and whether a
// string holds escapes.
type rawField struct {
	val []byte
	esc bool
}

// stringField returns the string value of a required field, through
// names (if not nil) when it has no escapes.
func stringField(name string, val []byte, escaped bool, names *nameCache) (string, error) {
	if val[0] != '"' {
		return "", fmt.Errorf("%w: %q must be a string, got %s", ErrFieldType, name, abbrev(val))
	}
	if escaped {
		return unquote(val), nil
	}
	return names.get(val[1 : len(val)-1]), nil
}

// contentLength parses a JSON number that must be a non-negative integer
// no larger than max, without overflowing on hostile digit strings.
func contentLength(val []byte, max int64) (int64, error) {
	bad := func() error {
		return fmt.Errorf(`%w: "content-length" must be a non-negative integer, got %s`, ErrFieldType, abbrev(val))
	}
	digits := val
	neg := false
	if digits[0] == '-' {
		neg = true
		digits = digits[1:]
	}
	if len(digits) == 0 || digits[0] < '0' || digits[0] > '9' {
		return 0, bad()
	}
	var n int64
	over := false
	for _, c := range digits {
		if c < '0' || c > '9' {
			return 0, bad() // fraction or exponent: Python reads a float
		}
		if !over {
			// max-d < 0 must be tested on its own: (max-d)/10 truncates
			// toward zero, so a digit above a limit below 9 would pass.
			if d := int64(c - '0'); max-d < 0 || n > (max-d)/10 {
				over = true
			} else {
				n = n*10 + d
			}
		}
	}
	if neg && (n != 0 || over) {
		return 0, bad()
	}
	if over {
		return 0, fmt.Errorf("%w: content-length %s is above the limit of %d bytes", ErrContentTooLarge, abbrev(val), max)
	}
	return n, nil
}

// abbrev quotes at most 40 bytes of raw JSON for an error message.
func abbrev(val []byte) string {
	if len(val) > 40 {
		return string(val[:37]) + "..."
	}
	return string(val)
}
