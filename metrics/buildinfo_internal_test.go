package metrics

import (
	"runtime/debug"
	"testing"
)

// moduleVersion: the main module's version when the program is the
// router, the dependency's (or its replacement's) when a program embeds
// it, and devel for a source tree.
func TestModuleVersion(t *testing.T) {
	dep := func(v string, replace *debug.Module) *debug.Module {
		return &debug.Module{Path: modulePath, Version: v, Replace: replace}
	}
	for _, tt := range []struct {
		name string
		bi   *debug.BuildInfo
		ok   bool
		want string
	}{
		{"router", &debug.BuildInfo{Main: debug.Module{Path: modulePath, Version: "v1.2.3"}}, true, "v1.2.3"},
		{"router from a source tree", &debug.BuildInfo{Main: debug.Module{Path: modulePath, Version: "(devel)"}}, true, "devel"},
		{"embedded", &debug.BuildInfo{Main: debug.Module{Path: "example.com/app", Version: "v0.1.0"},
			Deps: []*debug.Module{{Path: "other", Version: "v9"}, dep("v1.4.0", nil)}}, true, "v1.4.0"},
		{"embedded, replaced", &debug.BuildInfo{Main: debug.Module{Path: "example.com/app"},
			Deps: []*debug.Module{dep("v1.4.0", &debug.Module{Path: "example.com/fork", Version: "v1.4.1"})}}, true, "v1.4.1"},
		{"embedded, replaced by a directory", &debug.BuildInfo{Main: debug.Module{Path: "example.com/app"},
			Deps: []*debug.Module{dep("v1.4.0", &debug.Module{Path: "../router"})}}, true, "devel"},
		{"no build info", nil, false, "devel"},
	} {
		if got := moduleVersion(tt.bi, tt.ok); got != tt.want {
			t.Errorf("%s: moduleVersion = %q, want %q", tt.name, got, tt.want)
		}
	}
}
