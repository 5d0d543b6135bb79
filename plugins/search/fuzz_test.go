package search_test

import (
	"context"
	"encoding/json"
	"errors"
	"testing"

	"github.com/msgrouter/router/core"
	"github.com/msgrouter/router/plugins/search"
)

// FuzzHandle sends the search handler any content as a JSON request: it
// answers valid JSON of the reference's shape, {"result": "..."}, or
// returns an error wrapping core.ErrBadContent or core.ErrNotJSON; it
// never panics. The seeds reach Python's str() of every kind of value,
// arrays and objects (repr) included.
func FuzzHandle(f *testing.F) {
	for _, seed := range []string{
		`{"action": "search", "value": "morpheus"}`,
		`{"action": "search", "value": ["a", 1, true, null, 1.5, {"k": "v"}]}`,
		`{"action": {"it's": "say \"hi\"", "b": "\\", "c": "\t\u0001\u0085\u00a0\u2028\ud83d\ude00\udb40\udc01", "a": 1, "a": [{}]}}`,
		`{"action": [[[[]]], {"x": {"y": -0}}, 1E400, 123456789012345678901234567890]}`,
		`{"action": "\ud800", "value": 1e-7}`,
		`[1]`, `{}`, `{"action": `,
	} {
		f.Add([]byte(seed))
	}
	h := search.Default()
	f.Fuzz(func(t *testing.T, content []byte) {
		ans, err := h.Handle(context.Background(), jsonRequest(string(content)))
		if err != nil {
			if !errors.Is(err, core.ErrBadContent) && !errors.Is(err, core.ErrNotJSON) {
				t.Fatalf("error %v wraps neither ErrBadContent nor ErrNotJSON", err)
			}
			return
		}
		var out map[string]string
		if err := json.Unmarshal(ans.Content, &out); err != nil || len(out) != 1 {
			t.Fatalf("answer %q is not {\"result\": \"...\"}: %v", ans.Content, err)
		}
		if _, ok := out["result"]; !ok {
			t.Fatalf("answer %q has no result", ans.Content)
		}
	})
}
