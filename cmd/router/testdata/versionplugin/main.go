// Command versionplugin is a plugin whose handler "version" (action
// "version") answers {"result": VERSION}, VERSION set at build time:
//
//	go build -ldflags "-X main.version=v2" -o BIN ./cmd/router/testdata/versionplugin
//
// The blue/green test of cmd/router builds it once per version, so that
// each rebuilt executable answers which build it is.
package main

import (
	"context"

	"github.com/msgrouter/router/core"
	"github.com/msgrouter/router/plugins"
)

// version is set with -ldflags "-X main.version=...".
var version = "dev"

func main() {
	plugins.Serve(plugins.Handlers{
		"version": core.HandlerFunc(func(context.Context, *core.Message) (*core.Message, error) {
			return core.NewJSON(core.Object{{Key: "result", Value: version}})
		}),
	})
}
