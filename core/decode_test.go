package core

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"
)

// frameOf builds a frame from a raw JSON header and content, with the
// 2-byte big-endian header length in front.
func frameOf(header, content string) []byte {
	b := make([]byte, 0, 2+len(header)+len(content))
	b = append(b, byte(len(header)>>8), byte(len(header)))
	b = append(b, header...)
	return append(b, content...)
}

// hdr builds a spaced reference header with the four required keys and
// optional extra raw members appended (each "key": value text).
func hdr(byteorder, ctype, enc string, clen int, extra ...string) string {
	s := fmt.Sprintf(`{"byteorder": %q, "content-type": %q, "content-encoding": %q, "content-length": %d`, byteorder, ctype, enc, clen)
	for _, e := range extra {
		s += ", " + e
	}
	return s + "}"
}

func golden(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile("testdata/golden/" + name)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// feed decodes p in calls of Decode until p is consumed or an error
// occurs, appending clones of the decoded messages to out.
func feed(d *Decoder, p []byte, out []*Message) ([]*Message, error) {
	for len(p) > 0 {
		n, m, err := d.Decode(p)
		if err != nil {
			return out, err
		}
		if n < 0 || n > len(p) {
			return out, fmt.Errorf("Decode consumed %d of %d bytes", n, len(p))
		}
		if m != nil {
			out = append(out, m.Clone())
		} else if n == 0 {
			return out, fmt.Errorf("Decode made no progress with %d bytes left", len(p))
		} else if n != len(p) {
			return out, fmt.Errorf("Decode returned no message but consumed only %d of %d bytes", n, len(p))
		}
		p = p[n:]
	}
	return out, nil
}

// msgDiff describes how a and b differ, or returns "" when they are equal
// in every field the protocol carries.
func msgDiff(a, b *Message) string {
	var d []string
	if a.ByteOrder != b.ByteOrder {
		d = append(d, fmt.Sprintf("byteorder %q != %q", a.ByteOrder, b.ByteOrder))
	}
	if a.ContentType != b.ContentType {
		d = append(d, fmt.Sprintf("content-type %q != %q", a.ContentType, b.ContentType))
	}
	if a.ContentEncoding != b.ContentEncoding {
		d = append(d, fmt.Sprintf("content-encoding %q != %q", a.ContentEncoding, b.ContentEncoding))
	}
	if !bytes.Equal(a.Content, b.Content) {
		d = append(d, fmt.Sprintf("content %q != %q", a.Content, b.Content))
	}
	if len(a.Headers) != len(b.Headers) {
		d = append(d, fmt.Sprintf("headers %s != %s", fmtHeaders(a.Headers), fmtHeaders(b.Headers)))
	} else {
		for i := range a.Headers {
			if a.Headers[i].Key != b.Headers[i].Key || !bytes.Equal(a.Headers[i].Value, b.Headers[i].Value) {
				d = append(d, fmt.Sprintf("headers %s != %s", fmtHeaders(a.Headers), fmtHeaders(b.Headers)))
				break
			}
		}
	}
	return strings.Join(d, "; ")
}

func fmtHeaders(hs []Header) string {
	var b strings.Builder
	b.WriteByte('[')
	for i, h := range hs {
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "%q=%s", h.Key, h.Value)
	}
	b.WriteByte(']')
	return b.String()
}

func sameMessages(t *testing.T, what string, got, want []*Message) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: got %d messages, want %d", what, len(got), len(want))
	}
	for i := range got {
		if d := msgDiff(got[i], want[i]); d != "" {
			t.Fatalf("%s: message %d: %s", what, i, d)
		}
	}
}

func TestDecodeErrors(t *testing.T) {
	const req = `"byteorder": "little", "content-type": "text/json", "content-encoding": "utf-8"`
	withLen := func(v string) string { return "{" + req + `, "content-length": ` + v + "}" }
	tests := []struct {
		name    string
		dec     Decoder
		in      []byte
		want    error
		message string // exact error text, when not empty
	}{
		{name: "N=0", in: []byte("\x00\x00{}"), want: ErrHeaderLength,
			message: "core: invalid header length: header length is 0"},
		{name: "N=0 alone", in: []byte{0, 0}, want: ErrHeaderLength},
		{name: "N above limit", dec: Decoder{MaxHeaderLength: 10}, in: frameOf(withLen("0"), ""), want: ErrHeaderLength,
			message: "core: invalid header length: header length 102 is above the limit of 10 bytes"},
		{name: "N above limit, only the length sent", dec: Decoder{MaxHeaderLength: 99}, in: []byte{0, 100}, want: ErrHeaderLength,
			message: "core: invalid header length: header length 100 is above the limit of 99 bytes"},
		{name: "header not UTF-8", in: frameOf(`{"a": "`+"\xff"+`"}`, ""), want: ErrHeaderNotUTF8,
			message: "core: header is not valid UTF-8"},
		{name: "header truncated UTF-8", in: frameOf(`{"a": "`+"\xf0\x9f\x90"+`"}`, ""), want: ErrHeaderNotUTF8},
		{name: "header surrogate UTF-8", in: frameOf(`{"a": "`+"\xed\xa0\x80"+`"}`, ""), want: ErrHeaderNotUTF8},
		{name: "syntax: not JSON", in: frameOf(`hello`, ""), want: ErrHeaderSyntax},
		{name: "syntax: open object", in: frameOf(`{`, ""), want: ErrHeaderSyntax,
			message: "core: header is not valid JSON: invalid JSON: unexpected end of input looking for an object key"},
		{name: "syntax: trailing comma", in: frameOf(`{"a": 1,}`, ""), want: ErrHeaderSyntax,
			message: "core: header is not valid JSON: invalid JSON: unexpected '}' at offset 8 looking for an object key"},
		{name: "syntax: missing colon", in: frameOf(`{"a" 1}`, ""), want: ErrHeaderSyntax},
		{name: "syntax: single quotes", in: frameOf(`{'a': 1}`, ""), want: ErrHeaderSyntax},
		{name: "syntax: leading zero", in: frameOf(`{"a": 01}`, ""), want: ErrHeaderSyntax},
		{name: "syntax: NaN", in: frameOf(`{"a": NaN}`, ""), want: ErrHeaderSyntax},
		{name: "syntax: raw control char", in: frameOf("{\"a\": \"x\ny\"}", ""), want: ErrHeaderSyntax},
		{name: "syntax: bad escape", in: frameOf(`{"a": "\x41"}`, ""), want: ErrHeaderSyntax},
		{name: "syntax: short \\u escape", in: frameOf(`{"a": "\u12"}`, ""), want: ErrHeaderSyntax},
		{name: "syntax: two objects", in: frameOf(withLen("0")+"{}", ""), want: ErrHeaderSyntax},
		{name: "syntax: garbage after object", in: frameOf(withLen("0")+" x", ""), want: ErrHeaderSyntax,
			message: "core: header is not valid JSON: invalid JSON: unexpected 'x' at offset 103 after the header object"},
		{name: "syntax: bad nested value", in: frameOf(`{"x": [1, 2,], `+req+`, "content-length": 0}`, ""), want: ErrHeaderSyntax},
		{name: "syntax: empty header of spaces", in: frameOf(`   `, ""), want: ErrHeaderSyntax},
		{name: "not object: []", in: frameOf(`[]`, ""), want: ErrHeaderNotObject,
			message: "core: header is not a JSON object"},
		{name: `not object: "x"`, in: frameOf(`"x"`, ""), want: ErrHeaderNotObject},
		{name: "not object: 42", in: frameOf(`42`, ""), want: ErrHeaderNotObject},
		{name: "not object: null", in: frameOf(` null `, ""), want: ErrHeaderNotObject},
		{name: "empty object", in: frameOf(`{}`, ""), want: ErrMissingField,
			message: `core: required header missing: "byteorder"`},
		{name: "missing byteorder", in: frameOf(`{"content-type": "text/json", "content-encoding": "utf-8", "content-length": 0}`, ""),
			want: ErrMissingField, message: `core: required header missing: "byteorder"`},
		{name: "missing content-type", in: frameOf(`{"byteorder": "big", "content-encoding": "utf-8", "content-length": 0}`, ""),
			want: ErrMissingField, message: `core: required header missing: "content-type"`},
		{name: "missing content-encoding", in: frameOf(`{"byteorder": "big", "content-type": "text/json", "content-length": 0}`, ""),
			want: ErrMissingField, message: `core: required header missing: "content-encoding"`},
		{name: "missing content-length", in: frameOf("{"+req+"}", ""),
			want: ErrMissingField, message: `core: required header missing: "content-length"`},
		{name: "required key only nested", in: frameOf(`{"x": {"content-length": 0}, `+req+`}`, ""), want: ErrMissingField},
		{name: "byteorder middle", in: frameOf(`{"byteorder": "middle", "content-type": "t", "content-encoding": "e", "content-length": 0}`, ""),
			want: ErrFieldType, message: `core: invalid header value: "byteorder" must be "little" or "big", got "middle"`},
		{name: "byteorder upper case", in: frameOf(`{"byteorder": "LITTLE", "content-type": "t", "content-encoding": "e", "content-length": 0}`, ""), want: ErrFieldType},
		{name: "byteorder number", in: frameOf(`{"byteorder": 1, "content-type": "t", "content-encoding": "e", "content-length": 0}`, ""),
			want: ErrFieldType, message: `core: invalid header value: "byteorder" must be a string, got 1`},
		{name: "content-type number", in: frameOf(`{"byteorder": "big", "content-type": 5, "content-encoding": "e", "content-length": 0}`, ""),
			want: ErrFieldType, message: `core: invalid header value: "content-type" must be a string, got 5`},
		{name: "content-type null", in: frameOf(`{"byteorder": "big", "content-type": null, "content-encoding": "e", "content-length": 0}`, ""), want: ErrFieldType},
		{name: "content-encoding array", in: frameOf(`{"byteorder": "big", "content-type": "t", "content-encoding": ["utf-8"], "content-length": 0}`, ""),
			want: ErrFieldType, message: `core: invalid header value: "content-encoding" must be a string, got ["utf-8"]`},
		{name: "content-length string", in: frameOf(withLen(`"41"`), ""), want: ErrFieldType,
			message: `core: invalid header value: "content-length" must be a non-negative integer, got "41"`},
		{name: "content-length negative", in: frameOf(withLen(`-1`), ""), want: ErrFieldType,
			message: `core: invalid header value: "content-length" must be a non-negative integer, got -1`},
		{name: "content-length huge negative", in: frameOf(withLen(`-`+strings.Repeat("9", 30)), ""), want: ErrFieldType},
		{name: "content-length fraction", in: frameOf(withLen(`4.5`), ""), want: ErrFieldType,
			message: `core: invalid header value: "content-length" must be a non-negative integer, got 4.5`},
		{name: "content-length integral float", in: frameOf(withLen(`4.0`), ""), want: ErrFieldType},
		{name: "content-length exponent", in: frameOf(withLen(`1e3`), ""), want: ErrFieldType,
			message: `core: invalid header value: "content-length" must be a non-negative integer, got 1e3`},
		{name: "content-length true", in: frameOf(withLen(`true`), ""), want: ErrFieldType},
		{name: "content-length null", in: frameOf(withLen(`null`), ""), want: ErrFieldType},
		{name: "content-length object", in: frameOf(withLen(`{}`), ""), want: ErrFieldType},
		{name: "content-length above limit", dec: Decoder{MaxContentLength: 100}, in: frameOf(withLen(`101`), ""), want: ErrContentTooLarge,
			message: "core: content-length above limit: content-length 101 is above the limit of 100 bytes"},
		{name: "content-length above default limit", in: frameOf(withLen(fmt.Sprint(DefaultMaxContentLength+1)), ""), want: ErrContentTooLarge,
			message: "core: content-length above limit: content-length 16777217 is above the limit of 16777216 bytes"},
		{name: "content-length 2^60", in: frameOf(withLen(`1152921504606846976`), ""), want: ErrContentTooLarge},
		{name: "content-length 400 digits", in: frameOf(withLen(strings.Repeat("9", 400)), ""), want: ErrContentTooLarge,
			message: "core: content-length above limit: content-length 9999999999999999999999999999999999999... is above the limit of 16777216 bytes"},
		{name: "content-length 400 digits, no limit", dec: Decoder{MaxContentLength: -1}, in: frameOf(withLen(strings.Repeat("9", 400)), ""), want: ErrContentTooLarge},
		{name: "content-length 2^63-1, no limit", dec: Decoder{MaxContentLength: -1}, in: frameOf(withLen(`9223372036854775807`), "x"), want: ErrContentTooLarge},
		{name: "content-length 2^63-1, limit 2^63-1", dec: Decoder{MaxContentLength: 1<<63 - 1}, in: frameOf(withLen(`9223372036854775807`), "x"), want: ErrContentTooLarge},
		{name: "missing keys before bad values", in: frameOf(`{"byteorder": "middle", "content-type": 5}`, ""), want: ErrMissingField},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// Whole input in one call (the in-place fast path).
			d1 := tt.dec
			_, m, err1 := d1.Decode(tt.in)
			if m != nil || !errors.Is(err1, tt.want) {
				t.Fatalf("one chunk: got %v, %v; want error %v", m, err1, tt.want)
			}
			if tt.message != "" && err1.Error() != tt.message {
				t.Errorf("one chunk: error text\n got %s\nwant %s", err1, tt.message)
			}
			// One byte per call (the buffering path) gives the same error.
			d2 := tt.dec
			var err2 error
			for i := 0; i < len(tt.in) && err2 == nil; i++ {
				var m *Message
				_, m, err2 = d2.Decode(tt.in[i : i+1])
				if m != nil {
					t.Fatalf("byte %d: unexpected message %v", i, m)
				}
			}
			if err2 == nil || err2.Error() != err1.Error() {
				t.Fatalf("byte at a time: got %v; want %v", err2, err1)
			}
			// The error is sticky.
			for _, d := range []*Decoder{&d1, &d2} {
				n, m, err := d.Decode(golden(t, "search_request.bin"))
				if n != 0 || m != nil || err == nil || err.Error() != err1.Error() {
					t.Fatalf("after the error: got %d, %v, %v; want 0, nil, %v", n, m, err, err1)
				}
				if d.Err() == nil || d.Err().Error() != err1.Error() {
					t.Fatalf("Err() = %v; want %v", d.Err(), err1)
				}
			}
		})
	}
}

// Frames that must decode, as the messages they must give.
func TestDecodeHeaders(t *testing.T) {
	tests := []struct {
		name   string
		header string
		want   Message // without content; content is "abc"
	}{
		{"spaced", `{"byteorder": "little", "content-type": "text/json", "content-encoding": "utf-8", "content-length": 3}`,
			Message{ByteOrder: "little", ContentType: "text/json", ContentEncoding: "utf-8"}},
		{"compact", `{"byteorder":"little","content-type":"text/json","content-encoding":"utf-8","content-length":3}`,
			Message{ByteOrder: "little", ContentType: "text/json", ContentEncoding: "utf-8"}},
		{"white space everywhere", " \r\n\t{ \"content-length\"\n:\t3 ,\r\n\"content-encoding\" : \"binary\" , \"byteorder\":\"big\",\"content-type\"  :  \"x/y\" \n} \t\r\n",
			Message{ByteOrder: "big", ContentType: "x/y", ContentEncoding: "binary"}},
		{"reversed order", `{"content-length": 3, "content-encoding": "e", "content-type": "t", "byteorder": "big"}`,
			Message{ByteOrder: "big", ContentType: "t", ContentEncoding: "e"}},
		{"duplicate keys, last wins", `{"byteorder": "big", "content-type": "a", "content-encoding": "b", "content-length": 99, "content-type": "c", "byteorder": "little", "content-length": 3, "content-encoding": "d"}`,
			Message{ByteOrder: "little", ContentType: "c", ContentEncoding: "d"}},
		{"escaped values", `{"byteorder": "\u006c\u0069ttle", "content-type": "text\/json", "content-encoding": "caf\u00e9 \ud83d\udc30", "content-length": 3}`,
			Message{ByteOrder: "little", ContentType: "text/json", ContentEncoding: "café 🐰"}},
		{"escaped keys", `{"byte\u006frder": "big", "content\u002dtype": "t", "\u0063ontent-encoding": "e", "content-lengt\u0068": 3}`,
			Message{ByteOrder: "big", ContentType: "t", ContentEncoding: "e"}},
		{"raw non-ASCII", `{"byteorder": "big", "content-type": "tëxt/jsön", "content-encoding": "🐶", "content-length": 3}`,
			Message{ByteOrder: "big", ContentType: "tëxt/jsön", ContentEncoding: "🐶"}},
		{"lone surrogate becomes U+FFFD", `{"byteorder": "big", "content-type": "\ud800x", "content-encoding": "e", "content-length": 3}`,
			Message{ByteOrder: "big", ContentType: "\ufffdx", ContentEncoding: "e"}},
		{"empty strings", `{"byteorder": "big", "content-type": "", "content-encoding": "", "content-length": 3}`,
			Message{ByteOrder: "big"}},
		{"content-length -0", `{"byteorder": "big", "content-type": "t", "content-encoding": "e", "content-length": -0, "content-length": 3}`,
			Message{ByteOrder: "big", ContentType: "t", ContentEncoding: "e"}},
		{"extension headers kept in order with raw values",
			`{"byteorder": "little", "connection": "close", "content-type": "text/json", "x": {"a": [1, 2]}, "content-encoding": "utf-8", "n": -1.5e3, "content-length": 3, "caf\u00e9": "\u00e9", "connection": "keep-alive", "t": true, "z": null, "": []}`,
			Message{ByteOrder: "little", ContentType: "text/json", ContentEncoding: "utf-8", Headers: []Header{
				{"connection", []byte(`"close"`)},
				{"x", []byte(`{"a": [1, 2]}`)},
				{"n", []byte(`-1.5e3`)},
				{"café", []byte(`"\u00e9"`)},
				{"connection", []byte(`"keep-alive"`)},
				{"t", []byte(`true`)},
				{"z", []byte(`null`)},
				{"", []byte(`[]`)},
			}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := frameOf(tt.header, "abc")
			var d Decoder
			got, err := feed(&d, in, nil)
			if err != nil {
				t.Fatal(err)
			}
			want := tt.want
			want.Content = []byte("abc")
			sameMessages(t, "one chunk", got, []*Message{&want})
			// Byte at a time gives the same message.
			var d2 Decoder
			var got2 []*Message
			for i := range in {
				if got2, err = feed(&d2, in[i:i+1], got2); err != nil {
					t.Fatal(err)
				}
			}
			sameMessages(t, "byte at a time", got2, []*Message{&want})
		})
	}
}

func TestDecodeHeaderLookups(t *testing.T) {
	in := frameOf(hdr("big", "text/json", "utf-8", 2, `"connection": "keep-alive"`, `"x": {"a": [1, 2]}`, `"caf\u00e9": "caf\u00e9"`, `"connection": "close"`), "{}")
	m, err := Unmarshal(in)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ key, want string }{
		{"connection", "close"}, {"x", `{"a": [1, 2]}`}, {"café", "café"},
	} {
		if v, ok := m.Header(c.key); !ok || v != c.want {
			t.Errorf("Header(%q) = %q, %v; want %q", c.key, v, ok, c.want)
		}
	}
	if !m.WantsClose() {
		t.Error("WantsClose() = false; the last connection header is close")
	}
}

// testStream is a stream of messages exercising every part of the codec.
func testStream(t testing.TB) ([]byte, []*Message) {
	req := golden(t, "search_request.bin")
	bin := frameOf(hdr("big", "binary/custom-client-binary-type", "binary", 14), "search\x00\xff\x01morph")
	ext := frameOf(hdr("little", "text/json", "utf-8", 16, `"connection": "keep-alive"`, `"x": {"a": [1, 2]}`), `{"action": "x"}`+"\n")
	empty := frameOf(`{"byteorder":"big","content-type":"text/plain","content-encoding":"utf-8","content-length":0}`, "")
	esc := frameOf(`{"byteorder": "little", "content-type": "text/json", "content-encoding": "utf-8", "content-length": 17, "caf\u00e9": "\u00e9\ud83d\udc30"}`, `{"v": "\u00e9"}  `)
	var stream []byte
	for _, f := range [][]byte{req, bin, ext, empty, esc} {
		stream = append(stream, f...)
	}
	want := []*Message{
		{ByteOrder: "little", ContentType: "text/json", ContentEncoding: "utf-8", Content: []byte(`{"action": "search", "value": "morpheus"}`)},
		{ByteOrder: "big", ContentType: "binary/custom-client-binary-type", ContentEncoding: "binary", Content: []byte("search\x00\xff\x01morph")},
		{ByteOrder: "little", ContentType: "text/json", ContentEncoding: "utf-8", Content: []byte(`{"action": "x"}` + "\n"),
			Headers: []Header{{"connection", []byte(`"keep-alive"`)}, {"x", []byte(`{"a": [1, 2]}`)}}},
		{ByteOrder: "big", ContentType: "text/plain", ContentEncoding: "utf-8"},
		{ByteOrder: "little", ContentType: "text/json", ContentEncoding: "utf-8", Content: []byte(`{"v": "\u00e9"}  `),
			Headers: []Header{{"café", []byte(`"\u00e9\ud83d\udc30"`)}}},
	}
	return stream, want
}

func TestDecodeStream(t *testing.T) {
	stream, want := testStream(t)
	var d Decoder
	got, err := feed(&d, stream, nil)
	if err != nil {
		t.Fatal(err)
	}
	sameMessages(t, "one chunk", got, want)
	if d.Partial() {
		t.Error("Partial() after whole messages")
	}
	if v, _ := got[4].Header("café"); v != "é🐰" {
		t.Errorf(`Header("café") = %q`, v)
	}
}

func TestDecodeByteAtATime(t *testing.T) {
	stream, want := testStream(t)
	var d Decoder
	var got []*Message
	for i := range stream {
		n, m, err := d.Decode(stream[i : i+1])
		if err != nil || n != 1 {
			t.Fatalf("byte %d: n=%d err=%v", i, n, err)
		}
		if m != nil {
			got = append(got, m.Clone())
		}
	}
	sameMessages(t, "byte at a time", got, want)
	if d.Partial() {
		t.Error("Partial() after whole messages")
	}
}

func TestDecodeEverySplit(t *testing.T) {
	stream, want := testStream(t)
	// Message boundaries, to check Partial after the first chunk.
	var d0 Decoder
	boundary := map[int]bool{0: true}
	for off := 0; off < len(stream); {
		n, m, err := d0.Decode(stream[off:])
		if err != nil || m == nil {
			t.Fatalf("at %d: %v, %v", off, m, err)
		}
		off += n
		boundary[off] = true
	}
	for i := 0; i <= len(stream); i++ {
		var d Decoder
		got, err := feed(&d, stream[:i], nil)
		if err != nil {
			t.Fatalf("split %d, first chunk: %v", i, err)
		}
		if d.Partial() == boundary[i] {
			t.Fatalf("split %d: Partial() = %v", i, d.Partial())
		}
		if got, err = feed(&d, stream[i:], got); err != nil {
			t.Fatalf("split %d, second chunk: %v", i, err)
		}
		sameMessages(t, fmt.Sprintf("split %d", i), got, want)
		if d.Partial() {
			t.Fatalf("split %d: Partial() at the end", i)
		}
	}
}

// Three chunks, every pair of split points, on a shorter stream.
func TestDecodeEveryTwoSplits(t *testing.T) {
	stream, want := testStream(t)
	stream = stream[:len(golden(t, "search_request.bin"))+2+len(hdr("big", "binary/custom-client-binary-type", "binary", 14))+14]
	want = want[:2]
	for i := 0; i <= len(stream); i++ {
		for j := i; j <= len(stream); j++ {
			var d Decoder
			var got []*Message
			var err error
			for _, c := range [][]byte{stream[:i], stream[i:j], stream[j:]} {
				if got, err = feed(&d, c, got); err != nil {
					t.Fatalf("splits %d, %d: %v", i, j, err)
				}
			}
			sameMessages(t, fmt.Sprintf("splits %d, %d", i, j), got, want)
		}
	}
}

// The decoder never allocates what the peer claims, only what it sent.
func TestDecodeHostileLength(t *testing.T) {
	h := hdr("little", "binary/x", "binary", DefaultMaxContentLength-1)
	in := frameOf(h, "only a few bytes")
	var d Decoder
	n, m, err := d.Decode(in)
	if n != len(in) || m != nil || err != nil {
		t.Fatalf("got %d, %v, %v; want all consumed, no message", n, m, err)
	}
	if !d.Partial() {
		t.Fatal("Partial() = false inside a message")
	}
	if c := cap(d.buf); c >= 1<<20 {
		t.Fatalf("cap(d.buf) = %d after %d bytes", c, len(in))
	}
	// More content in small pieces grows the buffer with what arrives.
	chunk := bytes.Repeat([]byte("x"), 1024)
	for range 100 {
		if n, m, err := d.Decode(chunk); n != len(chunk) || m != nil || err != nil {
			t.Fatalf("got %d, %v, %v", n, m, err)
		}
	}
	if c := cap(d.buf); c >= 1<<20 {
		t.Fatalf("cap(d.buf) = %d after %d bytes", c, len(in)+100*len(chunk))
	}

	// A header announcing a 65535-byte header does not reserve it either.
	var d2 Decoder
	if n, m, err := d2.Decode([]byte{0xff, 0xff, '{'}); n != 3 || m != nil || err != nil {
		t.Fatalf("got %d, %v, %v", n, m, err)
	}
	if c := cap(d2.buf); c >= 1024 {
		t.Fatalf("cap(d.buf) = %d after 3 bytes", c)
	}
}

// A big scratch buffer grown for one message is released after it.
func TestDecodeReleasesBigScratch(t *testing.T) {
	content := strings.Repeat("y", 256<<10)
	big := frameOf(hdr("big", "binary/x", "binary", len(content)), content)
	var d Decoder
	var got []*Message
	var err error
	for i := 0; i < len(big); i += 4096 {
		if got, err = feed(&d, big[i:min(i+4096, len(big))], got); err != nil {
			t.Fatal(err)
		}
	}
	if len(got) != 1 || string(got[0].Content) != content {
		t.Fatalf("got %d messages", len(got))
	}
	if cap(d.buf) <= scratchKeep {
		t.Fatalf("cap(d.buf) = %d; the test expects the message to be in the scratch buffer", cap(d.buf))
	}
	req := golden(t, "search_request.bin")
	if got, err = feed(&d, req[:10], got[:0]); err != nil || len(got) != 0 {
		t.Fatal(got, err)
	}
	if c := cap(d.buf); c > scratchKeep {
		t.Fatalf("cap(d.buf) = %d after the big message; want it released", c)
	}
	if got, err = feed(&d, req[10:], got); err != nil || len(got) != 1 {
		t.Fatal(got, err)
	}
}

func TestDecodeLimits(t *testing.T) {
	h := hdr("big", "t", "e", 5)
	in := frameOf(h, "12345")
	// A limit exactly at the header and content length accepts them.
	for _, d := range []Decoder{
		{MaxHeaderLength: len(h), MaxContentLength: 5},
		{MaxHeaderLength: 1 << 20, MaxContentLength: -1}, // above 65535 means 65535
		{},
	} {
		if got, err := feed(&d, in, nil); err != nil || len(got) != 1 {
			t.Errorf("%+v: %v, %v", d, got, err)
		}
	}
	// One below rejects them.
	for _, c := range []struct {
		d    Decoder
		want error
	}{
		{Decoder{MaxHeaderLength: len(h) - 1}, ErrHeaderLength},
		{Decoder{MaxContentLength: 4}, ErrContentTooLarge},
		{Decoder{MaxContentLength: 1}, ErrContentTooLarge},
	} {
		if _, err := feed(&c.d, in, nil); !errors.Is(err, c.want) {
			t.Errorf("%+v: %v; want %v", c.d, err, c.want)
		}
	}
	// The largest header the 2 bytes can announce.
	base := len(hdr("big", "t", "e", 0, `"p": ""`))
	h = hdr("big", "t", "e", 0, `"p": "`+strings.Repeat("p", MaxHeaderLength-base)+`"`)
	if len(h) != MaxHeaderLength {
		t.Fatalf("len(h) = %d", len(h))
	}
	var d Decoder
	got, err := feed(&d, frameOf(h, ""), nil)
	if err != nil || len(got) != 1 {
		t.Fatalf("65535-byte header: %v, %v", got, err)
	}
}

func TestDecodePartialAndReset(t *testing.T) {
	req := golden(t, "search_request.bin")
	var d Decoder
	if d.Partial() {
		t.Fatal("zero Decoder is Partial")
	}
	if n, m, err := d.Decode(nil); n != 0 || m != nil || err != nil {
		t.Fatalf("Decode(nil) = %d, %v, %v", n, m, err)
	}
	if d.Partial() {
		t.Fatal("Partial after Decode(nil)")
	}
	for _, k := range []int{1, 2, 3, len(req) - 42, len(req) - 1} {
		var d Decoder
		if n, m, err := d.Decode(req[:k]); n != k || m != nil || err != nil {
			t.Fatalf("%d bytes: %d, %v, %v", k, n, m, err)
		}
		if !d.Partial() {
			t.Fatalf("%d bytes: Partial() = false", k)
		}
		n, m, err := d.Decode(req[k:])
		if n != len(req)-k || m == nil || err != nil {
			t.Fatalf("rest after %d bytes: %d, %v, %v", k, n, m, err)
		}
		if d.Partial() {
			t.Fatalf("%d bytes: Partial() = true after the message", k)
		}
		// Reset in the middle of a message discards it.
		d.Decode(req[:k])
		d.Reset()
		if d.Partial() || d.Err() != nil {
			t.Fatalf("after Reset: Partial=%v Err=%v", d.Partial(), d.Err())
		}
		if n, m, err := d.Decode(req); n != len(req) || m == nil || err != nil {
			t.Fatalf("after Reset: %d, %v, %v", n, m, err)
		}
	}

	// Reset clears a sticky error and keeps the limits.
	d = Decoder{MaxContentLength: 10}
	if _, _, err := d.Decode(req); !errors.Is(err, ErrContentTooLarge) {
		t.Fatalf("got %v", err)
	}
	if _, _, err := d.Decode(req); !errors.Is(err, ErrContentTooLarge) {
		t.Fatalf("not sticky: %v", err)
	}
	d.Reset()
	if d.Err() != nil || d.MaxContentLength != 10 {
		t.Fatalf("after Reset: Err=%v MaxContentLength=%d", d.Err(), d.MaxContentLength)
	}
	if _, _, err := d.Decode(req); !errors.Is(err, ErrContentTooLarge) {
		t.Fatalf("limit lost by Reset: %v", err)
	}
	d.Reset()
	d.MaxContentLength = 0
	if n, m, err := d.Decode(req); n != len(req) || m == nil || err != nil {
		t.Fatalf("after Reset: %d, %v, %v", n, m, err)
	}
}

// An error inside the second message of a chunk comes after the first
// message, which is still delivered.
func TestDecodeErrorAfterMessage(t *testing.T) {
	req := golden(t, "search_request.bin")
	in := append(append([]byte(nil), req...), 0, 0)
	for _, split := range []int{0, 10, len(req), len(req) + 1} {
		var d Decoder
		got, err := feed(&d, in[:split], nil)
		if err == nil {
			got, err = feed(&d, in[split:], got)
		}
		if len(got) != 1 || !errors.Is(err, ErrHeaderLength) {
			t.Fatalf("split %d: %d messages, %v", split, len(got), err)
		}
	}
}

// The message returned for a frame wholly in the input aliases it; the
// one assembled across calls does not alias any input.
func TestDecodeAliasing(t *testing.T) {
	req := golden(t, "search_request.bin")
	in := append([]byte(nil), req...)
	var d Decoder
	_, m, err := d.Decode(in)
	if err != nil || m == nil {
		t.Fatal(m, err)
	}
	if &m.Content[0] != &in[len(in)-41] {
		t.Error("direct decode copied the content")
	}
	if cap(m.Content) != len(m.Content) {
		t.Error("content has spare capacity: appending to it would overwrite the next frame")
	}
	var d2 Decoder
	d2.Decode(in[:50])
	_, m, _ = d2.Decode(in[50:])
	copy(in, make([]byte, len(in)))
	if string(m.Content) != `{"action": "search", "value": "morpheus"}` {
		t.Errorf("buffered message aliases the input: %q", m.Content)
	}
	if cap(m.Content) != len(m.Content) {
		t.Error("content has spare capacity")
	}
}

func TestDecodeAllocs(t *testing.T) {
	req := golden(t, "search_request.bin")
	var d Decoder
	allocs := testing.AllocsPerRun(1000, func() {
		n, m, err := d.Decode(req)
		if err != nil || m == nil || n != len(req) {
			panic(fmt.Sprint(n, m, err))
		}
		if a, err := m.Action(); a != "search" || err != nil {
			panic(fmt.Sprint(a, err))
		}
	})
	if allocs != 0 {
		t.Errorf("decoding the search request: %v allocations; want 0", allocs)
	}

	ans, err := NewJSON(Object{{"result", "Follow the white rabbit. 🐰"}})
	if err != nil {
		t.Fatal(err)
	}
	ans.ByteOrder = ByteOrderLittle
	buf := make([]byte, 0, 512)
	allocs = testing.AllocsPerRun(1000, func() {
		var err error
		if buf, err = AppendFrame(buf[:0], ans); err != nil {
			panic(err)
		}
	})
	if allocs != 0 {
		t.Errorf("encoding the answer: %v allocations; want 0", allocs)
	}
	if !bytes.Equal(buf, golden(t, "search_answer.bin")) {
		t.Errorf("encoded answer:\n got %q\nwant %q", buf, golden(t, "search_answer.bin"))
	}
}

// contentLength accepts exactly the integers up to the limit, for every
// small limit (a single digit above a limit below 9 used to pass) and at
// the edges of int64.
func TestContentLength(t *testing.T) {
	for max := int64(0); max <= 120; max++ {
		for n := int64(0); n <= 1200; n++ {
			got, err := contentLength([]byte(fmt.Sprint(n)), max)
			if n <= max && (err != nil || got != n) {
				t.Fatalf("contentLength(%d, max %d) = %d, %v", n, max, got, err)
			}
			if n > max && !errors.Is(err, ErrContentTooLarge) {
				t.Fatalf("contentLength(%d, max %d) = %d, %v; want ErrContentTooLarge", n, max, got, err)
			}
		}
	}
	const maxInt64 = 1<<63 - 1
	for _, c := range []struct {
		val  string
		max  int64
		want int64
		err  error
	}{
		{"9223372036854775807", maxInt64, maxInt64, nil},
		{"9223372036854775806", maxInt64 - 1, maxInt64 - 1, nil},
		{"9223372036854775807", maxInt64 - 1, 0, ErrContentTooLarge},
		{"9223372036854775808", maxInt64, 0, ErrContentTooLarge},
		{"99999999999999999999", maxInt64, 0, ErrContentTooLarge},
		{"-0", 0, 0, nil},
		{"-1", maxInt64, 0, ErrFieldType},
		{"-99999999999999999999", maxInt64, 0, ErrFieldType},
		{"1.0", maxInt64, 0, ErrFieldType},
		{"1E2", maxInt64, 0, ErrFieldType},
		{"99999999999999999999.5", 10, 0, ErrFieldType}, // the type error wins over the size
	} {
		got, err := contentLength([]byte(c.val), c.max)
		if got != c.want || !errors.Is(err, c.err) || (c.err == nil) != (err == nil) {
			t.Errorf("contentLength(%s, %d) = %d, %v; want %d, %v", c.val, c.max, got, err, c.want, c.err)
		}
	}
}

// TestDecodeToKeepsBatch decodes the test stream, split at every point,
// into separate messages and checks them only at the end: a message that
// spanned reads must not be overwritten by the ones decoded after it.
func TestDecodeToKeepsBatch(t *testing.T) {
	stream, want := testStream(t)
	for s1 := 0; s1 <= len(stream); s1++ {
		for s2 := s1; s2 <= len(stream); s2 += 5 {
			var d Decoder
			var got []*Message
			for _, chunk := range [][]byte{
				append([]byte(nil), stream[:s1]...),
				append([]byte(nil), stream[s1:s2]...),
				append([]byte(nil), stream[s2:]...),
			} {
				for len(chunk) > 0 {
					m := new(Message)
					n, ok, err := d.DecodeTo(m, chunk)
					if err != nil {
						t.Fatalf("splits %d, %d: %v", s1, s2, err)
					}
					chunk = chunk[n:]
					if ok {
						got = append(got, m)
					}
				}
			}
			sameMessages(t, fmt.Sprintf("splits %d, %d", s1, s2), got, want)
		}
	}
}

// TestDecodeDuplicateRequiredKeys: the last occurrence of a required key
// wins, as in Python's json.loads, even when an earlier one is invalid.
func TestDecodeDuplicateRequiredKeys(t *testing.T) {
	for _, h := range []string{
		`{"byteorder": "little", "content-type": "text/json", "content-encoding": "utf-8", "content-length": -1, "content-length": 2}`,
		`{"byteorder": "middle", "byteorder": "little", "content-type": "text/json", "content-encoding": "utf-8", "content-length": 2}`,
		`{"byteorder": "little", "content-type": 5, "content-type": "text/json", "content-encoding": "utf-8", "content-length": 2}`,
		`{"byteorder": "little", "content-type": "text/json", "content-encoding": "utf-8", "content-length": 99999999999, "content-length": 2}`,
	} {
		var d Decoder
		_, m, err := d.Decode(frameOf(h, "{}"))
		if err != nil || m == nil || m.ContentType != "text/json" || m.ByteOrder != "little" || string(m.Content) != "{}" {
			t.Errorf("%s: %v, %v; want the last duplicate to win", h, m, err)
		}
	}
	// And the other way round: a valid value followed by an invalid one.
	var d Decoder
	if _, _, err := d.Decode(frameOf(`{"byteorder": "little", "content-type": "text/json", "content-encoding": "utf-8", "content-length": 2, "content-length": -1}`, "{}")); !errors.Is(err, ErrFieldType) {
		t.Errorf("last duplicate invalid: %v, want ErrFieldType", err)
	}
}
