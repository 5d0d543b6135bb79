package natsbridge

import (
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/msgrouter/router/core"
	"github.com/nats-io/nats.go"
)

// NATS header names of the wire mapping; see the package documentation.
const (
	// HeaderFrame holds the frame's JSON header, raw.
	HeaderFrame = "Router-Header"
	// HeaderFrameB64 holds the frame's JSON header in base64, when it has
	// bytes that are not printable ASCII.
	HeaderFrameB64 = "Router-Header-B64"
	// HeaderTimeout holds the milliseconds left before the request's
	// deadline.
	HeaderTimeout = "Router-Timeout"
)

// Error codes of error answers (Nats-Service-Error-Code).
const (
	codeBadRequest = "400"
	codeTooLarge   = "413"
	codeHandler    = "500"
	codeTimeout    = "504"
)

// Errors of this package. Each is returned wrapped with detail (the
// subject, the cause); test for them with errors.Is.
var (
	// ErrNoWorkers: no worker serves the subject (NATS has no responders).
	// It is returned at once, as "no workers for SUBJECT".
	ErrNoWorkers = errors.New("no workers")
	// ErrTooLarge: a request or an answer is over the NATS server's max
	// payload.
	ErrTooLarge = errors.New("message over the NATS max payload")
	// ErrDisconnected: the NATS connection is down (reconnecting, draining
	// or closed). It is returned at once, not after the request's timeout.
	ErrDisconnected = errors.New("NATS connection down")
	// ErrBadMessage: a NATS message does not hold a router message (no
	// Router-Header, bad base64, or a header the decoder rejects).
	ErrBadMessage = errors.New("natsbridge: malformed message")
	// ErrRemote: the worker's handler returned an error; see RemoteError.
	ErrRemote = errors.New("natsbridge: worker handler error")
)

// RemoteError is the error a worker's handler returned, as the Handler
// receives it. Error returns the worker's error text unchanged, so the
// client's {"error": ...} answer is the one a local handler would give.
type RemoteError struct {
	Subject string // the subject the request was sent to
	Code    string // the Nats-Service-Error-Code, e.g. "500"
	Text    string // the handler's error text
}

// Error returns the worker's error text.
func (e *RemoteError) Error() string { return e.Text }

// Unwrap returns ErrRemote, and core.ErrHandlerTimeout when the worker's
// handler timed out (code 504).
func (e *RemoteError) Unwrap() []error {
	if e.Code == codeTimeout {
		return []error{ErrRemote, core.ErrHandlerTimeout}
	}
	return []error{ErrRemote}
}

// encode returns the NATS form of m: its JSON header in the NATS header,
// its content as the data (aliased, not copied). buf is scratch space for
// the frame; the returned message does not alias it.
func encode(m *core.Message, buf []byte) (nats.Header, []byte, error) {
	frame, err := core.AppendFrame(buf[:0], m)
	if err != nil {
		return nil, nil, err
	}
	hlen := int(binary.BigEndian.Uint16(frame))
	hdr := frame[2 : 2+hlen]
	h := make(nats.Header, 2)
	if printable(hdr) {
		h[HeaderFrame] = []string{string(hdr)}
	} else {
		h[HeaderFrameB64] = []string{base64.StdEncoding.EncodeToString(hdr)}
	}
	return h, m.Content, nil
}

// printable reports whether every byte of b is printable ASCII.
func printable(b []byte) bool {
	for _, c := range b {
		if c < 0x20 || c > 0x7e {
			return false
		}
	}
	return true
}

// decode rebuilds the message whose NATS form is h and data. The message
// does not alias data.
func decode(h nats.Header, data []byte) (*core.Message, error) {
	var hdr []byte
	if v := h.Get(HeaderFrame); v != "" {
		hdr = []byte(v)
	} else if v := h.Get(HeaderFrameB64); v != "" {
		b, err := base64.StdEncoding.DecodeString(v)
		if err != nil {
			return nil, fmt.Errorf("%w: %s: %w", ErrBadMessage, HeaderFrameB64, err)
		}
		hdr = b
	} else {
		return nil, fmt.Errorf("%w: no %s header", ErrBadMessage, HeaderFrame)
	}
	if len(hdr) > core.MaxHeaderLength {
		return nil, fmt.Errorf("%w: header of %d bytes", ErrBadMessage, len(hdr))
	}
	frame := make([]byte, 2, 2+len(hdr)+len(data))
	binary.BigEndian.PutUint16(frame, uint16(len(hdr)))
	frame = append(append(frame, hdr...), data...)
	m, err := core.Unmarshal(frame)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBadMessage, err)
	}
	return m, nil
}
