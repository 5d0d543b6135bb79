package config_test

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/msgrouter/router/config"
)

// Load reports every problem of a file at once, each an *Error naming
// the key.
func ExampleLoad_errors() {
	dir, _ := os.MkdirTemp("", "example")
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "router.yaml")
	os.WriteFile(path, []byte(`
limits: {max_conections: 10}
timeouts: {idle: 10 secs}
routes: [{plugin: serch}]
`), 0o644)

	_, err := config.Load(path, config.LoadOptions{Environ: []string{}})
	for _, e := range config.Errors(err) {
		fmt.Printf("%s: %s (want %s)\n", e.Key, e.Msg, e.Want)
	}
	// Output:
	// limits.max_conections: unknown key, did you mean "max_connections"? (want one of max_content_length, max_header_length, max_connections, max_buffered)
	// timeouts.idle: invalid duration "10 secs" (want a duration such as 500ms, 10s or 1m30s, or 0 for none)
	// routes[0].plugin: no plugin "serch" is defined, did you mean "search"? (want one of the plugins: binary, echo, search)
}
