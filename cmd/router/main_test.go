package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"runtime/debug"
	"strings"
	"sync"
	"syscall"
	"testing"

	"github.com/msgrouter/router/core"
	"github.com/msgrouter/router/internal/syncbuf"
	"github.com/msgrouter/router/plugins"
)

// TestMain lets the test binary stand in for the router executable (the
// re-exec trick). A test runs the real main in a child process by
// re-executing the binary with ROUTER_TEST_MAIN=1 and the router's
// arguments. A serve running in the test process starts its "builtin:"
// plugins from its own executable, this binary, as "router plugin NAME",
// with go-plugin's handshake cookie in the environment: that runs main
// too. Started under the name testPluginName, the binary is the test
// plugin instead; it exits at once, status 3, while a file named as its
// executable with ".fail" added exists (a plugin that fails to start).
func TestMain(m *testing.M) {
	if filepath.Base(os.Args[0]) == testPluginName {
		if _, err := os.Stat(os.Args[0] + ".fail"); err == nil {
			os.Exit(3)
		}
		serveTestPlugin()
	}
	if os.Getenv("ROUTER_TEST_MAIN") == "1" || os.Getenv(plugins.Handshake.MagicCookieKey) != "" {
		main()
		return
	}
	// Children built with -race exit without the race detector's
	// default one-second pause, which would slow every plugin shutdown.
	os.Setenv("GORACE", strings.TrimSpace(os.Getenv("GORACE")+" atexit_sleep_ms=0"))
	os.Exit(m.Run())
}

// modes are the ways serve runs the built-in handlers; tests of answers
// run in each. args returns serve's arguments: each mode listens on one
// framed free port on 127.0.0.1, and serves the default routes.
var modes = []struct {
	name string
	args func(t *testing.T) []string
}{
	{"plugins", func(*testing.T) []string { return []string{"--listen", "127.0.0.1:0"} }},
	{"in-process", func(*testing.T) []string { return []string{"--listen", "127.0.0.1:0", "--in-process"} }},
	{"config file", func(t *testing.T) []string { return []string{"-c", writeFile(t, "router.yaml", builtinsYAML)} }},
	{"config file in-process", func(t *testing.T) []string {
		return []string{"--config", writeFile(t, "router.yaml", builtinsYAML), "--in-process"}
	}},
}

// builtinsYAML is a config file that routes to the built-ins, under names
// of its own, as the default config does.
const builtinsYAML = `listen: tcp://127.0.0.1:0
plugins:
  find: { cmd: "builtin:search" }
  bin: { cmd: "builtin:binary", restart: { max_restarts: 2 } }
  echo: { cmd: "builtin:echo" }
routes:
  - { action: echo, plugin: echo }
  - { content_type: text/json, plugin: find }
  - { plugin: bin.binary }
timeouts: { handler: 3s }
`

// writeFile writes content to the file name in a new temporary directory
// and returns its path.
func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// syncBuffer is a bytes.Buffer safe for the concurrent writes of a
// running server's logger.
type syncBuffer = syncbuf.Buffer

// routerCmd runs the CLI to completion and returns its exit code and
// output.
func routerCmd(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errOut bytes.Buffer
	code = run(t.Context(), args, strings.NewReader(""), &out, &errOut)
	return code, out.String(), errOut.String()
}

// testServer is `router serve` running in-process.
type testServer struct {
	framed []string // bound addresses of the --listen listeners
	raw    []string // and of the --raw ones
	logs   *syncBuffer
	cancel context.CancelFunc
	done   chan int // receives run's exit code
}

// startServe runs `router serve args...` until the test ends, and
// returns once every listener is open.
func startServe(t *testing.T, args ...string) *testServer {
	t.Helper()
	return startServeWith(t, new(cli), args...)
}

// startServeWith is startServe with the hooks of c.
func startServeWith(t *testing.T, c *cli, args ...string) *testServer {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	s := &testServer{logs: new(syncBuffer), cancel: cancel, done: make(chan int, 1)}
	ready := make(chan struct{})
	c.stdin, c.stdout, c.stderr = strings.NewReader(""), io.Discard, s.logs
	c.listening = func(framed, raw []net.Addr) {
		for _, a := range framed {
			s.framed = append(s.framed, addrString(a))
		}
		for _, a := range raw {
			s.raw = append(s.raw, addrString(a))
		}
		close(ready)
	}
	go func() { s.done <- c.run(ctx, append([]string{"serve"}, args...)) }()
	select {
	case <-ready:
	case code := <-s.done:
		cancel()
		t.Fatalf("serve exited with %d before listening; logs:\n%s", code, s.logs)
	}
	t.Cleanup(func() {
		if code := s.stop(); code != exitOK {
			t.Errorf("serve exited with %d; logs:\n%s", code, s.logs)
		}
	})
	return s
}

// stop cancels serve and returns its exit code. It may be called more
// than once.
func (s *testServer) stop() int {
	s.cancel()
	code := <-s.done
	s.done <- code
	return code
}

// addrString returns a's address in the form send --addr takes.
func addrString(a net.Addr) string {
	if a.Network() == "unix" {
		return "unix://" + a.String()
	}
	return a.String()
}

func TestSend(t *testing.T) {
	for _, mode := range modes {
		t.Run(mode.name, func(t *testing.T) {
			s := startServe(t, mode.args(t)...)
			testSend(t, s.framed[0])
		})
	}
}

func testSend(t *testing.T, addr string) {
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"search", "morpheus"}, "Follow the white rabbit. 🐰\n"},
		{[]string{"search", "ring"}, "In the caves beneath the Misty Mountains. 💍\n"},
		{[]string{"search", "🐶"}, "🐾 Playing ball! 🏐\n"},
		{[]string{"search", "neo"}, "No match for 'neo'.\n"},
		{[]string{"binary", "hello"}, "First 10 bytes of request: binaryhell\n"},
		{[]string{"xy", ""}, "First 10 bytes of request: xy\n"},
		// The cut after 10 bytes splits the emoji: not UTF-8, so quoted.
		{[]string{"binary", "ab😃"}, `"First 10 bytes of request: binaryab\xf0\x9f"` + "\n"},
		{[]string{"--json", "echo", "hi"}, `{"action": "echo", "value": "hi"}` + "\n"},
		{[]string{"--json", "find", "ring"}, "Error: invalid action 'find'.\n"},
		{[]string{"--json", "search", "ring"}, "In the caves beneath the Misty Mountains. 💍\n"},
		// --action NAME --value V is --json NAME V, with or without --json.
		{[]string{"--action", "echo", "--value", "hi"}, `{"action": "echo", "value": "hi"}` + "\n"},
		{[]string{"--json", "--action", "echo", "--value", "hi"}, `{"action": "echo", "value": "hi"}` + "\n"},
		{[]string{"--action", "echo"}, `{"action": "echo", "value": ""}` + "\n"},
		{[]string{"--action", "search", "--value", "ring"}, "In the caves beneath the Misty Mountains. 💍\n"},
		{[]string{"--action", "find", "--value", "ring"}, "Error: invalid action 'find'.\n"},
		{[]string{"--close", "search", "morpheus"}, "Follow the white rabbit. 🐰\n"},
		{[]string{"--timeout", "0", "search", "morpheus"}, "Follow the white rabbit. 🐰\n"},
		{[]string{"-v", "search", "morpheus"}, "byteorder: " + core.NativeByteOrder() + "\n" +
			"content-type: text/json\ncontent-encoding: utf-8\ncontent-length: 43\n\n" +
			"Follow the white rabbit. 🐰\n"},
		{[]string{"-v", "binary", "hello"}, "byteorder: " + core.NativeByteOrder() + "\n" +
			"content-type: binary/custom-server-binary-type\ncontent-encoding: binary\ncontent-length: 37\n\n" +
			"First 10 bytes of request: binaryhell\n"},
		// The router echoes a request-id; other extension headers are the
		// handler's to read.
		{[]string{"-v", "-H", "request-id=order 42", "-H", "x-other=1", "search", "morpheus"}, "byteorder: " + core.NativeByteOrder() + "\n" +
			"content-type: text/json\ncontent-encoding: utf-8\ncontent-length: 43\nrequest-id: order 42\n\n" +
			"Follow the white rabbit. 🐰\n"},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			args := append([]string{"send", "--addr", addr}, tt.args...)
			code, stdout, stderr := routerCmd(t, args...)
			if code != exitOK || stdout != tt.want || stderr != "" {
				t.Errorf("router %q\n= exit %d, stdout %q, stderr %q\nwant exit 0, stdout %q", args, code, stdout, stderr, tt.want)
			}
		})
	}
}

// TestSendRawGolden checks the requests send builds and the answers it
// writes with --raw, byte for byte, against the reference's golden files.
func TestSendRawGolden(t *testing.T) {
	if core.NativeByteOrder() != core.ByteOrderLittle {
		t.Skip("the golden files were recorded on a little-endian host")
	}
	for _, mode := range modes {
		t.Run(mode.name, func(t *testing.T) {
			s := startServe(t, mode.args(t)...)
			testSendRawGolden(t, s.framed[0])
		})
	}
}

func testSendRawGolden(t *testing.T, addr string) {
	tests := []struct {
		golden string
		args   []string
	}{
		{"search_morpheus", []string{"search", "morpheus"}},
		{"search_ring", []string{"search", "ring"}},
		{"search_dog", []string{"search", "🐶"}},
		{"search_miss", []string{"search", "neo"}},
		{"search_escapes", []string{"search", "q\" b\\ n\n t\t c\x01 ls\u2028 <&> é"}},
		{"search_invalid_action", []string{"--json", "find", "ring"}},
		{"binary", []string{"binary", "😃"}},
		{"binary_short", []string{"x", "y"}},
		{"binary_long", []string{"binary", "hello world"}},
		{"binary_split", []string{"binary", "ab😃"}},
	}
	for _, tt := range tests {
		t.Run(tt.golden, func(t *testing.T) {
			wantReq := readGolden(t, tt.golden+"_request.bin")
			wantAns := readGolden(t, tt.golden+".bin")

			// The request, as the reference client sends it.
			forceJSON := tt.args[0] == "--json"
			action, value := tt.args[len(tt.args)-2], tt.args[len(tt.args)-1]
			req, err := newRequest(action, value, forceJSON)
			if err != nil {
				t.Fatal(err)
			}
			gotReq, err := core.Marshal(req)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(gotReq, wantReq) {
				t.Errorf("request\n got %q\nwant %q", gotReq, wantReq)
			}

			// The answer, as it came off the wire.
			args := append([]string{"send", "--raw", "--addr", addr}, tt.args...)
			code, stdout, stderr := routerCmd(t, args...)
			if code != exitOK || stderr != "" {
				t.Fatalf("router %q = exit %d, stderr %q", args, code, stderr)
			}
			if stdout != string(wantAns) {
				t.Errorf("answer\n got %q\nwant %q", stdout, wantAns)
			}
		})
	}
}

// TestSendActionRequest: --action NAME --value V builds the request
// --json NAME V does, the reference client's JSON request byte for byte.
func TestSendActionRequest(t *testing.T) {
	fs := newFlagSet(sendCmd)
	f := new(sendFlags)
	f.action.declare(fs)
	if err := fs.Parse([]string{"--action", "find", "--value", "ring"}); err != nil {
		t.Fatal(err)
	}
	req, err := f.request(fs.Args())
	if err != nil {
		t.Fatal(err)
	}
	got, err := core.Marshal(req)
	if err != nil {
		t.Fatal(err)
	}
	if want := readGolden(t, "search_invalid_action_request.bin"); !bytes.Equal(got, want) {
		t.Errorf("request\n got %q\nwant %q", got, want)
	}
}

func readGolden(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile("../../testdata/golden/" + name)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// serveCore serves h with a core.Server on a free port until the test
// ends, and returns the address.
func serveCore(t *testing.T, h core.Handler) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &core.Server{Handler: h}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(l) }()
	t.Cleanup(func() {
		srv.Close()
		<-done
	})
	return l.Addr().String()
}

func TestSendErrorAnswer(t *testing.T) {
	addr := serveCore(t, core.HandlerFunc(func(context.Context, *core.Message) (*core.Message, error) {
		return core.NewError("no such plugin: ring"), nil
	}))
	code, stdout, stderr := routerCmd(t, "send", "--addr", addr, "search", "ring")
	if code != exitFailure || stdout != "" || stderr != "router: server answered error: no such plugin: ring\n" {
		t.Errorf("exit %d, stdout %q, stderr %q", code, stdout, stderr)
	}

	// --raw still writes the answer, and still fails.
	code, stdout, stderr = routerCmd(t, "send", "--raw", "--addr", addr, "search", "ring")
	want, _ := core.Marshal(core.NewError("no such plugin: ring"))
	if code != exitFailure || stdout != string(want) || stderr != "router: server answered error: no such plugin: ring\n" {
		t.Errorf("--raw: exit %d, stdout %q, stderr %q", code, stdout, stderr)
	}
}

func TestSendExtensionHeaders(t *testing.T) {
	addr := serveCore(t, core.HandlerFunc(func(context.Context, *core.Message) (*core.Message, error) {
		m := core.NewBinary("text/plain", []byte("tab\there\nand a newline\n"))
		m.ByteOrder = core.ByteOrderBig
		m.SetHeader("x-served-by", "test")
		m.Headers = append(m.Headers, core.Header{Key: "x-count", Value: []byte("2")})
		return m, nil
	}))
	code, stdout, stderr := routerCmd(t, "send", "-v", "--addr", addr, "a", "b")
	want := "byteorder: big\ncontent-type: text/plain\ncontent-encoding: binary\ncontent-length: 23\n" +
		"x-served-by: test\nx-count: 2\n\ntab\there\nand a newline\n"
	if code != exitOK || stdout != want || stderr != "" {
		t.Errorf("exit %d, stdout %q, stderr %q\nwant stdout %q", code, stdout, stderr, want)
	}

	// With --raw, -v writes the header to stderr.
	code, stdout, stderr = routerCmd(t, "send", "-v", "--raw", "--addr", addr, "a", "b")
	if code != exitOK || !strings.HasPrefix(stderr, "byteorder: big\n") || !strings.HasSuffix(stdout, "and a newline\n") {
		t.Errorf("--raw -v: exit %d, stdout %q, stderr %q", code, stdout, stderr)
	}
}

func TestSendHeaderFlagErrors(t *testing.T) {
	for _, h := range []string{"novalue", "=x", "content-type=text/plain"} {
		code, _, stderr := routerCmd(t, "send", "-H", h, "search", "x")
		if code != exitUsage || !strings.Contains(stderr, `invalid value "`+h+`" for flag -H`) {
			t.Errorf("-H %q: exit %d, stderr %q; want a usage error", h, code, stderr)
		}
	}
}

func TestSendConnectFailures(t *testing.T) {
	// A port nothing listens on: bind one, then free it.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	refused := l.Addr().String()
	l.Close()
	code, stdout, stderr := routerCmd(t, "send", "--addr", refused, "search", "morpheus")
	if want := "router: cannot connect to " + refused + ": connection refused\n"; code != exitFailure || stdout != "" || stderr != want {
		t.Errorf("refused: exit %d, stdout %q, stderr %q; want exit 1, stderr %q", code, stdout, stderr, want)
	}

	// The servers below read the whole request before they close, so
	// that the close is a clean FIN, not a reset that could overtake what
	// they wrote.
	req, _ := newRequest("search", "morpheus", false)
	wire, _ := core.Marshal(req)
	readRequest := func(c net.Conn) {
		io.ReadFull(c, make([]byte, len(wire)))
	}

	// A server that hangs up without answering, and one that never
	// answers.
	hangup := acceptLoop(t, func(c net.Conn) {
		readRequest(c)
		c.Close()
	})
	code, _, stderr = routerCmd(t, "send", "--addr", hangup, "search", "morpheus")
	if want := "router: " + hangup + " closed the connection without answering\n"; code != exitFailure || stderr != want {
		t.Errorf("hangup: exit %d, stderr %q; want %q", code, stderr, want)
	}
	release := make(chan struct{})
	silent := acceptLoop(t, func(c net.Conn) {
		<-release
		c.Close()
	})
	defer close(release)
	code, _, stderr = routerCmd(t, "send", "--timeout", "50ms", "--addr", silent, "search", "morpheus")
	if want := "router: no answer from " + silent + ": timed out after 50ms\n"; code != exitFailure || stderr != want {
		t.Errorf("silent: exit %d, stderr %q; want %q", code, stderr, want)
	}

	// A frame the client cannot decode.
	garbage := acceptLoop(t, func(c net.Conn) {
		readRequest(c)
		c.Write([]byte{0, 0})
		c.Close()
	})
	code, _, stderr = routerCmd(t, "send", "--addr", garbage, "search", "morpheus")
	if code != exitFailure || !strings.HasPrefix(stderr, "router: invalid answer from "+garbage+": ") {
		t.Errorf("garbage: exit %d, stderr %q", code, stderr)
	}
}

// acceptLoop serves every connection to a new listener with fn until the
// test ends, and returns the listener's address.
func acceptLoop(t *testing.T, fn func(net.Conn)) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	t.Cleanup(func() {
		l.Close()
		wg.Wait()
	})
	wg.Go(func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			wg.Go(func() { fn(c) })
		}
	})
	return l.Addr().String()
}

func TestUsage(t *testing.T) {
	tests := []struct {
		args       []string
		code       int
		stdout     string // a substring stdout must hold
		stderr     string // a substring stderr must hold
		wantNoErrs bool
	}{
		{args: nil, code: exitUsage, stderr: "Usage:\n\n\trouter <command>"},
		{args: []string{"bogus"}, code: exitUsage, stderr: "router: unknown command \"bogus\"\nRun 'router help' for usage.\n"},
		{args: []string{"serve", "--bogus"}, code: exitUsage, stderr: "router serve: flag provided but not defined: -bogus\nRun 'router help serve' for usage.\n"},
		{args: []string{"serve", "extra"}, code: exitUsage, stderr: "router serve: takes no arguments"},
		{args: []string{"serve", "--listen", "nope"}, code: exitUsage, stderr: `invalid value "nope" for flag -listen`},
		{args: []string{"serve", "--raw", "ftp://x:1"}, code: exitUsage, stderr: `unknown scheme "ftp"`},
		{args: []string{"serve", "--log-level", "loud"}, code: exitUsage, stderr: `invalid value "loud" for flag -log-level`},
		{args: []string{"serve", "--idle-timeout", "soon"}, code: exitUsage, stderr: `invalid value "soon" for flag -idle-timeout`},
		{args: []string{"send"}, code: exitUsage, stderr: "router send: want ACTION and VALUE, or --action NAME, got 0 arguments\n"},
		{args: []string{"send", "--action", "upper", "hello"}, code: exitUsage, stderr: `router send: --action and the arguments ACTION VALUE cannot go together; got --action "upper" and arguments ["hello"] (to set the value: --value V)`},
		{args: []string{"send", "--action", "upper", "--value", "x", "search", "y"}, code: exitUsage, stderr: "--action and the arguments ACTION VALUE cannot go together"},
		{args: []string{"send", "--value", "x", "search", "y"}, code: exitUsage, stderr: "router send: --value goes with --action NAME\n"},
		{args: []string{"send", "--value", "x"}, code: exitUsage, stderr: "router send: --value goes with --action NAME\n"},
		{args: []string{"send", "--action", ""}, code: exitUsage, stderr: `invalid value "" for flag -action: want an action NAME`},
		{args: []string{"send", "search"}, code: exitUsage, stderr: "got 1 arguments"},
		{args: []string{"send", "a", "b", "c"}, code: exitUsage, stderr: "got 3 arguments"},
		{args: []string{"send", "search", "morpheus", "-v"}, code: exitUsage, stderr: `flags must come before ACTION; got "-v" after it`},
		{args: []string{"send", "--addr", "nope", "search", "x"}, code: exitUsage, stderr: `invalid value "nope" for flag -addr`},
		{args: []string{"send", "--timeout", "-1s", "search", "x"}, code: exitUsage, stderr: `invalid value -1s for flag -timeout`},
		{args: []string{"version", "x"}, code: exitUsage, stderr: "router version: takes no arguments"},
		{args: []string{"help", "bogus"}, code: exitUsage, stderr: "router help: unknown command \"bogus\""},
		{args: []string{"help", "a", "b", "c"}, code: exitUsage, stderr: "router help: want at most a command and a subcommand"},
		{args: []string{"help", "config", "bogus"}, code: exitUsage, stderr: `router help: unknown subcommand "bogus" of "config"`},
		{args: []string{"config"}, code: exitUsage, stderr: "router config: want a subcommand: check or default\nRun 'router help config' for usage.\n"},
		{args: []string{"config", "bogus"}, code: exitUsage, stderr: `router config: unknown subcommand "bogus"; want check or default`},
		{args: []string{"config", "check", "a.yaml", "b.yaml"}, code: exitUsage, stderr: "router config check: want at most one FILE, got 2 arguments\nRun 'router help config check' for usage.\n"},
		{args: []string{"config", "check", "-c", "a.yaml", "b.yaml"}, code: exitUsage, stderr: `FILE "b.yaml" and --config "a.yaml" disagree`},
		{args: []string{"config", "check", "a.yaml", "--bogus"}, code: exitUsage, stderr: "router config check: flag provided but not defined: -bogus\n"},
		{args: []string{"config", "check", "a.yaml", "--log-level", "loud"}, code: exitUsage, stderr: `invalid value "loud" for flag -log-level: want trace, debug, info, warn, error or off`},
		{args: []string{"config", "default", "x"}, code: exitUsage, stderr: "router config default: takes no arguments\n"},
		{args: []string{"serve", "--max-content-length", "16 MB/s"}, code: exitUsage, stderr: `invalid value "16 MB/s" for flag -max-content-length`},
		{args: []string{"plugin"}, code: exitUsage, stderr: "router plugin: want one NAME (search, binary, echo, soak), got 0 arguments\n"},
		{args: []string{"plugin", "nope"}, code: exitUsage, stderr: "router plugin: unknown built-in \"nope\"; the built-ins are search, binary, echo, soak\n"},
		{args: []string{"plugin", "search", "extra"}, code: exitUsage, stderr: "got 2 arguments"},
		{args: []string{"serve", "--plugin", "upper"}, code: exitUsage, stderr: `invalid value "upper" for flag -plugin: want NAME=CMD`},
		{args: []string{"serve", "--plugin", "=./upper"}, code: exitUsage, stderr: "want NAME=CMD"},
		{args: []string{"serve", "--plugin", "upper="}, code: exitUsage, stderr: "want NAME=CMD"},
		{args: []string{"serve", "--plugin", "up per=./upper"}, code: exitUsage, stderr: `plugin name "up per": want letters, digits`},
		{args: []string{"serve", "--plugin", "a=./a", "--plugin", "a=./b"}, code: exitUsage, stderr: `plugin name "a" is given twice`},
		{args: []string{"serve", "--plugin", "a=builtin:nope"}, code: exitUsage, stderr: `unknown built-in "nope"; the built-ins are search, binary, echo`},
		{args: []string{"reload"}, code: exitUsage, stderr: "router reload: want --pid-file FILE (the file 'router serve --pid-file FILE' wrote) or --pid N\nRun 'router help reload' for usage.\n"},
		{args: []string{"reload", "--pid-file", "a.pid", "--pid", "12"}, code: exitUsage, stderr: "router reload: want --pid-file FILE or --pid N, not both\n"},
		{args: []string{"reload", "--pid", "0"}, code: exitUsage, stderr: "router reload: --pid 0: want a process id above 0\n"},
		{args: []string{"reload", "--pid", "x"}, code: exitUsage, stderr: `invalid value "x" for flag -pid`},
		{args: []string{"reload", "--pid-file", ""}, code: exitUsage, stderr: "router reload: --pid-file: want a FILE\n"},
		{args: []string{"reload", "--pid", "12", "now"}, code: exitUsage, stderr: `router reload: takes no arguments, got ["now"]`},

		{args: []string{"help"}, code: exitOK, stdout: "Exit codes:", wantNoErrs: true},
		{args: []string{"-h"}, code: exitOK, stdout: "Commands:", wantNoErrs: true},
		{args: []string{"--help"}, code: exitOK, stdout: "Commands:", wantNoErrs: true},
		{args: []string{"help", "serve"}, code: exitOK, stdout: "Usage: router serve [flags]\n", wantNoErrs: true},
		{args: []string{"serve", "-h"}, code: exitOK, stdout: "-max-content-length size", wantNoErrs: true},
		{args: []string{"serve", "-h"}, code: exitOK, stdout: "-config FILE", wantNoErrs: true},
		{args: []string{"config", "-h"}, code: exitOK, stdout: "Usage: router config <subcommand> [flags] [arguments]\n", wantNoErrs: true},
		{args: []string{"config", "check", "--help"}, code: exitOK, stdout: "Usage: router config check [flags] [FILE]\n", wantNoErrs: true},
		{args: []string{"config", "default", "-h"}, code: exitOK, stdout: "Usage: router config default\n", wantNoErrs: true},
		{args: []string{"help", "config", "check"}, code: exitOK, stdout: "-no-plugins", wantNoErrs: true},
		{args: []string{"serve", "--help"}, code: exitOK, stdout: "Examples:", wantNoErrs: true},
		{args: []string{"send", "--help"}, code: exitOK, stdout: "Usage: router send [flags] ACTION VALUE\n       router send [flags] --action NAME [--value V]\n", wantNoErrs: true},
		{args: []string{"send", "-h"}, code: exitOK, stdout: "router send --action upper --value hello", wantNoErrs: true},
		{args: []string{"bench", "-h"}, code: exitOK, stdout: "router bench --action upper --value hello", wantNoErrs: true},
		{args: []string{"send", "-h"}, code: exitOK, stdout: "router send search morpheus", wantNoErrs: true},
		{args: []string{"version", "--help"}, code: exitOK, stdout: "Usage: router version\n", wantNoErrs: true},
		{args: []string{"help", "help"}, code: exitOK, stdout: "Usage: router help [command [subcommand]]\n", wantNoErrs: true},
		{args: []string{"help", "plugin"}, code: exitOK, stdout: "Usage: router plugin NAME\n", wantNoErrs: true},
		{args: []string{"plugin", "--help"}, code: exitOK, stdout: "\tsearch   ", wantNoErrs: true},
		{args: []string{"plugin", "-h"}, code: exitOK, stdout: "\techo     ", wantNoErrs: true},
		{args: []string{"serve", "--help"}, code: exitOK, stdout: "-in-process", wantNoErrs: true},
		{args: []string{"serve", "-h"}, code: exitOK, stdout: "-plugin NAME=CMD", wantNoErrs: true},
		{args: []string{"help"}, code: exitOK, stdout: "\tplugin   ", wantNoErrs: true},
		{args: []string{"help"}, code: exitOK, stdout: "\treload   ", wantNoErrs: true},
		{args: []string{"reload", "-h"}, code: exitOK, stdout: "router reload --pid-file router.pid", wantNoErrs: true},
		{args: []string{"serve", "-h"}, code: exitOK, stdout: "-pid-file FILE", wantNoErrs: true},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			code, stdout, stderr := routerCmd(t, tt.args...)
			if code != tt.code || !strings.Contains(stdout, tt.stdout) || !strings.Contains(stderr, tt.stderr) ||
				(tt.wantNoErrs && stderr != "") {
				t.Errorf("router %q\n= exit %d\nstdout:\n%s\nstderr:\n%s\nwant exit %d, stdout holding %q, stderr holding %q",
					tt.args, code, stdout, stderr, tt.code, tt.stdout, tt.stderr)
			}
		})
	}
}

// allCommands returns every command and subcommand, parents first.
func allCommands() []*command {
	var out []*command
	var walk func([]*command)
	walk = func(cmds []*command) {
		for _, cmd := range cmds {
			out = append(out, cmd)
			walk(cmd.subs)
		}
	}
	walk(commands)
	return out
}

// TestHelpIsComplete checks that every command's help, by --help, -h and
// help, has a description, its flags and examples of itself, and exits 0.
func TestHelpIsComplete(t *testing.T) {
	_, top, _ := routerCmd(t, "help")
	for _, cmd := range commands {
		if !strings.Contains(top, "\t"+cmd.name+" ") {
			t.Errorf("top-level help does not list %q", cmd.name)
		}
	}
	for _, cmd := range allCommands() {
		words := strings.Fields(cmd.name)
		code, out, stderr := routerCmd(t, append([]string{"help"}, words...)...)
		if code != exitOK || stderr != "" || !strings.HasPrefix(out, "Usage: router "+cmd.name) {
			t.Errorf("help %s: exit %d, stderr %q, stdout:\n%s", cmd.name, code, stderr, out)
		}
		for _, h := range []string{"--help", "-h"} {
			code, o, stderr := routerCmd(t, append(words, h)...)
			if code != exitOK || stderr != "" || o != out {
				t.Errorf("%s %s: exit %d, stderr %q; stdout differs from help %s's:\n%s", cmd.name, h, code, stderr, cmd.name, o)
			}
		}
		if cmd.setup != nil {
			fs := newFlagSet(cmd)
			cmd.setup(fs)
			fs.VisitAll(func(f *flag.Flag) {
				if !strings.Contains(out, "  -"+f.Name) {
					t.Errorf("help %s does not describe -%s", cmd.name, f.Name)
				}
			})
		}
		for _, sub := range cmd.subs {
			if !strings.Contains(out, "\t"+sub.base()+" ") {
				t.Errorf("help %s does not list its subcommand %q", cmd.name, sub.base())
			}
		}
		_, examples, _ := strings.Cut(out, "\nExamples:\n")
		if cmd.desc == "" || !strings.Contains(examples, "\trouter "+cmd.name) {
			t.Errorf("help %s lacks a description or examples of itself:\n%s", cmd.name, out)
		}
	}
}

func TestVersion(t *testing.T) {
	code, stdout, stderr := routerCmd(t, "version")
	if code != exitOK || stderr != "" || !strings.HasPrefix(stdout, "router ") ||
		!strings.HasSuffix(stdout, runtime.Version()+" "+runtime.GOOS+"/"+runtime.GOARCH+"\n") {
		t.Errorf("exit %d, stdout %q, stderr %q", code, stdout, stderr)
	}
	if _, out, _ := routerCmd(t, "--version"); out != stdout {
		t.Errorf("--version printed %q, version %q", out, stdout)
	}

	bi := &debug.BuildInfo{
		Main: debug.Module{Path: "github.com/msgrouter/router", Version: "v1.2.3"},
		Settings: []debug.BuildSetting{
			{Key: "vcs.revision", Value: "0123abcd"},
			{Key: "vcs.modified", Value: "true"},
		},
	}
	want := "router v1.2.3\nrevision 0123abcd (modified)\n" + runtime.Version() + " " + runtime.GOOS + "/" + runtime.GOARCH + "\n"
	if got := versionText(bi, true); got != want {
		t.Errorf("versionText = %q, want %q", got, want)
	}
	bi = &debug.BuildInfo{Main: debug.Module{Version: "(devel)"}}
	if got := versionText(bi, true); !strings.HasPrefix(got, "router devel\ngo") {
		t.Errorf("versionText(devel) = %q", got)
	}
	if got := versionText(nil, false); !strings.HasPrefix(got, "router devel\ngo") {
		t.Errorf("versionText(no build info) = %q", got)
	}
}

func TestServeAddressInUse(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	busy := l.Addr().String()
	code, stdout, stderr := routerCmd(t, "serve", "--listen", "127.0.0.1:0", "--listen", busy)
	want := "flags: listen[1]: cannot listen on " + busy + ": address already in use " +
		"(want an address that is free and that this user may listen on; port 0 picks a free port)\n"
	if code != exitFailure || stdout != "" || !strings.HasSuffix(stderr, want) || strings.Contains(stderr, "plugin started") {
		t.Errorf("exit %d, stdout %q, stderr %q; want exit 1, stderr %q", code, stdout, stderr, want)
	}
}

// TestServeLogs runs serve through run, as main does, and finds the bound
// address in its log, in text and in JSON.
func TestServeLogs(t *testing.T) {
	textLine := regexp.MustCompile(`\[INFO\] +router\.server: listening: addr=(\S+) raw=false$`)
	for _, tt := range []struct {
		name string
		args []string
		stop string // how the stop line gives timeouts.shutdown: with its unit
		addr func(line string) string
	}{
		{"text", nil, "shutting down gracefully: timeout=10s\n", func(line string) string {
			if m := textLine.FindStringSubmatch(line); m != nil {
				return m[1]
			}
			return ""
		}},
		{"json", []string{"--log-json"}, `"timeout":"10s"`, func(line string) string {
			var rec map[string]any
			if err := json.Unmarshal([]byte(line), &rec); err != nil {
				t.Errorf("log line is not JSON: %q", line)
				return ""
			}
			if rec["@message"] == "listening" && rec["@module"] == "router.server" && rec["@level"] == "info" {
				addr, _ := rec["addr"].(string)
				return addr
			}
			return ""
		}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithCancel(t.Context())
			defer cancel()
			pr, pw := io.Pipe()
			done := make(chan int, 1)
			args := append([]string{"serve", "--listen", "127.0.0.1:0"}, tt.args...)
			go func() {
				done <- run(ctx, args, strings.NewReader(""), io.Discard, pw)
				pw.Close()
			}()
			sc := bufio.NewScanner(pr)
			var addr string
			for addr == "" && sc.Scan() {
				addr = tt.addr(sc.Text())
			}
			if addr == "" {
				t.Fatalf("no listening line in the log (exit %d)", <-done)
			}
			rest := make(chan string)
			go func() {
				b, _ := io.ReadAll(pr)
				rest <- string(b)
			}()
			code, out, stderr := routerCmd(t, "send", "--addr", addr, "search", "morpheus")
			if code != exitOK || out != "Follow the white rabbit. 🐰\n" {
				t.Errorf("send to the logged address %s: exit %d, stdout %q, stderr %q", addr, code, out, stderr)
			}
			cancel()
			if code := <-done; code != exitOK {
				t.Errorf("serve exited with %d after cancel", code)
			}
			logs := <-rest
			if !strings.Contains(logs, "stopped") {
				t.Errorf("no \"stopped\" in the log after cancel:\n%s", logs)
			}
			if !strings.Contains(logs, tt.stop) {
				t.Errorf("no %q in the log after cancel:\n%s", tt.stop, logs)
			}
		})
	}
}

// TestServeAddressForms serves a Unix socket, tcp:// and IPv6 at once.
func TestServeAddressForms(t *testing.T) {
	dir, err := os.MkdirTemp("", "router") // t.TempDir can exceed the socket path limit
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	path := dir + "/router.sock"
	args := []string{"--listen", "unix://" + path, "--listen", "tcp://127.0.0.1:0"}
	if l, err := net.Listen("tcp6", "[::1]:0"); err == nil {
		l.Close()
		args = append(args, "--listen", "[::1]:0")
	} else {
		t.Logf("no IPv6 loopback: %v", err)
	}
	s := startServe(t, args...)
	if len(s.framed) != len(args)/2 || s.framed[0] != "unix://"+path {
		t.Fatalf("listening on %q for %q", s.framed, args)
	}
	for _, addr := range s.framed {
		code, stdout, stderr := routerCmd(t, "send", "--addr", addr, "search", "ring")
		if code != exitOK || stdout != "In the caves beneath the Misty Mountains. 💍\n" {
			t.Errorf("send --addr %s: exit %d, stdout %q, stderr %q", addr, code, stdout, stderr)
		}
	}
	if code := s.stop(); code != exitOK {
		t.Fatalf("serve exited with %d", code)
	}
	if _, err := os.Stat(path); !os.IsNotExist(err) {
		t.Errorf("socket file left behind after shutdown: %v", err)
	}
}

// TestServeLimits checks that the limit flags reach the server.
func TestServeLimits(t *testing.T) {
	s := startServe(t, "--listen", "127.0.0.1:0", "--max-content-length", "40")
	// {"action": "search", "value": "ring"} is 37 bytes; with morpheus, 41.
	if code, stdout, stderr := routerCmd(t, "send", "--addr", s.framed[0], "search", "ring"); code != exitOK {
		t.Errorf("37 bytes of content: exit %d, stdout %q, stderr %q", code, stdout, stderr)
	}
	code, stdout, stderr := routerCmd(t, "send", "--addr", s.framed[0], "search", "morpheus")
	if code != exitFailure || stdout != "" || !strings.HasPrefix(stderr, "router: server answered error: core: content-length above limit") {
		t.Errorf("41 bytes of content: exit %d, stdout %q, stderr %q", code, stdout, stderr)
	}
}

// TestServeRaw: a --raw listener echoes bytes unframed, like the
// tutorial's echo-server, and only --raw listeners are opened.
func TestServeRaw(t *testing.T) {
	s := startServe(t, "--raw", "127.0.0.1:0")
	if len(s.framed) != 0 || len(s.raw) != 1 {
		t.Fatalf("listening on framed %q, raw %q; want one raw listener only", s.framed, s.raw)
	}
	c, err := net.Dial("tcp", s.raw[0])
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for _, msg := range []string{"Hello, world", "\x00\x01 not a frame \xff", "again"} {
		if _, err := io.WriteString(c, msg); err != nil {
			t.Fatal(err)
		}
		got := make([]byte, len(msg))
		if _, err := io.ReadFull(c, got); err != nil {
			t.Fatal(err)
		}
		if string(got) != msg {
			t.Errorf("echoed %q, want %q", got, msg)
		}
	}
}

// TestServeShutdown: cancelling the context stops serve gracefully, with
// exit code 0, even with a connection open; that connection is closed.
func TestServeShutdown(t *testing.T) {
	s := startServe(t, "--listen", "127.0.0.1:0", "--raw", "127.0.0.1:0")
	var conns []net.Conn
	for _, addr := range append(s.framed, s.raw...) {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		conns = append(conns, c)
	}
	// A request on the framed connection, answered before the shutdown:
	// it proves the server has accepted the connection.
	client := core.NewClient(conns[0])
	req, _ := newRequest("search", "morpheus", false)
	if _, err := client.Do(t.Context(), req); err != nil {
		t.Fatal(err)
	}
	// The same for the raw connection.
	if _, err := io.WriteString(conns[1], "ping"); err != nil {
		t.Fatal(err)
	}
	if _, err := io.ReadFull(conns[1], make([]byte, 4)); err != nil {
		t.Fatal(err)
	}

	if code := s.stop(); code != exitOK {
		t.Fatalf("serve exited with %d; logs:\n%s", code, s.logs)
	}
	if _, err := client.Do(t.Context(), req); err == nil {
		t.Error("the framed connection still answers after shutdown")
	}
	if n, err := conns[1].Read(make([]byte, 1)); err == nil {
		t.Errorf("the raw connection is still open after shutdown (read %d bytes)", n)
	}
	if _, err := net.Dial("tcp", s.framed[0]); err == nil {
		t.Error("the listener still accepts after shutdown")
	}
	if !strings.Contains(s.logs.String(), "shutting down") {
		t.Errorf("no shutdown in the logs:\n%s", s.logs)
	}
}

// TestSignal runs the real main in a child process and stops it with
// SIGINT and SIGTERM.
func TestSignal(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("no SIGINT to a child process on Windows")
	}
	for _, sig := range []syscall.Signal{syscall.SIGINT, syscall.SIGTERM} {
		t.Run(sig.String(), func(t *testing.T) {
			cmd, addr, logs, stderr := serveProcess(t)
			if code, out, _ := routerCmd(t, "send", "--addr", addr, "search", "morpheus"); code != exitOK || out != "Follow the white rabbit. 🐰\n" {
				t.Errorf("send: exit %d, stdout %q", code, out)
			}
			// The built-in plugins run before the router listens.
			var kids map[string][]int
			if runtime.GOOS == "linux" {
				kids = pluginChildren(t, cmd.Process.Pid)
				for _, name := range []string{"search", "binary", "echo"} { // the default config's
					if len(kids[name]) != 1 {
						t.Errorf("the router runs %d \"plugin %s\" processes, want 1 (children: %v)", len(kids[name]), name, kids)
					}
				}
			}
			if err := cmd.Process.Signal(sig); err != nil {
				t.Fatal(err)
			}
			rest, _ := io.ReadAll(stderr)
			logs.Write(rest)
			if err := cmd.Wait(); err != nil {
				t.Errorf("router after %v: %v; logs:\n%s", sig, err, logs.String())
			}
			if !strings.Contains(logs.String(), "router: stopped") {
				t.Errorf("no \"stopped\" in the logs:\n%s", logs.String())
			}
			// The router stops its plugins and waits for them before it
			// exits: none may outlive it.
			for name, pids := range kids {
				for _, pid := range pids {
					if processAlive(pid) {
						t.Errorf("plugin %s (pid %d) is still running after the router exited", name, pid)
						syscall.Kill(pid, syscall.SIGKILL)
					}
				}
			}
		})
	}
}

func python(t *testing.T) string {
	t.Helper()
	p, err := exec.LookPath("python3")
	if err != nil {
		t.Skip("python3 is not on PATH")
	}
	return p
}

// TestPythonAppClient runs the tutorial's app-client, unchanged, against
// the router.
func TestPythonAppClient(t *testing.T) {
	py := python(t)
	s := startServe(t, "--listen", "127.0.0.1:0")
	host, port, err := net.SplitHostPort(s.framed[0])
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		action, value string
		want          string
	}{
		{"search", "morpheus", "got result: Follow the white rabbit. 🐰\n"},
		{"search", "ring", "got result: In the caves beneath the Misty Mountains. 💍\n"},
		{"search", "🐶", "got result: 🐾 Playing ball! 🏐\n"},
		{"search", "neo", "got result: No match for 'neo'.\n"},
		{"binary", "hello", "got response: b'First 10 bytes of request: binaryhell'\n"},
		{"binary", "😃", "got response: b'First 10 bytes of request: binary\\xf0\\x9f\\x98\\x83'\n"},
	}
	for _, tt := range tests {
		t.Run(tt.action+" "+tt.value, func(t *testing.T) {
			cmd := exec.CommandContext(t.Context(), py, "../../testdata/python/app_client.py", host, port, tt.action, tt.value)
			cmd.Env = append(os.Environ(), "PYTHONIOENCODING=utf-8")
			out, err := cmd.CombinedOutput()
			if err != nil {
				t.Fatalf("app_client.py: %v\n%s", err, out)
			}
			if !strings.Contains(string(out), tt.want) || strings.Contains(string(out), "error") {
				t.Errorf("app_client.py output:\n%s\nwant a line %q and no error", out, tt.want)
			}
		})
	}
}

// TestPythonEchoClient runs a client like the tutorial's echo-client
// against a --raw listener.
func TestPythonEchoClient(t *testing.T) {
	py := python(t)
	s := startServe(t, "--raw", "127.0.0.1:0")
	host, port, err := net.SplitHostPort(s.raw[0])
	if err != nil {
		t.Fatal(err)
	}
	const script = `
import socket, sys
with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
    s.connect((sys.argv[1], int(sys.argv[2])))
    s.sendall(b"Hello, world")
    data = b""
    while len(data) < 12:
        chunk = s.recv(1024)
        if not chunk:
            break
        data += chunk
print(f"Received {data!r}")
`
	out, err := exec.CommandContext(t.Context(), py, "-c", script, host, port).CombinedOutput()
	if err != nil {
		t.Fatalf("echo client: %v\n%s", err, out)
	}
	if string(out) != "Received b'Hello, world'\n" {
		t.Errorf("echo client printed %q", out)
	}
}

// serveProcess starts "router serve --listen 127.0.0.1:0" as a process
// (this test binary, see TestMain) and reads its log up to the listening
// line. It returns the process, which is killed when the test ends if it
// still runs, the address, the log so far, and the rest of the log to
// read.
func serveProcess(t *testing.T) (cmd *exec.Cmd, addr string, logs *strings.Builder, stderr io.Reader) {
	t.Helper()
	cmd = exec.Command(os.Args[0], "serve", "--listen", "127.0.0.1:0")
	// atexit_sleep_ms: under -race, exit without the race detector's
	// default one-second pause.
	cmd.Env = append(os.Environ(), "ROUTER_TEST_MAIN=1",
		"GORACE="+strings.TrimSpace(os.Getenv("GORACE")+" atexit_sleep_ms=0"))
	pipe, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill() })
	// A byte at a time, so that nothing after the listening line is
	// consumed here: the caller reads the rest.
	r := bufio.NewReaderSize(pipe, 16)
	logs = new(strings.Builder)
	for addr == "" {
		line, err := r.ReadString('\n')
		logs.WriteString(line)
		if _, a, ok := strings.Cut(line, "listening: addr="); ok {
			addr, _, _ = strings.Cut(strings.TrimSpace(a), " ")
		}
		if err != nil {
			break
		}
	}
	if addr == "" {
		t.Fatalf("no listening line:\n%s", logs.String())
	}
	return cmd, addr, logs, r
}
