package binary_test

import (
	"bytes"
	"context"
	encbinary "encoding/binary"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/msgrouter/router/core"
	"github.com/msgrouter/router/plugins/binary"
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
	n := int(encbinary.BigEndian.Uint16(frame))
	header, content := frame[2:2+n], frame[2+n:]
	for _, order := range []string{core.ByteOrderLittle, core.ByteOrderBig} {
		old := []byte(`{"byteorder": "` + order + `", `)
		if bytes.HasPrefix(header, old) {
			header = append([]byte(`{"byteorder": "`+core.NativeByteOrder()+`", `), header[len(old):]...)
			out := encbinary.BigEndian.AppendUint16(nil, uint16(len(header)))
			return append(append(out, header...), content...)
		}
	}
	t.Fatalf("golden answer has no leading byteorder: %q", frame)
	return nil
}

func TestGolden(t *testing.T) {
	cases := goldenCases(t, "binary*")
	have := map[string]bool{}
	for _, c := range cases {
		have[c.name] = true
	}
	for _, name := range []string{"binary", "binary_long", "binary_short"} {
		if !have[name] {
			t.Errorf("golden case %s missing from %s", name, goldenDir)
		}
	}
	// Routed as the reference server routes: text/json to search,
	// everything else to binary.
	mux, err := core.NewMux(
		core.Route{ContentType: core.ContentTypeJSON, Handler: search.Default()},
		core.Route{Handler: binary.New()},
	)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			req, err := core.Unmarshal(c.request)
			if err != nil {
				t.Fatalf("Unmarshal(request): %v", err)
			}
			if req.ContentType != "binary/custom-client-binary-type" {
				t.Fatalf("request content-type %q, want the reference client's binary type", req.ContentType)
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
