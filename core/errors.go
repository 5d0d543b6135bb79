package core

import "errors"

// Errors returned by the codec, the Mux, the Server and the Client. Frame
// errors (those a Decoder returns) leave the stream out of sync; the Server
// answers them with {"error": ...} and closes that connection. They are
// wrapped with detail; test for them with errors.Is.
var (
	// ErrHeaderLength: the 2-byte header length is 0 or above the limit.
	ErrHeaderLength = errors.New("core: invalid header length")
	// ErrHeaderNotUTF8: the JSON header is not valid UTF-8.
	ErrHeaderNotUTF8 = errors.New("core: header is not valid UTF-8")
	// ErrHeaderSyntax: the JSON header is not valid JSON.
	ErrHeaderSyntax = errors.New("core: header is not valid JSON")
	// ErrHeaderNotObject: the JSON header is valid JSON but not an object.
	ErrHeaderNotObject = errors.New("core: header is not a JSON object")
	// ErrMissingField: a required header key is absent.
	ErrMissingField = errors.New("core: required header missing")
	// ErrFieldType: a required header key has the wrong type or value.
	ErrFieldType = errors.New("core: invalid header value")
	// ErrContentTooLarge: content-length is above the configured limit.
	ErrContentTooLarge = errors.New("core: content-length above limit")
	// ErrHeaderTooLarge: an encoded header would not fit in 65535 bytes.
	ErrHeaderTooLarge = errors.New("core: encoded header longer than 65535 bytes")
	// ErrTruncated: the stream ended inside a message.
	ErrTruncated = errors.New("core: connection closed inside a message")

	// ErrNotJSON: JSON content was asked of a message that is not JSON.
	ErrNotJSON = errors.New("core: content-type is not JSON")
	// ErrBadContent: JSON content is not a valid JSON object.
	ErrBadContent = errors.New("core: invalid JSON content")
	// ErrNoRoute: no route of the Mux matches the request.
	ErrNoRoute = errors.New("core: no route for request")
	// ErrNoAnswer: a handler returned neither an answer nor an error.
	ErrNoAnswer = errors.New("core: handler returned no answer")
	// ErrHandlerPanic: a handler panicked; the Server recovered.
	ErrHandlerPanic = errors.New("core: handler panicked")
	// ErrHandlerTimeout: a handler did not answer within its timeout.
	ErrHandlerTimeout = errors.New("core: handler timed out")

	// ErrServerClosed is returned by Serve after Shutdown or Close.
	ErrServerClosed = errors.New("core: server closed")
	// ErrTooManyConnections is sent to a client over the connection limit.
	ErrTooManyConnections = errors.New("core: too many connections")
	// ErrShuttingDown is the error answer to a request that arrives once
	// Shutdown has answered all those its connection had.
	ErrShuttingDown = errors.New("core: server shutting down")
	// ErrReadTimeout: a client stopped sending in the middle of a message.
	ErrReadTimeout = errors.New("core: read timeout inside a message")
	// ErrClientClosed is returned by Client.Do after Close, or once the
	// connection is lost.
	ErrClientClosed = errors.New("core: client closed")
	// ErrBadAddress: a listen or dial address cannot be parsed.
	ErrBadAddress = errors.New("core: invalid address")
)
