package main

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"
)

// tutorialSetup is serve's command line that README.md documents for the
// tutorial's three clients: the raw, echoing listener on the tutorial's
// port, which echo-client.py has written into it (multiconn-client.py
// takes it as an argument), and the framed listener next to it, for
// app-client.py.
var tutorialSetup = []string{"--raw", "127.0.0.1:65432", "--listen", "127.0.0.1:65433"}

// netnsEnv, set to 1, says the test runs in a network namespace of its
// own (see runInNetns).
const netnsEnv = "ROUTER_TEST_NETNS"

// TestTutorialClients runs the tutorial's app-client, echo-client and
// multiconn-client, unchanged, against `router serve` run as README.md
// says. echo-client's port is fixed, so the test needs 127.0.0.1:65432
// (and 65433) free: where it can, it runs in a network namespace of its
// own, where they are; else it takes them on the host, and skips when
// they are busy (a router running?), unless ROUTER_TEST_DOCS=require (CI)
// makes that a failure.
func TestTutorialClients(t *testing.T) {
	py := python(t)
	if os.Getenv(netnsEnv) != "1" {
		if runInNetns(t) {
			return
		}
		requirePorts(t, "127.0.0.1:65432", "127.0.0.1:65433")
	}
	s := startServe(t, tutorialSetup...)
	if !slices.Equal(s.raw, []string{"127.0.0.1:65432"}) || !slices.Equal(s.framed, []string{"127.0.0.1:65433"}) {
		t.Fatalf("listening on raw %q, framed %q; want the documented ports", s.raw, s.framed)
	}

	t.Run("echo-client", func(t *testing.T) {
		out := runPython(t, py, "echo_client.py")
		if out != "Received b'Hello, world'\n" {
			t.Errorf("echo_client.py printed %q", out)
		}
	})
	t.Run("multiconn-client", func(t *testing.T) {
		checkMulticonn(t, runPython(t, py, "multiconn_client.py", "127.0.0.1", "65432", "3"), 3)
	})
	t.Run("app-client", func(t *testing.T) {
		for _, tt := range []struct{ action, value, want string }{
			{"search", "morpheus", "got result: Follow the white rabbit. 🐰\n"},
			{"binary", "hello", "got response: b'First 10 bytes of request: binaryhell'\n"},
		} {
			out := runPython(t, py, "app_client.py", "127.0.0.1", "65433", tt.action, tt.value)
			if !strings.Contains(out, tt.want) || strings.Contains(out, "error") {
				t.Errorf("app_client.py %s %s printed:\n%s\nwant a line %q and no error", tt.action, tt.value, out, tt.want)
			}
		}
	})
}

// runPython runs the script of testdata/python with args and returns its
// output, stdout and stderr together; it fails the test if the script
// fails or runs for more than 30s.
func runPython(t *testing.T, py, script string, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, py, append([]string{"../../testdata/python/" + script}, args...)...)
	cmd.Env = append(os.Environ(), "PYTHONIOENCODING=utf-8")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s %q: %v\n%s", script, args, err, out)
	}
	return string(out)
}

var multiconnReceived = regexp.MustCompile(`(?m)^Received b'(.*)' from connection (\d+)$`)

// checkMulticonn checks multiconn-client's output for n connections: each
// started, got back its two messages (in however many chunks) and closed.
func checkMulticonn(t *testing.T, out string, n int) {
	t.Helper()
	got := map[string]string{}
	for _, m := range multiconnReceived.FindAllStringSubmatch(out, -1) {
		got[m[2]] += m[1]
	}
	for i := 1; i <= n; i++ {
		id := fmt.Sprint(i)
		for _, line := range []string{
			"Starting connection " + id + " to ('127.0.0.1', 65432)\n",
			"Sending b'Message 1 from client.' to connection " + id + "\n",
			"Sending b'Message 2 from client.' to connection " + id + "\n",
			"Closing connection " + id + "\n",
		} {
			if !strings.Contains(out, line) {
				t.Errorf("multiconn_client.py printed no line %q", strings.TrimSuffix(line, "\n"))
			}
		}
		if want := "Message 1 from client.Message 2 from client."; got[id] != want {
			t.Errorf("connection %s received %q, want %q", id, got[id], want)
		}
	}
	if t.Failed() {
		t.Logf("multiconn_client.py printed:\n%s", out)
	}
}

// requirePorts skips the test unless it can listen on every one of addrs,
// or fails it when ROUTER_TEST_DOCS=require, as the guide's test does.
func requirePorts(t *testing.T, addrs ...string) {
	t.Helper()
	for _, addr := range addrs {
		l, err := net.Listen("tcp", addr)
		if err != nil {
			msg := fmt.Sprintf("%s is taken (a router running?): the tutorial's echo-client needs it: %v", addr, err)
			if os.Getenv("ROUTER_TEST_DOCS") == "require" {
				t.Fatal(msg)
			}
			t.Skip(msg)
		}
		l.Close()
	}
}

// runInNetns runs the calling test again, in this test binary, in a new
// user and network namespace whose loopback is up and whose ports are
// all free, and reports whether it could. Then the ports the test needs
// cannot clash with a router running on the machine, nor with the
// guide's test (internal/docs), which may run at the same time and uses
// the same ports. It cannot where unprivileged user namespaces are off,
// or unshare(1) or ip(8) is missing.
func runInNetns(t *testing.T) bool {
	t.Helper()
	const upLo = `ip link set lo up && exec "$0" "$@"`
	if exec.Command("unshare", "-rn", "sh", "-c", "ip link set lo up").Run() != nil {
		t.Log("no network namespace here (unshare -rn, ip link): the test uses the host's ports")
		return false
	}
	cmd := exec.CommandContext(t.Context(), "unshare", "-rn", "sh", "-c", upLo,
		os.Args[0], "-test.run=^"+t.Name()+"$", "-test.v", "-test.count=1")
	cmd.Env = append(os.Environ(), netnsEnv+"=1")
	out, err := cmd.CombinedOutput()
	switch {
	case err != nil:
		t.Fatalf("in a network namespace: %v\n%s", err, out)
	case strings.Contains(string(out), "--- SKIP: "+t.Name()):
		t.Skipf("in a network namespace:\n%s", out)
	}
	t.Logf("ran in a network namespace of its own:\n%s", out)
	return true
}
