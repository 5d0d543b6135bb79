package config_test

import (
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/msgrouter/router/config"
	"github.com/msgrouter/router/internal/configtest"
)

// A relative plugin cmd that a file sets is relative to the file's
// directory, whatever the working directory; one from the environment
// or a flag stays relative to the working directory, and so do bare
// names, built-ins, absolute paths and args.
func TestLoadRelativeCmd(t *testing.T) {
	root := t.TempDir()
	confDir := filepath.Join(root, "etc", "router")
	work := filepath.Join(root, "work")
	for _, d := range []string{confDir, work} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	configtest.WriteFile(t, confDir, "r.yaml", `
plugins:
  dot: {cmd: ./shout, args: [./arg, sub/arg]}
  sub: {cmd: bin/shout}
  up: {cmd: ../shout}
  bare: {cmd: python3}
  abs: {cmd: /usr/bin/shout}
  builtin: {cmd: "builtin:echo"}
  fromenv: {cmd: ./file-value}
  fromflag: {cmd: ./file-value}
routes: [{plugin: dot}]
`)
	t.Chdir(work)
	// The file named relative to the working directory, as a user
	// types it.
	path := filepath.Join("..", "etc", "router", "r.yaml")
	c, err := config.Load(path, config.LoadOptions{
		Environ: []string{"ROUTER_PLUGINS_FROMENV_CMD=./env-value"},
		Flags:   map[string]any{"plugins.fromflag.cmd": "bin/flag-value"},
	})
	if err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]string{
		"dot":      filepath.Join(confDir, "shout"),
		"sub":      filepath.Join(confDir, "bin", "shout"),
		"up":       filepath.Join(root, "etc", "shout"),
		"bare":     "python3",
		"abs":      "/usr/bin/shout",
		"builtin":  "builtin:echo",
		"fromenv":  "./env-value",
		"fromflag": "bin/flag-value",
	} {
		if got := c.Plugins[name].Cmd; got != want {
			t.Errorf("plugins.%s.cmd = %q, want %q", name, got, want)
		}
	}
	if args := c.Plugins["dot"].Args; !reflect.DeepEqual(args, []string{"./arg", "sub/arg"}) {
		t.Errorf("plugins.dot.args = %q: args are the plugin's, not rewritten", args)
	}

	// The embedded default has no file: its built-ins stay as they are.
	def, err := config.Load("", config.LoadOptions{Environ: []string{"ROUTER_PLUGINS_ECHO_CMD=./echo"}})
	if err != nil {
		t.Fatal(err)
	}
	if got := def.Plugins["echo"].Cmd; got != "./echo" {
		t.Errorf("plugins.echo.cmd from the environment = %q, want ./echo", got)
	}
}
