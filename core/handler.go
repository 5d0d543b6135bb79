package core

import "context"

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
