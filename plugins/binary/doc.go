// Package binary is the router's built-in handler for non-JSON requests: it
// answers any request as the reference app-server answers a binary one.
//
// The answer has content-type "binary/custom-server-binary-type",
// content-encoding "binary", and content "First 10 bytes of request: "
// followed by the first 10 bytes of the request's content (all of it when
// it is shorter). The bytes are copied as they are, even when the cut
// falls inside a UTF-8 sequence.
//
// The reference never answers a request with empty content (it tests the
// request for truth before answering); this handler answers it with the
// prefix alone.
package binary
