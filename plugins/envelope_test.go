package plugins

import (
	"bytes"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"reflect"
	"testing"
)

var updateEnvelopes = flag.Bool("update-envelopes", false, "rewrite plugins/testdata/envelope_*.bin")

// The search request and its answer of PROTOCOL.md, as frames.
var (
	searchRequest = []byte("\x00g{\"byteorder\": \"little\", \"content-type\": \"text/json\", \"content-encoding\": \"utf-8\", \"content-length\": 41}{\"action\": \"search\", \"value\": \"morpheus\"}")
	searchAnswer  = []byte("\x00g{\"byteorder\": \"little\", \"content-type\": \"text/json\", \"content-encoding\": \"utf-8\", \"content-length\": 43}{\"result\": \"Follow the white rabbit. \xf0\x9f\x90\xb0\"}")
)

// goldenEnvelopes are data protocol 2's envelopes, one of each kind, as
// plugins/testdata holds their bytes: the wire format, fixed.
func goldenEnvelopes(t testing.TB) map[string][]byte {
	req, ok := appendRequestHead(nil, 7, 1764480000123456789, "search")
	if !ok {
		t.Fatal("appendRequestHead refused")
	}
	req = append(req, searchRequest...)
	setEnvLength(req, 0)
	ans := append(appendEnvHeader(nil, envAnswer, 7), searchAnswer...)
	setEnvLength(ans, 0)
	fail := append(appendEnvHeader(nil, envError, 8), "plugin: no handler \"nope\""...)
	setEnvLength(fail, 0)
	return map[string][]byte{
		"envelope_request.bin": req,
		"envelope_cancel.bin":  appendEnvHeader(nil, envCancel, 9),
		"envelope_answer.bin":  ans,
		"envelope_error.bin":   fail,
	}
}

func TestEnvelopeGolden(t *testing.T) {
	for name, b := range goldenEnvelopes(t) {
		path := filepath.Join("testdata", name)
		if *updateEnvelopes {
			if err := os.WriteFile(path, b, 0o644); err != nil {
				t.Fatal(err)
			}
		}
		want, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(b, want) {
			t.Errorf("%s:\n got %q\nwant %q", name, b, want)
		}
	}
	req, _ := os.ReadFile("testdata/envelope_request.bin")
	envs, err := readAll(req, 1<<20, len(req))
	if err != nil || len(envs) != 1 || envs[0].kind != envRequest || envs[0].id != 7 {
		t.Fatalf("envelope_request.bin reads as %v, %v", envs, err)
	}
	dl, handler, frame, err := parseRequestBody(envs[0].body)
	if err != nil || dl != 1764480000123456789 || string(handler) != "search" || !bytes.Equal(frame, searchRequest) {
		t.Errorf("request body: deadline %d, handler %q, frame %q, %v", dl, handler, frame, err)
	}
}

// Envelopes that must break the stream.
func TestEnvelopeErrors(t *testing.T) {
	for name, b := range map[string][]byte{
		"kind 0":          {0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0},
		"kind 5":          {5, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0},
		"body too large":  {envAnswer, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 4, 1},
		"cancel and body": {envCancel, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 1, 'x'},
	} {
		if _, err := readAll(b, 1024, 1); !errors.Is(err, errEnvelope) {
			t.Errorf("%s: %v, want errEnvelope", name, err)
		}
	}
	for _, body := range [][]byte{nil, make([]byte, 8), append(make([]byte, 8), 3, 'a')} {
		if _, _, _, err := parseRequestBody(body); !errors.Is(err, errEnvelope) {
			t.Errorf("request body %q: %v, want errEnvelope", body, err)
		}
	}
}

// readAll feeds b to an envReader in pieces of step bytes and returns the
// envelopes it yields, copied.
func readAll(b []byte, maxBody int64, step int) ([]envelope, error) {
	r := envReader{maxBody: maxBody}
	var out []envelope
	for len(b) > 0 {
		k := min(step, len(b))
		err := r.feed(b[:k], func(e envelope) error {
			e.body = bytes.Clone(e.body)
			out = append(out, e)
			return nil
		})
		if err != nil {
			return out, err
		}
		b = b[k:]
	}
	if r.partial() {
		return out, errPartial
	}
	return out, nil
}

var errPartial = errors.New("partial envelope at the end")

// FuzzEnvReader: the envelopes read from a stream do not depend on how it
// was split into reads; no body exceeds the limit; every body read is as
// long as its envelope said; and a request's body parses without panic.
func FuzzEnvReader(f *testing.F) {
	var all []byte
	for _, b := range goldenEnvelopes(f) {
		f.Add(b, uint16(5), uint16(300))
		all = append(all, b...)
	}
	f.Add(all, uint16(1), uint16(1000))
	f.Add(all[:len(all)-3], uint16(7), uint16(100))
	f.Fuzz(func(t *testing.T, b []byte, step uint16, maxBody uint16) {
		whole, werr := readAll(b, int64(maxBody), len(b)+1)
		split, serr := readAll(b, int64(maxBody), int(step)%64+1)
		if (werr == nil) != (serr == nil) || !reflect.DeepEqual(whole, split) {
			t.Fatalf("whole: %v, %v\nsplit by %d: %v, %v", whole, werr, step, split, serr)
		}
		for _, e := range whole {
			if len(e.body) > int(maxBody) {
				t.Fatalf("body of %d bytes, limit %d", len(e.body), maxBody)
			}
			if e.kind == envRequest {
				parseRequestBody(e.body)
			}
		}
	})
}
