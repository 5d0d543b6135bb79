package core

import (
	"bytes"
	"testing"
)

var canonFrame = wireFrame(`{"byteorder": "little", "content-type": "text/json", "content-encoding": "utf-8", "content-length": 41, "request-id": "r1", "n": 12}`,
	`{"action": "search", "value": "morpheus"}`)

func wireFrame(header, content string) []byte {
	return append(append([]byte{byte(len(header) >> 8), byte(len(header))}, header...), content...)
}

// decodeWhole decodes b, a frame, in pieces of step bytes.
func decodeWhole(t testing.TB, b []byte, step int) *Message {
	var d Decoder
	m := new(Message)
	for len(b) > 0 {
		k := min(step, len(b))
		n, ok, err := d.DecodeTo(m, b[:k])
		if err != nil {
			t.Fatal(err)
		}
		b = b[n:]
		if ok {
			return m
		}
	}
	t.Fatal("no frame")
	return nil
}

// A frame in the encoder's layout is kept, and written again as it is,
// until the message changes; then the message is encoded. Either way the
// bytes are the encoder's.
func TestFrame(t *testing.T) {
	fixedLen := func(m *Message) { m.Content = append([]byte(nil), m.Content...) }
	for _, tc := range []struct {
		name   string
		change func(*Message)
		kept   bool
	}{
		{"unchanged", func(*Message) {}, true},
		{"content-type", func(m *Message) { m.ContentType = "text/plain" }, false},
		{"byteorder empty", func(m *Message) { m.ByteOrder = "" }, false},
		{"byteorder big", func(m *Message) { m.ByteOrder = ByteOrderBig }, false},
		{"encoding", func(m *Message) { m.ContentEncoding = "binary" }, false},
		{"content copied", fixedLen, false},
		{"content shorter", func(m *Message) { m.Content = m.Content[:3] }, false},
		{"header value copied", func(m *Message) { m.Headers[1].Value = []byte("12") }, true},
		{"header set again, so moved last", func(m *Message) { m.SetHeader("request-id", "r1") }, false},
		{"header changed", func(m *Message) { m.SetHeader("request-id", "r2") }, false},
		{"header deleted", func(m *Message) { m.DelHeader("n") }, false},
		{"header added", func(m *Message) { m.SetHeader("x", "y") }, false},
		{"key changed", func(m *Message) { m.Headers[0].Key = "request-ie" }, false},
		{"key quoted", func(m *Message) { m.Headers[0].Key = `request-id": "r1", "n` }, false},
		{"headers swapped", func(m *Message) { m.Headers[0], m.Headers[1] = m.Headers[1], m.Headers[0] }, false},
		{"reset", func(m *Message) { m.Reset() }, false},
	} {
		for _, step := range []int{len(canonFrame), 1, 50} {
			frame := bytes.Clone(canonFrame)
			m := decodeWhole(t, frame, step)
			tc.change(m)
			if got := m.Frame() != nil; got != tc.kept {
				t.Errorf("%s, read by %d: frame kept %v, want %v", tc.name, step, got, tc.kept)
			}
			for _, extra := range [][]Header{nil, {{Key: "request-id", Value: []byte(`"r9"`)}}} {
				want, werr := appendFrameEncoded([]byte("x"), m, extra)
				got, err := AppendFrameWith([]byte("x"), m, extra...)
				if !bytes.Equal(got, want) || (err == nil) != (werr == nil) {
					t.Errorf("%s, read by %d, extra %v:\n got %q, %v\nwant %q, %v", tc.name, step, extra, got, err, want, werr)
				}
			}
		}
	}
}

// A frame in another layout is not kept: the answer is encoded.
func TestFrameOtherLayout(t *testing.T) {
	for _, b := range [][]byte{
		wireFrame(`{"byteorder":"little","content-type":"text/json","content-encoding":"utf-8","content-length":2}`, "{}"),
		wireFrame(`{"byteorder": "little", "content-type": "text/json", "content-encoding": "utf-8", "content-length": 2 }`, "{}"),
		wireFrame(`{"content-type": "text/json", "byteorder": "little", "content-encoding": "utf-8", "content-length": 2}`, "{}"),
	} {
		m := decodeWhole(t, b, len(b))
		if m.Frame() != nil {
			t.Errorf("%q: frame kept", b)
		}
	}
}

// Copying a kept frame allocates nothing either.
func TestFrameAllocs(t *testing.T) {
	m := decodeWhole(t, canonFrame, len(canonFrame))
	dst := make([]byte, 0, 1024)
	extra := []Header{{Key: "request-id", Value: []byte(`"r9"`)}}
	if n := testing.AllocsPerRun(100, func() { AppendFrameWith(dst[:0], m, extra...) }); n != 0 {
		t.Errorf("%v allocations", n)
	}
}

// FuzzFrame: whatever a frame, AppendFrameWith writes for the message
// decoded from it what the encoder writes, kept frame or not.
func FuzzFrame(f *testing.F) {
	f.Add(canonFrame, "request-id", "\"r9\"")
	f.Add(canonFrame, "", "")
	f.Fuzz(func(t *testing.T, b []byte, key, value string) {
		var d Decoder
		d.MaxContentLength = -1
		m := new(Message)
		if _, ok, err := d.DecodeTo(m, b); err != nil || !ok {
			return
		}
		var extra []Header
		if key != "" {
			extra = []Header{{Key: key, Value: []byte(value)}}
		}
		want, werr := appendFrameEncoded(nil, m, extra)
		got, err := AppendFrameWith(nil, m, extra...)
		if !bytes.Equal(got, want) || (err == nil) != (werr == nil) {
			t.Fatalf("got %q, %v\nwant %q, %v", got, err, want, werr)
		}
		if f := m.Frame(); f != nil && !bytes.Equal(f, b[:len(f)]) {
			t.Fatalf("frame %q is not the input's", f)
		}
	})
}
