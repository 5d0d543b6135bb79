package search_test

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/msgrouter/router/core"
	"github.com/msgrouter/router/internal/goldentest"
	binaryplugin "github.com/msgrouter/router/plugins/binary"
	"github.com/msgrouter/router/plugins/search"
)

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
	cases := goldentest.Cases(t, "search_*")
	have := map[string]bool{}
	for _, c := range cases {
		have[c.Name] = true
	}
	for _, name := range []string{"search_morpheus", "search_ring", "search_dog", "search_miss", "search_invalid_action"} {
		if !have[name] {
			t.Errorf("golden case %s missing from %s", name, goldentest.Dir())
		}
	}
	mux := referenceMux(t)
	for _, c := range cases {
		t.Run(c.Name, func(t *testing.T) {
			req, err := core.Unmarshal(c.Request)
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
			if want := goldentest.WithNativeByteOrder(t, c.Answer); !bytes.Equal(got, want) {
				t.Errorf("answer frame\n got %q\nwant %q", got, want)
			}
		})
	}
}

// The reference's request frames survive a decode and re-encode unchanged:
// the router writes the reference layout for requests too, and copies
// content as it is.
func TestGoldenRequestsRoundTrip(t *testing.T) {
	for _, c := range goldentest.Cases(t, "*") {
		req, err := core.Unmarshal(c.Request)
		if err != nil {
			t.Fatalf("%s: Unmarshal: %v", c.Name, err)
		}
		got, err := core.AppendFrame(nil, req)
		if err != nil {
			t.Fatalf("%s: AppendFrame: %v", c.Name, err)
		}
		if !bytes.Equal(got, c.Request) {
			t.Errorf("%s: re-encoded request\n got %q\nwant %q", c.Name, got, c.Request)
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
		got, err := os.ReadFile(filepath.Join(goldentest.Dir(), file))
		if err != nil {
			t.Fatal(err)
		}
		if string(got) != want {
			t.Errorf("%s = %q, want %q", file, got, want)
		}
	}
}
