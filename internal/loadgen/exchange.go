package loadgen

import (
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"syscall"

	"github.com/msgrouter/router/core"
)

// exchanged is what one exchange did: the bytes written and read, the
// answers read, the error answers' errors (only the first is kept, with
// the count as length), and a failure with its kind.
type exchanged struct {
	sent, recv, answered int
	errAnswers           []error
	kind                 string
	err                  error
}

// errSurplus: the server answered more than it was asked.
var errSurplus = errors.New("more answers than requests sent")

// failed returns ex with the failure err of kind.
func (ex *exchanged) failed(kind string, err error) exchanged {
	ex.kind, ex.err = kind, err
	return *ex
}

// exchange writes batch, depth requests, and reads their answers. Bytes
// beyond the depth-th answer are a KindInvalid failure: the server
// answered more than it was asked, and the answers that follow could no
// longer be told apart.
func exchange(c net.Conn, d *core.Decoder, batch []byte, depth int, buf []byte) (ex exchanged) {
	n, err := c.Write(batch)
	ex.sent = n
	if err != nil {
		return ex.failed(ioKind(err), err)
	}
	for ex.answered < depth {
		n, rerr := c.Read(buf)
		ex.recv += n
		for m, derr := range d.Messages(buf[:n]) {
			if derr != nil {
				return ex.failed(KindInvalid, fmt.Errorf("invalid answer: %w", derr))
			}
			if ex.answered == depth {
				return ex.failed(KindInvalid, errSurplus)
			}
			if aerr := core.AnswerError(m); aerr != nil {
				if ex.errAnswers == nil {
					ex.errAnswers = []error{aerr}
				} else {
					ex.errAnswers = append(ex.errAnswers, ex.errAnswers[0])
				}
			}
			ex.answered++
		}
		if ex.answered == depth && d.Partial() {
			return ex.failed(KindInvalid, errSurplus)
		}
		if rerr != nil && ex.answered < depth {
			if errors.Is(rerr, io.EOF) {
				return ex.failed(KindClosed, fmt.Errorf("connection closed after %d of %d answers", ex.answered, depth))
			}
			return ex.failed(ioKind(rerr), rerr)
		}
	}
	return ex
}

// ioKind is the error kind of a failed read or write.
func ioKind(err error) string {
	var ne net.Error
	switch {
	case errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.EPIPE):
		return KindReset
	case errors.Is(err, os.ErrDeadlineExceeded), errors.As(err, &ne) && ne.Timeout():
		return KindTimeout
	case errors.Is(err, io.EOF):
		return KindClosed
	}
	return KindIO
}
