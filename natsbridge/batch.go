package natsbridge

import (
	"errors"
	"fmt"
	"strconv"

	"github.com/msgrouter/router/core"
	"github.com/nats-io/nats.go"
)

// The batch form: several requests in one NATS message, and their
// answers in one or a few; see "Batches" in the package documentation.
const (
	// HeaderBatch holds the number of requests (or answers) a batch
	// message holds.
	HeaderBatch = "Router-Batch"
	// HeaderBatchIndex holds the index, in its batch, of the first answer
	// a batch answer message holds.
	HeaderBatchIndex = "Router-Batch-Index"
	// headerItemError is the extension header of an error item.
	headerItemError = "router-error"
)

// maxBatch bounds the requests of one batch message.
const maxBatch = 1024

// batchHeaderRoom is what a batch message's NATS headers take, at most,
// of the max payload: its frames may have the rest.
const batchHeaderRoom = 256

// fitting returns how many of n items, item i of size(i) bytes, go in
// one batch message, from the first: at least one, at most maxBatch, and
// no more than limit bytes together unless the first alone is; and their
// size together.
func fitting(n int, size func(i int) int, limit int64) (k, total int) {
	for k < n && k < maxBatch && (k == 0 || int64(total+size(k)) <= limit) {
		total += size(k)
		k++
	}
	return k, total
}

// batchHeader returns the number of items a batch message holds, and the
// index of the first; n is 0 for a message of the single form.
func batchHeader(h nats.Header) (n, first int, err error) {
	v := h.Get(HeaderBatch)
	if v == "" {
		return 0, 0, nil
	}
	n, err = strconv.Atoi(v)
	if err != nil || n < 1 || n > maxBatch {
		return 0, 0, fmt.Errorf("%w: %s %q", ErrBadMessage, HeaderBatch, v)
	}
	if v := h.Get(HeaderBatchIndex); v != "" {
		first, err = strconv.Atoi(v)
		if err != nil || first < 0 || first > maxBatch-n {
			return 0, 0, fmt.Errorf("%w: %s %q", ErrBadMessage, HeaderBatchIndex, v)
		}
	}
	return n, first, nil
}

// decodeFrames decodes the n frames of a batch message's data. The
// messages alias data.
func decodeFrames(data []byte, n int) ([]*core.Message, error) {
	d := core.Decoder{MaxContentLength: -1}
	out := make([]*core.Message, 0, n)
	for len(data) > 0 && len(out) < n {
		m := new(core.Message)
		used, ok, err := d.DecodeTo(m, data)
		switch {
		case err != nil:
			return nil, fmt.Errorf("%w: frame %d: %w", ErrBadMessage, len(out), err)
		case !ok:
			return nil, fmt.Errorf("%w: frame %d: %w", ErrBadMessage, len(out), core.ErrTruncated)
		}
		out = append(out, m)
		data = data[used:]
	}
	if len(out) != n || len(data) != 0 {
		return nil, fmt.Errorf("%w: %d frames and %d bytes more, want %d frames", ErrBadMessage, len(out), len(data), n)
	}
	return out, nil
}

// appendErrorItem appends the error item of code and text to dst.
func appendErrorItem(dst []byte, code, text string) []byte {
	m := core.NewBinary("text/plain", []byte(text))
	m.SetHeader(headerItemError, code)
	out, err := core.AppendFrame(dst, m)
	if err != nil {
		// Only a header over 64 KiB fails, and this one is small.
		panic("natsbridge: error item: " + err.Error())
	}
	return out
}

// itemResult returns what an item of a batch answer says: its answer, or
// the error it carries.
func itemResult(subject string, m *core.Message) (*core.Message, error) {
	code, ok := m.Header(headerItemError)
	if !ok {
		return m, nil
	}
	if code == codeTooLarge {
		return nil, fmt.Errorf("%w: answer from %s: %s", ErrTooLarge, subject, m.Content)
	}
	return nil, &RemoteError{Subject: subject, Code: code, Text: string(m.Content)}
}

// errNoReply: a batch answer does not match the batch it answers.
var errNoReply = errors.New("natsbridge: batch answer out of range")
