package plugins_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/msgrouter/router/plugins"
)

// A plugin that fails before its handshake says why on its standard
// error (a Python plugin without its packages does): the start error
// carries the last lines, the message of an hclog JSON line or the line
// as it is, both in its text and in its one-line Summary.
func TestStartErrorHasStderr(t *testing.T) {
	script := filepath.Join(t.TempDir(), "fails.sh")
	body := `#!/bin/sh
echo 'first line, dropped: only the last 3 are kept' >&2
echo 'some plain text' >&2
printf '%s\n' '{"@level":"error","@message":"cannot import grpc: install python3-grpcio","@timestamp":"2026-01-02T03:04:05.000000Z"}' >&2
printf 'a last line without its newline' >&2
exit 3
`
	if err := os.WriteFile(script, []byte(body), 0o755); err != nil {
		t.Fatal(err)
	}
	_, err := plugins.Start(context.Background(), plugins.Config{Name: "py", Cmd: script, StartTimeout: 10 * time.Second})
	se, ok := errors.AsType[*plugins.StartError](err)
	if !ok {
		t.Fatalf("Start: %v, want a *StartError", err)
	}
	want := "some plain text | cannot import grpc: install python3-grpcio | a last line without its newline"
	if se.Stderr != want {
		t.Errorf("Stderr = %q\nwant     %q", se.Stderr, want)
	}
	if !strings.Contains(err.Error(), "the plugin's standard error ends: "+want) {
		t.Errorf("error %q does not give the plugin's standard error", err)
	}
	sum := se.Summary()
	if strings.Contains(sum, "\n") || !strings.Contains(sum, want) || !strings.HasPrefix(sum, "handshake: ") {
		t.Errorf("Summary() = %q, want one line starting with the stage and giving the standard error", sum)
	}
	if got := plugins.ShortError(err); got != sum {
		t.Errorf("ShortError = %q, want the Summary", got)
	}
}

// A plugin that fails before its handshake without a word keeps the
// hint that its output is in the debug log.
func TestStartErrorWithoutStderr(t *testing.T) {
	_, err := plugins.Start(context.Background(), plugins.Config{Name: "quiet", Cmd: "/bin/true", StartTimeout: 10 * time.Second})
	se, ok := errors.AsType[*plugins.StartError](err)
	if !ok {
		t.Fatalf("Start: %v, want a *StartError", err)
	}
	if se.Stderr != "" || strings.Contains(err.Error(), "standard error") {
		t.Errorf("a silent plugin's error %q mentions its standard error", err)
	}
	if !strings.Contains(se.Summary(), "its output is in the debug log") {
		t.Errorf("Summary() = %q", se.Summary())
	}
}
