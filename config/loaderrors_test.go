package config_test

import (
	"testing"

	"github.com/msgrouter/router/config"
)

// A map, or a scalar, where a list belongs names what the list holds,
// with a map's keys as the schema has them.
func TestLoadListWanted(t *testing.T) {
	dir := t.TempDir()
	path := writeFile(t, dir, "r.yaml", `
listen: {addr: "127.0.0.1:0"}
plugins: {p: {cmd: /bin/p, args: {verbose: true}}}
routes: {action: echo, plugin: p}
`)
	_, err := config.Load(path, config.LoadOptions{Environ: []string{}})
	assertLines(t, err, dir,
		`DIR/r.yaml: listen: got a map (want a list of addresses)`,
		`DIR/r.yaml: plugins.p.args: got a map (want a list of strings)`,
		`DIR/r.yaml: routes: got a map (want a list of maps with keys action, content_type, plugin, name)`,
	)
}
