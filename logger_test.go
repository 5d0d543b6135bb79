package router_test

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/msgrouter/router"
	"github.com/msgrouter/router/config"
	"github.com/msgrouter/router/internal/syncbuf"
)

// TestLoggerDurations: in JSON, a duration is logged as text with its
// unit, by the logger and the loggers made from it; in text, as hclog
// writes it.
func TestLoggerDurations(t *testing.T) {
	var b syncbuf.Buffer
	log := router.NewLogger(config.Log{Level: "trace", Format: "json"}, &b)
	log.Info("config reloaded", "took", 1500*time.Millisecond, "routes", 3)
	log.Named("server").With("timeout", 10*time.Second).Warn("accept failed; retrying", "delay", 5*time.Millisecond)
	log.ResetNamed("router.up").Log(hclog.Error, "plugin failed", "cooldown", time.Minute)
	args := []any{"duration", time.Second}
	log.Debug("request", args...)
	if args[1] != time.Second {
		t.Errorf("the logger changed its caller's arguments: %v", args)
	}

	var lines []map[string]any
	for line := range strings.Lines(b.String()) {
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("%q: %v", line, err)
		}
		lines = append(lines, m)
	}
	want := []map[string]any{
		{"took": "1.5s", "routes": 3.0},
		{"timeout": "10s", "delay": "5ms", "@module": "router.server"},
		{"cooldown": "1m0s", "@module": "router.up"},
		{"duration": "1s"},
	}
	if len(lines) != len(want) {
		t.Fatalf("%d lines, want %d:\n%s", len(lines), len(want), b.String())
	}
	for i, w := range want {
		for k, v := range w {
			if lines[i][k] != v {
				t.Errorf("line %d: %s = %#v, want %#v", i+1, k, lines[i][k], v)
			}
		}
	}

	var text syncbuf.Buffer
	router.NewLogger(config.Log{Level: "info", Format: "text"}, &text).Info("config reloaded", "took", 1500*time.Millisecond)
	if !strings.Contains(text.String(), "[INFO]  router: config reloaded: took=1.5s\n") {
		t.Errorf("text log: %q", text.String())
	}
}
