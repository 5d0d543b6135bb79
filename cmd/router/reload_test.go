//go:build unix

package main

import (
	"fmt"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
)

// TestHangupSparesPlugins sends SIGHUP to every process of a router's
// tree, as kill -HUP $(pidof router) does: the router reloads, and every
// plugin process ignores it and keeps running.
func TestHangupSparesPlugins(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("finds the plugin processes in /proc")
	}
	p := startRouter(t, nil, "serve", "--listen", "127.0.0.1:0")
	addr := p.waitLog(t, listeningLine)[1]
	kids := pluginChildren(t, p.cmd.Process.Pid)
	for _, name := range []string{"search", "binary", "echo"} { // the default config's
		if len(kids[name]) != 1 {
			t.Fatalf("the router runs %d \"plugin %s\" processes, want 1 (children: %v)", len(kids[name]), name, kids)
		}
	}
	for name, pids := range kids {
		if !ignoresHangup(t, pids[0]) {
			t.Errorf("plugin %s (pid %d) does not ignore SIGHUP", name, pids[0])
		}
		if err := syscall.Kill(pids[0], syscall.SIGHUP); err != nil {
			t.Fatal(err)
		}
	}
	if err := p.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	p.waitLog(t, regexp.MustCompile(`router: config reloaded: plugins_started=\[\] plugins_stopped=\[\]`))
	send(t, addr, "Follow the white rabbit. 🐰\n", "search", "morpheus")
	send(t, addr, "First 10 bytes of request: binaryhell\n", "binary", "hello")
	send(t, addr, `{"action": "echo", "value": "hi"}`+"\n", "--json", "echo", "hi")

	for name, pids := range kids {
		if !processAlive(pids[0]) {
			t.Errorf("plugin %s (pid %d) died of SIGHUP", name, pids[0])
		}
	}
	if now := pluginChildren(t, p.cmd.Process.Pid); !maps.EqualFunc(now, kids, func(a, b []int) bool { return fmt.Sprint(a) == fmt.Sprint(b) }) {
		t.Errorf("the plugin processes were %v before the SIGHUPs, %v after", kids, now)
	}
	if logs := p.logs.String(); strings.Contains(logs, "plugin died") {
		t.Errorf("a plugin died; logs:\n%s", logs)
	}
}

// ignoresHangup reports whether process pid ignores SIGHUP: bit 0 of
// the mask SigIgn in /proc/PID/status.
func ignoresHangup(t *testing.T, pid int) bool {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^SigIgn:\s*([0-9a-f]+)$`).FindSubmatch(b)
	if m == nil {
		t.Fatalf("no SigIgn in /proc/%d/status:\n%s", pid, b)
	}
	mask, err := strconv.ParseUint(string(m[1]), 16, 64)
	if err != nil {
		t.Fatal(err)
	}
	return mask&(1<<(syscall.SIGHUP-1)) != 0
}

// TestReloadCommand: serve --pid-file writes the router's pid once it
// listens; router reload --pid-file signals it, and it reloads; at a
// graceful stop the file is removed, and a reload by the stale pid then
// fails and says so.
func TestReloadCommand(t *testing.T) {
	pidFile := filepath.Join(t.TempDir(), "router.pid")
	p := startRouter(t, nil, "serve", "--listen", "127.0.0.1:0", "--in-process", "--pid-file", pidFile)
	addr := p.waitLog(t, listeningLine)[1]
	pid := p.cmd.Process.Pid
	if b, err := os.ReadFile(pidFile); err != nil || string(b) != fmt.Sprintf("%d\n", pid) {
		t.Fatalf("the pid file holds %q (%v), want %d and a newline", b, err, pid)
	}

	code, stdout, stderr := routerCmd(t, "reload", "--pid-file", pidFile)
	if want := fmt.Sprintf("sent SIGHUP to the router (pid %d);", pid); code != exitOK || !strings.HasPrefix(stdout, want) || stderr != "" {
		t.Errorf("reload --pid-file: exit %d, stdout %q, stderr %q; want exit 0 and %q", code, stdout, stderr, want)
	}
	p.waitLog(t, regexp.MustCompile(`router: SIGHUP: reloading the default config`))
	p.waitLog(t, regexp.MustCompile(`router: config reloaded: `))
	send(t, addr, "Follow the white rabbit. 🐰\n", "search", "morpheus")

	code, stdout, stderr = routerCmd(t, "reload", "--pid", strconv.Itoa(pid))
	if code != exitOK || !strings.Contains(stdout, "sent SIGHUP") {
		t.Errorf("reload --pid: exit %d, stdout %q, stderr %q", code, stdout, stderr)
	}

	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	err := <-p.done
	p.done <- err
	if err != nil {
		t.Fatalf("serve after SIGTERM: %v; logs:\n%s", err, p.logs)
	}
	if _, err := os.Stat(pidFile); !os.IsNotExist(err) {
		t.Errorf("the pid file is still there after a graceful stop (%v)", err)
	}

	// As a router killed with SIGKILL leaves it.
	if err := os.WriteFile(pidFile, fmt.Appendf(nil, "%d\n", pid), 0o644); err != nil {
		t.Fatal(err)
	}
	code, stdout, stderr = routerCmd(t, "reload", "--pid-file", pidFile)
	if want := fmt.Sprintf("router: no process %d: the pid file %s is stale", pid, pidFile); code != exitFailure || stdout != "" || !strings.HasPrefix(stderr, want) {
		t.Errorf("reload by a stale pid file: exit %d, stdout %q, stderr %q; want exit 1 and %q", code, stdout, stderr, want)
	}
	code, _, stderr = routerCmd(t, "reload", "--pid", strconv.Itoa(pid))
	if want := fmt.Sprintf("router: no process %d\n", pid); code != exitFailure || stderr != want {
		t.Errorf("reload --pid of no process: exit %d, stderr %q; want exit 1 and %q", code, stderr, want)
	}
}

// TestServePIDFileError: a pid file that cannot be written stops serve,
// exit code 1, and says why.
func TestServePIDFileError(t *testing.T) {
	pidFile := filepath.Join(t.TempDir(), "no such dir", "router.pid")
	code, _, stderr := routerCmd(t, "serve", "--listen", "127.0.0.1:0", "--in-process", "--pid-file", pidFile)
	if want := "router: cannot write the pid file " + pidFile + ": "; code != exitFailure || !strings.Contains(stderr, want) {
		t.Errorf("serve --pid-file in a missing directory: exit %d, stderr:\n%s\nwant exit 1 and %q", code, stderr, want)
	}
}

// TestReloadErrors: a pid file that is missing or holds no pid, and a
// process that is not a router (unharmed), each fail with exit code 1
// and a message that says what is wrong.
func TestReloadErrors(t *testing.T) {
	dir := t.TempDir()
	missing := filepath.Join(dir, "router.pid")
	garbage := writeFile(t, "garbage.pid", "router\n")
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"--pid-file", missing}, "router: no pid file " + missing + ": is the router running, started with 'router serve --pid-file " + missing + "'?\n"},
		{[]string{"--pid-file", garbage}, "router: the pid file " + garbage + ` holds "router", not a process id`},
	} {
		code, stdout, stderr := routerCmd(t, append([]string{"reload"}, tt.args...)...)
		if code != exitFailure || stdout != "" || !strings.HasPrefix(stderr, tt.want) {
			t.Errorf("reload %q: exit %d, stdout %q, stderr %q; want exit 1 and %q", tt.args, code, stdout, stderr, tt.want)
		}
	}

	if runtime.GOOS != "linux" {
		return // only Linux tells which command a process runs
	}
	sleep, err := exec.LookPath("sleep")
	if err != nil {
		t.Skip("no sleep command")
	}
	cmd := exec.Command(sleep, "60")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { cmd.Process.Kill(); cmd.Wait() }()
	pidFile := writeFile(t, "router.pid", strconv.Itoa(cmd.Process.Pid))
	code, _, stderr := routerCmd(t, "reload", "--pid-file", pidFile)
	want := fmt.Sprintf("router: process %d is not a router's serve: it runs %q; the pid file %s is stale", cmd.Process.Pid, sleep+" 60", pidFile)
	if code != exitFailure || !strings.HasPrefix(stderr, want) {
		t.Errorf("reload of a process that is not a router: exit %d, stderr %q; want exit 1 and %q", code, stderr, want)
	}
	if !processAlive(cmd.Process.Pid) {
		t.Error("reload signalled the process that is not a router")
	}
	if os.Geteuid() != 0 {
		code, _, stderr = routerCmd(t, "reload", "--pid", "1")
		if want := "router: not permitted to signal process 1: it runs as another user"; code != exitFailure || !strings.HasPrefix(stderr, want) {
			t.Errorf("reload --pid 1: exit %d, stderr %q; want exit 1 and %q", code, stderr, want)
		}
	}
}

// TestHangupRestartsFailedPlugin: with --plugin and no config file, a
// plugin past its restart limit is failed; SIGHUP reloads the same
// config, which starts it afresh, and it answers again.
func TestHangupRestartsFailedPlugin(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("finds the plugin process in /proc")
	}
	upper := testPlugin(t)
	p := startRouter(t, nil, "serve", "--listen", "127.0.0.1:0", "--in-process", "--plugin", "up="+upper)
	addr := p.waitLog(t, listeningLine)[1]
	send(t, addr, upperHello, "--json", "upper", "hello")

	// From now on the plugin exits as it starts: killed, it fails every
	// restart (5, the default limit) and is failed.
	fail := upper + ".fail"
	if err := os.WriteFile(fail, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	pids := childrenRunning(t, p.cmd.Process.Pid, upper)
	if len(pids) != 1 {
		t.Fatalf("the router runs %d processes of %s, want 1", len(pids), upper)
	}
	if err := syscall.Kill(pids[0], syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	p.waitLog(t, regexp.MustCompile(`\[ERROR\] router\.up: plugin failed`))
	if code, stdout, _ := routerCmd(t, "send", "--addr", addr, "--json", "upper", "hello"); code == exitOK {
		t.Fatalf("the failed plugin answered %q", stdout)
	}

	if err := os.Remove(fail); err != nil {
		t.Fatal(err)
	}
	if err := p.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	p.waitLog(t, regexp.MustCompile(`router: config reloaded: plugins_started=\["up"\]`))
	send(t, addr, upperHello, "--json", "upper", "hello")
}

// childrenRunning returns the children of process parent whose
// executable is exe, as its command line names it. It reads /proc.
func childrenRunning(t *testing.T, parent int, exe string) []int {
	t.Helper()
	ents, err := os.ReadDir("/proc")
	if err != nil {
		t.Fatal(err)
	}
	var out []int
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if ppid, state, ok := procStat(pid); !ok || ppid != parent || state == 'Z' {
			continue
		}
		cmdline, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
		if err == nil && strings.Split(string(cmdline), "\x00")[0] == exe {
			out = append(out, pid)
		}
	}
	return out
}
