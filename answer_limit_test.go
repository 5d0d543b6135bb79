package router_test

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/msgrouter/router"
	"github.com/msgrouter/router/core"
	"github.com/msgrouter/router/internal/configtest"
	"github.com/msgrouter/router/internal/routertest"
)

// A plugin process's answer may be as large as limits.max_content_length
// allows a request to be, when that is above the default 16 MiB, and 0
// bounds neither. (A limit below the default bounds requests only: see
// TestServeLimits in cmd/router.)
func TestPluginAnswerLimit(t *testing.T) {
	const big = 17 << 20 // just above core.DefaultMaxContentLength
	for _, tc := range []struct {
		limit   string
		size    int
		wantErr string // in the error answer; "" for the echo, intact
	}{
		{"64MiB", big, ""},
		{"0", big, ""},
		{"16MiB", big, "content-length above limit"}, // the request itself
	} {
		t.Run(tc.limit, func(t *testing.T) {
			if raceDetector && tc.wantErr == "" {
				t.Skip("a message above 16 MiB may take longer than the data socket's 5s write deadline under the race detector")
			}
			cfg := configtest.MustLoad(t, "r.yaml", `
listen: ["127.0.0.1:0"]
plugins: {echo: `+procPlugin(t, "echo", "")+`}
routes: [{plugin: echo}]
limits: {max_content_length: `+tc.limit+`}
`)
			r := start(t, cfg, router.StartOptions{Logger: testLogger(t)})
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			c := routertest.Dial(t, addr(r, 0))
			req := core.NewBinary("application/octet-stream", bytes.Repeat([]byte("y"), tc.size))
			ans, err := c.Do(ctx, req)
			if err != nil {
				t.Fatal(err)
			}
			aerr := core.AnswerError(ans)
			if tc.wantErr != "" {
				if aerr == nil || !strings.Contains(aerr.Error(), tc.wantErr) {
					t.Fatalf("answer %v, want an error with %q", aerr, tc.wantErr)
				}
				return
			}
			if aerr != nil || !bytes.Equal(ans.Content, req.Content) {
				t.Fatalf("answer of %d bytes (error %v), want the %d bytes sent", len(ans.Content), aerr, tc.size)
			}
		})
	}
}
