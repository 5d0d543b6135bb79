package metrics_test

import (
	"context"
	"io"
	"net/http"
	"regexp"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/msgrouter/router/core"
	"github.com/msgrouter/router/metrics"
)

// TestExposition reads the text a scrape gets: router_build_info, and
// the latency histogram's bounds as they are written in the source, not
// as float arithmetic leaves them (le="0.01", not le="0.010000000000000007").
func TestExposition(t *testing.T) {
	m := metrics.New()
	h := m.Instrument("echo", core.HandlerFunc(func(_ context.Context, req *core.Message) (*core.Message, error) {
		return req, nil
	}))
	if _, err := h.Handle(context.Background(), core.NewBinary("text/plain", nil)); err != nil {
		t.Fatal(err)
	}
	text := scrapeText(t, serveMetrics(t, m))

	// The test binary is built from the router's source tree: devel, as
	// 'router version' says of such a build.
	want := `router_build_info{go_version="` + runtime.Version() + `",version="devel"} 1` + "\n"
	if !strings.Contains(text, want) {
		t.Errorf("no %q in the scrape:\n%s", want, text)
	}

	var les []string
	for _, m := range regexp.MustCompile(`(?m)^router_request_duration_seconds_bucket\{route="echo",le="([^"]*)"\} \d+$`).FindAllStringSubmatch(text, -1) {
		les = append(les, m[1])
	}
	wantLEs := []string{
		"2.5e-05", "5e-05", "0.0001", "0.00025", "0.0005", "0.001", "0.0025", "0.005",
		"0.01", "0.025", "0.05", "0.1", "0.25", "0.5", "1", "2.5", "5", "10", "+Inf",
	}
	if !slices.Equal(les, wantLEs) {
		t.Errorf("the bucket bounds are\n%q\nwant\n%q", les, wantLEs)
	}
}

// scrapeText returns the text exposition that url serves.
func scrapeText(t *testing.T, url string) string {
	t.Helper()
	c := &http.Client{Timeout: 10 * time.Second}
	resp, err := c.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
