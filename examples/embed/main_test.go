package main

import (
	"bufio"
	"context"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/msgrouter/router/core"
	"github.com/msgrouter/router/internal/scrape"
	"github.com/msgrouter/router/plugins/plugintest"
)

// started runs the example binary with args and returns the addresses its
// log lines announce ("listening", "metrics listening"), keyed by the
// message; the process gets SIGTERM when the test ends and must exit 0.
func started(t *testing.T, bin string, args ...string) map[string]string {
	t.Helper()
	cmd := exec.Command(bin, args...)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	addrs := make(chan map[string]string, 1)
	go func() {
		found := map[string]string{}
		re := regexp.MustCompile(`(metrics listening|server: listening): addr=(\S+)`)
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			t.Log(sc.Text())
			if m := re.FindStringSubmatch(sc.Text()); m != nil {
				found[strings.TrimPrefix(m[1], "server: ")] = m[2]
				if found["listening"] != "" && (found["metrics listening"] != "" || !strings.Contains(strings.Join(args, " "), "-metrics")) {
					addrs <- found
				}
			}
		}
		io.Copy(io.Discard, stderr)
		exited <- cmd.Wait()
	}()
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		select {
		case err := <-exited:
			if err != nil {
				t.Errorf("after SIGTERM: %v, want exit 0", err)
			}
		case <-time.After(15 * time.Second):
			cmd.Process.Kill()
			t.Error("still running 15s after SIGTERM")
		}
	})
	select {
	case a := <-addrs:
		return a
	case err := <-exited:
		t.Fatalf("exited before listening: %v", err)
	case <-time.After(30 * time.Second):
		t.Fatal("not listening after 30s")
	}
	return nil
}

func ask(t *testing.T, c *core.Client, req *core.Message) *core.Message {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	ans, err := c.Do(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	return ans
}

func jsonReq(t *testing.T, action, value string) *core.Message {
	m, err := core.NewJSON(core.Object{{Key: "action", Value: action}, {Key: "value", Value: value}})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func TestEmbedInCode(t *testing.T) {
	bin := plugintest.Build(t, ".")
	addrs := started(t, bin, "-listen", "127.0.0.1:0", "-metrics", "127.0.0.1:0")
	c, err := core.Dial(context.Background(), addrs["listening"])
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()

	tests := []struct {
		name string
		req  *core.Message
		want *regexp.Regexp // the answer's content
	}{
		{"own route, in process", jsonReq(t, "time", ""), regexp.MustCompile(`^\{"result": "\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ"\}$`)},
		{"plugin process", jsonReq(t, "reverse", "héllo"), regexp.MustCompile(`^\{"result": "olléh"\}$`)},
		{"built-in search", jsonReq(t, "search", "morpheus"), regexp.MustCompile(`^\{"result": "Follow the white rabbit. 🐰"\}$`)},
		{"built-in binary", core.NewBinary("binary/custom-client-binary-type", []byte("0123456789abc")), regexp.MustCompile(`^First 10 bytes of request: 0123456789$`)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ans := ask(t, c, tt.req)
			if !tt.want.Match(ans.Content) {
				t.Errorf("answer %q, want %s", ans.Content, tt.want)
			}
			if id, ok := ans.Header("request-id"); !ok || id == "" {
				t.Errorf("answer %s has no generated request-id", ans)
			}
		})
	}

	got, err := scrape.Get("http://" + addrs["metrics listening"] + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	for _, route := range []string{"time", "reverse", "search", "binary"} {
		if k := `router_requests_total{result="ok",route="` + route + `"}`; got[k] != 1 {
			t.Errorf("%s = %v, want 1", k, got[k])
		}
	}
	if k := `router_plugin_state{plugin="reverse",state="running"}`; got[k] != 1 {
		t.Errorf("%s = %v, want 1", k, got[k])
	}
}

func TestEmbedFromConfig(t *testing.T) {
	bin := plugintest.Build(t, ".")
	file := filepath.Join(t.TempDir(), "embed.yaml")
	os.WriteFile(file, []byte(`
listen: ["127.0.0.1:0"]
plugins:
  clock: {cmd: inprocess}
routes:
  - {action: time, plugin: clock}
`), 0o644)
	addrs := started(t, bin, "-config", file)
	c, err := core.Dial(context.Background(), addrs["listening"])
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ans := ask(t, c, jsonReq(t, "time", ""))
	if !regexp.MustCompile(`^\{"result": "\d{4}-`).Match(ans.Content) {
		t.Errorf("answer %q, want the time", ans.Content)
	}
	ans = ask(t, c, jsonReq(t, "other", ""))
	if err := core.AnswerError(ans); err == nil || !strings.Contains(err.Error(), "no route") {
		t.Errorf("unrouted request answered %s %q, want a no-route error", ans, ans.Content)
	}
}
