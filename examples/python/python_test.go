// Package python_test runs the Python SDK (sdk/python) for real: the
// example search plugin and a plugin that misbehaves on request, as
// processes behind a router, plus the SDK's own unittest suite. It needs
// a python3 that can import grpc and google.protobuf (Debian's
// python3-grpcio and python3-protobuf); without one, the tests skip and
// say so.
package python_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/msgrouter/router"
	"github.com/msgrouter/router/core"
	"github.com/msgrouter/router/internal/configtest"
	"github.com/msgrouter/router/internal/routertest"
	"github.com/msgrouter/router/internal/testlog"
	"github.com/msgrouter/router/plugins"
	"github.com/msgrouter/router/plugins/binary"
)

// repoRoot is the repository's root directory.
func repoRoot() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Clean(filepath.Join(filepath.Dir(file), "..", ".."))
}

// script returns the absolute path of a file of this directory.
func script(name string) string { return filepath.Join(repoRoot(), "examples", "python", name) }

var (
	pythonOnce sync.Once
	pythonPath string
	pythonWhy  string
)

// python returns a python3 that can import grpc and google.protobuf:
// python3 on the PATH, else /usr/bin/python3. Without one the test is
// skipped, with a message naming the packages to install.
func python(t testing.TB) string {
	t.Helper()
	pythonOnce.Do(func() {
		var tried []string
		for _, cand := range []string{"python3", "/usr/bin/python3"} {
			p, err := exec.LookPath(cand)
			if err != nil {
				tried = append(tried, fmt.Sprintf("%s: %v", cand, err))
				continue
			}
			out, err := exec.Command(p, "-c", "import grpc, google.protobuf").CombinedOutput()
			if err == nil {
				pythonPath = p
				return
			}
			tried = append(tried, fmt.Sprintf("%s: %s", p, lastLine(out)))
		}
		pythonWhy = strings.Join(tried, "; ")
	})
	if pythonPath == "" {
		t.Skipf("no python3 with grpc and protobuf (%s): install Debian's python3-grpcio and python3-protobuf (apt-get install python3-grpcio python3-protobuf)", pythonWhy)
	}
	return pythonPath
}

func lastLine(b []byte) string {
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	return lines[len(lines)-1]
}

// testLogger logs to the test until it ends.
func testLogger(t testing.TB) hclog.Logger { return testlog.New(t, "router") }

// binaryPlugin is the reference's binary handler, run in process.
func binaryPlugin() *plugins.Plugin {
	return &plugins.Plugin{Name: "binary", Handlers: []plugins.HandlerSpec{
		{Name: "binary", Actions: []string{}, ContentTypes: []string{"*"}, Handler: binary.New()},
	}}
}

// referenceConfig routes as the reference server does: JSON requests to
// the Python search plugin, the rest to binary.
func referenceConfig(t testing.TB) string {
	return fmt.Sprintf(`listen: ["tcp://127.0.0.1:0"]
plugins:
  search: { cmd: %q, args: [%q] }
  binary: { cmd: "builtin:binary" }
routes:
  - { content_type: text/json, plugin: search }
  - { plugin: binary }
`, python(t), script("search.py"))
}

// faultsConfig runs testdata/faults.py, restarted quickly when it dies,
// with handler timeout handlerTimeout.
func faultsConfig(t testing.TB, handlerTimeout string) string {
	return fmt.Sprintf(`listen: ["tcp://127.0.0.1:0"]
plugins:
  faults:
    cmd: %q
    args: [%q]
    settings: { greeting: "hello" }
    restart: { backoff: 10ms, max_backoff: 100ms, max_restarts: 50 }
routes:
  - { plugin: faults.echo, action: echo }
  - { plugin: faults.pid, action: pid }
  - { plugin: faults.fail, action: fail }
  - { plugin: faults.wrong, action: wrong }
  - { plugin: faults.hang, action: hang }
  - { plugin: faults.deadline, action: deadline }
  - { plugin: faults.noisy, action: noisy }
  - { plugin: faults.settings, action: settings }
timeouts: { handler: %s }
`, python(t), script("testdata/faults.py"), handlerTimeout)
}

// start starts a router for the config text, serves it, and shuts it
// down when the test ends; it returns the address it listens on.
func start(t testing.TB, yaml string) string {
	t.Helper()
	cfg := configtest.MustLoad(t, "router.yaml", yaml)
	o := router.StartOptions{Logger: testLogger(t), InProcess: map[string]func() *plugins.Plugin{"builtin:binary": binaryPlugin}}
	r := routertest.Start(t, cfg, o)
	return r.Addrs()[0].String()
}

// action returns the request {"action": a, "value": v}.
func action(a string, v any) *core.Message {
	m, err := core.NewJSON(core.Object{{Key: "action", Value: a}, {Key: "value", Value: v}})
	if err != nil {
		panic(err)
	}
	return m
}

// ask sends req on c and returns the answer's "result", or the error it
// carries.
func ask(c *core.Client, req *core.Message, timeout time.Duration) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	ans, err := c.Do(ctx, req)
	if err != nil {
		return "", err
	}
	if err := core.AnswerError(ans); err != nil {
		return "", err
	}
	v, ok, err := ans.Field("result")
	if err != nil || !ok {
		return "", fmt.Errorf("answer %q has no result: %v", ans.Content, err)
	}
	return strings.Trim(string(v), `"`), nil
}

// mustAsk is ask that fails the test on error.
func mustAsk(t testing.TB, c *core.Client, req *core.Message) string {
	t.Helper()
	s, err := ask(c, req, 10*time.Second)
	if err != nil {
		t.Fatalf("%s: %v", req.Content, err)
	}
	return s
}

// processGone reports whether process pid has exited (a zombie counts).
func processGone(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	return err != nil || strings.Contains(string(b), ") Z ")
}
