//go:build unix

package router_test

import (
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/msgrouter/router/internal/configtest"
)

// Start warns, with the numbers and the fix, when max_connections is
// above the open-file limit, and not when it is below.
func TestStartWarnsOpenFileLimit(t *testing.T) {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		t.Fatal(err)
	}
	if uint64(lim.Cur) > 10_000_000 {
		t.Skipf("the open-file limit, %d, is above 10,000,000", uint64(lim.Cur))
	}
	const yaml = `
listen: ["127.0.0.1:0"]
plugins: {fallback: {cmd: inprocess}}
routes: [{plugin: fallback}]
limits: {max_connections: %s}
`
	o := inProcess(t, "fallback")
	log, logs := bufLogger()
	o.Logger = log
	start(t, configtest.MustLoad(t, "r.yaml", strings.Replace(yaml, "%s", "10000000", 1)), o)
	want := "[WARN]  router: limits.max_connections 10000000 needs 10000033 open files (with 0 for 0 plugin processes, 1 for 1 listener and a margin of 32), above this process's limit of "
	if !strings.Contains(logs.String(), want) || !strings.Contains(logs.String(), "ulimit -n 10000033 ") ||
		!strings.Contains(logs.String(), "needed=10000033 limit=") {
		t.Errorf("no warning %q with the numbers and the fix in the log:\n%s", want, logs)
	}

	log, logs = bufLogger()
	o.Logger = log
	start(t, configtest.MustLoad(t, "r.yaml", strings.Replace(yaml, "%s", "10", 1)), o)
	if strings.Contains(logs.String(), "open files") {
		t.Errorf("a warning for 10 connections:\n%s", logs)
	}
}

// A plugin process holds no more descriptors in the router than the
// open-file check counts for it (8).
func TestPluginDescriptors(t *testing.T) {
	if _, err := os.Stat("/proc/self/fd"); err != nil {
		t.Skip("no /proc/self/fd")
	}
	fds := func() int {
		es, err := os.ReadDir("/proc/self/fd")
		if err != nil {
			t.Fatal(err)
		}
		return len(es) - 1 // the directory ReadDir opened
	}
	cfg := configtest.MustLoad(t, "r.yaml", `
listen: ["127.0.0.1:0"]
plugins: {a: `+procPlugin(t, "fallback", "")+`, b: `+procPlugin(t, "upper", "")+`, c: `+procPlugin(t, "echo", "")+`}
routes: [{action: upper, plugin: b}, {plugin: a}]
`)
	before := fds()
	r := start(t, cfg, inProcess(t))
	ask(t, addr(r, 0), action("upper", "x")) // the data path is open
	ask(t, addr(r, 0), action("other", nil))
	const listeners, perPlugin = 1, 8
	// The count is the process's: descriptors of earlier tests' plugins,
	// still being closed, may be in it for a moment.
	got := fds() - before
	for deadline := time.Now().Add(5 * time.Second); got > 3*perPlugin+listeners && time.Now().Before(deadline); got = fds() - before {
		time.Sleep(50 * time.Millisecond)
	}
	if got > 3*perPlugin+listeners {
		t.Errorf("3 plugin processes and a listener hold %d descriptors, more than %d each", got, perPlugin)
	} else {
		t.Logf("3 plugin processes and a listener hold %d descriptors", got)
	}
}
