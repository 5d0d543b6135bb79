package core

import (
	"context"
	"fmt"
	"runtime/debug"
)

// Handler answers one request. The same interface is implemented by
// in-process handlers, by plugin clients and by the Mux.
//
// ctx carries the deadline and cancellation the Server enforces (the
// handler timeout, shutdown); a handler should return promptly once it is
// done. An error becomes the answer {"error": err.Error()} for this request
// only: the connection stays usable.
//
// The request is owned by the caller and valid until Handle returns and its
// answer has been written; see Message. The answer may alias the request
// (echo does).
type Handler interface {
	Handle(ctx context.Context, req *Message) (*Message, error)
}

// HandlerFunc adapts a function to the Handler interface.
type HandlerFunc func(ctx context.Context, req *Message) (*Message, error)

// Handle calls f(ctx, req).
func (f HandlerFunc) Handle(ctx context.Context, req *Message) (*Message, error) {
	return f(ctx, req)
}

// BatchHandler is an optional interface for handlers that answer several
// requests more cheaply together than one at a time, such as a plugin
// that sends them to its process in one write. The Server hands it all the
// requests decoded from one read, in order, when there are several.
//
// HandleBatch must set answers[i] or errs[i] for every i; the three slices
// have the same length. It must not keep the slices after it returns.
type BatchHandler interface {
	Handler
	HandleBatch(ctx context.Context, reqs []*Message, answers []*Message, errs []error)
}

// handleSafe calls h, turning a panic into an ErrHandlerPanic error and a
// nil answer into ErrNoAnswer.
func handleSafe(ctx context.Context, h Handler, req *Message) (ans *Message, err error) {
	defer func() {
		if r := recover(); r != nil {
			ans, err = nil, &panicError{value: r, stack: debug.Stack()}
		}
	}()
	ans, err = h.Handle(ctx, req)
	if ans == nil && err == nil {
		err = ErrNoAnswer
	}
	return ans, err
}

// handleBatchSafe calls h.HandleBatch; after a panic, every request left
// without an answer or error gets an ErrHandlerPanic error.
func handleBatchSafe(ctx context.Context, h BatchHandler, reqs, answers []*Message, errs []error) {
	defer func() {
		if r := recover(); r != nil {
			err := &panicError{value: r, stack: debug.Stack()}
			for i := range reqs {
				if answers[i] == nil && errs[i] == nil {
					errs[i] = err
				}
			}
		}
	}()
	h.HandleBatch(ctx, reqs, answers, errs)
	for i := range reqs {
		if answers[i] == nil && errs[i] == nil {
			errs[i] = ErrNoAnswer
		}
	}
}

// panicError is a recovered handler panic. Its text goes on the wire; the
// stack goes only to the log.
type panicError struct {
	value any
	stack []byte
}

func (e *panicError) Error() string { return fmt.Sprintf("%v: %v", ErrHandlerPanic, e.value) }
func (e *panicError) Unwrap() error { return ErrHandlerPanic }
