package core

import (
	"context"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/msgrouter/router/internal/syncbuf"
)

// TestLogSamplerInterval logs events for two keys over several
// intervals: each key writes its first line, then one line per interval
// carrying the count of those dropped since its last, and flush the
// rest; every event is written or counted, per key.
func TestLogSamplerInterval(t *testing.T) {
	var out syncbuf.Buffer
	l := hclog.New(&hclog.LoggerOptions{Output: &out, Level: hclog.Info})
	ls := &logSampler{every: 20 * time.Millisecond}
	const events = 400
	start := time.Now()
	for i := range events {
		ls.log(l, hclog.Warn, "a", "event a", "i", i)
		if i%2 == 0 {
			ls.log(l, hclog.Warn, "b", "event b", "i", i)
		}
		time.Sleep(time.Millisecond / 2)
	}
	took := time.Since(start)
	ls.flush(l)
	re := regexp.MustCompile(`suppressed=(\d+)`)
	for _, c := range []struct {
		msg   string
		total int
	}{{"event a", events}, {"event b", events / 2}} {
		lines, counted, withCount := 0, 0, 0
		for _, line := range strings.Split(out.String(), "\n") {
			if !strings.Contains(line, c.msg) {
				continue
			}
			if !strings.Contains(line, "log lines suppressed") {
				lines++
			}
			if m := re.FindStringSubmatch(line); m != nil {
				n, _ := strconv.Atoi(m[1])
				counted += n
				withCount++
			}
		}
		if most := int(took/ls.every) + 1; lines > most || lines < 2 {
			t.Errorf("%s: %d lines in %s, want 2 to %d", c.msg, lines, took, most)
		}
		if withCount < 2 {
			t.Errorf("%s: %d lines carry a suppressed count, want the lines after the first", c.msg, withCount)
		}
		if lines+counted != c.total {
			t.Errorf("%s: %d lines + %d suppressed, want %d", c.msg, lines, counted, c.total)
		}
	}
}

// TestLogSamplerKeys checks that the keys a sampler tracks are bounded:
// beyond sampleKeys, new keys share one.
func TestLogSamplerKeys(t *testing.T) {
	var ls logSampler
	l := hclog.NewNullLogger()
	for i := range 3 * sampleKeys {
		ls.log(l, hclog.Warn, strconv.Itoa(i), "x")
	}
	if n := len(ls.keys); n > sampleKeys+1 {
		t.Errorf("%d keys tracked", n)
	}
}

// TestPanicSite checks that two panics raised at different places have
// different sites, and one raised twice at the same place the same.
func TestPanicSite(t *testing.T) {
	sites := make([]string, 3)
	for i, f := range []func(){
		func() { panic("one") },
		func() { panic("two") },
		func() { var m map[string]int; m["x"] = 1 }, // a runtime error
	} {
		_, err := Call(t.Context(), HandlerFunc(func(_ context.Context, m *Message) (*Message, error) { f(); return nil, nil }), &Message{})
		pe, ok := err.(*PanicError)
		if !ok {
			t.Fatalf("%d: %v", i, err)
		}
		sites[i] = panicSite(pe.Stack)
		if !strings.Contains(sites[i], "logsample_internal_test.go:") {
			t.Errorf("%d: site %q, want this file", i, sites[i])
		}
	}
	if sites[0] == sites[1] || sites[1] == sites[2] {
		t.Errorf("sites not told apart: %q", sites)
	}
}
