package docs

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// The README's "Using the module from your own": a plugin in a module of
// its own (here examples/upper's main, copied) builds against a clone of
// this repository through a Go workspace.
func TestModuleFromAWorkspace(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a plugin in a workspace")
	}
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	ws := t.TempDir()
	plugin := filepath.Join(ws, "myplugin")
	if err := os.Mkdir(plugin, 0o755); err != nil {
		t.Fatal(err)
	}
	src, err := os.ReadFile(filepath.Join(root, "examples", "upper", "main.go"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(plugin, "main.go"), src, 0o644); err != nil {
		t.Fatal(err)
	}
	run := func(dir string, args ...string) {
		t.Helper()
		cmd := exec.Command("go", args...)
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), "GOWORK=", "GOFLAGS=")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("go %s in %s: %v\n%s", strings.Join(args, " "), dir, err, out)
		}
	}
	run(plugin, "mod", "init", "example.com/myplugin")
	run(ws, "work", "init", root, "./myplugin")
	run(ws, "build", "-o", filepath.Join(ws, "upper"), "./myplugin")
	if fi, err := os.Stat(filepath.Join(ws, "upper")); err != nil || fi.Size() == 0 {
		t.Fatalf("no plugin built: %v", err)
	}
}
