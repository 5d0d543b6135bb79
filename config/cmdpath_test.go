package config_test

import (
	"context"
	"os"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"github.com/msgrouter/router/config"
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
	writeFile(t, confDir, "r.yaml", `
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

// A plugin that a file names by a path relative to the file starts from
// another working directory: the test binary, linked into the config's
// directory, serves the test plugin echo.
func TestCheckRelativeCmdStarts(t *testing.T) {
	root := t.TempDir()
	confDir := filepath.Join(root, "conf")
	work := filepath.Join(root, "elsewhere")
	for _, d := range []string{filepath.Join(confDir, "bin"), work} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Symlink(testExe(t), filepath.Join(confDir, "bin", "echo-plugin")); err != nil {
		t.Fatal(err)
	}
	path := writeFile(t, confDir, "r.yaml", `
listen: ["127.0.0.1:0"]
plugins:
  echo: {cmd: bin/echo-plugin, env: {CONFIG_TEST_PLUGIN: echo, GORACE: atexit_sleep_ms=0}}
routes: [{plugin: echo}]
`)
	t.Chdir(work)
	c, err := config.Load(path, config.LoadOptions{Environ: []string{}})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := config.Check(ctx, c, config.StartOptions{Logger: testLogger(t)}); err != nil {
		t.Fatalf("Check with plugins.echo.cmd %q from %s: %v", c.Plugins["echo"].Cmd, work, err)
	}
}
