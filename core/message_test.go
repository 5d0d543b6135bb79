package core

import (
	"bytes"
	"errors"
	"strings"
	"testing"
)

func TestMessageHeaders(t *testing.T) {
	m := &Message{}
	if v, ok := m.Header("connection"); ok || v != "" {
		t.Fatalf("Header on no headers = %q, %v", v, ok)
	}
	if m.WantsClose() {
		t.Fatal("WantsClose with no headers")
	}
	m.DelHeader("absent") // no-op on nil Headers

	m.SetHeader("connection", "close")
	if !m.WantsClose() {
		t.Fatal("WantsClose after SetHeader(connection, close)")
	}
	if string(m.Headers[0].Value) != `"close"` {
		t.Fatalf("raw value %s", m.Headers[0].Value)
	}
	m.SetHeader("x-quote", "a\"b\n🐰")
	if string(m.Headers[1].Value) != `"a\"b\n🐰"` {
		t.Fatalf("raw value %s", m.Headers[1].Value)
	}
	if v, ok := m.Header("x-quote"); !ok || v != "a\"b\n🐰" {
		t.Fatalf("Header(x-quote) = %q, %v", v, ok)
	}

	// Raw values: strings are unquoted, anything else is its JSON text.
	m.Headers = append(m.Headers,
		Header{"n", []byte(`42`)},
		Header{"obj", []byte(`{"a": [1, 2]}`)},
		Header{"esc", []byte(`"caf\u00e9 \ud83d\udc30 \/"`)},
		Header{"null", []byte(`null`)},
		Header{"connection", []byte(`"keep-alive"`)},
	)
	for _, c := range []struct{ key, want string }{
		{"n", "42"}, {"obj", `{"a": [1, 2]}`}, {"esc", "café 🐰 /"}, {"null", "null"},
		{"connection", "keep-alive"}, // the last occurrence wins
	} {
		if v, ok := m.Header(c.key); !ok || v != c.want {
			t.Errorf("Header(%q) = %q, %v; want %q", c.key, v, ok, c.want)
		}
	}
	if m.WantsClose() {
		t.Error("WantsClose: the last connection header is keep-alive")
	}

	// SetHeader replaces every occurrence, and appends at the end.
	m.SetHeader("connection", "close")
	n := 0
	for _, h := range m.Headers {
		if h.Key == "connection" {
			n++
		}
	}
	if n != 1 || m.Headers[len(m.Headers)-1].Key != "connection" || !m.WantsClose() {
		t.Fatalf("after SetHeader: %s", fmtHeaders(m.Headers))
	}
	m.DelHeader("connection")
	if _, ok := m.Header("connection"); ok || m.WantsClose() {
		t.Fatalf("after DelHeader: %s", fmtHeaders(m.Headers))
	}
	want := "[\"x-quote\"=\"a\\\"b\\n🐰\", \"n\"=42, \"obj\"={\"a\": [1, 2]}, \"esc\"=\"caf\\u00e9 \\ud83d\\udc30 \\/\", \"null\"=null]"
	if got := fmtHeaders(m.Headers); got != want {
		t.Fatalf("order after DelHeader:\n got %s\nwant %s", got, want)
	}

	// WantsClose wants the string "close", in any letter case.
	for _, raw := range []string{`"Close"`, `"CLOSE"`} {
		m := &Message{Headers: []Header{{"connection", []byte(raw)}}}
		if !m.WantsClose() {
			t.Errorf("WantsClose false with connection %s", raw)
		}
	}
	for _, raw := range []string{`"close "`, `["close"]`, `true`, `{"close": 1}`, `"keep-alive"`} {
		m := &Message{Headers: []Header{{"connection", []byte(raw)}}}
		if m.WantsClose() {
			t.Errorf("WantsClose with connection %s", raw)
		}
	}
	m = &Message{Headers: []Header{{"connection", []byte(`"clos\u0065"`)}}}
	if !m.WantsClose() {
		t.Error(`WantsClose with connection "clos\u0065"`)
	}
}

func TestMessageClone(t *testing.T) {
	orig := &Message{
		ByteOrder: "big", ContentType: "text/json", ContentEncoding: "utf-8",
		Headers: []Header{{"connection", []byte(`"close"`)}, {"x", []byte(`1`)}},
		Content: []byte(`{"action": "search"}`),
	}
	if a, err := orig.Action(); a != "search" || err != nil {
		t.Fatal(a, err)
	}
	c := orig.Clone()
	if d := msgDiff(c, orig); d != "" {
		t.Fatal(d)
	}
	if a, err := c.Action(); a != "search" || err != nil {
		t.Fatal(a, err)
	}
	// Changing the clone leaves the original alone, and the other way.
	c.Content[2] = 'X'
	c.Headers[0].Value[1] = 'X'
	c.Headers[1].Key = "y"
	c.SetHeader("new", "v")
	c.ContentType = "other"
	if string(orig.Content) != `{"action": "search"}` || string(orig.Headers[0].Value) != `"close"` ||
		orig.Headers[1].Key != "x" || len(orig.Headers) != 2 || orig.ContentType != "text/json" {
		t.Fatalf("original changed through its clone: %v %s %q", orig, fmtHeaders(orig.Headers), orig.Content)
	}
	c2 := orig.Clone()
	orig.Content[2] = 'Y'
	orig.Headers[0].Value[1] = 'Y'
	orig.DelHeader("x")
	if string(c2.Content) != `{"action": "search"}` || string(c2.Headers[0].Value) != `"close"` || len(c2.Headers) != 2 {
		t.Fatalf("clone changed through its original: %q %s", c2.Content, fmtHeaders(c2.Headers))
	}

	// A decoded message, which aliases the decoder's buffer, survives the
	// next Decode once cloned.
	stream, want := testStream(t)
	var d Decoder
	_, m, err := d.Decode(stream)
	if err != nil || m == nil {
		t.Fatal(m, err)
	}
	kept := m.Clone()
	rest := append([]byte(nil), stream[len(golden(t, "search_request.bin")):]...)
	for len(rest) > 0 {
		n, _, err := d.Decode(rest)
		if err != nil {
			t.Fatal(err)
		}
		rest = rest[n:]
	}
	if diff := msgDiff(kept, want[0]); diff != "" {
		t.Fatal(diff)
	}

	empty := (&Message{}).Clone()
	if empty.Content != nil || empty.Headers != nil {
		t.Fatalf("clone of empty: %+v", empty)
	}
}

func TestMessageReset(t *testing.T) {
	m := &Message{ByteOrder: "big", ContentType: "text/json", ContentEncoding: "utf-8",
		Headers: []Header{{"x", []byte("1")}}, Content: []byte(`{"action": "a"}`)}
	if a, _ := m.Action(); a != "a" {
		t.Fatal(a)
	}
	m.Reset()
	if m.ByteOrder != "" || m.ContentType != "" || m.ContentEncoding != "" || len(m.Headers) != 0 || m.Content != nil {
		t.Fatalf("after Reset: %+v", m)
	}
	m.ContentType = "text/json"
	m.Content = []byte(`{"action": "b"}`)
	if a, _ := m.Action(); a != "b" {
		t.Fatalf("Action after Reset = %q", a)
	}
}

func TestIsJSON(t *testing.T) {
	for ct, want := range map[string]bool{
		"text/json":                        true,
		"application/json":                 true,
		"application/vnd.api+json":         true,
		"a+json":                           true,
		"+json":                            false,
		"json":                             false,
		"text/JSON":                        false,
		"text/json; charset=utf-8":         false,
		"text/plain":                       false,
		"binary/custom-client-binary-type": false,
		"":                                 false,
	} {
		if got := (&Message{ContentType: ct}).IsJSON(); got != want {
			t.Errorf("IsJSON(%q) = %v; want %v", ct, got, want)
		}
	}
}

func TestActionAndField(t *testing.T) {
	tests := []struct {
		name    string
		ctype   string
		content string
		action  string
		err     error
		errText string
	}{
		{"search", "text/json", `{"action": "search", "value": "morpheus"}`, "search", nil, ""},
		{"compact", "application/json", `{"value":"x","action":"echo"}`, "echo", nil, ""},
		{"spaced", "x+json", " \n{ \"action\" :\t\"a b\" } \r\n", "a b", nil, ""},
		{"escaped key", "text/json", `{"act\u0069on": "search"}`, "search", nil, ""},
		{"escaped value", "text/json", `{"action": "se\u0061rch \ud83d\udc36 \"q\""}`, "search 🐶 \"q\"", nil, ""},
		{"duplicates, last wins", "text/json", `{"action": "first", "value": 1, "action": "last"}`, "last", nil, ""},
		{"duplicate escaped last", "text/json", `{"action": "first", "\u0061ction": "last"}`, "last", nil, ""},
		{"no action", "text/json", `{"value": "x"}`, "", nil, ""},
		{"nested action does not count", "text/json", `{"x": {"action": "nested"}}`, "", nil, ""},
		{"non-string action", "text/json", `{"action": 42}`, "", nil, ""},
		{"null action", "text/json", `{"action": null}`, "", nil, ""},
		{"empty object", "text/json", `{}`, "", nil, ""},
		{"array", "text/json", `[{"action": "search"}]`, "", ErrBadContent, "core: invalid JSON content: JSON content is not an object"},
		{"string", "text/json", `"search"`, "", ErrBadContent, ""},
		{"not JSON", "text/json", `action=search`, "", ErrBadContent, "core: invalid JSON content: invalid JSON: unexpected 'a' at offset 0 looking for a value"},
		{"truncated", "text/json", `{"action": "search"`, "", ErrBadContent, ""},
		{"trailing garbage", "text/json", `{"action": "search"} x`, "", ErrBadContent, ""},
		{"empty content", "text/json", ``, "", ErrBadContent, "core: invalid JSON content: invalid JSON: unexpected end of input looking for a value"},
		{"binary", "binary/custom-client-binary-type", `{"action": "search"}`, "", ErrNotJSON, "core: content-type is not JSON"},
		{"no content-type", "", `{"action": "search"}`, "", ErrNotJSON, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := &Message{ContentType: tt.ctype, Content: []byte(tt.content)}
			for range 2 { // the second call uses the cache
				a, err := m.Action()
				if a != tt.action || !errors.Is(err, tt.err) || (err == nil) != (tt.err == nil) {
					t.Fatalf("Action() = %q, %v; want %q, %v", a, err, tt.action, tt.err)
				}
				if tt.errText != "" && err.Error() != tt.errText {
					t.Fatalf("error text\n got %s\nwant %s", err, tt.errText)
				}
				raw, ok, err := m.Field("action")
				if !errors.Is(err, tt.err) || (err == nil) != (tt.err == nil) {
					t.Fatalf("Field(action) error %v; want %v", err, tt.err)
				}
				if err != nil && (raw != nil || ok) {
					t.Fatalf("Field(action) = %s, %v with error %v", raw, ok, err)
				}
			}
		})
	}
}

func TestField(t *testing.T) {
	m := &Message{ContentType: "text/json", Content: []byte(`{"action": "search", "value": "morpheus", "n": -1.5e3, "o": {"a": [1, {"b": null}]}, "arr" : [ ] , "k\"q": true, "value": "last"}`)}
	for _, c := range []struct {
		key, raw string
		ok       bool
	}{
		{"action", `"search"`, true},
		{"value", `"last"`, true},
		{"n", `-1.5e3`, true},
		{"o", `{"a": [1, {"b": null}]}`, true},
		{"arr", `[ ]`, true},
		{`k"q`, `true`, true},
		{"a", "", false},
		{"b", "", false},
		{"", "", false},
	} {
		raw, ok, err := m.Field(c.key)
		if err != nil || ok != c.ok || string(raw) != c.raw {
			t.Errorf("Field(%q) = %s, %v, %v; want %s, %v", c.key, raw, ok, err, c.raw, c.ok)
		}
	}
	// The raw value aliases the content.
	raw, _, _ := m.Field("action")
	if &raw[0] != &m.Content[11] {
		t.Error("Field copied the value")
	}
}

// Assigning new content to a message whose content was already scanned
// must not answer from the old content's cache.
func TestFieldCacheFollowsContent(t *testing.T) {
	m := &Message{ContentType: "text/json", Content: []byte(`{"action": "a"}`)}
	if a, _ := m.Action(); a != "a" {
		t.Fatal(a)
	}
	m.Content = []byte(`{"action": "b"}`)
	if a, _ := m.Action(); a != "b" {
		t.Fatalf("Action() after new Content = %q; want b", a)
	}
	m.Content = []byte(`not json`)
	if _, err := m.Action(); !errors.Is(err, ErrBadContent) {
		t.Fatalf("Action() after bad Content: %v", err)
	}
	m.Content = []byte(`{"action": "c"}`)
	if a, err := m.Action(); a != "c" || err != nil {
		t.Fatalf("Action() after good Content again = %q, %v", a, err)
	}
	// A shorter view of the same array is a different content.
	buf := []byte(`{"action": "d"}{"action": "e"}`)
	m.Content = buf
	if _, err := m.Action(); !errors.Is(err, ErrBadContent) {
		t.Fatalf("two objects: %v", err)
	}
	m.Content = buf[:15]
	if a, err := m.Action(); a != "d" || err != nil {
		t.Fatalf("Action() = %q, %v; want d", a, err)
	}
	m.ContentType = "binary/x"
	if _, err := m.Action(); !errors.Is(err, ErrNotJSON) {
		t.Fatalf("after a content-type change: %v", err)
	}
}

func TestNewMessages(t *testing.T) {
	m, err := NewJSON(Object{{"result", "Follow the white rabbit. 🐰"}})
	if err != nil || m.ContentType != "text/json" || m.ContentEncoding != "utf-8" || m.ByteOrder != "" ||
		string(m.Content) != `{"result": "Follow the white rabbit. 🐰"}` {
		t.Fatalf("NewJSON: %v %q %v", m, m.Content, err)
	}
	e := NewError("no route for 'x'\t\"y\"")
	if e.ContentType != "text/json" || e.ContentEncoding != "utf-8" || string(e.Content) != `{"error": "no route for 'x'\t\"y\""}` {
		t.Fatalf("NewError: %v %q", e, e.Content)
	}
	b := NewBinary("binary/custom-server-binary-type", []byte{0, 1})
	if b.ContentType != "binary/custom-server-binary-type" || b.ContentEncoding != "binary" || !bytes.Equal(b.Content, []byte{0, 1}) {
		t.Fatalf("NewBinary: %v", b)
	}
	if s := (&Message{ByteOrder: "big", ContentType: "t", ContentEncoding: "e", Content: []byte("abc")}).String(); s != "big t e len=3" {
		t.Fatalf("String() = %q", s)
	}
}

func TestFieldRejectsInvalidUTF8(t *testing.T) {
	m := &Message{ContentType: ContentTypeJSON, Content: []byte("{\"action\": \"se\xffarch\"}")}
	if _, err := m.Action(); !errors.Is(err, ErrBadContent) || !strings.Contains(err.Error(), "not valid UTF-8") {
		t.Fatalf("Action on invalid UTF-8 = %v, want ErrBadContent", err)
	}
}
