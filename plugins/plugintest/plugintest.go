package plugintest

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/msgrouter/router/core"
	"github.com/msgrouter/router/plugins"
)

// Case is one request to a plugin and the answer it must give.
type Case struct {
	// Name identifies the case in failures. Empty means "case N".
	Name string
	// Handler is the declared handler the request goes to.
	Handler string
	// Request is sent as it is; Run does not change it.
	Request *core.Message
	// Want is the answer: its ContentType, ContentEncoding and Content
	// must match exactly, and so must its ByteOrder and each of its
	// Headers, if it has any (the answer may have more headers). Nil,
	// with no WantError, accepts any answer but not an error.
	Want *core.Message
	// WantError, if not empty, means the handler must fail with an error
	// whose text contains it. It excludes Want.
	WantError string
	// Timeout bounds each call of the case. Zero means DefaultTimeout.
	Timeout time.Duration
	// Unrouted skips checking that the handler's declared actions and
	// content-types route Request to it, for a request that only an
	// explicit route in the router's config would send there.
	Unrouted bool
}

// Config says which plugin to run and what it must declare.
type Config struct {
	// Cmd is the plugin executable, such as Build's result, or any
	// command: an interpreter ("python3"), looked up on the PATH as the
	// router does.
	Cmd string
	// Args are extra arguments for it: an interpreter's script.
	Args []string
	// Env holds extra KEY=VALUE environment variables for it.
	Env []string
	// Settings are the plugin's settings, handed to its Init as the
	// router's config would.
	Settings map[string]any
	// Handlers are names of handlers the plugin must declare. It may
	// declare more.
	Handlers []string
	// StartTimeout bounds starting the plugin. Zero means
	// plugins.DefaultStartTimeout.
	StartTimeout time.Duration
}

// Limits of the checks. They are generous on purpose: a check fails on a
// plugin that hangs, not on a slow machine.
const (
	// DefaultTimeout bounds one call of a Case whose Timeout is zero.
	DefaultTimeout = 10 * time.Second
	// DeadlineGrace is how long after its deadline a request must have
	// come back.
	DeadlineGrace = 10 * time.Second
	// ShutdownTimeout bounds stopping the plugin and its process exiting.
	ShutdownTimeout = 10 * time.Second
	// Copies is how many copies of each Case run at once in the
	// concurrent check.
	Copies = 8
)

// Build compiles the main package pkg, a path as the go command takes it
// ("." for the test's own package, "./cmd/myplugin", or an import path),
// into a directory of t.TempDir, and returns the executable's path. Extra
// arguments go to "go build" before pkg, for example "-race" or
// "-tags=foo". A failed build fails the test with the compiler's output.
//
// It runs the go command found in $GOROOT/bin, else on the PATH. It also
// looks at the source files of pkg and of the packages of the main module
// it imports, so that go test's cache reruns the test when they change.
func Build(t testing.TB, pkg string, buildFlags ...string) string {
	t.Helper()
	goCmd, err := goCommand()
	if err != nil {
		t.Fatalf("plugintest: cannot find the go command: %v", err)
	}
	name := filepath.Base(pkg)
	if strings.HasPrefix(pkg, ".") {
		if abs, err := filepath.Abs(pkg); err == nil {
			name = filepath.Base(abs) // "." names the directory
		}
	}
	if runtime.GOOS == "windows" {
		name += ".exe"
	}
	out := filepath.Join(t.TempDir(), name)
	args := append([]string{"build", "-o", out}, buildFlags...)
	args = append(args, pkg)
	cmd := exec.Command(goCmd, args...)
	if msg, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("plugintest: go %s: %v\n%s", strings.Join(args, " "), err, msg)
	}
	noteSources(goCmd, pkg)
	return out
}

// noteSources stats the source files of pkg and of the packages of the
// main module it imports. The go command's test cache records the files
// a test looks at, so a cached result is not reused once they change,
// even when the test does not import pkg (a root test that builds
// ./cmd/myplugin). It is best effort: files of other modules are not
// noted.
func noteSources(goCmd, pkg string) {
	const format = `{{if and .Module .Module.Main}}{{range .GoFiles}}{{$.Dir}}{{"\n"}}{{.}}{{"\n"}}{{end}}{{end}}`
	out, err := exec.Command(goCmd, "list", "-deps", "-f", format, pkg).Output()
	if err != nil {
		return
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	dirs := make(map[string]bool)
	for i := 0; i+1 < len(lines); i += 2 {
		dir, file := lines[i], lines[i+1]
		if !dirs[dir] {
			dirs[dir] = true
			if f, err := os.Open(dir); err == nil { // notes the file names
				f.Close()
			}
		}
		os.Stat(filepath.Join(dir, file))
	}
}

func goCommand() (string, error) {
	if root := os.Getenv("GOROOT"); root != "" {
		p := filepath.Join(root, "bin", "go")
		if runtime.GOOS == "windows" {
			p += ".exe"
		}
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
	}
	return exec.LookPath("go")
}

// Run starts the plugin cfg describes through plugins.Start, checks it
// against the plugin contract and each case (see the package
// documentation for the list of checks), shuts it down, and returns what
// it declared. Each failure is reported with t.Error, so one run shows
// every problem; when the plugin does not start, or a Case is malformed,
// Run also stops the test with t.FailNow. The plugin's logs, and the
// host's, are logged with the failures.
func Run(t testing.TB, cfg Config, cases ...Case) plugins.Info {
	t.Helper()
	r := newRunner(cfg, cases)
	t.Cleanup(r.stop) // in case t.Fatal or a panic cuts the run short
	info, errs := r.run(context.Background())
	if len(errs) > 0 {
		if logs := r.logs.String(); logs != "" {
			t.Logf("plugintest: logs of %s:\n%s", cfg.Cmd, logs)
		}
	}
	fatal := false
	for _, err := range errs {
		t.Error(err)
		fatal = fatal || isFatal(err)
	}
	if fatal {
		t.FailNow()
	}
	return info
}

// JSON returns a "text/json", "utf-8" message whose content is v in the
// reference layout (see core.NewJSON; use core.Object to keep keys in
// order). It panics if v cannot be written as JSON.
func JSON(v any) *core.Message {
	m, err := core.NewJSON(v)
	if err != nil {
		panic("plugintest.JSON: " + err.Error())
	}
	return m
}

// Action returns the JSON request {"action": action, "value": value}, the
// shape the tutorial's client and "router send --json" send.
func Action(action string, value any) *core.Message {
	return JSON(core.Object{{Key: "action", Value: action}, {Key: "value", Value: value}})
}

// Result returns the JSON answer {"result": result}, the shape of the
// reference server's answers.
func Result(result any) *core.Message {
	return JSON(core.Object{{Key: "result", Value: result}})
}

// Text returns a message of the given content-type with content-encoding
// "utf-8" and s as its content.
func Text(contentType, s string) *core.Message {
	return &core.Message{ContentType: contentType, ContentEncoding: core.EncodingUTF8, Content: []byte(s)}
}
