package python_test

import (
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/msgrouter/router/internal/routertest"
)

// A handler that raises, or returns something else than an answer,
// fails its request only: the client gets {"error": ...} with the
// exception's text or a message naming the handler, the connection
// stays usable, and the plugin is not restarted.
func TestHandlerErrors(t *testing.T) {
	addr := start(t, faultsConfig(t, "5s"))
	c := routertest.Dial(t, addr)
	pid := mustAsk(t, c, action("pid", nil))
	cases := []struct {
		action, want string
	}{
		{"fail", "the handler broke on 'boom'"},
		{"wrong", "handler 'wrong' returned dict, not an answer: return reply_json(...), reply_text(...) or reply_binary(...)"},
	}
	for _, tc := range cases {
		_, err := ask(c, action(tc.action, "boom"), 10*time.Second)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %v, want one with %q", tc.action, err, tc.want)
		}
	}
	if got := mustAsk(t, c, action("echo", "still here")); got != "still here" {
		t.Errorf("after the errors: %q", got)
	}
	if got := mustAsk(t, c, action("pid", nil)); got != pid {
		t.Errorf("the plugin was restarted: pid %s, then %s", pid, got)
	}
}

// The plugin gets each request's deadline from the router.
func TestDeadlineReachesHandler(t *testing.T) {
	addr := start(t, faultsConfig(t, "3s"))
	left, err := strconv.ParseFloat(mustAsk(t, routertest.Dial(t, addr), action("deadline", nil)), 64)
	if err != nil || left <= 2 || left > 3 {
		t.Errorf("time left %v (%v), want within (2s, 3s]", left, err)
	}
}

// A handler that hangs past its deadline: the client gets a timeout
// error at the deadline, not the handler's late answer; requests to
// other handlers meanwhile are answered (the pool runs them); the plugin
// is not restarted, and its late answer is dropped.
func TestHangPastDeadline(t *testing.T) {
	addr := start(t, faultsConfig(t, "300ms"))
	c := routertest.Dial(t, addr)
	pid := mustAsk(t, c, action("pid", nil))
	var wg sync.WaitGroup
	hung := make([]error, 4)
	for i := range hung {
		wg.Add(1)
		go func() {
			defer wg.Done()
			began := time.Now()
			_, hung[i] = ask(routertest.Dial(t, addr), action("hang", 1.5), 10*time.Second)
			if d := time.Since(began); d > time.Second {
				t.Errorf("a hung request answered after %v, want at its 300ms deadline", d)
			}
		}()
	}
	time.Sleep(50 * time.Millisecond)
	for i := range 20 {
		want := "ok " + strconv.Itoa(i)
		if got := mustAsk(t, c, action("echo", want)); got != want {
			t.Errorf("echo beside hung requests: %q", got)
		}
	}
	wg.Wait()
	for _, err := range hung {
		if err == nil || !strings.Contains(strings.ToLower(err.Error()), "deadline") && !strings.Contains(strings.ToLower(err.Error()), "timeout") && !strings.Contains(strings.ToLower(err.Error()), "timed out") {
			t.Errorf("hung request: error %v, want a timeout", err)
		}
	}
	time.Sleep(1500 * time.Millisecond) // the late answers come, and are dropped
	if got := mustAsk(t, c, action("pid", nil)); got != pid {
		t.Errorf("the plugin was restarted: pid %s, then %s", pid, got)
	}
}

// A handler that writes to standard output, a line that looks like
// go-plugin's handshake and 100 KB at once included, breaks nothing:
// after the handshake the SDK points standard output at standard error.
func TestPrintToStdout(t *testing.T) {
	addr := start(t, faultsConfig(t, "5s"))
	c := routertest.Dial(t, addr)
	pid := mustAsk(t, c, action("pid", nil))
	for range 3 {
		if got := mustAsk(t, c, action("noisy", nil)); got != "printed" {
			t.Fatalf("noisy: %q", got)
		}
	}
	if got := mustAsk(t, c, action("echo", "after")); got != "after" {
		t.Errorf("after printing: %q", got)
	}
	time.Sleep(200 * time.Millisecond) // a health check or a restart would show by now
	if got := mustAsk(t, c, action("pid", nil)); got != pid {
		t.Errorf("the plugin was restarted: pid %s, then %s", pid, got)
	}
}
