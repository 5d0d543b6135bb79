package natsbridge

import (
	"bytes"
	"errors"
	"testing"

	"github.com/nats-io/nats.go"

	"github.com/msgrouter/router/core"
)

// FuzzDecode feeds decode what a peer on NATS may send: any header value,
// raw or base64, and any data. It must return a message or ErrBadMessage,
// never panic; a message it returns encodes back to a NATS form that
// decodes to the same frame.
func FuzzDecode(f *testing.F) {
	f.Add(`{"byteorder": "little", "content-type": "text/json", "content-encoding": "utf-8", "content-length": 2}`, false, []byte("{}"))
	f.Add(`{"byteorder": "little", "content-type": "binary/x", "content-encoding": "binary", "content-length": 3, "x-id": "7"}`, false, []byte("\x00\x01\x02"))
	f.Add("eyJieXRlb3JkZXIiOiAibGl0dGxlIn0=", true, []byte("abc"))
	f.Add(`{"content-length": -1}`, false, []byte(""))
	f.Add("", false, []byte("x"))
	f.Fuzz(func(t *testing.T, hv string, b64 bool, data []byte) {
		h := nats.Header{}
		if b64 {
			h.Set(HeaderFrameB64, hv)
		} else {
			h.Set(HeaderFrame, hv)
		}
		m, err := decode(h, data)
		if err != nil {
			if !errors.Is(err, ErrBadMessage) {
				t.Fatalf("decode error %v is not ErrBadMessage", err)
			}
			return
		}
		eh, ed, err := encode(m, nil)
		if err != nil {
			return // a decoded message the encoder refuses (e.g. too long a header once re-encoded)
		}
		m2, err := decode(eh, ed)
		if err != nil {
			t.Fatalf("re-decode of encode(decode(x)): %v", err)
		}
		a, _ := core.Marshal(m)
		b, _ := core.Marshal(m2)
		if !bytes.Equal(a, b) {
			t.Fatalf("round trip changed the frame:\n%q\n%q", a, b)
		}
	})
}

// FuzzBatch feeds the batch form's parsers what a peer may send: any
// Router-Batch and Router-Batch-Index values and any data. They return
// frames or ErrBadMessage, never panic; frames they return encode back
// to data that decodes to the same frames.
func FuzzBatch(f *testing.F) {
	two := append(mustFrame(f, "a/b", "one"), mustFrame(f, "text/plain", "two")...)
	f.Add("2", "0", two)
	f.Add("1", "", mustFrame(f, "a/b", ""))
	f.Add("3", "1022", two)
	f.Add("-1", "x", []byte{0, 2, '{', '}'})
	f.Add("", "0", []byte("x"))
	f.Fuzz(func(t *testing.T, count, index string, data []byte) {
		h := nats.Header{}
		h.Set(HeaderBatch, count)
		h.Set(HeaderBatchIndex, index)
		n, first, err := batchHeader(h)
		if err != nil {
			if !errors.Is(err, ErrBadMessage) {
				t.Fatalf("batchHeader error %v is not ErrBadMessage", err)
			}
			return
		}
		if n == 0 {
			if count != "" {
				t.Fatalf("batchHeader(%q, %q): the single form, for a count that is not empty", count, index)
			}
			return // no Router-Batch: the single form
		}
		if n > maxBatch || first < 0 || first+n > maxBatch {
			t.Fatalf("batchHeader(%q, %q) = %d, %d: out of range", count, index, n, first)
		}
		ms, err := decodeFrames(data, n)
		if err != nil {
			if !errors.Is(err, ErrBadMessage) {
				t.Fatalf("decodeFrames error %v is not ErrBadMessage", err)
			}
			return
		}
		var again []byte
		for _, m := range ms {
			b, err := core.AppendFrame(again, m)
			if err != nil {
				return
			}
			again = b
		}
		ms2, err := decodeFrames(again, n)
		if err != nil {
			t.Fatalf("re-decode: %v", err)
		}
		for i := range ms {
			a, _ := core.Marshal(ms[i])
			b, _ := core.Marshal(ms2[i])
			if !bytes.Equal(a, b) {
				t.Fatalf("frame %d changed: %q, %q", i, a, b)
			}
		}
	})
}

func mustFrame(f *testing.F, ct, content string) []byte {
	b, err := core.Marshal(core.NewBinary(ct, []byte(content)))
	if err != nil {
		f.Fatal(err)
	}
	return b
}
