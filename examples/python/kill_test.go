package python_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/msgrouter/router/core"
	"github.com/msgrouter/router/internal/routertest"
	"github.com/msgrouter/router/plugins/plugintest"
)

// kill -9 of the Python process under load: every request gets exactly
// one answer (its result, or an error answer for those in flight when it
// died), none hangs, and the route recovers with a new process.
func TestKillUnderLoad(t *testing.T) {
	addr := start(t, faultsConfig(t, "5s"))
	c := routertest.Dial(t, addr)
	pid, _ := strconv.Atoi(mustAsk(t, c, action("pid", nil)))
	var ok, failed atomic.Int64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for w := range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			conn := routertest.Dial(t, addr)
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				want := fmt.Sprintf("%d-%d", w, i)
				got, err := ask(conn, action("echo", want), 10*time.Second)
				switch {
				case err == nil && got == want:
					ok.Add(1)
				case err == nil:
					t.Errorf("asked %q, answered %q: an answer out of step", want, got)
					return
				case errors.Is(err, context.DeadlineExceeded):
					t.Errorf("request %q not answered within 10s", want)
					return
				case errors.As(err, new(*core.RemoteError)):
					failed.Add(1) // in flight when the process died
				default:
					t.Errorf("request %q: %v", want, err)
					return
				}
			}
		}()
	}
	time.Sleep(300 * time.Millisecond)
	before := ok.Load()
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	// Recovered: a new process answers.
	deadline := time.Now().Add(10 * time.Second)
	for {
		s, err := ask(c, action("pid", nil), 5*time.Second)
		if err == nil && s != strconv.Itoa(pid) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the route did not recover within 10s: %v %q", err, s)
		}
		time.Sleep(20 * time.Millisecond)
	}
	time.Sleep(300 * time.Millisecond) // load on the new process
	close(stop)
	wg.Wait()
	if !processGone(pid) {
		t.Errorf("process %d still there", pid)
	}
	if before == 0 || ok.Load() <= before {
		t.Errorf("answers: %d before the kill, %d in all: want some on each side", before, ok.Load())
	}
	t.Logf("%d answered, %d error answers (in flight at the kill)", ok.Load(), failed.Load())
}

// The router killed (SIGKILL, so it cleans nothing up): its Python
// plugin exits by itself. The plugin runs under a shell that does not
// exec it, so that the kernel's parent-death signal, which the router
// asks for its direct children, does not reach it: the SDK sees the end
// of its data path, or its parent change, and exits.
func TestRouterKilled(t *testing.T) {
	py := python(t)
	routerBin := plugintest.Build(t, "github.com/msgrouter/router/cmd/router")
	cfg := fmt.Sprintf(`listen: ["tcp://127.0.0.1:0"]
plugins:
  search: { cmd: /bin/sh, args: ["-c", "%s %s; echo done"] }
routes:
  - { content_type: text/json, plugin: search }
`, py, script("search.py"))
	path := filepath.Join(t.TempDir(), "router.yaml")
	if err := os.WriteFile(path, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(routerBin, "serve", "--config", path)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	shPID := waitStarted(t, stderr)
	pyPID := childOf(t, shPID)
	cmd.Process.Kill()
	cmd.Wait()
	deadline := time.Now().Add(10 * time.Second)
	for !processGone(pyPID) {
		if time.Now().After(deadline) {
			syscall.Kill(pyPID, syscall.SIGKILL)
			t.Fatalf("the Python plugin %d still runs 10s after its router was killed", pyPID)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

var startedRE = regexp.MustCompile(`plugin started: .* pid=(\d+)`)

// waitStarted reads the router's log until its plugin has started and
// returns the plugin's pid; the rest of the log is drained.
func waitStarted(t *testing.T, r io.Reader) int {
	t.Helper()
	found := make(chan int, 1)
	go func() {
		sc := bufio.NewScanner(r)
		for sc.Scan() {
			if m := startedRE.FindStringSubmatch(sc.Text()); m != nil {
				pid, _ := strconv.Atoi(m[1])
				select {
				case found <- pid:
				default:
				}
			}
		}
	}()
	select {
	case pid := <-found:
		return pid
	case <-time.After(20 * time.Second):
		t.Fatal("the router did not start its plugin within 20s")
		return 0
	}
}

// childOf returns the one child process of pid.
func childOf(t *testing.T, pid int) int {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/task/%d/children", pid, pid))
	if err != nil {
		t.Skipf("cannot list the children of %d: %v", pid, err)
	}
	f := strings.Fields(string(b))
	if len(f) != 1 {
		t.Fatalf("process %d has children %q, want one", pid, f)
	}
	child, _ := strconv.Atoi(f[0])
	return child
}
