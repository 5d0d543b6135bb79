package binary

import (
	"context"

	"github.com/msgrouter/router/core"
)

// ContentType is the content-type of every answer.
const ContentType = "binary/custom-server-binary-type"

// Prefix starts the content of every answer.
const Prefix = "First 10 bytes of request: "

// headLen is how many bytes of the request the answer repeats.
const headLen = 10

// Handler answers every request with the first bytes of its content. The
// zero Handler is ready to use and it is safe for concurrent use.
type Handler struct{}

var _ core.Handler = (*Handler)(nil)

// New returns a Handler.
func New() *Handler { return new(Handler) }

// answer holds the message and its content in one allocation: the content
// is at most len(Prefix)+headLen bytes, known at compile time.
type answer struct {
	msg core.Message
	buf [len(Prefix) + headLen]byte
}

// Handle answers req; see the package documentation. It never fails, never
// blocks, and the answer does not alias req.
func (*Handler) Handle(_ context.Context, req *core.Message) (*core.Message, error) {
	head := req.Content
	if len(head) > headLen {
		head = head[:headLen]
	}
	a := new(answer)
	n := copy(a.buf[:], Prefix)
	n += copy(a.buf[n:], head)
	a.msg.ContentType = ContentType
	a.msg.ContentEncoding = core.EncodingBinary
	a.msg.Content = a.buf[:n:n]
	return &a.msg, nil
}
