package router_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/msgrouter/router"
	"github.com/msgrouter/router/config"
	"github.com/msgrouter/router/internal/configtest"
)

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
	path := configtest.WriteFile(t, confDir, "r.yaml", `
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
	if err := router.Check(ctx, c, router.StartOptions{Logger: testLogger(t)}); err != nil {
		t.Fatalf("Check with plugins.echo.cmd %q from %s: %v", c.Plugins["echo"].Cmd, work, err)
	}
}
