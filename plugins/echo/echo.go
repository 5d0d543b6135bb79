package echo

import (
	"context"

	"github.com/msgrouter/router/core"
)

// Handler answers every request with the request itself. The zero Handler
// is ready to use and it is safe for concurrent use.
type Handler struct{}

var _ core.Handler = (*Handler)(nil)

// New returns a Handler.
func New() *Handler { return new(Handler) }

// Handle answers req with its own content, content-type, content-encoding
// and byteorder. It never fails and never blocks.
//
// The answer's Content aliases req.Content rather than copying it: the
// server writes the answer before it reuses the request's buffer (see
// core.Message). A caller that keeps the answer longer must Clone it.
func (*Handler) Handle(_ context.Context, req *core.Message) (*core.Message, error) {
	return &core.Message{
		ByteOrder:       req.ByteOrder,
		ContentType:     req.ContentType,
		ContentEncoding: req.ContentEncoding,
		Content:         req.Content,
	}, nil
}
