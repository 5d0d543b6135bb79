package main

import (
	"context"
	"flag"
	"fmt"
	"runtime"
	"runtime/debug"
)

var versionCmd = &command{
	name:    "version",
	summary: "print the router's version",
	desc: `Version prints the router's module version (or "devel" for a build from a
source tree), the VCS revision it was built from when known, and the Go
version and platform.
`,
	examples: []string{"router version", "# The same:\nrouter --version"},
	setup: func(fs *flag.FlagSet) func(context.Context, *cli, []string) error {
		return func(_ context.Context, c *cli, args []string) error {
			if len(args) > 0 {
				return usagef("version", "takes no arguments")
			}
			fmt.Fprint(c.stdout, versionText(debug.ReadBuildInfo()))
			return nil
		}
	},
}

// routerVersion returns the router's module version, or "devel" for a
// build from a source tree.
func routerVersion(bi *debug.BuildInfo, ok bool) string {
	if ok {
		if v := bi.Main.Version; v != "" && v != "(devel)" {
			return v
		}
	}
	return "devel"
}

// versionText describes the build.
func versionText(bi *debug.BuildInfo, ok bool) string {
	version, revision, modified := routerVersion(bi, ok), "", false
	if ok {
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				revision = s.Value
			case "vcs.modified":
				modified = s.Value == "true"
			}
		}
	}
	out := "router " + version + "\n"
	if revision != "" {
		out += "revision " + revision
		if modified {
			out += " (modified)"
		}
		out += "\n"
	}
	return out + fmt.Sprintf("%s %s/%s\n", runtime.Version(), runtime.GOOS, runtime.GOARCH)
}
