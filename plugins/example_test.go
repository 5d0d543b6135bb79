package plugins_test

import (
	"bytes"
	"context"
	"fmt"
	"log"
	"os"

	"github.com/msgrouter/router/core"
	"github.com/msgrouter/router/plugins"
)

// A plugin's whole main: one handler, serving the action of its name.
// The router starts the program; run by hand, it says so and exits.
func ExampleServe() {
	plugins.Serve(plugins.Handlers{
		"upper": core.HandlerFunc(func(ctx context.Context, req *core.Message) (*core.Message, error) {
			return core.NewBinary("text/plain", bytes.ToUpper(req.Content)), nil
		}),
	})
}

// The host side: start a plugin process, learn what it declared, and use
// one of its handlers like any core.Handler, in a core.Mux route or
// directly. Here the plugin is this test binary, which serves the test
// plugin when ROUTER_TEST_PLUGIN is set (see TestMain); in a program, Cmd
// is the plugin's executable.
func ExampleStart() {
	ctx := context.Background()
	p, err := plugins.Start(ctx, plugins.Config{
		Name: "test",
		Cmd:  os.Args[0],
		Env:  []string{"ROUTER_TEST_PLUGIN=example"},
	})
	if err != nil {
		log.Fatal(err)
	}
	defer p.Shutdown(ctx) // waits for the requests in flight, then stops it

	info := p.Info()
	fmt.Println(info.Name, info.Version, len(info.Handlers), "handlers")
	upper, err := p.Handler("upper") // a core.Handler
	if err != nil {
		log.Fatal(err)
	}
	ans, err := upper.Handle(ctx, core.NewBinary("text/plain", []byte("hello")))
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("%s %s, state %s\n", ans.ContentType, ans.Content, p.State())
	// Output:
	// testplugin v0.0.1-test 13 handlers
	// text/plain HELLO, state running
}
