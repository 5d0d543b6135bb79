package natsbridge

import (
	"errors"

	"github.com/msgrouter/router/core"
)

// The kinds of outcome of a request over NATS, as Kind names them: the
// values of the result label of the router's NATS metrics.
const (
	KindOK           = "ok"           // answered
	KindError        = "error"        // the worker's handler, or the encoding, failed
	KindNoWorkers    = "no_workers"   // no worker serves the subject (ErrNoWorkers)
	KindTimeout      = "timeout"      // no answer by the deadline, here or at the worker
	KindTooLarge     = "too_large"    // over the max payload (ErrTooLarge)
	KindDisconnected = "disconnected" // the NATS connection is down (ErrDisconnected)
	KindCanceled     = "canceled"     // the client went away first
)

// Kinds lists every kind Kind returns.
var Kinds = []string{KindOK, KindError, KindNoWorkers, KindTimeout, KindTooLarge, KindDisconnected, KindCanceled}

// Kind classifies the error of a Handler's request, or of a Service's
// handler: KindOK for nil.
func Kind(err error) string {
	switch {
	case err == nil:
		return KindOK
	case errors.Is(err, ErrNoWorkers):
		return KindNoWorkers
	case errors.Is(err, ErrTooLarge):
		return KindTooLarge
	case errors.Is(err, ErrDisconnected):
		return KindDisconnected
	}
	switch core.ResultOf(err) {
	case core.ResultTimeout:
		return KindTimeout
	case core.ResultCanceled:
		return KindCanceled
	}
	return KindError
}
