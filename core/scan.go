package core

import (
	"bufio"
	"io"
	"iter"
)

// Messages returns an iterator over the messages that the bytes p
// complete, decoded in turn with Decode: the loop that every reader of
// frames would otherwise write. Bytes of a message that p leaves
// incomplete are kept for the next call. A frame error is yielded with a
// nil message and ends the iteration; the stream is then out of sync
// (see Err). Each message is valid until the next iteration, as
// Decode's are.
//
//	n, err := conn.Read(buf)
//	for m, err := range dec.Messages(buf[:n]) { ... }
func (d *Decoder) Messages(p []byte) iter.Seq2[*Message, error] {
	return func(yield func(*Message, error) bool) {
		for len(p) > 0 {
			k, m, err := d.Decode(p)
			p = p[k:]
			if err != nil {
				yield(nil, err)
				return
			}
			if m == nil || !yield(m, nil) {
				return
			}
		}
	}
}

// MessagesInto is Messages decoding each message into the one next
// returns (see DecodeTo): those stay valid after the loop, for a caller
// that answers a batch of them together.
func (d *Decoder) MessagesInto(p []byte, next func() *Message) iter.Seq2[*Message, error] {
	return func(yield func(*Message, error) bool) {
		for len(p) > 0 {
			m := next()
			k, ok, err := d.DecodeTo(m, p)
			p = p[k:]
			if err != nil {
				yield(nil, err)
				return
			}
			if !ok || !yield(m, nil) {
				return
			}
		}
	}
}

// Scanner reads messages from a stream, as bufio.Scanner reads lines:
//
//	sc := core.NewScanner(conn)
//	for sc.Scan() {
//		m := sc.Message()
//	}
//	if err := sc.Err(); err != nil { ... }
//
// Its Decoder's limits apply (set them before the first Scan); the zero
// limits are the Decoder's defaults.
type Scanner struct {
	// Decoder decodes the stream; its limits are the Scanner's.
	Decoder Decoder

	r        io.Reader
	buf      []byte
	p        []byte // read, not yet decoded
	msg      *Message
	err      error
	consumed int64
}

// NewScanner returns a Scanner reading r.
func NewScanner(r io.Reader) *Scanner { return &Scanner{r: r} }

// Scan reads until the next message is complete, and reports whether it
// is: false at the end of the stream or on an error (see Err).
func (s *Scanner) Scan() bool {
	if s.buf == nil {
		s.buf = make([]byte, 32<<10)
	}
	for {
		for len(s.p) > 0 {
			k, m, err := s.Decoder.Decode(s.p)
			s.p = s.p[k:]
			s.consumed += int64(k)
			if err != nil {
				s.msg, s.err = nil, err
				return false
			}
			if m != nil {
				s.msg = m
				return true
			}
		}
		if s.err != nil {
			s.msg = nil
			return false
		}
		n, err := s.r.Read(s.buf)
		s.p = s.buf[:n]
		if err != nil {
			s.err = err
		}
	}
}

// Message returns the message the last Scan completed, valid until the
// next Scan.
func (s *Scanner) Message() *Message { return s.msg }

// Err returns the error that ended the scan: nil at the end of a stream
// that ended between messages, ErrTruncated wrapping io.EOF when it ended
// inside one, or the read's or the frame's error.
func (s *Scanner) Err() error {
	switch {
	case s.err == io.EOF && s.Decoder.Partial():
		return ErrTruncated
	case s.err == io.EOF:
		return nil
	}
	return s.err
}

// Consumed returns how many bytes of the stream the messages scanned so
// far took, the last one's included: the offset at which the next one
// begins.
func (s *Scanner) Consumed() int64 { return s.consumed }

// ScanFrames is a bufio.SplitFunc whose tokens are whole frames, checked
// as a Decoder with no content-length limit checks them: for reading
// frames with a bufio.Scanner, whose buffer limit then bounds a frame.
// Until a frame is whole it parses only its header, and copies nothing.
func ScanFrames(data []byte, atEOF bool) (advance int, token []byte, err error) {
	d := Decoder{MaxContentLength: -1}
	var m Message
	n, ok, err := d.decodeDirect(&m, data)
	switch {
	case err != nil:
		return 0, nil, err
	case ok:
		return n, data[:n], nil
	case atEOF && len(data) > 0:
		return 0, nil, ErrTruncated
	}
	return 0, nil, nil
}

var _ bufio.SplitFunc = ScanFrames
