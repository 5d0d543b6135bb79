// Package goldentest loads the golden wire bytes in testdata/golden: the
// request frames the tutorial's client sends and the answer frames the
// Python reference server sends back (see testdata/golden/README.md). The
// built-in handlers' tests compare the router's answers with them.
package goldentest

import (
	"bytes"
	"encoding/binary"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/msgrouter/router/core"
)

// Case is one golden request and the reference's answer to it.
type Case struct {
	Name            string
	Request, Answer []byte
}

// Dir returns the golden directory, wherever the calling test runs.
func Dir() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..", "testdata", "golden")
}

// Cases loads every NAME_request.bin / NAME.bin pair whose NAME matches
// the glob pattern.
func Cases(t testing.TB, pattern string) []Case {
	t.Helper()
	paths, err := filepath.Glob(filepath.Join(Dir(), pattern+"_request.bin"))
	if err != nil {
		t.Fatal(err)
	}
	var cases []Case
	for _, p := range paths {
		name := strings.TrimSuffix(filepath.Base(p), "_request.bin")
		req, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		ans, err := os.ReadFile(filepath.Join(Dir(), name+".bin"))
		if err != nil {
			t.Fatal(err)
		}
		cases = append(cases, Case{name, req, ans})
	}
	return cases
}

// WithNativeByteOrder rewrites a golden answer's byteorder to this host's:
// the reference writes sys.byteorder, and so does the router's encoder.
func WithNativeByteOrder(t testing.TB, frame []byte) []byte {
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
