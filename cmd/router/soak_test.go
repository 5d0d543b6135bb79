package main

import (
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// A short soak with every fault: nothing is lost, and the report says so
// and counts what happened. Its plugins are this test binary, re-executed
// as "router plugin NAME" (see TestMain).
func TestSoak(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a router under load for a few seconds")
	}
	code, out, stderr := routerCmd(t, "soak", "--duration", "3s", "--fault-every", "500ms",
		"--conns", "2", "--depth", "4", "--checkers", "2", "--storm", "20", "--hostile", "1")
	if code != exitOK {
		t.Fatalf("soak: exit %d\nstdout:\n%s\nstderr:\n%s", code, out, stderr)
	}
	for _, want := range []string{
		"unanswered:         0\n",
		"answered twice:     0\n",
		"wrong answer:       0\n",
		"router shutdown:    graceful\n",
		"result:             OK: every request got exactly one answer\n",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("report lacks %q:\n%s", want, out)
		}
	}
	num := func(re string) int {
		m := regexp.MustCompile(re).FindStringSubmatch(out)
		if m == nil {
			t.Fatalf("report lacks %s:\n%s", re, out)
		}
		n, _ := strconv.Atoi(m[1])
		return n
	}
	sent, answered := num(`requests sent: +(\d+)`), num(`answers received: +(\d+)`)
	if sent == 0 || sent != answered {
		t.Errorf("%d sent, %d answered", sent, answered)
	}
	// Six faults in 3s, in turn: two kills, two bursts, a reload, a storm.
	if n := num(`faults injected:.* kill (\d+)`); n < 1 {
		t.Errorf("%d kills", n)
	}
	if n := num(`plugin restarts: +(\d+) begun`); n < 1 {
		t.Errorf("%d restarts after a kill:\n%s", n, out)
	}
	if n := num(`config reloads: +(\d+) done`); n < 1 {
		t.Errorf("%d reloads:\n%s", n, out)
	}
	if n := num(`faults injected:.* storm (\d+)`); n < 1 {
		t.Errorf("%d storms", n)
	}
	if !strings.Contains(out, "slowloris: closed by the router") {
		t.Errorf("the router did not close the slowloris connection:\n%s", out)
	}
	if !strings.Contains(out, "peak RSS:") {
		t.Errorf("no peak RSS:\n%s", out)
	}
}

func TestSoakUsage(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--duration", "2h"}, "invalid value 2h0m0s for flag -duration: want more than 0 and at most 1h0m0s"},
		{[]string{"--duration", "0s"}, "invalid value 0s for flag -duration"},
		{[]string{"--faults", "kill,flood"}, `unknown fault "flood"; want kill, hostile, reload, storm`},
		{[]string{"--conns", "0"}, "--conns and --depth must be 1 or more"},
		{[]string{"extra"}, `want no arguments, got ["extra"]`},
	} {
		code, _, stderr := routerCmd(t, append([]string{"soak"}, tc.args...)...)
		if code != exitUsage || !strings.Contains(stderr, tc.want) {
			t.Errorf("soak %v: exit %d, stderr %q; want exit 2 and %q", tc.args, code, stderr, tc.want)
		}
	}
}
