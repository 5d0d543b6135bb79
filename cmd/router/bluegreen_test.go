//go:build unix

package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/msgrouter/router/core"
	"github.com/msgrouter/router/internal/testexe"
)

// blueGreenYAML routes the action "version" to the plugin ver, whose
// executable is at %q.
const blueGreenYAML = `# blue/green: the plugin is rebuilt in place
listen: tcp://127.0.0.1:0
plugins:
  ver: { cmd: %q }
routes:
  - { action: version, plugin: ver }
`

// TestBlueGreen: a plugin whose executable is replaced on disk (a new
// file renamed over it, as a deploy does) is swapped at the next reload
// of a running router, however the reload comes: router reload
// --pid-file (v1 to v2), SIGHUP (v2 to v3), a change to the config file
// (v3 to v4). Under load on four connections, answers move to the new
// version, never back on a connection, and no request fails or goes
// unanswered. An executable that fails to start is not swapped in: the
// reload is rejected, the log says why, and the old version keeps
// answering.
func TestBlueGreen(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a plugin four times")
	}
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go on the PATH to build the version plugin")
	}
	versions := []string{"v1", "v2", "v3", "v4"}
	builds := buildVersionPlugin(t, goBin, versions)
	exe := filepath.Join(t.TempDir(), "version-plugin")
	testexe.Install(t, exe, builds["v1"], "")
	config := fmt.Sprintf(blueGreenYAML, exe)
	path := writeFile(t, "router.yaml", config)
	pidFile := filepath.Join(t.TempDir(), "router.pid")
	p := startRouter(t, nil, "serve", "-c", path, "--pid-file", pidFile)
	addr := p.waitLog(t, listeningLine)[1]
	p.waitLog(t, regexp.MustCompile(`watching the config file for changes`))

	load := startVersionLoad(t, addr, 4, versions)
	load.waitFor(t, p, "v1")
	steps := []struct {
		to, by string
		reload func()
	}{
		{"v2", "router reload --pid-file", func() {
			if code, stdout, stderr := routerCmd(t, "reload", "--pid-file", pidFile); code != exitOK {
				t.Fatalf("router reload: exit %d, stdout %q, stderr %q", code, stdout, stderr)
			}
		}},
		{"v3", "SIGHUP", func() {
			if err := p.cmd.Process.Signal(syscall.SIGHUP); err != nil {
				t.Fatal(err)
			}
		}},
		{"v4", "a change to the config file", func() {
			config += "# and now v4\n" // the router reloads a file whose content changed
			replaceFile(t, path, config)
		}},
	}
	swapped := regexp.MustCompile(`reload: the plugin's executable changed; starting the new one beside the old: plugin=ver`)
	for i, s := range steps {
		testexe.Install(t, exe, builds[s.to], "")
		began := time.Now()
		s.reload()
		load.waitFor(t, p, s.to)
		t.Logf("%s by %s: every connection answered by it %v after the reload began", s.to, s.by, time.Since(began).Round(time.Millisecond))
		waitLines(t, p, swapped, i+1)
	}

	// A new executable that exits at once, status 3: rejected, and v4
	// serves on.
	tmp := exe + ".new"
	if err := os.WriteFile(tmp, []byte("#!/bin/sh\necho not a plugin >&2\nexit 3\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, exe); err != nil {
		t.Fatal(err)
	}
	if code, stdout, stderr := routerCmd(t, "reload", "--pid-file", pidFile); code != exitOK {
		t.Fatalf("router reload: exit %d, stdout %q, stderr %q", code, stdout, stderr)
	}
	p.waitLog(t, regexp.MustCompile(`reload rejected; the last good config keeps serving: file=`+regexp.QuoteMeta(path)))
	why := p.waitLog(t, regexp.MustCompile(`reload: (\S*router\.yaml: plugins\.ver: cannot start `+regexp.QuoteMeta(exe)+`: .*)`))[1]
	t.Logf("the reload to a broken executable was rejected: %s", why)
	load.waitMore(t, p, 500)
	load.waitFor(t, p, "v4")

	if runtime.GOOS == "linux" {
		waitOneProcess(t, p, exe) // v1 to v3 were stopped once drained
	}

	sent, answered, failed, counts := load.stop()
	t.Logf("%d requests sent, %d answered (by version: %v), %d failed, across three swaps and a rejected reload", sent, answered, counts, failed)
	if failed != 0 || answered != sent {
		t.Errorf("%d requests failed and %d went unanswered (first error: %v); logs:\n%s", failed, sent-answered-failed, load.firstErr, p.logs)
	}
	for _, v := range versions {
		if counts[v] == 0 {
			t.Errorf("no request was answered by %s", v)
		}
	}
}

// buildVersionPlugin builds testdata/versionplugin once per version, with
// main.version set to it, and returns the executables by version.
func buildVersionPlugin(t *testing.T, goBin string, versions []string) map[string]string {
	t.Helper()
	dir := t.TempDir()
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute) // a cold build cache compiles go-plugin
	defer cancel()
	out := make(map[string]string, len(versions))
	errs := make([]error, len(versions))
	var wg sync.WaitGroup
	for i, v := range versions {
		bin := filepath.Join(dir, "version-plugin-"+v)
		out[v] = bin
		wg.Go(func() {
			cmd := exec.CommandContext(ctx, goBin, "build", "-o", bin, "-ldflags", "-X main.version="+v, "./testdata/versionplugin")
			if b, err := cmd.CombinedOutput(); err != nil {
				errs[i] = fmt.Errorf("go build %s: %v\n%s", v, err, b)
			}
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}
	return out
}

// waitLines waits, 30 s at most, until n lines of the router's log match
// re.
func waitLines(t *testing.T, p *routerProc, re *regexp.Regexp, n int) {
	t.Helper()
	for deadline := time.Now().Add(30 * time.Second); ; {
		got := len(re.FindAllString(p.logs.String(), -1))
		if got >= n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d log lines match %q after 30s, want %d; logs:\n%s", got, re, n, p.logs)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// waitOneProcess waits, 30 s at most, until the router runs one process
// of exe, no more.
func waitOneProcess(t *testing.T, p *routerProc, exe string) {
	t.Helper()
	for deadline := time.Now().Add(30 * time.Second); ; {
		pids := childrenRunning(t, p.cmd.Process.Pid, exe)
		if len(pids) == 1 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("after 30s the router runs %d processes of %s (%v), want 1; logs:\n%s", len(pids), exe, pids, p.logs)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// versionLoad sends {"action": "version"} on a few connections, one
// request at a time on each, and checks every answer: a known version,
// never older than the connection's previous answer.
type versionLoad struct {
	versions               []string
	sent, answered, failed atomic.Int64
	done                   chan struct{}
	wg                     sync.WaitGroup
	stopOnce               sync.Once

	mu       sync.Mutex
	last     []string         // by connection: the version of its last answer
	counts   map[string]int64 // answers by version
	firstErr error
}

// startVersionLoad starts the load on conns connections to addr; it
// stops when the test ends, if not before.
func startVersionLoad(t *testing.T, addr string, conns int, versions []string) *versionLoad {
	l := &versionLoad{versions: versions, done: make(chan struct{}), last: make([]string, conns), counts: make(map[string]int64)}
	req, err := core.NewJSON(core.Object{{Key: "action", Value: "version"}})
	if err != nil {
		t.Fatal(err)
	}
	for i := range conns {
		c, err := core.Dial(t.Context(), addr)
		if err != nil {
			t.Fatal(err)
		}
		l.wg.Go(func() {
			defer c.Close()
			l.run(i, c, req)
		})
	}
	t.Cleanup(func() { l.stop() })
	return l
}

// run sends requests on connection i until the load stops.
func (l *versionLoad) run(i int, c *core.Client, req *core.Message) {
	prev := -1 // index in l.versions of the last answer
	for {
		select {
		case <-l.done:
			return
		default:
		}
		l.sent.Add(1)
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		ans, err := c.Do(ctx, req)
		cancel()
		v, err := versionOf(ans, err)
		k := slices.Index(l.versions, v)
		switch {
		case err != nil:
		case k < 0:
			err = fmt.Errorf("answer %q, want one of %q", v, l.versions)
		case k < prev:
			err = fmt.Errorf("answer %s after %s on the same connection", v, l.versions[prev])
		}
		if err != nil {
			l.fail(err)
			if errors.Is(err, core.ErrClientClosed) {
				return // the connection is gone: every later request would fail the same way
			}
			continue
		}
		prev = k
		l.answered.Add(1)
		l.mu.Lock()
		l.last[i] = v
		l.counts[v]++
		l.mu.Unlock()
	}
}

// versionOf returns the version an answer gives, or the error it is.
func versionOf(ans *core.Message, err error) (string, error) {
	if err != nil {
		return "", err
	}
	if err := core.AnswerError(ans); err != nil {
		return "", err
	}
	var v struct {
		Result string `json:"result"`
	}
	if err := json.Unmarshal(ans.Content, &v); err != nil {
		return "", fmt.Errorf("answer %q: %w", ans.Content, err)
	}
	return v.Result, nil
}

func (l *versionLoad) fail(err error) {
	l.failed.Add(1)
	l.mu.Lock()
	if l.firstErr == nil {
		l.firstErr = err
	}
	l.mu.Unlock()
}

// waitFor waits, 30 s at most, until the last answer on every connection
// is version v: from then on, none answers an older one.
func (l *versionLoad) waitFor(t *testing.T, p *routerProc, v string) {
	t.Helper()
	for deadline := time.Now().Add(30 * time.Second); ; {
		l.mu.Lock()
		last := slices.Clone(l.last)
		l.mu.Unlock()
		if !slices.ContainsFunc(last, func(s string) bool { return s != v }) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("after 30s the connections' last answers are %q, want all %s (%d failed: %v); logs:\n%s", last, v, l.failed.Load(), l.firstErr, p.logs)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// waitMore waits, 30 s at most, for n more answers.
func (l *versionLoad) waitMore(t *testing.T, p *routerProc, n int64) {
	t.Helper()
	target := l.answered.Load() + n
	for deadline := time.Now().Add(30 * time.Second); l.answered.Load() < target; {
		if time.Now().After(deadline) {
			t.Fatalf("%d answers after 30s, want %d (%d failed: %v); logs:\n%s", l.answered.Load(), target, l.failed.Load(), l.firstErr, p.logs)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// stop stops the load and returns its counts: requests sent, answered
// and failed, and the answers by version.
func (l *versionLoad) stop() (sent, answered, failed int64, counts map[string]int64) {
	l.stopOnce.Do(func() { close(l.done) })
	l.wg.Wait()
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.sent.Load(), l.answered.Load(), l.failed.Load(), l.counts
}
