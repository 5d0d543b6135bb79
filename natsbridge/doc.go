// Package natsbridge carries router requests over NATS, so that handlers
// can run on other machines: a [Handler] is a core.Handler that sends each
// request to a NATS subject and returns the answer, and a [Service] is a
// NATS micro service whose endpoints, one per subject in a queue group,
// serve core.Handlers. A [Client] matches the answers of its Handlers'
// requests over one connection. It knows nothing of config: the router
// and `router worker` build these from theirs.
//
// # Wire mapping
//
// A request sent alone, and its answer, each travel as one NATS message
// (the single form; under load, requests travel together in the batch
// form described below):
//
//   - the frame's JSON header, exactly the bytes core.AppendFrame writes
//     (required keys in the reference order, extension headers in order),
//     in the NATS header Router-Header, raw when every byte is printable
//     ASCII, otherwise base64 (standard, padded) in Router-Header-B64
//     (NATS header values may not hold CR or LF and should be ASCII);
//   - the content, byte for byte, as the NATS data.
//
// The receiver rebuilds the frame (2-byte length, header, data) and decodes
// it with core.Unmarshal, so a content-length that disagrees with the data
// is an error. Because the router re-encodes the decoded answer with the
// same encoder, the client receives byte for byte what it would get if the
// worker's handler ran in the router.
//
// A request also carries Router-Timeout, the milliseconds left before its
// deadline; the worker gives its handler a context with that timeout.
//
// An error answer uses the micro convention: the NATS headers
// Nats-Service-Error and Nats-Service-Error-Code, with the handler's error
// text, byte for byte, as the data. The Handler returns a [*RemoteError]
// whose Error() is that text, so the client sees the same {"error": ...}
// answer as from a local plugin. Codes: 500 handler error, 504 handler
// timed out (the RemoteError also matches core.ErrHandlerTimeout), 413
// answer over the max payload ([ErrTooLarge]), 400 a request the worker
// could not decode.
//
// # Batches
//
// Pipelined requests of one client read, and the requests that queue up
// while a Handler has Handler.MaxOutstanding messages awaiting answers,
// travel together: one NATS message with the header Router-Batch (their
// number) and Router-Timeout, whose data is their frames, one after
// another, as core.AppendFrame writes them. The worker answers them in
// one or more messages with Router-Batch and Router-Batch-Index (the
// index of the first answer in the message), whose data is the answers'
// frames in order; a request that failed has a frame with the extension
// header "router-error" (the error code, as above) and the error text as
// its content. A batch goes to one worker, which hands its requests to
// the handler in batches of at most half of Config.MaxInFlight (to a
// plugin process, each in one write), every request taking one of the
// MaxInFlight places, so that the limit holds. NATS
// then does its per-message work (routing, delivery, micro's statistics)
// once per batch: micro counts a batch as one request.
package natsbridge
