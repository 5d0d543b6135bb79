package plugintest_test

import (
	"testing"

	"github.com/msgrouter/router/core"
	"github.com/msgrouter/router/plugins/plugintest"
)

// A plugin's whole test, in its main_test.go. Here it tests the example
// plugin ../../examples/upper (whose own test builds "."); the same test
// runs in TestRunUpper.
func ExampleRun() {
	testPlugin := func(t *testing.T) { // func TestPlugin(t *testing.T) in main_test.go
		bin := plugintest.Build(t, "../../examples/upper")
		plugintest.Run(t, plugintest.Config{Cmd: bin, Handlers: []string{"upper"}},
			plugintest.Case{
				Name:    "json",
				Handler: "upper",
				Request: plugintest.Action("upper", "hello"), // {"action": "upper", "value": "hello"}
				Want:    plugintest.Result("HELLO"),          // {"result": "HELLO"}
			},
			plugintest.Case{
				Name:    "text",
				Handler: "upper",
				Request: plugintest.Text("text/plain", "hello"),
				Want:    plugintest.Text("text/plain", "HELLO"),
			},
			plugintest.Case{
				Name:      "no value",
				Handler:   "upper",
				Request:   plugintest.JSON(core.Object{{Key: "action", Value: "upper"}}),
				WantError: `needs a string "value"`,
			},
		)
	}
	_ = testPlugin
}
