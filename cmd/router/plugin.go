package main

import (
	"context"
	"flag"
	"fmt"
	"runtime/debug"
	"strings"

	"github.com/msgrouter/router/core"
	"github.com/msgrouter/router/internal/soak"
	"github.com/msgrouter/router/plugins"
	"github.com/msgrouter/router/plugins/binary"
	"github.com/msgrouter/router/plugins/echo"
	"github.com/msgrouter/router/plugins/search"
)

// builtin is a handler built into the router, servable in-process or as
// a plugin process ("builtin:NAME", which runs "router plugin NAME").
type builtin struct {
	name    string
	summary string // one line, for help
	// spec returns the plugin's one handler and what it declares. The
	// declarations match the default route table, so that a route
	// derived from them (see pluginRoutes) is the default one.
	spec func() plugins.HandlerSpec
}

// builtins in the order help lists them.
var builtins = []builtin{
	{
		name:    "search",
		summary: `the reference app-server's search: content-type text/json, action "search"`,
		spec: func() plugins.HandlerSpec {
			return plugins.HandlerSpec{
				Name:         "search",
				Actions:      []string{"search"},
				ContentTypes: []string{core.ContentTypeJSON},
				Handler:      search.Default(),
			}
		},
	},
	{
		name:    "binary",
		summary: `the reference app-server's binary answer: any content-type`,
		spec: func() plugins.HandlerSpec {
			return plugins.HandlerSpec{
				Name:         "binary",
				Actions:      []string{}, // none: nil would mean "binary"
				ContentTypes: []string{"*"},
				Handler:      binary.New(),
			}
		},
	},
	{
		name:    "echo",
		summary: `answers a request with itself: action "echo"`,
		spec: func() plugins.HandlerSpec {
			return plugins.HandlerSpec{
				Name:    "echo",
				Actions: []string{"echo"},
				Handler: echo.New(),
			}
		},
	},
	{
		name:    "soak",
		summary: `router soak's faults: action "slow" waits its value (a duration), "big" answers its value in bytes`,
		spec: func() plugins.HandlerSpec {
			return plugins.HandlerSpec{
				Name:    "soak",
				Actions: []string{"slow", "big"},
				Handler: soak.FaultHandler{},
			}
		},
	},
}

func lookupBuiltin(name string) (builtin, bool) {
	for _, b := range builtins {
		if b.name == name {
			return b, true
		}
	}
	return builtin{}, false
}

func builtinNames() []string {
	names := make([]string, len(builtins))
	for i, b := range builtins {
		names[i] = b.name
	}
	return names
}

// builtinPlugin returns the plugin that "router plugin NAME" serves.
func builtinPlugin(b builtin) *plugins.Plugin {
	return &plugins.Plugin{
		Name:     b.name,
		Version:  routerVersion(debug.ReadBuildInfo()),
		Handlers: []plugins.HandlerSpec{b.spec()},
	}
}

var pluginCmd = &command{
	name:    "plugin",
	args:    "NAME",
	summary: "serve a built-in handler as a plugin process (run by serve)",
	desc: `Plugin serves the built-in handler NAME as a plugin process, for a router
that started it: "router serve" runs it this way for a config's plugin whose
cmd is "builtin:NAME" (the default config's search, binary and echo). It is
not meant to be run by hand: run outside a router, it says so and exits with
status 1.

The built-ins, with the actions and content-types they declare:

` + builtinList() + `
Each serves one handler of the same name. The plugin logs JSON to stderr,
which the router re-emits under the plugin's name, and exits when the router
stops it or dies.
`,
	examples: []string{
		"# What serve runs for the search route; by hand, it only explains itself:\nrouter plugin search",
		"# The built-ins and what they declare:\nrouter plugin --help",
	},
	setup: func(fs *flag.FlagSet) func(context.Context, *cli, []string) error {
		return func(_ context.Context, c *cli, args []string) error {
			if len(args) != 1 {
				return usagef("plugin", "want one NAME (%s), got %d arguments", strings.Join(builtinNames(), ", "), len(args))
			}
			b, ok := lookupBuiltin(args[0])
			if !ok {
				return usagef("plugin", "unknown built-in %q; the built-ins are %s", args[0], strings.Join(builtinNames(), ", "))
			}
			serve := c.servePlugin
			if serve == nil {
				serve = plugins.ServePlugin
			}
			serve(builtinPlugin(b))
			return nil
		}
	},
}

// builtinList describes the built-ins for help, one a line.
func builtinList() string {
	var sb strings.Builder
	for _, b := range builtins {
		fmt.Fprintf(&sb, "\t%-8s %s\n", b.name, b.summary)
	}
	return sb.String()
}
