package core

import (
	"fmt"
	"reflect"
	"testing"
	"unicode/utf8"
	"unsafe"
)

// canonicalSeeds are headers the fast path takes, and near misses it must
// leave to the general parser.
var canonicalSeeds = []string{
	`{"byteorder": "little", "content-type": "text/json", "content-encoding": "utf-8", "content-length": 41}`,
	`{"byteorder": "big", "content-type": "binary/custom-client-binary-type", "content-encoding": "binary", "content-length": 0}`,
	`{"byteorder": "little", "content-type": "", "content-encoding": "", "content-length": 7}`,
	`{"byteorder": "little", "content-type": "a b/c", "content-encoding": "x", "content-length": 123456789012345678}`,
	`{"byteorder": "little", "content-type": "text/json", "content-encoding": "utf-8", "content-length": 41, "request-id": "a"}`,
	`{"byteorder": "little", "content-type": "text/plain", "content-encoding": "binary", "content-length": 3, "router-id": 17, "router-handler": "upper", "router-deadline": 1764400000000000000}`,
	`{"byteorder": "big", "content-type": "x", "content-encoding": "y", "content-length": 0, "a": "1", "a": "2", "": 0}`,
	// Left to the general parser:
	`{"byteorder": "little", "content-type": "text/json", "content-encoding": "utf-8", "content-length": 41, "byteorder": "big"}`,
	`{"byteorder": "little", "content-type": "text/json", "content-encoding": "utf-8", "content-length": 41, "x": 1.5}`,
	`{"byteorder": "little", "content-type": "text/json", "content-encoding": "utf-8", "content-length": 41, "x": -1}`,
	`{"byteorder": "little", "content-type": "text/json", "content-encoding": "utf-8", "content-length": 41, "x": 01}`,
	`{"byteorder": "little", "content-type": "text/json", "content-encoding": "utf-8", "content-length": 41, "x": true}`,
	`{"byteorder": "little", "content-type": "text/json", "content-encoding": "utf-8", "content-length": 41, "x": "\n"}`,
	`{"byteorder": "little", "content-type": "text/json", "content-encoding": "utf-8", "content-length": 41, "x":"y"}`,
	`{"byteorder": "little", "content-type": "text/json", "content-encoding": "utf-8", "content-length": 41, "a": 1, "b": 2, "c": 3, "d": 4, "e": 5, "f": 6, "g": 7}`,
	`{"byteorder": "little", "content-type": "text/json", "content-encoding": "utf-8", "content-length": 041}`,
	`{"byteorder": "little", "content-type": "text/json", "content-encoding": "utf-8", "content-length": -1}`,
	`{"byteorder": "little", "content-type": "text/json", "content-encoding": "utf-8", "content-length": 4.0}`,
	`{"byteorder": "little", "content-type": "text/json", "content-encoding": "utf-8", "content-length": 99999999999999999999}`,
	`{"byteorder": "little", "content-type": "t\u00e9xt", "content-encoding": "utf-8", "content-length": 1}`,
	`{"byteorder": "little", "content-type": "tëxt", "content-encoding": "utf-8", "content-length": 1}`,
	`{"byteorder": "middle", "content-type": "text/json", "content-encoding": "utf-8", "content-length": 1}`,
	`{"byteorder": "little", "content-type": "text/json", "content-encoding": "utf-8", "content-length": 1} `,
	`{"byteorder":"little","content-type":"text/json","content-encoding":"utf-8","content-length":1}`,
	`{"content-type": "text/json", "byteorder": "little", "content-encoding": "utf-8", "content-length": 1}`,
	`{"byteorder": "little", "content-type": "text/json", "content-encoding": "utf-8", "content-length": 1`,
	`{"byteorder": "little", "content-type": "text/json", "content-encoding": "utf-8", "content-length": }`,
}

// checkCanonical checks that where the fast path answers, the general
// parser gives the same message and length.
func checkCanonical(t *testing.T, b []byte, maxContent int64) (taken bool) {
	var fast Message
	var names nameCache // the fast path with a cache, the general one without
	clen, ok := parseCanonicalHeader(b, &fast, maxContent, &names)
	if !ok {
		return false
	}
	var slow Message
	// The general parser itself, without the fast path in front.
	slowLen, err := parseHeaderGeneral(b, &slow, maxContent, nil)
	if err != nil {
		t.Fatalf("fast path took %q (length %d), the general parser refuses it: %v", b, clen, err)
	}
	if clen != slowLen || fast.ByteOrder != slow.ByteOrder || fast.ContentType != slow.ContentType ||
		fast.ContentEncoding != slow.ContentEncoding || !sameHeaders(fast.Headers, slow.Headers) {
		t.Fatalf("%q: fast path %+v length %d, general parser %+v length %d", b, fast, clen, slow, slowLen)
	}
	return true
}

// sameHeaders reports whether a and b hold the same headers in order.
func sameHeaders(a, b []Header) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i].Key != b[i].Key || string(a[i].Value) != string(b[i].Value) {
			return false
		}
	}
	return true
}

func TestCanonicalHeader(t *testing.T) {
	for i, s := range canonicalSeeds {
		taken := checkCanonical(t, []byte(s), maxFrameContent)
		if want := i < 7; taken != want {
			t.Errorf("%s: fast path taken %v, want %v", s, taken, want)
		}
	}
	// Over the limit: declined, so that the general parser words the
	// error.
	b := []byte(canonicalSeeds[0])
	if _, ok := parseCanonicalHeader(b, new(Message), 40, nil); ok {
		t.Error("content-length 41 taken under a limit of 40")
	}
	if _, err := parseHeader(b, new(Message), 40, nil); err == nil {
		t.Error("parseHeader took content-length 41 under a limit of 40")
	}
}

func TestCanonicalHeaderAllocs(t *testing.T) {
	b := []byte(canonicalSeeds[0])
	var m Message
	if n := testing.AllocsPerRun(100, func() { parseCanonicalHeader(b, &m, maxFrameContent, nil) }); n != 0 {
		t.Errorf("%v allocations, want 0", n)
	}
	if reflect.ValueOf(m).IsZero() {
		t.Error("nothing parsed")
	}
}

// Header keys and values outside the reference's are made into strings
// once per decoder, not once per message, as long as a few of them recur.
func TestNameCache(t *testing.T) {
	for _, tc := range []struct {
		name   string
		header string
	}{
		{"fast path", `{"byteorder": "little", "content-type": "text/x-custom", "content-encoding": "utf-8", "content-length": 0, "request-id": "abc", "router-handler": "upper"}`},
		{"general parser", `{"byteorder":"little","content-type":"text/x-custom","content-encoding":"utf-8","content-length":0,"request-id":"abc","router-handler":"upper"}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var names nameCache
			var m Message
			parse := func() {
				if _, err := parseHeader([]byte(tc.header), &m, maxFrameContent, &names); err != nil {
					t.Fatal(err)
				}
			}
			parse()
			first := m.Headers[0].Key
			b := []byte(tc.header)
			if n := testing.AllocsPerRun(100, func() { parseHeader(b, &m, maxFrameContent, &names) }); n != 0 {
				t.Errorf("%v allocations once the names are known, want 0", n)
			}
			if m.ContentType != "text/x-custom" || m.Headers[0].Key != "request-id" || m.Headers[1].Key != "router-handler" {
				t.Errorf("parsed %+v", m)
			}
			if unsafe.StringData(m.Headers[0].Key) != unsafe.StringData(first) {
				t.Error("the key was made again, not taken from the cache")
			}
		})
	}
	// More names than the cache holds: each is still right.
	var names nameCache
	for i := range 3 * len(nameEntries{}.s) {
		key := fmt.Sprintf("x-key-%d", i)
		if got := names.get([]byte(key)); got != key {
			t.Fatalf("get(%q) = %q", key, got)
		}
	}
}

func FuzzCanonicalHeader(f *testing.F) {
	for _, s := range canonicalSeeds {
		f.Add([]byte(s), int64(1<<20))
	}
	f.Fuzz(func(t *testing.T, b []byte, maxContent int64) {
		if maxContent < 0 {
			maxContent = -maxContent
		}
		if maxContent < 0 {
			maxContent = maxFrameContent
		}
		checkCanonical(t, b, maxContent)
	})
}

// scanObjectTwoPass is scanObject as it was before walkObject: validate
// the whole text, then walk the members. walkObject must agree with it.
func scanObjectTwoPass(b []byte) ([]jsonField, bool) {
	i, err := validJSON(b)
	if err != nil || b[i] != '{' {
		return nil, false
	}
	var dst []jsonField
	i = skipSpace(b, i+1)
	for i < len(b) && b[i] == '"' {
		kend, escaped, _ := scanString(b, i)
		vstart := skipSpace(b, skipSpace(b, kend)+1)
		vend, _ := scanValue(b, vstart, 1)
		dst = append(dst, jsonField{key: b[i:kend], escaped: escaped, value: b[vstart:vend]})
		i = skipSpace(b, vend)
		if b[i] == ',' {
			i = skipSpace(b, i+1)
		}
	}
	return dst, true
}

var objectSeeds = []string{
	`{"action": "search", "value": "morpheus"}`,
	`{}`, ` { } `, `{"a":1,"b":[1,{"c":null}],"d":"\u00e9"}`, `{"a":1,}`, `{"a" 1}`, `{"a":1} x`,
	`[1]`, `"s"`, `{"a":{"b":{"c":[[[]]]}}}`, `{"a":01}`, `{"a":"\q"}`, `{"a":tru}`, `{,}`, `{"a":1 "b":2}`,
}

func TestWalkObject(t *testing.T) {
	for _, s := range objectSeeds {
		checkWalkObject(t, []byte(s))
	}
}

func checkWalkObject(t *testing.T, b []byte) {
	got, ok := walkObject([]jsonField{{key: []byte(`"keep"`)}}, b)
	want, wantOK := scanObjectTwoPass(b)
	if ok != wantOK {
		t.Fatalf("%q: walkObject ok=%v, the validator says %v", b, ok, wantOK)
	}
	if got[0].key == nil || string(got[0].key) != `"keep"` {
		t.Fatalf("%q: walkObject lost dst's members", b)
	}
	if ok && (len(got)-1 != len(want) || (len(want) > 0 && !reflect.DeepEqual(got[1:], want))) {
		t.Fatalf("%q: walkObject %+v, want %+v", b, got[1:], want)
	}
	if !ok && len(got) != 1 {
		t.Fatalf("%q: walkObject failed but left %d members", b, len(got)-1)
	}
}

func FuzzWalkObject(f *testing.F) {
	for _, s := range objectSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		if !utf8.Valid(b) {
			return // scanObject checks it first
		}
		checkWalkObject(t, b)
	})
}
