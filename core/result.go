package core

import (
	"context"
	"errors"
)

// Result is how a request ended, as the Server's debug log and the
// router's metrics classify it.
type Result uint8

// The results, in the order of their values.
const (
	// ResultOK: a handler answered.
	ResultOK Result = iota
	// ResultError: a handler returned an error, or panicked, or the
	// request was refused.
	ResultError
	// ResultTimeout: the handler timeout passed (ErrHandlerTimeout,
	// context.DeadlineExceeded).
	ResultTimeout
	// ResultCanceled: the request's context was canceled
	// (context.Canceled).
	ResultCanceled
	// ResultNoRoute: no route took the request (ErrNoRoute).
	ResultNoRoute
)

var resultNames = [...]string{"ok", "error", "timeout", "canceled", "no_route"}

// String returns the result's name: "ok", "error", "timeout", "canceled"
// or "no_route".
func (r Result) String() string {
	if int(r) < len(resultNames) {
		return resultNames[r]
	}
	return "unknown"
}

// ResultOf classifies the error a request was answered with (nil:
// ResultOK).
func ResultOf(err error) Result {
	switch {
	case err == nil:
		return ResultOK
	case errors.Is(err, ErrNoRoute):
		return ResultNoRoute
	case errors.Is(err, context.DeadlineExceeded) || errors.Is(err, ErrHandlerTimeout):
		return ResultTimeout
	case errors.Is(err, context.Canceled):
		return ResultCanceled
	}
	return ResultError
}
