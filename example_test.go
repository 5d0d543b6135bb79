package router_test

import (
	"context"
	"fmt"
	"log"
	"os"
	"path/filepath"

	"github.com/msgrouter/router"
	"github.com/msgrouter/router/config"
	"github.com/msgrouter/router/core"
	"github.com/msgrouter/router/plugins"
	"github.com/msgrouter/router/plugins/search"
)

// A router from a config file: Load reads and checks it, Start starts its
// plugins and opens its listeners, Serve serves. Here the plugins run
// in-process; "builtin:search" in a file run by "router serve" would
// start them as processes.
func ExampleStart() {
	dir, _ := os.MkdirTemp("", "example")
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "router.yaml")
	os.WriteFile(path, []byte(`
listen: ["127.0.0.1:0"]          # port 0: any free port
plugins:
  search: {cmd: "builtin:search"}
  hello: {cmd: inprocess}         # given by StartOptions.InProcess below
routes:
  - {action: hello, plugin: hello}
  - {content_type: text/json, plugin: search}
`), 0o644)

	// Environ: nil would read the process's ROUTER_ variables over the file.
	cfg, err := config.Load(path, config.LoadOptions{Environ: []string{}})
	if err != nil {
		log.Fatal(err) // every problem, one a line
	}
	ctx := context.Background()
	r, err := router.Start(ctx, cfg, router.StartOptions{
		InProcess: map[string]func() *plugins.Plugin{
			"builtin:search": func() *plugins.Plugin {
				return &plugins.Plugin{Name: "search", Handlers: []plugins.HandlerSpec{
					{Name: "search", ContentTypes: []string{core.ContentTypeJSON}, Handler: search.Default()},
				}}
			},
			"hello": func() *plugins.Plugin {
				return &plugins.Plugin{Name: "hello", Handlers: []plugins.HandlerSpec{{
					Name: "hello", // serves the action "hello"
					Handler: core.HandlerFunc(func(context.Context, *core.Message) (*core.Message, error) {
						return core.NewJSON(core.Object{{Key: "result", Value: "hello from Go"}})
					}),
				}}}
			},
		},
		Logger: nil, // the config's log section, on stderr
	})
	if err != nil {
		log.Fatal(err)
	}
	go r.Serve()
	defer r.Shutdown(ctx)

	c, err := core.Dial(ctx, r.Addrs()[0].String())
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()
	for _, action := range []string{"hello", "search"} {
		req, _ := core.NewJSON(core.Object{{Key: "action", Value: action}, {Key: "value", Value: "morpheus"}})
		ans, err := c.Do(ctx, req)
		if err != nil {
			log.Fatal(err)
		}
		fmt.Printf("%s\n", ans.Content)
	}
	// Output:
	// {"result": "hello from Go"}
	// {"result": "Follow the white rabbit. 🐰"}
}
