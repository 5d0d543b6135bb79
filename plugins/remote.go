package plugins

import (
	"context"

	"github.com/msgrouter/router/core"
)

// remoteHandler is the core.Handler for one handler of a plugin.
type remoteHandler struct {
	p        *Process
	name     string
	nameJSON []byte
}

var _ core.BatchHandler = (*remoteHandler)(nil)

func (h *remoteHandler) Handle(ctx context.Context, req *core.Message) (*core.Message, error) {
	var ans [1]*core.Message
	var errs [1]error
	h.HandleBatch(ctx, []*core.Message{req}, ans[:], errs[:])
	return ans[0], errs[0]
}

func (h *remoteHandler) HandleBatch(ctx context.Context, reqs, answers []*core.Message, errs []error) {
	inst, err := h.p.enter(ctx, len(reqs))
	if err != nil {
		for i := range errs {
			errs[i] = err
		}
		return
	}
	defer h.p.leave(len(reqs))
	inst.data.do(ctx, h, reqs, answers, errs)
}
