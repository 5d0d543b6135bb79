package python_test

import (
	"testing"

	"github.com/msgrouter/router/core"
	"github.com/msgrouter/router/plugins/plugintest"
)

// The example search plugin passes plugintest's contract checks, as a
// Go plugin does: the command is python3 and the script its argument.
func TestSearchContract(t *testing.T) {
	info := plugintest.Run(t, plugintest.Config{
		Cmd:      python(t),
		Args:     []string{script("search.py")},
		Handlers: []string{"search"},
	},
		plugintest.Case{Name: "morpheus", Handler: "search", Request: plugintest.Action("search", "morpheus"),
			Want: plugintest.Result("Follow the white rabbit. 🐰")},
		plugintest.Case{Name: "dog", Handler: "search", Request: plugintest.Action("search", "🐶"),
			Want: plugintest.Result("🐾 Playing ball! 🏐")},
		plugintest.Case{Name: "miss", Handler: "search", Request: plugintest.Action("search", "neo"),
			Want: plugintest.Result("No match for 'neo'.")},
		plugintest.Case{Name: "invalid action", Handler: "search", Request: plugintest.Action("find", "x"),
			Want: plugintest.Result("Error: invalid action 'find'.")},
		plugintest.Case{Name: "not an object", Handler: "search", Request: plugintest.Text(core.ContentTypeJSON, "[1]"),
			WantError: "content is not a JSON object"},
	)
	if info.Name != "search" || info.Version != "1.0.0" {
		t.Errorf("declared %q %q, want search 1.0.0", info.Name, info.Version)
	}
	h := info.Handlers[0]
	if len(h.Actions) != 1 || h.Actions[0] != "search" || len(h.ContentTypes) != 1 || h.ContentTypes[0] != "text/json" {
		t.Errorf("search declares %v %v, want [search] [text/json]", h.Actions, h.ContentTypes)
	}
}

// The faults plugin too, with its settings: each handler's error text
// comes back as plugintest's WantError sees it.
func TestFaultsContract(t *testing.T) {
	plugintest.Run(t, plugintest.Config{
		Cmd:      python(t),
		Args:     []string{script("testdata/faults.py")},
		Settings: map[string]any{"greeting": "hello"},
		Handlers: []string{"echo", "fail", "wrong", "settings"},
	},
		plugintest.Case{Name: "echo", Handler: "echo", Request: plugintest.Action("echo", "é"), Want: plugintest.Result("é")},
		plugintest.Case{Name: "settings", Handler: "settings", Request: plugintest.Action("settings", "greeting"), Want: plugintest.Result("hello")},
		plugintest.Case{Name: "fail", Handler: "fail", Request: plugintest.Action("fail", "x"), WantError: "the handler broke on 'x'"},
		plugintest.Case{Name: "wrong", Handler: "wrong", Request: plugintest.Action("wrong", "x"),
			WantError: "handler 'wrong' returned dict, not an answer"},
	)
}
