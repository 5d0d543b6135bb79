package core

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"unicode/utf8"
)

// decodeEvents decodes the chunks in order with a fresh decoder and
// returns what it produced: the messages, the error that stopped it, and
// whether a message was left unfinished.
func decodeEvents(t *testing.T, chunks ...[]byte) (msgs []*Message, err error, partial bool) {
	var d Decoder
	for _, c := range chunks {
		for len(c) > 0 {
			n, m, err := d.Decode(c)
			if err != nil {
				if m != nil {
					t.Fatalf("Decode returned a message with error %v", err)
				}
				return msgs, err, false
			}
			if n < 0 || n > len(c) {
				t.Fatalf("Decode consumed %d of %d bytes", n, len(c))
			}
			if m == nil && n != len(c) {
				t.Fatalf("Decode returned no message but consumed only %d of %d bytes", n, len(c))
			}
			if m != nil {
				if n == 0 {
					t.Fatal("Decode returned a message without consuming input")
				}
				msgs = append(msgs, m.Clone())
			}
			c = c[n:]
		}
	}
	return msgs, nil, d.Partial()
}

func fuzzSeeds(f *testing.F) [][]byte {
	stream, _ := testStream(f)
	req := golden(f, "search_request.bin")
	ans := golden(f, "search_answer.bin")
	seeds := [][]byte{
		req, ans, stream,
		append(append([]byte(nil), req...), ans...),
		req[:50],
		{0, 0},
		{0xff, 0xff, '{'},
		frameOf(`[]`, ""),
		frameOf(`{"byteorder": "big"}`, ""),
		frameOf(hdr("little", "t", "e", 1<<30), "x"),
		frameOf(`{"byteorder":"big","content-type":"","content-encoding":"","content-length":0,"\u0000":"\ud800","a":{"b":[1,2.5e-3,null,true]}}`, ""),
		frameOf(`{"byteorder": "little", "content-type": "text/json", "content-encoding": "utf-8", "content-length": 1e3}`, ""),
		frameOf(`{"byteorder": "little", "content-type": "text/json", "content-encoding": "utf-8", "content-length": `+strings.Repeat("9", 40)+`}`, ""),
	}
	return seeds
}

// FuzzDecoder checks that decoding does not depend on how the input is
// split, never panics, and that every decoded message re-encodes and
// decodes back to itself.
func FuzzDecoder(f *testing.F) {
	for i, s := range fuzzSeeds(f) {
		f.Add(s, 0)
		f.Add(s, len(s)/2+i)
		f.Add(s, 2)
	}
	f.Fuzz(func(t *testing.T, data []byte, split int) {
		whole, wholeErr, wholePartial := decodeEvents(t, data)
		if split < 0 {
			split = -(split + 1)
		}
		split %= len(data) + 1
		parts, partsErr, partsPartial := decodeEvents(t, data[:split], data[split:])

		if (wholeErr == nil) != (partsErr == nil) || wholeErr != nil && wholeErr.Error() != partsErr.Error() {
			t.Fatalf("split at %d: error %v; in one chunk %v", split, partsErr, wholeErr)
		}
		if wholeErr == nil && wholePartial != partsPartial {
			t.Fatalf("split at %d: Partial %v; in one chunk %v", split, partsPartial, wholePartial)
		}
		if len(whole) != len(parts) {
			t.Fatalf("split at %d: %d messages; in one chunk %d", split, len(parts), len(whole))
		}
		for i := range whole {
			if d := msgDiff(parts[i], whole[i]); d != "" {
				t.Fatalf("split at %d: message %d: %s", split, i, d)
			}
		}
		if wholeErr != nil && !isFrameError(wholeErr) {
			t.Fatalf("error %v is not one of the frame errors", wholeErr)
		}

		for i, m := range whole {
			b, err := AppendFrame(nil, m)
			if errors.Is(err, ErrHeaderTooLarge) {
				continue // compact JSON can grow past 65535 bytes once spaced
			}
			if err != nil {
				t.Fatalf("message %d: AppendFrame: %v", i, err)
			}
			back, err := Unmarshal(b)
			if err != nil {
				t.Fatalf("message %d: re-encoded %q does not decode: %v", i, b, err)
			}
			// The encoder writes an empty content-type or -encoding as
			// its default.
			want := *m
			want.ContentType = or(m.ContentType, defaultContentType)
			want.ContentEncoding = or(m.ContentEncoding, EncodingBinary)
			if d := msgDiff(back, &want); d != "" {
				t.Fatalf("message %d: round trip through %q: %s", i, b, d)
			}
			// The encoder's output is a fixed point.
			b2, err := AppendFrame(nil, back)
			if err != nil || !bytes.Equal(b, b2) {
				t.Fatalf("message %d: encoding is not stable:\n%q\n%q", i, b, b2)
			}
		}
	})
}

func isFrameError(err error) bool {
	for _, e := range []error{ErrHeaderLength, ErrHeaderNotUTF8, ErrHeaderSyntax, ErrHeaderNotObject, ErrMissingField, ErrFieldType, ErrContentTooLarge} {
		if errors.Is(err, e) {
			return true
		}
	}
	return false
}

// refString is a plain restatement of Python's json.dumps(s,
// ensure_ascii=False) for valid UTF-8 s.
func refString(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for _, r := range s {
		switch {
		case r == '"':
			b.WriteString(`\"`)
		case r == '\\':
			b.WriteString(`\\`)
		case r == '\n':
			b.WriteString(`\n`)
		case r == '\r':
			b.WriteString(`\r`)
		case r == '\t':
			b.WriteString(`\t`)
		case r == '\b':
			b.WriteString(`\b`)
		case r == '\f':
			b.WriteString(`\f`)
		case r < 0x20:
			fmt.Fprintf(&b, `\u%04x`, r)
		default:
			b.WriteRune(r)
		}
	}
	b.WriteByte('"')
	return b.String()
}

// FuzzJSONString checks AppendString against encoding/json and against a
// plain restatement of Python's rules.
func FuzzJSONString(f *testing.F) {
	for _, s := range []string{"", "plain", "a\"b\\c/d", "\x00\x1f\x7f\n\r\t\b\f", "<>&\u2028\u2029", "é🐰日本", "\xff\xfe", "\xed\xa0\x80", "\xf0\x9f\x90"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		out := AppendString(nil, s)
		if !utf8.Valid(out) {
			t.Fatalf("AppendString(%q) = %q: not valid UTF-8", s, out)
		}
		if !json.Valid(out) {
			t.Fatalf("AppendString(%q) = %q: not valid JSON", s, out)
		}
		if end, escaped, err := scanString(out, 0); err != nil || end != len(out) {
			t.Fatalf("AppendString(%q) = %q: scanString: %d, %v", s, out, end, err)
		} else if got := stringValue(out, escaped); utf8.ValidString(s) && got != s {
			t.Fatalf("AppendString(%q) = %q reads back as %q", s, out, got)
		}
		var back string
		if err := json.Unmarshal(out, &back); err != nil {
			t.Fatalf("AppendString(%q) = %q: %v", s, out, err)
		}
		if !utf8.ValidString(s) {
			// Each bad byte becomes U+FFFD.
			if !utf8.ValidString(back) || strings.Count(back, "\ufffd") < strings.Count(s, "\ufffd")+1 {
				t.Fatalf("AppendString(%q) = %q", s, out)
			}
			return
		}
		if back != s {
			t.Fatalf("AppendString(%q) = %q reads back as %q", s, out, back)
		}
		if want := refString(s); string(out) != want {
			t.Fatalf("AppendString(%q) = %s; want %s", s, out, want)
		}
	})
}

// FuzzScanValue checks the JSON validator against encoding/json.
func FuzzScanValue(f *testing.F) {
	for _, s := range []string{
		``, ` `, `0`, `-0`, `01`, `1.`, `.5`, `1e`, `1e+`, `1E-7`, `-`, `+1`, `1.5e300`,
		`"`, `"\"`, `"\u12"`, `"\u123g"`, `"\ud800"`, `"\x"`, "\"\t\"", `"\/"`,
		`true`, `tru`, `nul`, `null `, `false1`, `NaN`, `Infinity`,
		`[]`, `[,]`, `[1,]`, `[1 2]`, `{}`, `{,}`, `{"a"}`, `{"a":}`, `{"a":1,}`, `{1:2}`, `{"a":1 "b":2}`,
		`{"a": [1, {"b": null}], "c": "é🐰"}`, " \t\r\n[ ] \n", "\ufeff{}", "\v1", `[` + strings.Repeat(`[`, 50) + strings.Repeat(`]`, 51),
		`{"byteorder": "little", "content-type": "text/json", "content-encoding": "utf-8", "content-length": 41}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		_, err := validJSON(data) // must not panic, whatever the input
		if !utf8.Valid(data) || bytes.Count(data, []byte("["))+bytes.Count(data, []byte("{")) >= maxDepth {
			return
		}
		if got, want := err == nil, json.Valid(data); got != want {
			t.Fatalf("validJSON(%q) = %v; json.Valid says %v", data, err, want)
		}
		if err != nil {
			if !errors.Is(err, errSyntax) {
				t.Fatalf("validJSON(%q) = %v: not errSyntax", data, err)
			}
			return
		}
		// A valid string literal unquotes as encoding/json reads it
		// (lone surrogates become U+FFFD in both).
		v := bytes.TrimSpace(data)
		if v[0] == '"' {
			var want string
			if err := json.Unmarshal(v, &want); err != nil {
				t.Fatal(err)
			}
			_, escaped, _ := scanString(v, 0)
			if got := stringValue(v, escaped); got != want {
				t.Fatalf("stringValue(%s) = %q; encoding/json reads %q", v, got, want)
			}
		}
		// Top-level members of an object are found as encoding/json finds
		// them, the last duplicate winning.
		if v[0] == '{' {
			var want map[string]json.RawMessage
			if err := json.Unmarshal(v, &want); err != nil {
				t.Fatal(err)
			}
			m := &Message{ContentType: ContentTypeJSON, Content: data}
			for k, raw := range want {
				got, ok, err := m.Field(k)
				if err != nil || !ok || !bytes.Equal(got, raw) {
					t.Fatalf("Field(%q) of %s = %s, %v, %v; want %s", k, v, got, ok, err, raw)
				}
			}
		}
	})
}

// FuzzHeader frames arbitrary header text correctly, so that the fuzzer
// spends its time in the JSON header parser, and checks the decoder
// against encoding/json's reading of the same header.
func FuzzHeader(f *testing.F) {
	for _, s := range fuzzSeeds(f) {
		if len(s) > 2 {
			if h := int(s[0])<<8 | int(s[1]); h > 0 && 2+h <= len(s) {
				f.Add(string(s[2:2+h]), string(s[2+h:]))
			}
		}
	}
	f.Add(`{"byteorder": "big", "byteorder": 1, "content-type": "t", "content-encoding": "e", "content-length": 0}`, "")
	f.Add(`{"byteorder":"little","content-type":"t","content-encoding":"e","content-length":3,"x":{"a":[1,2]},"connection":"close"}`, "abc")
	f.Add(`{"content-length": -0, "byte\u006frder": "big", "content-type": "\ud800", "content-encoding": "\/", "": []}`, "")
	f.Fuzz(func(t *testing.T, header, content string) {
		if len(header) == 0 || len(header) > MaxHeaderLength {
			return
		}
		in := frameOf(header, content)
		var d Decoder
		n, m, err := d.Decode(in)
		if err == nil && m == nil {
			// Content shorter than content-length: the rest of the frame
			// is missing, which is not an error.
			return
		}
		if m != nil && n != 2+len(header)+len(m.Content) {
			t.Fatalf("consumed %d bytes for a %d-byte header and %d-byte content", n, len(header), len(m.Content))
		}
		if err != nil && !isFrameError(err) {
			t.Fatalf("error %v is not a frame error", err)
		}
		if !utf8.ValidString(header) {
			if !errors.Is(err, ErrHeaderNotUTF8) {
				t.Fatalf("header %q is not UTF-8; got %v", header, err)
			}
			return
		}
		if strings.Count(header, "[")+strings.Count(header, "{") >= maxDepth {
			return
		}
		want, wantLen, wantErr := refParseHeader(header)
		if wantErr != nil {
			if err == nil {
				t.Fatalf("header %q decoded; encoding/json's reading says %v", header, wantErr)
			}
			// A syntax error late in the header may be found after an
			// earlier required field was already rejected.
			if !errors.Is(err, wantErr) && !errors.Is(wantErr, ErrHeaderSyntax) {
				t.Fatalf("header %q: error %v; want %v", header, err, wantErr)
			}
			return
		}
		if err != nil {
			t.Fatalf("header %q: error %v; encoding/json's reading accepts it", header, err)
		}
		if wantLen > len(content) {
			t.Fatalf("header %q: decoded with content-length %d and only %d bytes", header, wantLen, len(content))
		}
		want.Content = []byte(content[:wantLen])
		if d := msgDiff(m, want); d != "" {
			t.Fatalf("header %q: %s", header, d)
		}
	})
}

// refParseHeader reads a header the way the protocol describes it, using
// encoding/json: members in order, the last duplicate of a required key
// wins, and the first invalid required value is the error.
func refParseHeader(header string) (*Message, int, error) {
	if !json.Valid([]byte(header)) {
		return nil, 0, ErrHeaderSyntax
	}
	dec := json.NewDecoder(strings.NewReader(header))
	tok, _ := dec.Token()
	if tok != json.Delim('{') {
		return nil, 0, ErrHeaderNotObject
	}
	m := &Message{}
	clen := -1
	// The last occurrence of a required key wins, as in Python; the keys
	// are checked once the whole object has been read.
	last := map[string]json.RawMessage{}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, 0, err
		}
		key := tok.(string)
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return nil, 0, err
		}
		switch key {
		case "byteorder", "content-type", "content-encoding", "content-length":
			last[key] = raw
		default:
			m.Headers = append(m.Headers, Header{Key: key, Value: raw})
		}
	}
	order := []string{"byteorder", "content-type", "content-encoding", "content-length"}
	for _, k := range order {
		if last[k] == nil {
			return nil, 0, ErrMissingField
		}
	}
	for _, key := range order {
		raw := last[key]
		str := func() (string, error) {
			var s string
			if raw[0] != '"' || json.Unmarshal(raw, &s) != nil {
				return "", ErrFieldType
			}
			return s, nil
		}
		var err2 error
		switch key {
		case "byteorder":
			m.ByteOrder, err2 = str()
			if err2 == nil && m.ByteOrder != "little" && m.ByteOrder != "big" {
				err2 = ErrFieldType
			}
		case "content-type":
			m.ContentType, err2 = str()
		case "content-encoding":
			m.ContentEncoding, err2 = str()
		case "content-length":
			s := string(raw)
			digits := strings.TrimPrefix(s, "-")
			if digits == "" || strings.Trim(digits, "0123456789") != "" || (s[0] == '-' && strings.Trim(digits, "0") != "") {
				err2 = ErrFieldType
			} else if n, err := fmt.Sscan(digits, &clen); n != 1 || err != nil || clen > DefaultMaxContentLength {
				err2 = ErrContentTooLarge
			}
		}
		if err2 != nil {
			return nil, 0, err2
		}
	}
	return m, clen, nil
}
