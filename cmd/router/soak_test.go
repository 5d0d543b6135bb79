package main

import (
	"fmt"
	"io"
	"net"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/msgrouter/router/core"
)

// A short soak with every fault: nothing is lost, and the report says so
// and counts what happened. Its plugins are this test binary, re-executed
// as "router plugin NAME" (see TestMain).
func TestSoak(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a router under load for a few seconds")
	}
	code, out, stderr := routerCmd(t, "soak", "--duration", "4s", "--fault-every", "500ms",
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
	// Seven faults in 4s, in turn: two kills, two bursts, a reload, a
	// storm, a slow handler and oversized answers.
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
	for _, fault := range []string{"slow", "oversized"} {
		if n := num(`faults injected:.* ` + fault + ` (\d+)`); n < 1 {
			t.Errorf("%d %s faults", n, fault)
		}
	}
	if strings.Contains(out, "faults failed:") {
		t.Errorf("faults failed:\n%s\n%s", out, stderr)
	}
	if !strings.Contains(stderr, "slow: 256 of 256 answered") || !strings.Contains(stderr, "oversized: 7 answers of 16777217 bytes refused with an error, the next answered") {
		t.Errorf("the plugin faults' lines are missing:\n%s", stderr)
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

// SIGTERM to a real `router serve` process under load: every request
// whose bytes were written before the signal was sent is answered, once,
// by the built-in plugins (processes); then the router closes the
// connections and exits 0.
func TestSignalUnderLoad(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a router process under load")
	}
	cmd, addr, logs, stderr := serveProcess(t)
	logsDone := make(chan struct{})
	go func() {
		rest, _ := io.ReadAll(stderr)
		logs.Write(rest)
		close(logsDone)
	}()

	// Pipelined connections (8 in flight) and kept-alive ones (1), each
	// request an echo tagged with its own number.
	var (
		begun           atomic.Bool
		answers         atomic.Int64
		mu              sync.Mutex
		owed, got, late int64
		failures        []string
		wg              sync.WaitGroup
	)
	fail := func(format string, args ...any) {
		mu.Lock()
		if len(failures) < 10 {
			failures = append(failures, fmt.Sprintf(format, args...))
		}
		mu.Unlock()
	}
	client := func(name string, depth int) {
		defer wg.Done()
		nc, err := net.Dial("tcp", addr)
		if err != nil {
			fail("%s: %v", name, err)
			return
		}
		defer nc.Close()
		var dec core.Decoder
		buf := make([]byte, 64<<10)
		for seq := 0; ; {
			var batch []byte
			var wants []string
			for range depth {
				seq++
				m, _ := core.NewJSON(core.Object{{Key: "action", Value: "echo"}, {Key: "value", Value: name + "-" + strconv.Itoa(seq)}})
				b, _ := core.Marshal(m)
				batch = append(batch, b...)
				wants = append(wants, string(m.Content))
			}
			_, werr := nc.Write(batch)
			isOwed := !begun.Load()
			if werr != nil {
				if isOwed {
					fail("%s: write before the signal: %v", name, werr)
				}
				return
			}
			mu.Lock()
			if isOwed {
				owed += int64(depth)
			} else {
				late += int64(depth)
			}
			mu.Unlock()
			n := 0
			for n < depth {
				nc.SetReadDeadline(time.Now().Add(30 * time.Second)) // a bound
				k, rerr := nc.Read(buf)
				p := buf[:k]
				for len(p) > 0 && n < depth {
					c, m, derr := dec.Decode(p)
					p = p[c:]
					if derr != nil {
						fail("%s: invalid answer: %v", name, derr)
						return
					}
					if m == nil {
						break
					}
					// A request written after the signal is answered, or
					// refused with the shutdown's error answer.
					refused := !isOwed && core.AnswerError(m) != nil && strings.Contains(core.AnswerError(m).Error(), core.ErrShuttingDown.Error())
					if string(m.Content) != wants[n] && !refused {
						fail("%s: answer %q, want %q", name, m.Content, wants[n])
					}
					if isOwed {
						mu.Lock()
						got++
						mu.Unlock()
					}
					answers.Add(1)
					n++
				}
				if len(p) > 0 {
					fail("%s: %d bytes past the last answer of a batch", name, len(p))
				}
				if rerr != nil && n < depth {
					if isOwed {
						fail("%s: %d answers missing of requests written before the signal: %v", name, depth-n, rerr)
					}
					return
				}
			}
		}
	}
	for i := range 6 {
		wg.Add(1)
		go client("pipelined-"+strconv.Itoa(i), 8)
	}
	for i := range 4 {
		wg.Add(1)
		go client("kept-alive-"+strconv.Itoa(i), 1)
	}
	for deadline := time.Now().Add(60 * time.Second); answers.Load() < 3000; {
		if time.Now().After(deadline) {
			t.Fatalf("%d answers in 60s", answers.Load())
		}
		time.Sleep(5 * time.Millisecond)
	}
	begun.Store(true)
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	<-logsDone
	if err := cmd.Wait(); err != nil {
		t.Errorf("router after SIGTERM: %v; logs:\n%s", err, logs.String())
	}
	t.Logf("%d requests written before SIGTERM, %d answered; %d written after", owed, got, late)
	if owed == 0 || got != owed || len(failures) > 0 {
		t.Errorf("%d requests written before SIGTERM, %d answered; failures: %q", owed, got, failures)
	}
}
