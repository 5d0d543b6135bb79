package core

import (
	"bytes"
	"encoding/json"
	"errors"
	"math"
	"strings"
	"testing"
)

func TestGolden(t *testing.T) {
	tests := []struct {
		file    string
		content Object
	}{
		{"search_request.bin", Object{{"action", "search"}, {"value", "morpheus"}}},
		{"search_answer.bin", Object{{"result", "Follow the white rabbit. 🐰"}}},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			want := golden(t, tt.file)
			m, err := NewJSON(tt.content)
			if err != nil {
				t.Fatal(err)
			}
			m.ByteOrder = ByteOrderLittle
			got, err := AppendFrame(nil, m)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, want) {
				t.Fatalf("AppendFrame:\n got %q\nwant %q", got, want)
			}
			if got, err = Marshal(m); err != nil || !bytes.Equal(got, want) {
				t.Fatalf("Marshal: %q, %v", got, err)
			}
			// AppendFrame appends: the prefix stays.
			got, err = AppendFrame([]byte("prefix"), m)
			if err != nil || string(got[:6]) != "prefix" || !bytes.Equal(got[6:], want) {
				t.Fatalf("AppendFrame after a prefix: %q, %v", got, err)
			}

			// Decoding gives the message back, and re-encoding the bytes.
			d, err := Unmarshal(want)
			if err != nil {
				t.Fatal(err)
			}
			if diff := msgDiff(d, m); diff != "" {
				t.Fatal(diff)
			}
			if got, err = Marshal(d); err != nil || !bytes.Equal(got, want) {
				t.Fatalf("re-encoded: %q, %v", got, err)
			}
		})
	}
}

func TestAppendFrameDefaults(t *testing.T) {
	m := &Message{Content: []byte{1, 2, 3}}
	got, err := Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	want := frameOf(`{"byteorder": "`+NativeByteOrder()+`", "content-type": "application/octet-stream", "content-encoding": "binary", "content-length": 3}`, "\x01\x02\x03")
	if !bytes.Equal(got, want) {
		t.Fatalf("got %q\nwant %q", got, want)
	}
	if NativeByteOrder() != "little" && NativeByteOrder() != "big" {
		t.Fatalf("NativeByteOrder() = %q", NativeByteOrder())
	}
}

func TestAppendFrameHeaders(t *testing.T) {
	m := &Message{
		ByteOrder:       "big",
		ContentType:     "x/\"quoted\"",
		ContentEncoding: "é",
		Content:         []byte("{}"),
		Headers: []Header{
			{"connection", []byte(`"close"`)},
			{"x", []byte(`{"a": [1, 2]}`)},
			{"tab\tkey", []byte(`1`)},
		},
	}
	got, err := Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	want := frameOf(`{"byteorder": "big", "content-type": "x/\"quoted\"", "content-encoding": "é", "content-length": 2, "connection": "close", "x": {"a": [1, 2]}, "tab\tkey": 1}`, "{}")
	if !bytes.Equal(got, want) {
		t.Fatalf("got %q\nwant %q", got, want)
	}
	d, err := Unmarshal(got)
	if err != nil {
		t.Fatal(err)
	}
	if diff := msgDiff(d, m); diff != "" {
		t.Fatal(diff)
	}

	m.Headers = append(m.Headers, Header{Key: "empty"})
	got, err = AppendFrame([]byte("keep"), m)
	if err == nil || err.Error() != `core: extension header "empty" has no value` || string(got) != "keep" {
		t.Fatalf("empty header value: %q, %v", got, err)
	}
}

func TestAppendFrameHeaderTooLarge(t *testing.T) {
	m := &Message{ByteOrder: "big", ContentType: "t", ContentEncoding: "e", Content: []byte("c")}
	base, _ := Marshal(m)
	baseLen := len(base) - 3 // without the length and the content
	// `, "k": "` + pad + `"` brings the header to exactly 65535 bytes.
	pad := MaxHeaderLength - baseLen - len(`, "k": ""`)
	m.Headers = []Header{{"k", []byte(`"` + strings.Repeat("v", pad) + `"`)}}
	got, err := Marshal(m)
	if err != nil {
		t.Fatalf("65535-byte header: %v", err)
	}
	if got[0] != 0xff || got[1] != 0xff {
		t.Fatalf("header length bytes %x", got[:2])
	}
	if d, err := Unmarshal(got); err != nil || msgDiff(d, m) != "" {
		t.Fatalf("65535-byte header does not round-trip: %v", err)
	}

	m.Headers[0].Value = []byte(`"` + strings.Repeat("v", pad+1) + `"`)
	prefix := []byte("prefix")
	got, err = AppendFrame(prefix, m)
	if !errors.Is(err, ErrHeaderTooLarge) {
		t.Fatalf("65536-byte header: %v", err)
	}
	if err.Error() != "core: encoded header longer than 65535 bytes: 65536 bytes" {
		t.Errorf("error text: %s", err)
	}
	if string(got) != "prefix" {
		t.Errorf("dst changed on error: %q", got[:min(len(got), 20)])
	}
	m.Headers = []Header{{"a", []byte("1")}, {"b", []byte(`"` + strings.Repeat("x", 70000) + `"`)}}
	if _, err := Marshal(m); !errors.Is(err, ErrHeaderTooLarge) {
		t.Fatalf("70000-byte header: %v", err)
	}
}

func TestUnmarshalErrors(t *testing.T) {
	req := golden(t, "search_request.bin")
	for _, k := range []int{0, 1, 2, 50, len(req) - 1} {
		if _, err := Unmarshal(req[:k]); !errors.Is(err, ErrTruncated) {
			t.Errorf("%d bytes: %v; want ErrTruncated", k, err)
		}
	}
	_, err := Unmarshal(append(append([]byte(nil), req...), "abc"...))
	if err == nil || err.Error() != "core: 3 bytes after the frame" {
		t.Errorf("trailing bytes: %v", err)
	}
	if _, err := Unmarshal([]byte{0, 0}); !errors.Is(err, ErrHeaderLength) {
		t.Errorf("N=0: %v", err)
	}
	// Unmarshal has no content-length limit below what fits in memory.
	big := strings.Repeat("b", DefaultMaxContentLength+1)
	m, err := Unmarshal(frameOf(hdr("big", "t", "e", len(big)), big))
	if err != nil || len(m.Content) != len(big) {
		t.Errorf("above the default limit: %v", err)
	}
}

func TestMarshalRoundTrip(t *testing.T) {
	msgs := []*Message{
		{ByteOrder: "little", ContentType: "text/json", ContentEncoding: "utf-8", Content: []byte(`{"action": "search", "value": "🐶"}`)},
		{ByteOrder: "big", ContentType: "binary/custom-client-binary-type", ContentEncoding: "binary", Content: []byte("\x00\xff\xfe")},
		{ByteOrder: "big", ContentType: "text/plain", ContentEncoding: "utf-8"},
		{ByteOrder: "little", ContentType: "\u2028\x00<&>", ContentEncoding: "\\\"/", Content: []byte("x"),
			Headers: []Header{{"connection", []byte(`"close"`)}, {"é\n", []byte(`[1, {"b": null}]`)}, {"connection", []byte(`"keep-alive"`)}}},
		NewError("bad \"thing\"\n"),
		NewBinary("binary/custom-server-binary-type", []byte("First 10 bytes of request: search🐶")),
	}
	msgs[4].ByteOrder, msgs[5].ByteOrder = "big", "little"
	var stream []byte
	for _, m := range msgs {
		b, err := Marshal(m)
		if err != nil {
			t.Fatal(err)
		}
		d, err := Unmarshal(b)
		if err != nil {
			t.Fatalf("%v: %v", m, err)
		}
		if diff := msgDiff(d, m); diff != "" {
			t.Fatalf("%v: %s", m, diff)
		}
		b2, err := Marshal(d)
		if err != nil || !bytes.Equal(b, b2) {
			t.Fatalf("%v: re-encoded differs:\n%q\n%q", m, b, b2)
		}
		stream = append(stream, b...)
	}
	var d Decoder
	got, err := feed(&d, stream, nil)
	if err != nil {
		t.Fatal(err)
	}
	sameMessages(t, "stream", got, msgs)
	if string(msgs[4].Content) != `{"error": "bad \"thing\"\n"}` {
		t.Errorf("NewError content %q", msgs[4].Content)
	}
}

// Expected values come from Python 3: json.dumps(s, ensure_ascii=False).
func TestAppendString(t *testing.T) {
	tests := []struct{ in, want string }{
		{"", `""`},
		{"plain", `"plain"`},
		{`a"b`, `"a\"b"`},
		{`back\slash`, `"back\\slash"`},
		{"slash/", `"slash/"`},
		{"<>&", `"<>&"`},
		{"\n\r\t\b\f", `"\n\r\t\b\f"`},
		{"\x00\x01\x1f", `"\u0000\u0001\u001f"`},
		{"\x0b\x0e\x1a\x1b", `"\u000b\u000e\u001a\u001b"`},
		{"\x7f", "\"\x7f\""},
		{"\u2028\u2029", "\"\u2028\u2029\""},
		{"é", `"é"`},
		{"🐰", `"🐰"`},
		{"日本語", `"日本語"`},
		{"\ufeff\uffff", "\"\ufeff\uffff\""},
		{"tab\tend", `"tab\tend"`},
		{"mixed \"q\" \\ \n é \x10", `"mixed \"q\" \\ \n é \u0010"`},
		{"Follow the white rabbit. 🐰", `"Follow the white rabbit. 🐰"`},
		{"No match for 'x'.", `"No match for 'x'."`},
		// Invalid UTF-8 (which a Python str cannot hold) becomes U+FFFD,
		// one per bad byte.
		{"a\xffb", "\"a\ufffdb\""},
		{"\xf0\x9f\x90", "\"\ufffd\ufffd\ufffd\""},
		{"\xed\xa0\x80", "\"\ufffd\ufffd\ufffd\""}, // an encoded surrogate
		{"\xc0\xaf", "\"\ufffd\ufffd\""},           // overlong '/'
		{"\xff\n", "\"\ufffd\\n\""},
	}
	for _, tt := range tests {
		if got := string(AppendString(nil, tt.in)); got != tt.want {
			t.Errorf("AppendString(%q) = %s; want %s", tt.in, got, tt.want)
		}
		if got := string(AppendString([]byte("x"), tt.in)); got != "x"+tt.want {
			t.Errorf("AppendString appends: got %s", got)
		}
		if got, _ := AppendJSON(nil, tt.in); string(got) != tt.want {
			t.Errorf("AppendJSON(%q) = %s; want %s", tt.in, got, tt.want)
		}
	}
	// Every ASCII character against encoding/json's reading of it.
	for c := 0; c < 0x80; c++ {
		s := string(rune(c))
		var back string
		if err := json.Unmarshal(AppendString(nil, s), &back); err != nil || back != s {
			t.Errorf("0x%02x: %s reads back as %q, %v", c, AppendString(nil, s), back, err)
		}
	}
}

// Expected values come from Python 3's json.dumps(v, ensure_ascii=False).
func TestAppendJSON(t *testing.T) {
	tests := []struct {
		in   any
		want string
	}{
		{nil, `null`},
		{true, `true`},
		{false, `false`},
		{0, `0`},
		{-42, `-42`},
		{int64(math.MinInt64), `-9223372036854775808`},
		{int32(-7), `-7`},
		{uint(7), `7`},
		{uint32(7), `7`},
		{uint64(math.MaxUint64), `18446744073709551615`},
		{1.0, `1.0`},
		{0.0, `0.0`},
		{math.Copysign(0, -1), `-0.0`},
		{1.5, `1.5`},
		{0.1, `0.1`},
		{-123.456, `-123.456`},
		{100.0, `100.0`},
		{0.0001, `0.0001`},
		{0.00012, `0.00012`},
		{1e-05, `1e-05`},
		{-2.5e-07, `-2.5e-07`},
		{1e15, `1000000000000000.0`},
		{9007199254740992.0, `9007199254740992.0`},
		{1e16, `1e+16`},
		{12345678901234567.0, `1.2345678901234568e+16`},
		{1e100, `1e+100`},
		{1.5e300, `1.5e+300`},
		{5e-324, `5e-324`},
		{math.MaxFloat64, `1.7976931348623157e+308`},
		{0.00030000000000000003, `0.00030000000000000003`}, // Python: 0.0001 * 3
		{float64(1 << 63), `9.223372036854776e+18`},
		{-1e-7, `-1e-07`},
		{float32(1.5), `1.5`},
		{"s", `"s"`},
		{Object{}, `{}`},
		{Object{{"action", "search"}, {"value", "morpheus"}}, `{"action": "search", "value": "morpheus"}`},
		{Object{{"z", 1}, {"a", 2}}, `{"z": 1, "a": 2}`},
		{Object{{"k\"ey", Object{{"in", []any{1, "two", nil, Object{}}}}}}, `{"k\"ey": {"in": [1, "two", null, {}]}}`},
		{[]any{}, `[]`},
		{[]any{1, 2.5, nil, true, false, "x", []any{[]any{}}}, `[1, 2.5, null, true, false, "x", [[]]]`},
		{[]string{}, `[]`},
		{[]string{"a", "é", "\n"}, `["a", "é", "\n"]`},
		{map[string]any{}, `{}`},
		{map[string]any{"b": 1, "a": []any{1, 2.5, nil, true, false, "x"}, "c": map[string]any{"z": Object{}, "y": []any{}}},
			`{"a": [1, 2.5, null, true, false, "x"], "b": 1, "c": {"y": [], "z": {}}}`},
		{RawJSON(`{"a":1}`), `{"a":1}`},
		{Object{{"raw", RawJSON(` [1,2] `)}}, `{"raw":  [1,2] }`},
	}
	for _, tt := range tests {
		got, err := AppendJSON([]byte("<"), tt.in)
		if err != nil || string(got) != "<"+tt.want {
			t.Errorf("AppendJSON(%#v) = %s, %v; want %s", tt.in, got, err, tt.want)
		}
		// The output is JSON that encoding/json reads.
		if !json.Valid(got[1:]) {
			t.Errorf("AppendJSON(%#v) = %s: not valid JSON", tt.in, got[1:])
		}
	}
}

func TestAppendJSONErrors(t *testing.T) {
	for _, v := range []any{
		math.NaN(), math.Inf(1), math.Inf(-1), float32(math.Inf(1)),
		int8(1), []byte("x"), struct{}{}, make(chan int), map[string]int{},
		RawJSON(`{`), RawJSON(``), RawJSON(`1 2`),
		Object{{"ok", 1}, {"bad", math.NaN()}},
		[]any{1, complex(1, 2)},
		map[string]any{"a": func() {}},
	} {
		if got, err := AppendJSON(nil, v); err == nil {
			t.Errorf("AppendJSON(%#v) = %s, nil; want an error", v, got)
		}
	}
	if _, err := AppendJSON(nil, int8(1)); !errors.Is(err, errUnsupported) || err.Error() != "core: unsupported type for JSON: int8" {
		t.Errorf("int8: %v", err)
	}
	if _, err := AppendJSON(nil, RawJSON(`{`)); !errors.Is(err, errSyntax) {
		t.Errorf("bad RawJSON: %v", err)
	}
	if m, err := NewJSON(math.NaN()); m != nil || err == nil {
		t.Errorf("NewJSON(NaN) = %v, %v", m, err)
	}
}

func TestAppendFrameWith(t *testing.T) {
	m := &Message{ContentType: "x/y", ContentEncoding: "binary", Content: []byte("c"),
		Headers: []Header{{"a", []byte(`"1"`)}}}
	extra := []Header{{"router-id", []byte("7")}, {"b", []byte(`true`)}}
	got, err := AppendFrameWith(nil, m, extra...)
	if err != nil {
		t.Fatal(err)
	}
	if len(m.Headers) != 1 || cap(m.Headers) != 1 {
		t.Errorf("m.Headers changed: %v", m.Headers)
	}
	want, _ := AppendFrame(nil, &Message{ByteOrder: m.ByteOrder, ContentType: "x/y", ContentEncoding: "binary",
		Content: []byte("c"), Headers: append(append([]Header(nil), m.Headers...), extra...)})
	if !bytes.Equal(got, want) {
		t.Errorf("AppendFrameWith = %q\nwant %q", got, want)
	}
	if _, err := AppendFrameWith(nil, m, Header{Key: "empty"}); err == nil {
		t.Error("an extra header with no value was accepted")
	}
}
