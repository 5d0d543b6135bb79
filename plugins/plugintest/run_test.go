package plugintest_test

import (
	"fmt"
	"testing"

	"github.com/msgrouter/router/core"
	"github.com/msgrouter/router/plugins/plugintest"
)

// TestRunUpper runs the repository's example plugin through Run, as its
// author would.
func TestRunUpper(t *testing.T) {
	bin := plugintest.Build(t, "../../examples/upper")
	info := plugintest.Run(t, plugintest.Config{Cmd: bin, Handlers: []string{"upper"}, Settings: map[string]any{"suffix": "!"}},
		plugintest.Case{Name: "json", Handler: "upper", Request: plugintest.Action("upper", "hello"), Want: plugintest.Result("HELLO!")},
		plugintest.Case{Name: "text", Handler: "upper", Request: plugintest.Text("text/plain", "hello"), Want: plugintest.Text("text/plain", "HELLO!")},
		plugintest.Case{Name: "no value", Handler: "upper", Request: plugintest.JSON(core.Object{{Key: "action", Value: "upper"}}), WantError: `needs a string "value"`},
	)
	// The version comes from the build: "(devel)", or a pseudo-version
	// when the go command stamps one from version control.
	if got := fmt.Sprintf("%s %+v", info.Name, info.Handlers); got != "upper [{Name:upper Actions:[upper] ContentTypes:[text/plain]}]" || info.Version == "" {
		t.Errorf("Info = %+v", info)
	}
}
