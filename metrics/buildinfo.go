package metrics

import (
	"runtime"
	"runtime/debug"

	"github.com/prometheus/client_golang/prometheus"
)

// modulePath is the router's module, whose version router_build_info
// gives.
const modulePath = "github.com/msgrouter/router"

// newBuildInfo returns the gauge router_build_info: 1, with the router
// module's version and the Go version as labels, the usual way to
// expose a build (join on it to see which version a series came from).
func newBuildInfo() prometheus.Gauge {
	g := prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "router_build_info",
		Help: "1, with the router's version (the module's, or devel for a build from a source tree) and the Go version that built it.",
		ConstLabels: prometheus.Labels{
			"version":    moduleVersion(debug.ReadBuildInfo()),
			"go_version": runtime.Version(),
		},
	})
	g.Set(1)
	return g
}

// moduleVersion returns the router module's version in bi, "devel" for
// a build from a source tree or without build info: the main module's
// when the program is the router, which is what 'router version'
// prints, or else the version of the dependency (its replacement's, if
// replaced) that the program embeds.
func moduleVersion(bi *debug.BuildInfo, ok bool) string {
	if !ok {
		return "devel"
	}
	m := &bi.Main
	if m.Path != modulePath {
		m = nil
		for _, d := range bi.Deps {
			if d.Path == modulePath {
				m = d
				if d.Replace != nil {
					m = d.Replace
				}
			}
		}
	}
	if m == nil || m.Version == "" || m.Version == "(devel)" {
		return "devel"
	}
	return m.Version
}
