package python_test

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/msgrouter/router/plugins/plugintest"
)

// Without python3 on the PATH, or without python3-grpcio, "router
// config check" and "router serve" fail, naming the command or the
// packages to install.
func TestMissing(t *testing.T) {
	py := python(t)
	routerBin := plugintest.Build(t, "github.com/msgrouter/router/cmd/router")
	dir := t.TempDir()
	cases := []struct {
		name, cmd, env, path string
		want                 []string
	}{
		{"python3 missing", "python3", "", dir,
			[]string{`plugins.search: cannot start python3: exec: "python3": executable file not found in $PATH`}},
		{"grpc missing", py, script("testdata/nogrpc"), os.Getenv("PATH"),
			[]string{"plugins.search: cannot start " + py + ": handshake:", "python3-grpcio", "python3-protobuf", "hidden by examples/python/testdata/nogrpc"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cfg := fmt.Sprintf(`listen: ["tcp://127.0.0.1:0"]
plugins:
  search: { cmd: %q, args: [%q], env: { PYTHONPATH: %q } }
routes:
  - { content_type: text/json, plugin: search }
`, tc.cmd, script("search.py"), tc.env)
			path := filepath.Join(t.TempDir(), "router.yaml")
			if err := os.WriteFile(path, []byte(cfg), 0o644); err != nil {
				t.Fatal(err)
			}
			for _, args := range [][]string{{"config", "check", path}, {"serve", "--config", path}} {
				cmd := exec.Command(routerBin, args...)
				cmd.Env = append(os.Environ(), "PATH="+tc.path)
				out, err := cmd.CombinedOutput()
				if err == nil {
					t.Fatalf("router %s succeeded:\n%s", args[0], out)
				}
				for _, w := range tc.want {
					if !strings.Contains(string(out), w) {
						t.Errorf("router %s says:\n%s\nwant it to contain %q", args[0], out, w)
					}
				}
			}
		})
	}
}

// The config of the guide, search: { cmd: python3, args:
// [examples/python/search.py] }: args are relative to the router's
// working directory, not to the config file's. Run from the
// repository's root it starts; from elsewhere Python cannot open the
// script, and the error says so.
func TestRelativeArgs(t *testing.T) {
	py := python(t)
	routerBin := plugintest.Build(t, "github.com/msgrouter/router/cmd/router")
	path := filepath.Join(t.TempDir(), "router.yaml")
	cfg := fmt.Sprintf(`listen: ["tcp://127.0.0.1:0"]
plugins:
  search: { cmd: %q, args: [examples/python/search.py] }
routes:
  - { content_type: text/json, plugin: search }
`, py)
	if err := os.WriteFile(path, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	check := func(dir string) (string, error) {
		cmd := exec.Command(routerBin, "config", "check", path)
		cmd.Dir = dir
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	if out, err := check(repoRoot()); err != nil {
		t.Errorf("from the repository's root: %v\n%s", err, out)
	}
	out, err := check(t.TempDir())
	if err == nil || !strings.Contains(out, "can't open file") || !strings.Contains(out, "examples/python/search.py") {
		t.Errorf("from another directory: %v\n%s\nwant Python's error that it cannot open the script", err, out)
	}
}
