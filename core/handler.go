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
// (echo does), and may be lent from a pool of the handler's (see
// Message.Lend): the Server releases it once written.
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

// RouteNamer is an optional interface for a Server's Handler that routes
// requests, such as a Mux: at debug level, the Server's log line of each
// answered request names the route that took it. RouteName is called
// only then, after the request is answered, and returns "" when no route
// takes req.
type RouteNamer interface {
	RouteName(req *Message) string
}

// Call calls h.Handle as the Server does: a panic becomes a *PanicError,
// which wraps ErrHandlerPanic, and a nil answer without an error becomes
// ErrNoAnswer. A program that runs handlers outside a Server, such as a
// plugin process, calls it too.
func Call(ctx context.Context, h Handler, req *Message) (ans *Message, err error) {
	defer func() {
		if r := recover(); r != nil {
			ans, err = nil, &PanicError{Value: r, Stack: debug.Stack()}
		}
	}()
	ans, err = h.Handle(ctx, req)
	if ans == nil && err == nil {
		err = ErrNoAnswer
	}
	return ans, err
}

// CallBatch calls h with the requests reqs as the Server does a batch of
// one client read: h.HandleBatch if h is a BatchHandler, else h.Handle
// for each request in turn, each through Call. A panic in HandleBatch
// becomes a *PanicError for every request left without an answer or
// error, and a request left with neither gets ErrNoAnswer. answers and
// errs must be at least as long as reqs.
func CallBatch(ctx context.Context, h Handler, reqs, answers []*Message, errs []error) {
	if bh, ok := h.(BatchHandler); ok && len(reqs) > 1 {
		handleBatchSafe(ctx, bh, reqs, answers, errs)
		return
	}
	for i, req := range reqs {
		answers[i], errs[i] = Call(ctx, h, req)
	}
}

// handleBatchSafe calls h.HandleBatch; after a panic, every request left
// without an answer or error gets an ErrHandlerPanic error.
func handleBatchSafe(ctx context.Context, h BatchHandler, reqs, answers []*Message, errs []error) {
	defer func() {
		if r := recover(); r != nil {
			err := &PanicError{Value: r, Stack: debug.Stack()}
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

// PanicError is a recovered handler panic. Its text, ErrHandlerPanic and
// the panic's value, may go on the wire; Stack goes only to the log.
type PanicError struct {
	Value any    // what the handler panicked with
	Stack []byte // the panicking goroutine's stack
}

// Error returns "core: handler panicked: VALUE".
func (e *PanicError) Error() string { return fmt.Sprintf("%v: %v", ErrHandlerPanic, e.Value) }

// Unwrap returns ErrHandlerPanic.
func (e *PanicError) Unwrap() error { return ErrHandlerPanic }
