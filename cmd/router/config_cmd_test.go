package main

import (
	"bufio"
	"bytes"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/msgrouter/router/config"
)

// routerProc is the real router, main and all, in a child process.
type routerProc struct {
	cmd  *exec.Cmd
	logs *syncBuffer
	done chan error // receives Wait's error, once stderr is drained
}

// spawnRouter runs "router args..." in a child process, with env added
// to this process's environment, collecting its standard error in logs;
// the caller stops it.
func spawnRouter(t *testing.T, env []string, args ...string) *routerProc {
	t.Helper()
	cmd := exec.Command(os.Args[0], args...)
	cmd.Env = append(append(os.Environ(), "ROUTER_TEST_MAIN=1"), env...)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &routerProc{cmd: cmd, logs: new(syncBuffer), done: make(chan error, 1)}
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			p.logs.Write([]byte(sc.Text() + "\n"))
		}
		p.done <- cmd.Wait()
	}()
	return p
}

// startRouter runs "router args..." in a child process, with env added
// to this process's environment, and stops it with SIGTERM when the test
// ends.
func startRouter(t *testing.T, env []string, args ...string) *routerProc {
	t.Helper()
	if runtime.GOOS == "windows" {
		t.Skip("signals a child process")
	}
	p := spawnRouter(t, env, args...)
	cmd := p.cmd
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		select {
		case err := <-p.done:
			if err != nil {
				t.Errorf("router %q: %v; logs:\n%s", args, err, p.logs)
			}
		case <-time.After(30 * time.Second):
			cmd.Process.Kill()
			t.Errorf("router %q did not stop after SIGTERM; logs:\n%s", args, p.logs)
		}
	})
	return p
}

// waitLog polls the log until re matches a line of it, and returns the
// submatches of the first line that does.
func (p *routerProc) waitLog(t *testing.T, re *regexp.Regexp) []string {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		for line := range strings.Lines(p.logs.String()) {
			if m := re.FindStringSubmatch(line); m != nil {
				return m
			}
		}
		select {
		case err := <-p.done:
			p.done <- err
			t.Fatalf("the router exited (%v) before logging %q; logs:\n%s", err, re, p.logs)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("no log line matches %q after 10s; logs:\n%s", re, p.logs)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

var listeningLine = regexp.MustCompile(`listening: addr=(\S+) raw=false`)

// waitSend runs "router send --addr addr args..." until it prints want,
// for at most 10s.
func waitSend(t *testing.T, p *routerProc, addr, want string, args ...string) {
	t.Helper()
	args = append([]string{"send", "--addr", addr}, args...)
	deadline := time.Now().Add(10 * time.Second)
	for {
		code, stdout, stderr := routerCmd(t, args...)
		if code == exitOK && stdout == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("router %q = exit %d, stdout %q, stderr %q after 10s; want %q; logs:\n%s", args, code, stdout, stderr, want, p.logs)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// send runs "router send --addr addr args..." once and checks its
// answer.
func send(t *testing.T, addr, want string, args ...string) {
	t.Helper()
	args = append([]string{"send", "--addr", addr}, args...)
	if code, stdout, stderr := routerCmd(t, args...); code != exitOK || stdout != want {
		t.Errorf("router %q = exit %d, stdout %q, stderr %q; want %q", args, code, stdout, stderr, want)
	}
}

// replaceFile writes content to a new file beside path and renames it
// over path, as careful editors do: the router never reads it half
// written.
func replaceFile(t *testing.T, path, content string) {
	t.Helper()
	tmp := path + ".new"
	if err := os.WriteFile(tmp, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

// withUpper is builtinsYAML with the test plugin upper (see testPlugin)
// and a route to its action "upper".
func withUpper(upper string) string {
	return strings.Replace(strings.Replace(builtinsYAML,
		"routes:\n", "routes:\n  - { action: upper, plugin: upper }\n", 1),
		"plugins:\n", fmt.Sprintf("plugins:\n  upper: { cmd: %q }\n", upper), 1)
}

const (
	upperHello   = "HELLO\n"
	noUpperHello = "Error: invalid action 'upper'.\n" // from search, for text/json
)

// TestReloadSIGHUP reloads the config file of a running router on
// SIGHUP: a new plugin and its route; then an invalid file, which is
// rejected, naming the file and the key, while the last good config
// keeps serving.
func TestReloadSIGHUP(t *testing.T) {
	upper := testPlugin(t)
	path := writeFile(t, "router.yaml", builtinsYAML)
	p := startRouter(t, nil, "serve", "-c", path, "--watch=false")
	addr := p.waitLog(t, listeningLine)[1]
	send(t, addr, "Follow the white rabbit. 🐰\n", "search", "morpheus")
	send(t, addr, noUpperHello, "--json", "upper", "hello")

	replaceFile(t, path, withUpper(upper))
	if err := p.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	waitSend(t, p, addr, upperHello, "--json", "upper", "hello")
	send(t, addr, "Follow the white rabbit. 🐰\n", "search", "morpheus")
	p.waitLog(t, regexp.MustCompile(`router: config reloaded: plugins_started=\["upper"\]`))

	// An unknown key: rejected, with the file and the key.
	replaceFile(t, path, withUpper(upper)+"limits: { max_conections: 3 }\n")
	if err := p.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	p.waitLog(t, regexp.MustCompile(`\[ERROR\] router: reload rejected; the last good config keeps serving: file=`+regexp.QuoteMeta(path)+` problems=1\n`))
	p.waitLog(t, regexp.MustCompile(`\[ERROR\] router: reload: `+regexp.QuoteMeta(path)+`: limits\.max_conections: unknown key, did you mean "max_connections"\?`))
	send(t, addr, upperHello, "--json", "upper", "hello")
	send(t, addr, "First 10 bytes of request: binaryhell\n", "binary", "hello")
	if strings.Contains(p.logs.String(), "watching") {
		t.Errorf("the router watches its file with --watch=false; logs:\n%s", p.logs)
	}
}

// TestReloadWatch: a router reloads its config file when it changes,
// without a signal, and keeps its config when the new file is invalid.
func TestReloadWatch(t *testing.T) {
	upper := testPlugin(t)
	path := writeFile(t, "router.yaml", builtinsYAML)
	p := startRouter(t, nil, "serve", "--config", path)
	addr := p.waitLog(t, listeningLine)[1]
	p.waitLog(t, regexp.MustCompile(`watching the config file for changes: file=`+regexp.QuoteMeta(path)))
	send(t, addr, noUpperHello, "--json", "upper", "hello")

	replaceFile(t, path, withUpper(upper))
	waitSend(t, p, addr, upperHello, "--json", "upper", "hello")

	// A route the plugin does not declare: found once the plugins run,
	// and rejected. The file is written in place this time.
	bad := strings.Replace(withUpper(upper), "action: upper,", "action: uper,", 1)
	if err := os.WriteFile(path, []byte(bad), 0o644); err != nil {
		t.Fatal(err)
	}
	p.waitLog(t, regexp.MustCompile(`reload: `+regexp.QuoteMeta(path)+`: routes\[0\]\.action: handler "upper" of plugin "upper" does not declare action "uper" \(want an action it declares: "upper"\)`))
	send(t, addr, upperHello, "--json", "upper", "hello")

	// Fixed again, with a second listener.
	replaceFile(t, path, strings.Replace(withUpper(upper), "listen: tcp://127.0.0.1:0", "listen: [tcp://127.0.0.1:0, tcp://127.0.0.1:0]", 1))
	var addrs []string
	deadline := time.Now().Add(10 * time.Second)
	for len(addrs) < 2 {
		if time.Now().After(deadline) {
			t.Fatalf("no second listener after 10s; logs:\n%s", p.logs)
		}
		time.Sleep(10 * time.Millisecond)
		addrs = addrs[:0]
		for _, m := range listeningLine.FindAllStringSubmatch(p.logs.String(), -1) {
			addrs = append(addrs, m[1])
		}
	}
	if len(addrs) != 2 || addrs[0] != addr {
		t.Fatalf("listening on %q, want %s and one more; logs:\n%s", addrs, addr, p.logs)
	}
	send(t, addrs[1], upperHello, "--json", "upper", "hello")
	send(t, addr, upperHello, "--json", "upper", "hello")
}

// TestOverridePrecedence: defaults < file < ROUTER_ environment < flags,
// through the CLI.
func TestOverridePrecedence(t *testing.T) {
	// Addresses that are in use: a router that listened on one would
	// fail to start.
	var busy []string
	for range 2 {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer l.Close()
		busy = append(busy, l.Addr().String())
	}
	path := writeFile(t, "router.yaml", "listen: tcp://"+busy[0]+"\nlog: { level: warn }\ntimeouts: { idle: 30s }\n")
	envInfo := []string{"ROUTER_LOG_LEVEL=info", "ROUTER_LISTEN=" + busy[1], "ROUTER_TIMEOUTS_READ=3s"}
	flagsDebug := []string{"--log-level", "debug", "--listen", "127.0.0.1:0"}

	// What config check prints.
	for _, tt := range []struct {
		name       string
		env, flags []string
		level      string
		listen     string
	}{
		{"file", nil, nil, "warn", "tcp://" + busy[0]},
		{"env", envInfo, nil, "info", busy[1]},
		{"flags", envInfo, flagsDebug, "debug", "127.0.0.1:0"},
		{"flags without env", nil, flagsDebug, "debug", "127.0.0.1:0"},
	} {
		t.Run("check "+tt.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			c := &cli{stdin: strings.NewReader(""), stdout: &stdout, stderr: &stderr, environ: tt.env}
			if c.environ == nil {
				c.environ = []string{}
			}
			if code := c.run(t.Context(), append([]string{"config", "check", "--no-plugins", path}, tt.flags...)); code != exitOK {
				t.Fatalf("exit %d, stderr:\n%s", code, stderr.String())
			}
			var got struct {
				Listen   []string
				Log      struct{ Level string }
				Timeouts map[string]string
			}
			if err := yaml.Unmarshal(stdout.Bytes(), &got); err != nil {
				t.Fatalf("%v in:\n%s", err, stdout.String())
			}
			wantRead := "10s" // the default
			if tt.env != nil {
				wantRead = "3s"
			}
			if got.Log.Level != tt.level || len(got.Listen) != 1 || got.Listen[0] != tt.listen ||
				got.Timeouts["idle"] != "30s" || got.Timeouts["read"] != wantRead || got.Timeouts["write"] != "10s" {
				t.Errorf("effective config: log.level %q, listen %q, timeouts %v; want %q, [%q], idle 30s (the file's), read %s, write 10s (the default)\n%s",
					got.Log.Level, got.Listen, got.Timeouts, tt.level, tt.listen, wantRead, stdout.String())
			}
		})
	}

	// What serve runs: the environment's level over the file's...
	t.Run("serve env", func(t *testing.T) {
		p := startRouter(t, envInfo, "serve", "-c", path, "--listen", "127.0.0.1:0", "--in-process")
		addr := p.waitLog(t, listeningLine)[1] // an info line: the file says warn
		send(t, addr, "Follow the white rabbit. 🐰\n", "search", "morpheus")
		if strings.Contains(p.logs.String(), "[DEBUG]") {
			t.Errorf("debug logs at level info:\n%s", p.logs)
		}
	})
	// ...and the flags' over the environment's, for the level and the
	// listeners.
	t.Run("serve flags", func(t *testing.T) {
		p := startRouter(t, envInfo, append([]string{"serve", "-c", path, "--in-process"}, flagsDebug...)...)
		addr := p.waitLog(t, listeningLine)[1]
		p.waitLog(t, regexp.MustCompile(`\[DEBUG\] router: route: index=0 action=echo`))
		send(t, addr, "Follow the white rabbit. 🐰\n", "search", "morpheus")
	})
}

// TestConfigCheck checks a valid file, an invalid one, and one whose
// routes only the plugins can tell wrong.
func TestConfigCheck(t *testing.T) {
	upper := testPlugin(t)
	valid := writeFile(t, "router.yaml", withUpper(upper))
	code, stdout, stderr := routerCmd(t, "config", "check", valid)
	if code != exitOK || stderr != valid+": ok (4 plugins started, 4 routes checked against their declarations)\n" {
		t.Fatalf("check %s: exit %d, stderr %q", valid, code, stderr)
	}
	var got map[string]any
	if err := yaml.Unmarshal([]byte(stdout), &got); err != nil {
		t.Fatalf("%v in:\n%s", err, stdout)
	}
	plugins, _ := got["plugins"].(map[string]any)
	routes, _ := got["routes"].([]any)
	limits, _ := got["limits"].(map[string]any)
	timeouts, _ := got["timeouts"].(map[string]any)
	bin, _ := plugins["bin"].(map[string]any)
	restart, _ := bin["restart"].(map[string]any)
	if fmt.Sprint(got["listen"]) != "[tcp://127.0.0.1:0]" || len(plugins) != 4 || len(routes) != 4 ||
		fmt.Sprint(routes[0]) != "map[action:upper plugin:upper]" || fmt.Sprint(routes[3]) != "map[plugin:bin.binary]" ||
		limits["max_content_length"] != "16MiB" || timeouts["handler"] != "3s" || timeouts["idle"] != "1m" ||
		bin["cmd"] != "builtin:binary" || restart["max_restarts"] != 2 || restart["backoff"] != "100ms" {
		t.Errorf("effective config:\n%s", stdout)
	}

	// It is a config file that gives the same config.
	cfg, err := config.Load(writeFile(t, "effective.yaml", stdout), config.LoadOptions{Environ: []string{}})
	if err != nil {
		t.Fatalf("the effective config does not load: %v\n%s", err, stdout)
	}
	if again, err := effectiveYAML(cfg, valid); err != nil || string(again) != stdout {
		t.Errorf("the effective config, loaded and written again, differs (%v):\n%s\nwant:\n%s", err, again, stdout)
	}

	// Problems of form, each on a line of its own.
	invalid := writeFile(t, "router.yaml", "listen: tcp://127.0.0.1:0\nlimits: { max_conections: 3 }\ntimeouts: { idle: 10 secs }\n")
	code, stdout, stderr = routerCmd(t, "config", "check", invalid)
	want := invalid + `: limits.max_conections: unknown key, did you mean "max_connections"? (want one of max_content_length, max_header_length, max_connections, max_buffered)` + "\n" +
		invalid + `: timeouts.idle: invalid duration "10 secs" (want a duration such as 500ms, 10s or 1m30s, or 0 for none)` + "\n"
	if code != exitFailure || stdout != "" || stderr != want {
		t.Errorf("check %s: exit %d, stdout %q, stderr:\n%s\nwant exit 1 and stderr:\n%s", invalid, code, stdout, stderr, want)
	}

	// A route its plugin does not declare: only the plugins tell.
	undeclared := writeFile(t, "router.yaml", strings.Replace(withUpper(upper), "action: upper,", "action: uper,", 1))
	code, stdout, stderr = routerCmd(t, "config", "check", undeclared)
	want = undeclared + `: routes[0].action: handler "upper" of plugin "upper" does not declare action "uper" (want an action it declares: "upper")` + "\n"
	if code != exitFailure || stdout != "" || stderr != want {
		t.Errorf("check %s: exit %d, stdout %q, stderr:\n%s\nwant exit 1 and stderr:\n%s", undeclared, code, stdout, stderr, want)
	}
	code, _, stderr = routerCmd(t, "config", "check", undeclared, "--no-plugins")
	if code != exitOK || stderr != undeclared+": ok (static checks only; plugins not started)\n" {
		t.Errorf("check --no-plugins %s: exit %d, stderr %q", undeclared, code, stderr)
	}

	// The environment is checked as the file is.
	var out, errOut bytes.Buffer
	c := &cli{stdin: strings.NewReader(""), stdout: &out, stderr: &errOut, environ: []string{"ROUTER_LIMITS_MAX_CONNECTIONS=many", "ROUTER_LIMITS_MAX_CONECTIONS=3"}}
	code = c.run(t.Context(), []string{"config", "check", "--no-plugins", valid})
	want = `$ROUTER_LIMITS_MAX_CONECTIONS: unknown variable, did you mean $ROUTER_LIMITS_MAX_CONNECTIONS? (want ROUTER_ and a key in capitals, such as ROUTER_LOG_LEVEL for log.level)` + "\n" +
		`$ROUTER_LIMITS_MAX_CONNECTIONS: limits.max_connections: got string "many" (want an integer)` + "\n"
	if code != exitFailure || out.Len() != 0 || errOut.String() != want {
		t.Errorf("check with a bad environment: exit %d, stdout %q, stderr:\n%s\nwant exit 1 and stderr:\n%s", code, out.String(), errOut.String(), want)
	}

	// Serve refuses the invalid files as check does, before it listens.
	for _, f := range []string{invalid, undeclared} {
		code, _, stderr := routerCmd(t, "serve", "-c", f, "--in-process")
		if code != exitFailure || !strings.Contains(stderr, f+": ") || strings.Contains(stderr, "listening") {
			t.Errorf("serve -c %s: exit %d, stderr:\n%s", f, code, stderr)
		}
	}
	missing := filepath.Join(t.TempDir(), "missing.yaml")
	code, _, stderr = routerCmd(t, "serve", "-c", missing)
	if want := missing + ": cannot read the file: no such file or directory\n"; code != exitFailure || stderr != want {
		t.Errorf("serve -c %s: exit %d, stderr %q; want %q", missing, code, stderr, want)
	}
}

// TestConfigDefault: config default prints the embedded default, which
// loads and checks, and is what serve runs without a file.
func TestConfigDefault(t *testing.T) {
	code, stdout, stderr := routerCmd(t, "config", "default")
	if code != exitOK || stderr != "" || stdout != string(config.DefaultYAML()) {
		t.Fatalf("exit %d, stderr %q, stdout:\n%s", code, stderr, stdout)
	}
	path := writeFile(t, "router.yaml", stdout)
	if _, err := config.Load(path, config.LoadOptions{Environ: []string{}}); err != nil {
		t.Fatalf("the default config does not load: %v", err)
	}
	code, fromFile, stderr := routerCmd(t, "config", "check", "--in-process", path)
	if code != exitOK {
		t.Fatalf("check %s: exit %d, stderr %q", path, code, stderr)
	}
	code, noFile, stderr := routerCmd(t, "config", "check", "--in-process")
	if code != exitOK || stderr != "default config: ok (3 plugins started, 3 routes checked against their declarations)\n" {
		t.Fatalf("check without a file: exit %d, stderr %q", code, stderr)
	}
	_, fromFile, _ = strings.Cut(fromFile, "\nlisten:")
	_, noFile, _ = strings.Cut(noFile, "\nlisten:")
	if fromFile != noFile || fromFile == "" {
		t.Errorf("the effective config of the printed default:\n%s\ndiffers from the default's:\n%s", fromFile, noFile)
	}
}

// TestServeSIGHUPWithoutFile: with the default config, SIGHUP reloads
// it, under the same flags (the listener stays), and the router carries
// on.
func TestServeSIGHUPWithoutFile(t *testing.T) {
	hup := make(chan os.Signal, 1)
	s := startServeWith(t, &cli{hup: hup}, "--listen", "127.0.0.1:0", "--in-process")
	hup <- syscall.SIGHUP
	deadline := time.Now().Add(10 * time.Second)
	want := "router: config reloaded: plugins_started=[] plugins_stopped=[] listeners_opened=0 listeners_closed=0 routes=3"
	for !strings.Contains(s.logs.String(), want) {
		if time.Now().After(deadline) {
			t.Fatalf("no %q in the logs:\n%s", want, s.logs)
		}
		time.Sleep(10 * time.Millisecond)
	}
	if !strings.Contains(s.logs.String(), "SIGHUP: reloading the default config, under the same environment and flags") {
		t.Errorf("no log of the SIGHUP; logs:\n%s", s.logs)
	}
	send(t, s.framed[0], "Follow the white rabbit. 🐰\n", "search", "morpheus")
}

// TestServePluginFlagReload: with --plugin and a file, SIGHUP reloads the
// file and keeps the plugin's routes ahead of the file's.
func TestServePluginFlagReload(t *testing.T) {
	upper := testPlugin(t)
	path := writeFile(t, "router.yaml", builtinsYAML)
	hup := make(chan os.Signal, 1)
	s := startServeWith(t, &cli{hup: hup}, "-c", path, "--plugin", "up="+upper, "--in-process")
	send(t, s.framed[0], upperHello, "--json", "upper", "hello")
	if !strings.Contains(s.logs.String(), "the config file is not watched with --plugin") {
		t.Errorf("no warning that the file is not watched; logs:\n%s", s.logs)
	}

	// The file's routes change: text/json goes to binary.
	replaceFile(t, path, strings.Replace(builtinsYAML, "{ content_type: text/json, plugin: find }", "{ content_type: text/json, plugin: bin }", 1))
	hup <- syscall.SIGHUP
	waitLogs := func(what string) {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for !strings.Contains(s.logs.String(), what) {
			if time.Now().After(deadline) {
				t.Fatalf("no %q in the logs:\n%s", what, s.logs)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	waitLogs("config reloaded")
	send(t, s.framed[0], upperHello, "--json", "upper", "hello")
	send(t, s.framed[0], `First 10 bytes of request: {"action":`+"\n", "search", "morpheus")

	// A file whose route repeats the plugin's is rejected, with a note.
	replaceFile(t, path, strings.Replace(builtinsYAML, "routes:\n", "routes:\n  - { action: upper, plugin: echo }\n", 1))
	hup <- syscall.SIGHUP
	note := "reload: flags: routes[0] is --plugin's: {action upper, plugin up.upper}; the config's routes follow, from routes[1]"
	waitLogs(note)
	send(t, s.framed[0], upperHello, "--json", "upper", "hello")

	// A file that fails on its own, its routes numbered as in the file:
	// no note about --plugin's routes.
	replaceFile(t, path, strings.Replace(builtinsYAML, "{ action: echo, plugin: echo }", "{ action: echo, plugin: ech }", 1))
	hup <- syscall.SIGHUP
	waitLogs(`reload: ` + path + `: routes[0].plugin: no plugin "ech"`)
	if n := strings.Count(s.logs.String(), "routes[0] is --plugin's"); n != 1 {
		t.Errorf("the note about --plugin's routes is logged %d times, want once (for the second reload only); logs:\n%s", n, s.logs)
	}
}

// TestConfigCheckCertificates: config check refuses a certificate that
// has expired or is not yet valid, naming the file, the key and the
// dates, and warns of one that expires in 3 days without failing.
func TestConfigCheckCertificates(t *testing.T) {
	now := time.Now().Truncate(time.Second)
	for _, tt := range []struct {
		name                string
		notBefore, notAfter time.Time
		line                string // the regexp of stderr's one line; CERT, NB and NA for c's
	}{
		{"expired", now.Add(-90 * day), now.Add(-2 * day),
			`FILE: listen\[0\].tls.cert: certificate "CERT" has expired: notAfter NA was 2 days ago \(notBefore NB, now \S+ \S+ UTC\) \(want a certificate valid now: renew it, and point cert at the renewed file\)`},
		{"not yet valid", now.Add(2 * day), now.Add(90 * day),
			`FILE: listen\[0\].tls.cert: certificate "CERT" is not valid yet: notBefore NB is in 2 days \(notAfter NA, now \S+ \S+ UTC\) \(want a certificate valid now: check this machine's clock, or issue one whose notBefore has passed\)`},
	} {
		c := writeTestCert(t, tt.notBefore, tt.notAfter)
		file := writeFile(t, "router.yaml", tlsEchoYAML(c))
		re := regexp.MustCompile("^" + strings.NewReplacer("FILE", regexp.QuoteMeta(file), "CERT", regexp.QuoteMeta(c.Cert), "NB", c.notBefore, "NA", c.notAfter).Replace(tt.line) + "\n$")
		for _, args := range [][]string{{file}, {"--no-plugins", file}} {
			code, stdout, stderr := routerCmd(t, append([]string{"config", "check"}, args...)...)
			if code != exitFailure || stdout != "" || !re.MatchString(stderr) {
				t.Errorf("check %q, a certificate %s: exit %d, stdout %q, stderr:\n%s\nwant exit 1 and stderr matching:\n%s", args, tt.name, code, stdout, stderr, re)
			}
		}
	}

	// Expiring: a warning, and the config is valid.
	c := writeTestCert(t, now.Add(-day), now.Add(3*day))
	file := writeFile(t, "router.yaml", tlsEchoYAML(c))
	warning := "warning: " + file + `: listen[0].tls.cert: certificate "` + c.Cert + `" expires in 3 days: notAfter ` + c.notAfter + ` (notBefore ` + c.notBefore + `) (want a renewed certificate before then; a reload (SIGHUP) reads it without a restart)` + "\n"
	for _, tt := range []struct {
		args []string
		ok   string
	}{
		{[]string{file}, "2 plugins started, 2 routes checked against their declarations"},
		{[]string{"--no-plugins", file}, "static checks only; plugins not started"},
	} {
		code, stdout, stderr := routerCmd(t, append([]string{"config", "check"}, tt.args...)...)
		if want := warning + file + ": ok (" + tt.ok + ")\n"; code != exitOK || stdout == "" || stderr != want {
			t.Errorf("check %q, a certificate that expires in 3 days: exit %d, stderr:\n%s\nwant exit 0 and stderr:\n%s", tt.args, code, stderr, want)
		}
	}

	// Valid for long: no warning.
	c = writeTestCert(t, now.Add(-day), now.Add(365*day))
	file = writeFile(t, "router.yaml", tlsEchoYAML(c))
	if code, _, stderr := routerCmd(t, "config", "check", "--no-plugins", file); code != exitOK || stderr != file+": ok (static checks only; plugins not started)\n" {
		t.Errorf("check a valid certificate: exit %d, stderr %q", code, stderr)
	}
}

// With routes to subjects and a nats.url nobody listens on, config check
// says it could not check the max payload, and the config stays valid.
func TestConfigCheckNATSUnreachable(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	url := "nats://" + l.Addr().String()
	l.Close() // nobody listens there now
	path := writeFile(t, "router.yaml", `
nats: {url: "`+url+`"}
plugins: {binary: {cmd: "builtin:binary"}}
routes: [{action: search, nats: router.search}, {plugin: binary}]
`)
	code, _, stderr := routerCmd(t, "config", "check", "--no-plugins", path)
	want := "warning: cannot connect to NATS at " + url + " to check its max payload"
	if code != exitOK || !strings.Contains(stderr, want) {
		t.Errorf("exit %d, stderr:\n%s\nwant exit 0 and %q", code, stderr, want)
	}
}
