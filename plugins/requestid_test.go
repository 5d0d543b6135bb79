package plugins_test

import (
	"context"
	"errors"
	"testing"

	"github.com/msgrouter/router/core"
)

// A server that generates request ids hands them to a plugin process, and
// puts them on the plugin's answers; a client's own id goes through as
// it is.
func TestPluginRequestIDs(t *testing.T) {
	p := start(t, "basic", nil)
	h, err := p.Handler("headers") // answers the names of the headers it saw
	if err != nil {
		t.Fatal(err)
	}
	srv := &core.Server{Handler: h, GenerateRequestIDs: true}
	l, err := core.Listen(context.Background(), "tcp://127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(l) }()
	defer func() {
		srv.Close()
		if err := <-served; !errors.Is(err, core.ErrServerClosed) {
			t.Errorf("Serve: %v", err)
		}
	}()
	c, err := core.Dial(context.Background(), l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()

	own := core.NewBinary("text/plain", nil)
	own.SetHeader("request-id", "client-7")
	seen := map[string]bool{}
	for _, tc := range []struct {
		req    *core.Message
		wantID string // "" for a generated one
	}{
		{core.NewBinary("text/plain", nil), ""},
		{own, "client-7"},
		{core.NewBinary("text/plain", nil), ""},
	} {
		ans, err := c.Do(context.Background(), tc.req)
		if err != nil {
			t.Fatal(err)
		}
		if got := string(ans.Content); got != "request-id" {
			t.Errorf("the plugin saw headers %q, want request-id", got)
		}
		id, ok := ans.Header("request-id")
		switch {
		case !ok || id == "":
			t.Errorf("answer %s has no request-id", ans)
		case tc.wantID != "" && id != tc.wantID:
			t.Errorf("request-id %q, want the client's %q", id, tc.wantID)
		case seen[id]:
			t.Errorf("request-id %q given twice", id)
		}
		seen[id] = true
		if v, _ := ans.Header("x-answered-by"); v != "plugin" {
			t.Errorf("the plugin's own answer header is lost: %s", ans)
		}
	}
}
