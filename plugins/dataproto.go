package plugins

import (
	"errors"
	"fmt"
	"math"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/msgrouter/router/core"
)

// The data protocols, as a plugin names the one it speaks in its Describe
// answer: 1 frames requests and answers with the router's extension
// headers (router-id and the others, see wire.go); 2 wraps them in binary
// envelopes (see envelope.go). The router offers the ones it speaks in
// envDataProtocols; a plugin that knows the variable picks one of them,
// and one that does not speaks 1.
const (
	dataProtocolHeaders  = 1
	dataProtocolEnvelope = 2
)

// envDataProtocols names the variable in which the router offers the data
// protocols it speaks, comma-separated.
const envDataProtocols = "ROUTER_PLUGIN_DATA_PROTOCOLS"

// offeredProtocols is what a router offers in envDataProtocols.
const offeredProtocols = "1,2"

// dataProtocolFromEnv returns the data protocol a plugin process speaks:
// the newest the router offers, 1 if it offers none this plugin knows.
func dataProtocolFromEnv() int {
	for p := range strings.SplitSeq(os.Getenv(envDataProtocols), ",") {
		if strings.TrimSpace(p) == strconv.Itoa(dataProtocolEnvelope) {
			return dataProtocolEnvelope
		}
	}
	return dataProtocolHeaders
}

// maxAnswerBody bounds the body of an answer's envelope, for an answer
// content limit of maxAnswer (Config.MaxAnswerLength, -1 for none): the
// largest frame, or an error text, whichever is larger.
func maxAnswerBody(maxAnswer int64) int64 {
	if maxAnswer < 0 || maxAnswer > math.MaxUint32 {
		return math.MaxUint32
	}
	return max(2+core.MaxHeaderLength+maxAnswer, 2*maxErrorText)
}

// appendRequestFrames appends reqs, for h, as data protocol 1 frames with
// the router's headers; the indices of those that cannot be encoded go to
// encodeErrs.
func appendRequestFrames(dst []byte, h *remoteHandler, reqs []*core.Message, first uint64, dl time.Time, hasDeadline bool, encodeErrs *[]int) []byte {
	var deadline []byte
	if hasDeadline {
		deadline = strconv.AppendInt(nil, dl.UnixNano(), 10)
	}
	var idBuf [20]byte
	extra := [3]core.Header{{Key: hdrID}, {Key: hdrHandler, Value: h.nameJSON}, {Key: hdrDeadline, Value: deadline}}
	nextra := 2
	if deadline != nil {
		nextra = 3
	}
	for i, req := range reqs {
		extra[0].Value = strconv.AppendUint(idBuf[:0], first+uint64(i), 10)
		out, err := core.AppendFrameWith(dst, req, extra[:nextra]...)
		if err != nil {
			*encodeErrs = append(*encodeErrs, i)
			continue
		}
		dst = out
	}
	return dst
}

// appendEnvelopes appends reqs, for h, in data protocol 2's envelopes:
// each request's frame as it was read, when it is unchanged (see
// core.Message.Frame), else encoded.
func (c *dataClient) appendEnvelopes(dst []byte, h *remoteHandler, reqs []*core.Message, first uint64, dl time.Time, hasDeadline bool, encodeErrs *[]int) []byte {
	var deadline int64
	if hasDeadline {
		deadline = max(dl.UnixNano(), 1) // 0 says none
	}
	for i, req := range reqs {
		start := len(dst)
		out, ok := appendRequestHead(dst, first+uint64(i), deadline, h.name)
		if ok {
			out, err := core.AppendFrame(out, req)
			if err == nil && setEnvLength(out, start) {
				dst = out
				continue
			}
		}
		dst = dst[:start]
		*encodeErrs = append(*encodeErrs, i)
	}
	return dst
}

// decodeEnvelopes decodes the answers of data protocol 2 in p into a.
// An answer's frame is decoded, which checks it as a client's request is
// checked (lengths, the header's JSON, content-length against the
// limit), and keeps it as the answer's wire form: the Server writes it to
// the client as it is (see core.Message.Frame).
func (c *dataClient) decodeEnvelopes(p []byte, a *answerAlloc) error {
	err := c.env.feed(p, func(e envelope) error {
		switch e.kind {
		case envAnswer:
			m := a.next()
			n, ok, err := c.dec.DecodeTo(m, e.body)
			if err != nil {
				return fmt.Errorf("%w: bad frame from plugin: %w", errProtocol, err)
			}
			if !ok || n != len(e.body) {
				return fmt.Errorf("%w: bad frame from plugin: the envelope's %d bytes are not one whole frame", errProtocol, len(e.body))
			}
			a.lend(m)
			a.results = append(a.results, answerResult{id: e.id, ans: m})
		case envError:
			a.results = append(a.results, answerResult{id: e.id, err: answerError(e.body)})
		default:
			return fmt.Errorf("%w: envelope of kind %d from plugin", errProtocol, e.kind)
		}
		return nil
	})
	if errors.Is(err, errEnvelope) {
		err = fmt.Errorf("%w: %w", errProtocol, err)
	}
	return err
}
