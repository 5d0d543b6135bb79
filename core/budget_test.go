package core_test

import (
	"bytes"
	"fmt"
	"net"
	"os"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/msgrouter/router/core"
)

// heapBytes is the memory of live and not yet swept heap objects.
func heapBytes() int64 {
	s := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	metrics.Read(s)
	return int64(s[0].Value.Uint64())
}

// rssBytes is the process's resident memory (VmRSS), or -1 where
// /proc/self/status cannot tell.
func rssBytes() int64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return -1
	}
	for line := range strings.SplitSeq(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			if err != nil {
				return -1
			}
			return kb << 10
		}
	}
	return -1
}

// waitFor polls cond every few milliseconds until it holds or 20s pass.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("still not %s after 20s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// halfMessages opens n connections that each send the header of a
// message of clen content bytes and then send of its content, and never
// finish it. It returns the connections and a wait for the writers, which
// end when the connections are closed.
func halfMessages(t *testing.T, addr string, n, clen, send int) ([]net.Conn, func()) {
	t.Helper()
	head := rawFrame(hostileHeader(strconv.Itoa(clen)), nil)
	content := bytes.Repeat([]byte("z"), send)
	conns := make([]net.Conn, n)
	var wg sync.WaitGroup
	for i := range conns {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		conns[i] = c
		wg.Add(1)
		go func() {
			defer wg.Done()
			c.SetWriteDeadline(time.Now().Add(time.Minute))
			if _, err := c.Write(head); err == nil {
				c.Write(content) // blocks while the server waits; ends at close
			}
		}()
	}
	return conns, wg.Wait
}

// TestBudgetBoundsBufferedInput: 100 connections each send 1.5 MiB of a
// 2 MiB message and stall. With a 12 MiB budget, five are granted their
// message and the others wait, unread: the bytes reserved never exceed
// the budget, the heap and RSS grow by about the budget (without it they
// would hold 150 MiB), and other clients are served meanwhile, including
// a 40 KiB message that spans reads. Once the clients close, every grant
// is released and the memory is given back.
func TestBudgetBoundsBufferedInput(t *testing.T) {
	const (
		budget = 12 << 20
		conns  = 100
		clen   = 2 << 20
		send   = 3 << 19 // 1.5 MiB
	)
	s := &core.Server{MaxBuffered: budget, ReadTimeout: time.Minute}
	addr := startServer(t, s)
	good := dialT(t, addr)
	checkServed(t, good, "before")
	frameSize := int64(len(rawFrame(hostileHeader(strconv.Itoa(clen)), nil))) + clen
	granted := budget / frameSize // 5

	runtime.GC()
	debug.FreeOSMemory()
	heap0, rss0 := heapBytes(), rssBytes()

	var peak atomic.Int64
	stop := make(chan struct{})
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		for {
			peak.Store(max(peak.Load(), s.Stats().Buffered))
			select {
			case <-stop:
				return
			case <-time.After(time.Millisecond):
			}
		}
	}()
	defer func() {
		select {
		case <-stop:
		default:
			close(stop)
		}
		<-sampled
	}()

	cs, writers := halfMessages(t, addr, conns, clen, send)
	defer func() {
		for _, c := range cs {
			c.Close()
		}
		writers()
	}()
	waitFor(t, "at the budget with the others waiting", func() bool {
		st := s.Stats()
		return st.Buffered == granted*frameSize && st.BufferWaits >= conns-uint64(granted) &&
			st.BytesRead >= uint64(granted*(frameSize-clen+send))
	})
	// Until the granted connections have read all that was sent them.
	last := uint64(0)
	waitFor(t, "reading done", func() bool {
		n := s.Stats().BytesRead
		if n != last {
			last = n
			time.Sleep(100 * time.Millisecond)
			return false
		}
		return true
	})
	heap1, rss1 := heapBytes(), rssBytes()

	checkServed(t, good, "meanwhile")
	checkFreshServed(t, addr, "fresh")
	spanning := dialT(t, addr)
	big := frame(t, core.NewBinary("binary/x", bytes.Repeat([]byte("s"), 40<<10)))
	spanning.Write(big[:len(big)/2])
	time.Sleep(10 * time.Millisecond) // let the server read the first half alone
	spanning.Write(big[len(big)/2:])
	spanning.SetReadDeadline(time.Now().Add(hostileWait))
	if m, err := readAnswer(t, spanning); err != nil || len(m.Content) != 40<<10 {
		t.Fatalf("a 40 KiB message while the budget is spent: %v", err)
	}

	grown := heap1 - heap0
	t.Logf("budget %d MiB, %d granted: heap +%.1f MiB, RSS +%.1f MiB (%d connections with %.1f MiB each sent)",
		budget>>20, granted, float64(grown)/(1<<20), float64(rss1-rss0)/(1<<20), conns, float64(send)/(1<<20))
	// The budget, the read buffers of the waiting connections and room for
	// the rest of the test process.
	if most := int64(budget + conns*16<<10 + 8<<20); grown > most {
		t.Errorf("heap grew by %d bytes, want at most %d", grown, most)
	}
	if rss0 > 0 {
		most := int64(budget + 24<<20)
		if raceEnabled {
			most = 3*budget + 48<<20 // the race detector's shadow of what was touched
		}
		if rss1-rss0 > most {
			t.Errorf("RSS grew by %d bytes, want at most %d", rss1-rss0, most)
		}
	}

	for _, c := range cs {
		c.Close()
	}
	writers()
	waitFor(t, "all grants released", func() bool { return s.Stats().Buffered == 0 && s.Connections() <= 2 })
	close(stop)
	<-sampled
	if p := peak.Load(); p > budget {
		t.Errorf("%d bytes reserved at the peak, above the budget of %d", p, budget)
	}
	// The server returns the memory once the burst is over, without a
	// collection from the test.
	waitFor(t, "the heap back to where it was", func() bool { return heapBytes() < heap0+8<<20 })
	if rss0 > 0 && !raceEnabled {
		waitFor(t, "RSS back to where it was", func() bool { return rssBytes() < rss0+budget/2 })
	}
	t.Logf("after: heap +%.1f MiB, RSS +%.1f MiB", float64(heapBytes()-heap0)/(1<<20), float64(rssBytes()-rss0)/(1<<20))
	checkServed(t, good, "after")
}

// TestBudgetRefusesLargerThanBudget: a message larger than the whole
// budget can never be granted: it is refused as over the limit, at once,
// even with no content-length limit, and nothing is reserved.
func TestBudgetRefusesLargerThanBudget(t *testing.T) {
	s := &core.Server{MaxBuffered: 1 << 20, MaxContentLength: -1}
	addr := startServer(t, s)
	c := dialT(t, addr)
	if _, err := c.Write(rawFrame(hostileHeader("1152921504606846976"), []byte("y"))); err != nil {
		t.Fatal(err)
	}
	expectErrorThenClose(t, c, fmt.Sprintf("core: content-length above limit: a message of %d bytes is above the server's input budget of %d bytes",
		1152921504606846976+len(rawFrame(hostileHeader("1152921504606846976"), nil)), 1<<20))
	if n := s.Stats().Buffered; n != 0 {
		t.Errorf("%d bytes reserved", n)
	}
}

// TestBudgetWaitHasReadTimeout: a connection waiting for budget is still
// bound by its read timeout, which runs from its message's first bytes;
// the one holding the budget times out as well, and releases it.
func TestBudgetWaitHasReadTimeout(t *testing.T) {
	const readTimeout = 300 * time.Millisecond
	s := &core.Server{MaxBuffered: 1 << 20, ReadTimeout: readTimeout}
	addr := startServer(t, s)
	good := dialT(t, addr)
	checkServed(t, good, "before")
	cs, writers := halfMessages(t, addr, 2, 600<<10, 100<<10)
	defer writers()
	for _, c := range cs {
		defer c.Close()
	}
	want := "core: read timeout inside a message: message not complete after 300ms"
	for _, c := range cs {
		expectErrorThenClose(t, c, want)
	}
	if w := s.Stats().BufferWaits; w != 1 {
		t.Errorf("%d waits for budget, want 1", w)
	}
	waitFor(t, "the budget released", func() bool { return s.Stats().Buffered == 0 })
	checkServed(t, good, "after")
}

// TestBudgetAnswersBeforeWaiting: a client that pipelines a small request
// and then a large message, while the budget is spent, gets the small
// one's answer before its connection waits for budget.
func TestBudgetAnswersBeforeWaiting(t *testing.T) {
	s := &core.Server{MaxBuffered: 1 << 20, ReadTimeout: time.Minute}
	addr := startServer(t, s)
	holders, writers := halfMessages(t, addr, 1, 1000<<10, 10<<10)
	defer writers()
	defer holders[0].Close()
	waitFor(t, "the budget spent", func() bool { return s.Stats().Buffered > 0 })
	c := dialT(t, addr)
	req := append(frame(t, jsonReq(t, "small", "1")), rawFrame(hostileHeader(strconv.Itoa(500<<10)), []byte("{"))...)
	if _, err := c.Write(req); err != nil {
		t.Fatal(err)
	}
	c.SetReadDeadline(time.Now().Add(hostileWait))
	m, err := (&frameReader{r: c}).next()
	if err != nil {
		t.Fatal(err)
	}
	if got := resultOf(t, m); got != "small:1" {
		t.Errorf("answer %q", got)
	}
	waitFor(t, "the large message waiting", func() bool { return s.Stats().BufferWaits == 1 })
	holders[0].Close()
	waitFor(t, "the budget passed on", func() bool {
		return s.Stats().Buffered == int64(len(rawFrame(hostileHeader(strconv.Itoa(500<<10)), nil)))+500<<10
	})
}

// TestBudgetWaitEndsAtClose: Close ends a connection waiting for budget,
// long before its read timeout.
func TestBudgetWaitEndsAtClose(t *testing.T) {
	s := &core.Server{MaxBuffered: 1 << 20, ReadTimeout: time.Minute}
	addr := startServer(t, s)
	cs, writers := halfMessages(t, addr, 2, 600<<10, 100<<10)
	defer writers()
	for _, c := range cs {
		defer c.Close()
	}
	waitFor(t, "a connection waiting", func() bool { return s.Stats().BufferWaits == 1 })
	s.Close()
	for _, c := range cs {
		expectClosed(t, c)
	}
	waitFor(t, "the budget released", func() bool { return s.Stats().Buffered == 0 && s.Connections() == 0 })
}
