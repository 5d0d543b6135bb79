package binary_test

import (
	"bytes"
	"context"
	"testing"

	"github.com/msgrouter/router/core"
	"github.com/msgrouter/router/internal/goldentest"
	"github.com/msgrouter/router/plugins/binary"
	"github.com/msgrouter/router/plugins/search"
)

func TestGolden(t *testing.T) {
	cases := goldentest.Cases(t, "binary*")
	have := map[string]bool{}
	for _, c := range cases {
		have[c.Name] = true
	}
	for _, name := range []string{"binary", "binary_long", "binary_short"} {
		if !have[name] {
			t.Errorf("golden case %s missing from %s", name, goldentest.Dir())
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
		t.Run(c.Name, func(t *testing.T) {
			req, err := core.Unmarshal(c.Request)
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
			if want := goldentest.WithNativeByteOrder(t, c.Answer); !bytes.Equal(got, want) {
				t.Errorf("answer frame\n got %q\nwant %q", got, want)
			}
		})
	}
}
