package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/msgrouter/router/core"
)

// benchServer starts an in-process serve for bench and returns its address.
func benchServer(t *testing.T) string {
	t.Helper()
	return startServe(t, "--listen", "127.0.0.1:0", "--in-process").framed[0]
}

// benchJSON runs bench with --json and args, and returns its report.
func benchJSON(t *testing.T, args ...string) map[string]any {
	t.Helper()
	code, stdout, stderr := routerCmd(t, append([]string{"bench", "--json", "--warmup", "0"}, args...)...)
	if code != exitOK || stderr != "" {
		t.Fatalf("bench %q: exit %d, stderr %q, stdout:\n%s", args, code, stderr, stdout)
	}
	var rep map[string]any
	if err := json.Unmarshal([]byte(stdout), &rep); err != nil {
		t.Fatalf("bench %q: %v in:\n%s", args, err, stdout)
	}
	for _, k := range []string{"requests", "rate", "latency_us", "errors", "errors_total", "bytes_sent", "bytes_received", "seconds"} {
		if _, ok := rep[k]; !ok {
			t.Errorf("bench %q: no %q in:\n%s", args, k, stdout)
		}
	}
	for _, q := range []string{"p50", "p90", "p99", "p99.9"} {
		if _, ok := rep["latency_us"].(map[string]any)[q]; !ok {
			t.Errorf("bench %q: no latency %q in:\n%s", args, q, stdout)
		}
	}
	return rep
}

func TestBenchMixes(t *testing.T) {
	addr := benchServer(t)
	for _, mix := range []string{"search", "binary", "echo", "search,binary,echo"} {
		t.Run(mix, func(t *testing.T) {
			code, stdout, stderr := routerCmd(t, "bench", "-n", "2000", "--warmup", "0", "-c", "4", "--mix", mix, addr)
			if code != exitOK || stderr != "" {
				t.Fatalf("exit %d, stderr %q", code, stderr)
			}
			for _, want := range []string{"requests   2000 in ", "req/s", "p50 ", "p99.9 ", "(per request)", "errors     0\n", "sent       ", "received   "} {
				if !strings.Contains(stdout, want) {
					t.Errorf("stdout lacks %q:\n%s", want, stdout)
				}
			}
		})
	}
}

func TestBenchJSON(t *testing.T) {
	addr := benchServer(t)
	rep := benchJSON(t, "-n", "2000", "-c", "4", addr)
	if rep["requests"] != 2000.0 || rep["errors_total"] != 0.0 || rep["bytes_sent"].(float64) <= 0 ||
		rep["bytes_received"].(float64) <= 0 || rep["latency_of"] != "request" {
		t.Errorf("report %v", rep)
	}

	t.Run("one-shot", func(t *testing.T) {
		rep := benchJSON(t, "-n", "200", "-c", "4", "--one-shot", "--mix", "search,binary", addr)
		if rep["requests"] != 200.0 || rep["errors_total"] != 0.0 || rep["one_shot"] != true {
			t.Errorf("report %v", rep)
		}
	})
	t.Run("depth", func(t *testing.T) {
		rep := benchJSON(t, "-n", "2000", "-c", "4", "--depth", "8", "--mix", "search,binary,echo", addr)
		if rep["requests"] != 2000.0 || rep["errors_total"] != 0.0 || rep["latency_of"] != "batch" {
			t.Errorf("report %v", rep)
		}
	})
	t.Run("duration", func(t *testing.T) {
		rep := benchJSON(t, "-d", "100ms", "-c", "2", addr)
		if rep["requests"].(float64) <= 0 || rep["errors_total"] != 0.0 {
			t.Errorf("report %v", rep)
		}
	})
}

func TestBenchRequestsFile(t *testing.T) {
	addr := benchServer(t)
	var file []byte
	for _, a := range [][2]string{{"search", "morpheus"}, {"binary", "hello"}} {
		m, err := newRequest(a[0], a[1], false)
		if err != nil {
			t.Fatal(err)
		}
		wire, err := core.Marshal(m)
		if err != nil {
			t.Fatal(err)
		}
		file = append(file, wire...)
	}
	path := filepath.Join(t.TempDir(), "requests.bin")
	if err := os.WriteFile(path, file, 0o644); err != nil {
		t.Fatal(err)
	}
	rep := benchJSON(t, "-n", "1000", "-c", "3", "--requests", path, addr)
	if rep["requests"] != 1000.0 || rep["errors_total"] != 0.0 || rep["mix"] != "2 frames of "+path {
		t.Errorf("report %v", rep)
	}

	// A file cut short is an error.
	if err := os.WriteFile(path, file[:len(file)-1], 0o644); err != nil {
		t.Fatal(err)
	}
	code, _, stderr := routerCmd(t, "bench", "-n", "10", "--requests", path, addr)
	if code != exitFailure || !strings.Contains(stderr, "frame 2 is cut short") {
		t.Errorf("cut file: exit %d, stderr %q", code, stderr)
	}
}

// TestBenchAction: --action NAME --value V sends that one JSON request,
// whatever the action, as send --action does.
func TestBenchAction(t *testing.T) {
	want, err := newRequest("upper", "hello", true)
	if err != nil {
		t.Fatal(err)
	}
	addr := serveCore(t, core.HandlerFunc(func(_ context.Context, m *core.Message) (*core.Message, error) {
		if m.ContentType != want.ContentType || string(m.Content) != string(want.Content) {
			return core.NewError(fmt.Sprintf("unexpected request %s %q", m.ContentType, m.Content)), nil
		}
		return core.NewJSON(core.Object{{Key: "result", Value: "HELLO"}})
	}))
	rep := benchJSON(t, "-n", "500", "-c", "2", "--action", "upper", "--value", "hello", addr)
	if rep["requests"] != 500.0 || rep["errors_total"] != 0.0 || rep["mix"] != `{"action": "upper", "value": "hello"}` {
		t.Errorf("report %v", rep)
	}

	// Flags may follow ADDR; the value defaults to "".
	code, stdout, stderr := routerCmd(t, "bench", addr, "-n", "10", "--warmup", "0", "--action", "upper")
	if code != exitOK || !strings.Contains(stdout, `target     `+addr+`: {"action": "upper", "value": ""}, 16 connections`) ||
		!strings.Contains(stdout, "errors     10\n") {
		t.Errorf("exit %d, stderr %q, stdout:\n%s", code, stderr, stdout)
	}
}

func TestBenchErrorAnswers(t *testing.T) {
	addr := serveCore(t, core.HandlerFunc(func(_ context.Context, m *core.Message) (*core.Message, error) {
		if m.ContentType == clientBinaryType {
			return core.NewError("no such plugin: ring"), nil
		}
		return core.NewBinary("text/plain", []byte("ok")), nil
	}))
	rep := benchJSON(t, "-n", "1000", "-c", "2", "--mix", "search,binary", addr)
	errs := rep["errors"].(map[string]any)
	if rep["requests"] != 1000.0 || rep["errors_total"] != 500.0 || errs["answer"] != 500.0 {
		t.Errorf("report %v", rep)
	}
	if s := rep["error_samples"].(map[string]any)["answer"]; s != "server answered error: no such plugin: ring" {
		t.Errorf("sample %q", s)
	}
	code, stdout, _ := routerCmd(t, "bench", "-n", "100", "--warmup", "0", "--mix", "binary", addr)
	if code != exitOK || !strings.Contains(stdout, "errors     100\n  answer   100  (first: server answered error: no such plugin: ring)") {
		t.Errorf("exit %d, stdout:\n%s", code, stdout)
	}
}

func TestBenchFailures(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := l.Addr().String()
	l.Close()
	for _, tt := range []struct {
		args   []string
		code   int
		stderr string
	}{
		{[]string{"-n", "10", closed}, exitFailure, "router: cannot connect to " + closed},
		{[]string{"-n", "10", "--one-shot", closed}, exitFailure, "router: cannot connect to " + closed},
		{[]string{"--bogus"}, exitUsage, "router bench: flag provided but not defined: -bogus\nRun 'router help bench' for usage.\n"},
		{[]string{"a", "b"}, exitUsage, "want at most one ADDR, got 2 arguments"},
		{[]string{"nope"}, exitUsage, `invalid ADDR "nope"`},
		{[]string{"--mix", "search,ring"}, exitUsage, `unknown request "ring"`},
		{[]string{"--mix", "search", "--requests", "x.bin"}, exitUsage, "--mix and --requests cannot go together"},
		{[]string{"--mix", "search", "--action", "upper"}, exitUsage, "router bench: --mix and --action cannot go together: give one\n"},
		{[]string{"--action", "upper", "--requests", "x.bin"}, exitUsage, "router bench: --action and --requests cannot go together: give one\n"},
		{[]string{"--mix", "echo", "--action", "upper", "--requests", "x.bin"}, exitUsage, "--mix and --action and --requests cannot go together"},
		{[]string{"--value", "hello"}, exitUsage, "router bench: --value goes with --action NAME\n"},
		{[]string{"--mix", "echo", "--value", "hello"}, exitUsage, "router bench: --value goes with --action NAME\n"},
		{[]string{"--action", ""}, exitUsage, `invalid value "" for flag -action: want an action NAME`},
		{[]string{"-c", "0"}, exitUsage, "invalid value 0 for flag -conns"},
		{[]string{"--depth", "0"}, exitUsage, "invalid value 0 for flag -depth"},
		{[]string{"-n", "0"}, exitUsage, "invalid value 0 for flag -count"},
		{[]string{"-d", "0"}, exitUsage, "invalid value 0s for flag -duration"},
		{[]string{"--warmup", "-1s"}, exitUsage, "invalid value -1s for flag -warmup"},
		{[]string{"--timeout", "0s"}, exitUsage, "invalid value 0s for flag -timeout"},
		{[]string{"-d", "soon"}, exitUsage, `invalid value "soon" for flag -d`},
		{[]string{"--requests", filepath.Join(t.TempDir(), "none.bin")}, exitFailure, "no such file"},
	} {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			code, stdout, stderr := routerCmd(t, append([]string{"bench"}, tt.args...)...)
			if code != tt.code || stdout != "" || !strings.Contains(stderr, tt.stderr) {
				t.Errorf("exit %d, stdout %q, stderr %q; want exit %d, stderr holding %q", code, stdout, stderr, tt.code, tt.stderr)
			}
		})
	}
}
