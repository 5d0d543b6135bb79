package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/msgrouter/router"
	"github.com/msgrouter/router/config"
	"github.com/msgrouter/router/core"
	"github.com/msgrouter/router/plugins"
)

// testPluginName is the name under which the test binary is the test
// plugin (see TestMain): a link to the binary, run as a --plugin.
const testPluginName = "router-test-upper"

// serveTestPlugin serves the test plugin: the handler "upper", for the
// action "upper", answers {"result": VALUE in upper case}.
func serveTestPlugin() {
	plugins.Serve(plugins.Handlers{
		"upper": core.HandlerFunc(func(_ context.Context, m *core.Message) (*core.Message, error) {
			raw, _, err := m.Field("value")
			if err != nil {
				return nil, err
			}
			var v string
			if err := json.Unmarshal(raw, &v); err != nil {
				return nil, fmt.Errorf("value: %w", err)
			}
			return core.NewJSON(core.Object{{Key: "result", Value: strings.ToUpper(v)}})
		}),
	})
}

// testPlugin returns the path of the test plugin's executable.
func testPlugin(t *testing.T) string {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), testPluginName)
	if err := os.Symlink(exe, path); err != nil {
		t.Skipf("cannot link the test binary: %v", err)
	}
	return path
}

// reRun returns a command that runs the router's main, in this test
// binary, with args.
func reRun(t *testing.T, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(t.Context(), os.Args[0], args...)
	cmd.Env = append(os.Environ(), "ROUTER_TEST_MAIN=1")
	return cmd
}

// TestPluginDeclarations checks what each built-in declares when served
// as a plugin: its name, the router's version, and the actions and
// content-types of the default route that leads to it.
func TestPluginDeclarations(t *testing.T) {
	// The default routes, each with the declaration that makes a route
	// derived from it (see pluginRoutes) the same route.
	want := map[string]plugins.HandlerSpec{
		"echo":   {Name: "echo", Actions: []string{"echo"}},
		"search": {Name: "search", Actions: []string{"search"}, ContentTypes: []string{"text/json"}},
		"binary": {Name: "binary", Actions: []string{}, ContentTypes: []string{"*"}},
		"soak":   {Name: "soak", Actions: []string{"slow", "big"}}, // not in the default routes
	}
	version := routerVersion(debug.ReadBuildInfo())
	for _, b := range builtins {
		t.Run(b.name, func(t *testing.T) {
			var got *plugins.Plugin
			c := &cli{stdin: strings.NewReader(""), stdout: new(bytes.Buffer), stderr: new(bytes.Buffer),
				servePlugin: func(p *plugins.Plugin) { got = p }}
			if code := c.run(t.Context(), []string{"plugin", b.name}); code != exitOK || got == nil {
				t.Fatalf("plugin %s: exit %d, served %v; stderr %s", b.name, code, got, c.stderr)
			}
			if got.Name != b.name || got.Version != version || len(got.Handlers) != 1 {
				t.Fatalf("plugin %s serves name %q version %q with %d handlers; want %q, %q, 1",
					b.name, got.Name, got.Version, len(got.Handlers), b.name, version)
			}
			h, w := got.Handlers[0], want[b.name]
			if h.Name != w.Name || !slices.Equal(h.Actions, w.Actions) || (h.Actions == nil) != (w.Actions == nil) ||
				!slices.Equal(h.ContentTypes, w.ContentTypes) || h.Handler == nil {
				t.Errorf("plugin %s declares %+v, want %+v", b.name, h, w)
			}
		})
	}

	// And the default config's routes to the built-ins are what they
	// declare: router.Check checks each route against its handler's
	// declarations.
	if err := router.Check(t.Context(), config.Default(), router.StartOptions{InProcess: inProcessBuiltins()}); err != nil {
		t.Errorf("the default config does not check with the built-ins in-process:\n%v", err)
	}
}

// TestPluginByHand runs "router plugin search" as a user would: it is not
// a router's plugin, so it says so and exits with status 1.
func TestPluginByHand(t *testing.T) {
	cmd := reRun(t, "plugin", "search")
	// The plugin makes its data socket before it learns it has no
	// router, and leaves it behind: keep it out of the real TMPDIR.
	cmd.Env = append(cmd.Env, "TMPDIR="+t.TempDir())
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	code := -1
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err == nil {
		code = 0
	}
	const want = "This binary is a plugin. These are not meant to be executed directly."
	if code != 1 || stdout.Len() != 0 || !strings.Contains(stderr.String(), want) {
		t.Errorf("router plugin search: exit %d (%v), stdout %q, stderr %q; want exit 1 and %q", code, err, stdout.String(), stderr.String(), want)
	}
}

// TestServePluginFlag runs a custom plugin with --plugin, ahead of the
// built-ins, in both modes.
func TestServePluginFlag(t *testing.T) {
	upper := testPlugin(t)
	for _, mode := range modes {
		t.Run(mode.name, func(t *testing.T) {
			s := startServe(t, append(mode.args(t), "--plugin", "upper="+upper, "--log-level", "debug")...)
			for _, tt := range []struct {
				args []string
				want string
			}{
				{[]string{"--json", "upper", "hello"}, "HELLO\n"},
				{[]string{"search", "morpheus"}, "Follow the white rabbit. 🐰\n"},
				{[]string{"--json", "echo", "hi"}, `{"action": "echo", "value": "hi"}` + "\n"},
				{[]string{"binary", "hello"}, "First 10 bytes of request: binaryhell\n"},
				// The action "upper" of a non-JSON request is no action.
				{[]string{"upper", "x"}, "First 10 bytes of request: upperx\n"},
			} {
				args := append([]string{"send", "--addr", s.framed[0]}, tt.args...)
				if code, stdout, stderr := routerCmd(t, args...); code != exitOK || stdout != tt.want {
					t.Errorf("router %q = exit %d, stdout %q, stderr %q; want %q", args, code, stdout, stderr, tt.want)
				}
			}
			if logs := s.logs.String(); !regexp.MustCompile(`router: route: index=0 action=upper .*plugin=upper\.upper\n`).MatchString(logs) {
				t.Errorf("no route to upper in the debug logs:\n%s", logs)
			}
		})
	}
}

// TestServePluginErrors: a plugin that cannot start, or whose routes
// conflict with the config's, stops serve with exit code 1 and one line
// per problem, naming it, before it listens.
func TestServePluginErrors(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "missing")
	notFound := `exec: "` + missing + `": stat ` + missing + `: no such file or directory`
	type test struct {
		name       string
		executable string // for builtin: plugins; "" means this binary
		args       []string
		want       []string // the last lines of stderr; a line ending in "…" is a prefix
	}
	tests := []test{
		{"missing plugin", "", []string{"--plugin", "up=" + missing}, []string{
			`router: cannot start plugin "up" (` + missing + `): ` + notFound,
		}},
		{"missing router", missing, nil, []string{
			"default config: plugins.binary: cannot start builtin:binary: " + notFound,
			"default config: plugins.echo: cannot start builtin:echo: " + notFound,
			"default config: plugins.search: cannot start builtin:search: " + notFound,
		}},
		{"duplicate action", "", []string{"--plugin", "echo2=builtin:echo"}, []string{
			"default config: routes[1]: duplicates routes[0] (action echo, content_type *) (want each action and content_type once)",
			"flags: routes[0] is --plugin's: {action echo, plugin echo2.echo}; the config's routes follow, from routes[1]",
		}},
		{"duplicate content-type", "", []string{"--in-process", "--plugin", "find=builtin:search"}, []string{
			"default config: routes[3]: duplicates routes[1] (action *, content_type text/json) (want each action and content_type once)",
			"flags: routes[0] to routes[1] are --plugin's: {action search, plugin find.search}, {content_type text/json, plugin find.search}; the config's routes follow, from routes[2]",
		}},
		{"catch-all", "", []string{"--plugin", "bin=builtin:binary"}, []string{
			"default config: routes[1]: can never match: it follows the catch-all routes[0] (want the catch-all route last)",
			"default config: routes[2]: can never match: it follows the catch-all routes[0] (want the catch-all route last)",
			"default config: routes[3]: can never match: it follows the catch-all routes[0] (want the catch-all route last)",
			"flags: routes[0] is --plugin's: {content_type *, plugin bin.binary}; the config's routes follow, from routes[1]",
		}},
		{"name taken", "", []string{"--plugin", "search=builtin:search"}, []string{
			`router: --plugin search=builtin:search: the config already defines a plugin "search" (want another NAME)`,
		}},
	}
	if _, err := os.Stat("/bin/true"); err == nil {
		tests = append(tests, test{"not a plugin", "", []string{"--in-process", "--plugin", "t=/bin/true"}, []string{
			`router: cannot start plugin "t" (/bin/true): handshake: Unrecognized remote plugin message: (not a router plugin, …`,
		}})
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			c := &cli{stdin: strings.NewReader(""), stdout: &stdout, stderr: &stderr, executable: tt.executable}
			code := c.run(t.Context(), append([]string{"serve", "--listen", "127.0.0.1:0"}, tt.args...))
			lines := strings.Split(strings.TrimSuffix(stderr.String(), "\n"), "\n")
			ok := code == exitFailure && len(lines) >= len(tt.want)
			if ok {
				for i, w := range tt.want {
					got := lines[len(lines)-len(tt.want)+i]
					if p, prefix := strings.CutSuffix(w, "…"); got != w && !(prefix && strings.HasPrefix(got, p)) {
						ok = false
					}
				}
			}
			if !ok {
				t.Errorf("exit %d, stderr:\n%s\nwant exit 1 and stderr ending in:\n%s", code, stderr.String(), strings.Join(tt.want, "\n"))
			}
			if strings.Contains(stderr.String(), "listening") {
				t.Errorf("serve listened:\n%s", stderr.String())
			}
		})
	}
}

// TestServePluginCrash kills the search plugin while requests flow on
// every route: each request gets exactly one answer, an error only on
// the search route, and the search route recovers.
func TestServePluginCrash(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("finds the plugin processes in /proc")
	}
	s := startServe(t, "--listen", "127.0.0.1:0")
	kids := pluginChildren(t, os.Getpid())
	for _, name := range []string{"search", "binary", "echo"} { // the default config's
		if len(kids[name]) != 1 {
			t.Fatalf("%d \"plugin %s\" processes, want 1 (children: %v)", len(kids[name]), name, kids)
		}
	}
	victim := kids["search"][0]

	// Each route gets its own connection, with two pipelining senders.
	// Every request and answer carries a number, so that a missing, extra
	// or misplaced answer is caught.
	type route struct {
		name       string
		req        func(n int) *core.Message
		want       func(n int) string // the answer's content
		mayFail    bool
		ok, failed atomic.Int64
	}
	jsonReq := func(action, value string) *core.Message {
		m, err := newRequest(action, value, true)
		if err != nil {
			t.Fatal(err)
		}
		return m
	}
	routes := []*route{
		{
			name:    "search",
			req:     func(n int) *core.Message { return jsonReq("search", fmt.Sprintf("n%d", n)) },
			want:    func(n int) string { return fmt.Sprintf(`{"result": "No match for 'n%d'."}`, n) },
			mayFail: true,
		},
		{
			name: "echo",
			req:  func(n int) *core.Message { return jsonReq("echo", fmt.Sprintf("n%d", n)) },
			want: func(n int) string { return fmt.Sprintf(`{"action": "echo", "value": "n%d"}`, n) },
		},
		{
			name: "binary",
			req:  func(n int) *core.Message { return core.NewBinary(clientBinaryType, fmt.Appendf(nil, "%010d", n)) },
			want: func(n int) string { return fmt.Sprintf("First 10 bytes of request: %010d", n) },
		},
	}
	var seq atomic.Int64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var clients []*core.Client
	halt := sync.OnceFunc(func() {
		close(stop)
		wg.Wait()
		for _, c := range clients {
			c.Close()
		}
	})
	defer halt()
	for _, r := range routes {
		client, err := core.Dial(t.Context(), s.framed[0])
		if err != nil {
			t.Fatal(err)
		}
		clients = append(clients, client)
		for range 2 {
			wg.Go(func() {
				for {
					select {
					case <-stop:
						return
					default:
					}
					n := int(seq.Add(1))
					ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
					ans, err := client.Do(ctx, r.req(n))
					cancel()
					if err != nil {
						t.Errorf("%s request %d: no answer: %v", r.name, n, err)
						return
					}
					if aerr := core.AnswerError(ans); aerr != nil {
						r.failed.Add(1)
						if !r.mayFail || !strings.Contains(aerr.Error(), "plugins: plugin") {
							t.Errorf("%s request %d: %v", r.name, n, aerr)
						}
						continue
					}
					if got := string(ans.Content); got != r.want(n) {
						t.Errorf("%s request %d: answer %q, want %q", r.name, n, got, r.want(n))
						return
					}
					r.ok.Add(1)
				}
			})
		}
	}

	// waitFor polls cond until it holds.
	waitFor := func(what string, cond func() bool) {
		t.Helper()
		deadline := time.Now().Add(30 * time.Second)
		for !cond() {
			if time.Now().After(deadline) {
				t.Fatalf("timed out waiting for %s; logs:\n%s", what, s.logs)
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	okNow := func() []int64 {
		out := make([]int64, len(routes))
		for i, r := range routes {
			out[i] = r.ok.Load()
		}
		return out
	}
	before := okNow()
	waitFor("answers on every route", func() bool {
		now := okNow()
		return now[0] > before[0] && now[1] > before[1] && now[2] > before[2]
	})

	if err := syscall.Kill(victim, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	// A new search plugin takes over, and the search route answers again
	// while the others never stopped.
	waitFor("a new search plugin", func() bool {
		pids := pluginChildren(t, os.Getpid())["search"]
		return len(pids) == 1 && pids[0] != victim
	})
	afterRestart := okNow()
	waitFor("answers on every route after the restart", func() bool {
		now := okNow()
		return now[0] > afterRestart[0] && now[1] > afterRestart[1] && now[2] > afterRestart[2]
	})
	halt()
	for _, r := range routes {
		t.Logf("%s: %d answers, %d errors", r.name, r.ok.Load(), r.failed.Load())
	}
	if !strings.Contains(s.logs.String(), "router.search: plugin restarted") {
		t.Errorf("no restart in the logs:\n%s", s.logs)
	}
}

// pluginChildren returns the children of the process parent that run
// "plugin NAME", by NAME. It reads /proc.
func pluginChildren(t *testing.T, parent int) map[string][]int {
	t.Helper()
	ents, err := os.ReadDir("/proc")
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][]int{}
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		ppid, state, ok := procStat(pid)
		if !ok || ppid != parent || state == 'Z' {
			continue
		}
		cmdline, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
		if err != nil {
			continue // gone meanwhile
		}
		args := strings.Split(strings.TrimSuffix(string(cmdline), "\x00"), "\x00")
		if len(args) == 3 && args[1] == "plugin" {
			out[args[2]] = append(out[args[2]], pid)
		}
	}
	return out
}

// procStat returns the parent and state of process pid, from
// /proc/PID/stat: "pid (comm) state ppid ...".
func procStat(pid int) (ppid int, state byte, ok bool) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, 0, false
	}
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, 0, false
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 2 || len(f[0]) != 1 {
		return 0, 0, false
	}
	ppid, err = strconv.Atoi(f[1])
	return ppid, f[0][0], err == nil
}

// processAlive reports whether process pid exists and is not a zombie.
func processAlive(pid int) bool {
	_, state, ok := procStat(pid)
	return ok && state != 'Z'
}
