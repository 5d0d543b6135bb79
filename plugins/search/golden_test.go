package search_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/msgrouter/router/core"
	binaryplugin "github.com/msgrouter/router/plugins/binary"
	"github.com/msgrouter/router/plugins/search"
)

// The golden files are the Python reference server's own answers; see
// testdata/golden/README.md for how they were made.
var goldenDir = filepath.Join("..", "..", "testdata", "golden")

type goldenCase struct {
	name            string
	request, answer []byte
}

// goldenCases loads every NAME_request.bin / NAME.bin pair whose NAME
// matches pattern.
func goldenCases(t *testing.T, pattern string) []goldenCase {
	t.Helper()
	paths, err := filepath.Glob(filepath.Join(goldenDir, pattern+"_request.bin"))
	if err != nil {
		t.Fatal(err)
	}
	var cases []goldenCase
	for _, p := range paths {
		name := strings.TrimSuffix(filepath.Base(p), "_request.bin")
		req, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		ans, err := os.ReadFile(filepath.Join(goldenDir, name+".bin"))
		if err != nil {
			t.Fatal(err)
		}
		cases = append(cases, goldenCase{name, req, ans})
	}
	return cases
}

// withNativeByteOrder rewrites a golden answer's byteorder to this host's:
// the reference writes sys.byteorder and so does our encoder.
func withNativeByteOrder(t *testing.T, frame []byte) []byte {
	t.Helper()
	n := int(binary.BigEndian.Uint16(frame))
	header, content := frame[2:2+n], frame[2+n:]
	for _, order := range []string{core.ByteOrderLittle, core.ByteOrderBig} {
		old := []byte(`{"byteorder": "` + order + `", `)
		if bytes.HasPrefix(header, old) {
			header = append([]byte(`{"byteorder": "`+core.NativeByteOrder()+`", `), header[len(old):]...)
			out := binary.BigEndian.AppendUint16(nil, uint16(len(header)))
			return append(append(out, header...), content...)
		}
	}
	t.Fatalf("golden answer has no leading byteorder: %q", frame)
	return nil
}

// referenceMux routes as the reference server does: text/json to search,
// everything else to binary.
func referenceMux(t *testing.T) *core.Mux {
	t.Helper()
	mux, err := core.NewMux(
		core.Route{ContentType: core.ContentTypeJSON, Handler: search.Default()},
		core.Route{Handler: binaryplugin.New()},
	)
	if err != nil {
		t.Fatal(err)
	}
	return mux
}

func TestGolden(t *testing.T) {
	cases := goldenCases(t, "search_*")
	have := map[string]bool{}
	for _, c := range cases {
		have[c.name] = true
	}
	for _, name := range []string{"search_morpheus", "search_ring", "search_dog", "search_miss", "search_invalid_action"} {
		if !have[name] {
			t.Errorf("golden case %s missing from %s", name, goldenDir)
		}
	}
	mux := referenceMux(t)
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			req, err := core.Unmarshal(c.request)
			if err != nil {
				t.Fatalf("Unmarshal(request): %v", err)
			}
			ans, err := mux.Handle(context.Background(), req)
			if err != nil {
				t.Fatalf("Handle: %v", err)
			}
			got, err := core.AppendFrame(nil, ans)
			if err != nil {
				t.Fatalf("AppendFrame: %v", err)
			}
			if want := withNativeByteOrder(t, c.answer); !bytes.Equal(got, want) {
				t.Errorf("answer frame\n got %q\nwant %q", got, want)
			}
		})
	}
}

// The reference's request frames survive a decode and re-encode unchanged:
// the router writes the reference layout for requests too, and copies
// content as it is.
func TestGoldenRequestsRoundTrip(t *testing.T) {
	for _, c := range goldenCases(t, "*") {
		req, err := core.Unmarshal(c.request)
		if err != nil {
			t.Fatalf("%s: Unmarshal: %v", c.name, err)
		}
		got, err := core.AppendFrame(nil, req)
		if err != nil {
			t.Fatalf("%s: AppendFrame: %v", c.name, err)
		}
		if !bytes.Equal(got, c.request) {
			t.Errorf("%s: re-encoded request\n got %q\nwant %q", c.name, got, c.request)
		}
	}
}

// The golden files agree with the example bytes in PROTOCOL.md.
func TestGoldenMatchesProtocolExample(t *testing.T) {
	const (
		request = "\x00g{\"byteorder\": \"little\", \"content-type\": \"text/json\", \"content-encoding\": \"utf-8\", \"content-length\": 41}{\"action\": \"search\", \"value\": \"morpheus\"}"
		answer  = "\x00g{\"byteorder\": \"little\", \"content-type\": \"text/json\", \"content-encoding\": \"utf-8\", \"content-length\": 43}{\"result\": \"Follow the white rabbit. \xf0\x9f\x90\xb0\"}"
	)
	for file, want := range map[string]string{"search_morpheus_request.bin": request, "search_morpheus.bin": answer} {
		got, err := os.ReadFile(filepath.Join(goldenDir, file))
		if err != nil {
			t.Fatal(err)
		}
		if string(got) != want {
			t.Errorf("%s = %q, want %q", file, got, want)
		}
	}
}
