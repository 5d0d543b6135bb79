// Package echo is the router's built-in echo handler: the answer carries the
// request's content, content-type, content-encoding and byteorder
// unchanged. It is useful to test a route table, a client or the wire
// path, and the default config routes the action "echo" to it.
//
// Extension headers are not copied: they describe the request (for
// example "connection": "close"), and the server sets the answer's own.
package echo
