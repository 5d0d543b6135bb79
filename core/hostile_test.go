package core_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/msgrouter/router/core"
)

// The hostile-input catalogue: each case runs over real TCP on loopback
// and checks the exact answer, that the hostile connection is closed, and
// that a well-behaved connection opened before it is still served.

const hostileWait = 10 * time.Second // generous bound for anything to happen

// hostileHeader is a JSON header with the four required keys.
func hostileHeader(clen string) string {
	return `{"byteorder": "little", "content-type": "text/json", "content-encoding": "utf-8", "content-length": ` + clen + `}`
}

// rawFrame frames header and content as they are, without checking them.
func rawFrame(header string, content []byte) []byte {
	if len(header) > 0xffff {
		panic("header too long")
	}
	b := []byte{byte(len(header) >> 8), byte(len(header))}
	b = append(b, header...)
	return append(b, content...)
}

// checkServed sends one request on good and expects its answer.
func checkServed(t *testing.T, good net.Conn, tag string) {
	t.Helper()
	good.SetDeadline(time.Now().Add(hostileWait))
	defer good.SetDeadline(time.Time{})
	if _, err := good.Write(frame(t, jsonReq(t, "still", tag))); err != nil {
		t.Fatalf("well-behaved connection: write: %v", err)
	}
	m, err := readAnswer(t, good)
	if err != nil {
		t.Fatalf("well-behaved connection: %v", err)
	}
	if got, want := resultOf(t, m), "still:"+tag; got != want {
		t.Fatalf("well-behaved connection answered %q, want %q", got, want)
	}
}

// checkFreshServed dials a new connection and expects it to be served.
func checkFreshServed(t *testing.T, addr, tag string) {
	t.Helper()
	c := dialT(t, addr)
	checkServed(t, c, tag)
	c.Close()
}

// waitConns polls until the server has at most n open connections.
func waitConns(t *testing.T, s *core.Server, n int) {
	t.Helper()
	deadline := time.Now().Add(hostileWait)
	for s.Connections() > n {
		if time.Now().After(deadline) {
			t.Fatalf("server still has %d connections, want at most %d", s.Connections(), n)
		}
		time.Sleep(time.Millisecond)
	}
}

// expectErrorThenClose reads exactly one {"error": want} answer from c,
// then expects the server to close c with nothing more.
func expectErrorThenClose(t *testing.T, c net.Conn, want string) {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(hostileWait))
	fr := &frameReader{r: c}
	m, err := fr.next()
	if err != nil {
		t.Fatalf("reading the error answer: %v", err)
	}
	if got := resultOf(t, m); got != "error: "+want {
		t.Errorf("answer = %q, want %q", got, "error: "+want)
	}
	if m.ContentType != core.ContentTypeJSON {
		t.Errorf("answer content-type %q, want text/json", m.ContentType)
	}
	if len(fr.pending) > 0 {
		t.Errorf("%d bytes after the error answer", len(fr.pending))
	}
	n, err := io.Copy(io.Discard, c)
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		t.Fatalf("connection not closed after the error answer")
	}
	if n > 0 {
		t.Errorf("%d bytes after the error answer", n)
	}
}

// expectSilentClose expects the server to close c without sending anything.
func expectSilentClose(t *testing.T, c net.Conn) {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(hostileWait))
	n, err := io.Copy(io.Discard, c)
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		t.Fatalf("connection not closed")
	}
	if n > 0 {
		t.Errorf("server sent %d bytes, want a silent close", n)
	}
}

func TestHostileFrames(t *testing.T) {
	const limit = 1024
	s := &core.Server{MaxContentLength: limit}
	addr := startServer(t, s)
	good := dialT(t, addr)
	checkServed(t, good, "before")

	garbage := bytes.Repeat([]byte("garbage!"), 0xffff/8+1)[:0xffff]
	notUTF8 := append([]byte(`{"byteorder": "`), 0xff, 0xfe)
	notUTF8 = append(notUTF8, `"}`...)
	const (
		hlen    = "core: invalid header length: "
		syntax  = "core: header is not valid JSON"
		missing = "core: required header missing: "
		badval  = "core: invalid header value: "
		cl      = `core: invalid header value: "content-length" must be a non-negative integer, got `
		big     = "core: content-length above limit: content-length "
	)
	without := func(key string) string {
		parts := []string{`"byteorder": "big"`, `"content-type": "text/json"`, `"content-encoding": "utf-8"`, `"content-length": 0`}
		var kept []string
		for _, p := range parts {
			if !strings.HasPrefix(p, `"`+key+`"`) {
				kept = append(kept, p)
			}
		}
		return "{" + strings.Join(kept, ", ") + ", \"x-extra\": 1}"
	}
	withValue := func(key, val string) string {
		h := map[string]string{"byteorder": `"little"`, "content-type": `"text/json"`, "content-encoding": `"utf-8"`, "content-length": "0"}
		h[key] = val
		return fmt.Sprintf(`{"byteorder": %s, "content-type": %s, "content-encoding": %s, "content-length": %s}`,
			h["byteorder"], h["content-type"], h["content-encoding"], h["content-length"])
	}
	cases := []struct {
		name  string
		bytes []byte
		want  string // the exact error text
	}{
		{"header length 0", []byte{0, 0}, hlen + "header length is 0"},
		{"header length 0 then more", append([]byte{0, 0}, frame(t, jsonReq(t, "a", "b"))...), hlen + "header length is 0"},
		{"65535-byte garbage header", append([]byte{0xff, 0xff}, garbage...), syntax + ": invalid JSON: unexpected 'g' at offset 0 looking for a value"},
		{"65535-byte header of 0xff", append([]byte{0xff, 0xff}, bytes.Repeat([]byte{0xff}, 0xffff)...), "core: header is not valid UTF-8"},
		{"header not UTF-8", rawFrame(string(notUTF8), nil), "core: header is not valid UTF-8"},
		{"header not JSON", rawFrame("hello, world", nil), syntax + ": invalid JSON: unexpected 'h' at offset 0 looking for a value"},
		{"header truncated JSON", rawFrame(`{"byteorder": "little"`, nil), syntax + ": invalid JSON: unexpected end of input after object value"},
		{"header trailing garbage", rawFrame(hostileHeader("0")+"x", nil), syntax + ": invalid JSON: unexpected 'x' at offset 102 after the header object"},
		{"header array", rawFrame(`[1, 2]`, nil), "core: header is not a JSON object"},
		{"header string", rawFrame(`"object"`, nil), "core: header is not a JSON object"},
		{"header number", rawFrame(`42`, nil), "core: header is not a JSON object"},
		{"header null", rawFrame(`null`, nil), "core: header is not a JSON object"},
		{"missing byteorder", rawFrame(without("byteorder"), nil), missing + `"byteorder"`},
		{"missing content-type", rawFrame(without("content-type"), nil), missing + `"content-type"`},
		{"missing content-encoding", rawFrame(without("content-encoding"), nil), missing + `"content-encoding"`},
		{"missing content-length", rawFrame(without("content-length"), nil), missing + `"content-length"`},
		{"header of 65535 '['", append([]byte{0xff, 0xff}, bytes.Repeat([]byte("["), 0xffff)...), syntax + ": invalid JSON: nested deeper than 1000"},
		{"extension header nested 30000 deep", rawFrame(`{"x": `+strings.Repeat("[", 30000)+strings.Repeat("]", 30000)+`, `+hostileHeader("0")[1:], nil), syntax + ": invalid JSON: nested deeper than 1000"},
		{"empty object", rawFrame(`{}`, nil), missing + `"byteorder"`},
		{"byteorder number", rawFrame(withValue("byteorder", "1"), nil), badval + `"byteorder" must be a string, got 1`},
		{"byteorder other", rawFrame(withValue("byteorder", `"middle"`), nil), badval + `"byteorder" must be "little" or "big", got "middle"`},
		{"content-type number", rawFrame(withValue("content-type", "5"), nil), badval + `"content-type" must be a string, got 5`},
		{"content-type null", rawFrame(withValue("content-type", "null"), nil), badval + `"content-type" must be a string, got null`},
		{"content-encoding object", rawFrame(withValue("content-encoding", `{"a": 1}`), nil), badval + `"content-encoding" must be a string, got {"a": 1}`},
		{"content-encoding array", rawFrame(withValue("content-encoding", `["utf-8"]`), nil), badval + `"content-encoding" must be a string, got ["utf-8"]`},
		{"content-length negative", rawFrame(hostileHeader("-1"), nil), cl + "-1"},
		{"content-length fractional", rawFrame(hostileHeader("1.5"), nil), cl + "1.5"},
		{"content-length integral float", rawFrame(hostileHeader("2.0"), nil), cl + "2.0"},
		{"content-length exponent", rawFrame(hostileHeader("1e3"), nil), cl + "1e3"},
		{"content-length leading zero", rawFrame(hostileHeader("01"), nil), syntax + ": invalid JSON: unexpected '1' at offset 101 after object value"},
		{"content-length minus alone", rawFrame(hostileHeader("-"), nil), syntax + ": invalid JSON: unexpected '}' at offset 101 in number"},
		{"content-length string", rawFrame(hostileHeader(`"12"`), nil), cl + `"12"`},
		{"content-length bool", rawFrame(hostileHeader(`true`), nil), cl + `true`},
		{"content-length null", rawFrame(hostileHeader(`null`), nil), cl + `null`},
		{"content-length above limit", rawFrame(hostileHeader("1025"), nil), big + "1025 is above the limit of 1024 bytes"},
		{"content-length 2^60", rawFrame(hostileHeader("1152921504606846976"), nil), big + "1152921504606846976 is above the limit of 1024 bytes"},
		{"content-length 2^64", rawFrame(hostileHeader("18446744073709551616"), nil), big + "18446744073709551616 is above the limit of 1024 bytes"},
		{"content-length 100 digits", rawFrame(hostileHeader(strings.Repeat("9", 100)), nil), big + strings.Repeat("9", 37) + "... is above the limit of 1024 bytes"},
		// A frame error after a good request: the good one is answered
		// first, then the error.
		{"good request then garbage", append(frame(t, jsonReq(t, "first", "ok")), 0, 0), hlen + "header length is 0"},
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			bad := dialT(t, addr)
			bad.SetWriteDeadline(time.Now().Add(hostileWait))
			if _, err := bad.Write(tc.bytes); err != nil {
				t.Fatalf("write: %v", err)
			}
			bad.SetReadDeadline(time.Now().Add(hostileWait))
			fr := &frameReader{r: bad}
			if strings.HasPrefix(tc.name, "good request") {
				m, err := fr.next()
				if err != nil {
					t.Fatal(err)
				}
				if got := resultOf(t, m); got != "first:ok" {
					t.Fatalf("first answer %q", got)
				}
			}
			m, err := fr.next()
			if err != nil {
				t.Fatalf("reading the error answer: %v", err)
			}
			if got := resultOf(t, m); got != "error: "+tc.want {
				t.Errorf("answer = %q, want %q", got, "error: "+tc.want)
			}
			if m.ContentType != core.ContentTypeJSON || m.ContentEncoding != core.EncodingUTF8 {
				t.Errorf("error answer is %q/%q, want text/json/utf-8", m.ContentType, m.ContentEncoding)
			}
			if len(fr.pending) > 0 {
				t.Errorf("%d bytes after the error answer", len(fr.pending))
			}
			expectSilentClose(t, bad)
			checkServed(t, good, fmt.Sprint(i))
		})
	}
	checkFreshServed(t, addr, "after")
	waitConns(t, s, 1)
}

// TestHostileBadJSONContent: text/json content that is not JSON is a
// handler error, not a frame error: answered, and the connection stays.
func TestHostileBadJSONContent(t *testing.T) {
	addr := startServer(t, &core.Server{})
	c := dialT(t, addr)
	contents := [][]byte{
		[]byte("not json at all"),
		[]byte(`{"action": "search", "value": `),
		[]byte(`["action", "search"]`),
		{0xff, 0xfe, 0xfd},
		nil,
	}
	for i, content := range contents {
		h := hostileHeader(fmt.Sprint(len(content)))
		c.SetDeadline(time.Now().Add(hostileWait))
		if _, err := c.Write(rawFrame(h, content)); err != nil {
			t.Fatal(err)
		}
		m, err := readAnswer(t, c)
		if err != nil {
			t.Fatalf("content %q: %v", content, err)
		}
		if got := resultOf(t, m); !strings.HasPrefix(got, "error: core: invalid JSON content") {
			t.Errorf("content %q: answer %q, want an invalid JSON content error", content, got)
		}
		// The same connection is still usable.
		checkServed(t, c, fmt.Sprint(i))
	}
}

// TestHostileTruncated: the stream ends (EOF) inside a message: no answer,
// the connection is closed, the server is fine.
func TestHostileTruncated(t *testing.T) {
	s := &core.Server{}
	addr := startServer(t, s)
	good := dialT(t, addr)
	checkServed(t, good, "before")
	full := rawFrame(hostileHeader("100"), bytes.Repeat([]byte("x"), 100))
	for _, cut := range []int{1, 2, 10, 2 + len(hostileHeader("100")), len(full) - 60, len(full) - 1} {
		t.Run(fmt.Sprint(cut), func(t *testing.T) {
			bad := dialT(t, addr)
			if _, err := bad.Write(full[:cut]); err != nil {
				t.Fatal(err)
			}
			if err := bad.(*net.TCPConn).CloseWrite(); err != nil {
				t.Fatal(err)
			}
			expectSilentClose(t, bad)
			waitConns(t, s, 1)
			checkServed(t, good, fmt.Sprint(cut))
		})
	}
	checkFreshServed(t, addr, "after")
}

// resetClose closes c with SO_LINGER 0: the peer sees a reset.
func resetClose(t *testing.T, c net.Conn) {
	t.Helper()
	tc := c.(*net.TCPConn)
	if err := tc.SetLinger(0); err != nil {
		t.Fatal(err)
	}
	if err := tc.Close(); err != nil {
		t.Fatal(err)
	}
}

// bigHandler answers "big" with 8 MiB of binary content and defers the
// rest to testHandler.
const bigAnswer = 8 << 20

var bigHandler = core.HandlerFunc(func(ctx context.Context, req *core.Message) (*core.Message, error) {
	if req.IsJSON() {
		if a, err := req.Action(); err == nil && a == "big" {
			return core.NewBinary("binary/big", bytes.Repeat([]byte{'b'}, bigAnswer)), nil
		}
	}
	return testHandler(ctx, req)
})

func TestHostileResetMidRequest(t *testing.T) {
	s := &core.Server{}
	addr := startServer(t, s)
	good := dialT(t, addr)
	checkServed(t, good, "before")
	full := rawFrame(hostileHeader("100000"), bytes.Repeat([]byte("x"), 100000))
	for _, cut := range []int{1, 20, 40000} {
		t.Run(fmt.Sprint(cut), func(t *testing.T) {
			bad := dialT(t, addr)
			if _, err := bad.Write(full[:cut]); err != nil {
				t.Fatal(err)
			}
			// Make sure the server has the connection before resetting it.
			deadline := time.Now().Add(hostileWait)
			for s.Connections() < 2 {
				if time.Now().After(deadline) {
					t.Fatal("server never took the connection")
				}
				time.Sleep(time.Millisecond)
			}
			resetClose(t, bad)
			waitConns(t, s, 1)
			checkServed(t, good, fmt.Sprint(cut))
		})
	}
	checkFreshServed(t, addr, "after")
}

func TestHostileResetMidAnswer(t *testing.T) {
	s := &core.Server{Handler: bigHandler}
	addr := startServer(t, s)
	good := dialT(t, addr)
	checkServed(t, good, "before")
	for i := range 3 {
		bad := dialT(t, addr)
		bad.SetDeadline(time.Now().Add(hostileWait))
		if _, err := bad.Write(frame(t, jsonReq(t, "big", ""))); err != nil {
			t.Fatal(err)
		}
		// Read part of the answer: the server is now writing it.
		if _, err := io.ReadFull(bad, make([]byte, 256<<10)); err != nil {
			t.Fatal(err)
		}
		resetClose(t, bad)
		waitConns(t, s, 1)
		checkServed(t, good, fmt.Sprint(i))
	}
	// The big answer itself works for a client that reads it.
	c := dialT(t, addr)
	c.SetDeadline(time.Now().Add(hostileWait))
	if _, err := c.Write(frame(t, jsonReq(t, "big", ""))); err != nil {
		t.Fatal(err)
	}
	m, err := readAnswer(t, c)
	if err != nil {
		t.Fatal(err)
	}
	if len(m.Content) != bigAnswer {
		t.Errorf("big answer has %d bytes, want %d", len(m.Content), bigAnswer)
	}
}

func TestHostileSlowloris(t *testing.T) {
	const (
		n           = 300
		readTimeout = 300 * time.Millisecond
	)
	s := &core.Server{ReadTimeout: readTimeout}
	addr := startServer(t, s)
	good := dialT(t, addr)
	checkServed(t, good, "before")

	// A message long enough that dribbling it takes far longer than the
	// read timeout.
	msg := frame(t, jsonReq(t, "slow", strings.Repeat("s", 2000)))
	stop := make(chan struct{})
	var wg sync.WaitGroup
	defer func() {
		close(stop)
		wg.Wait()
	}()
	conns := make([]net.Conn, n)
	for i := range conns {
		conns[i] = dialT(t, addr)
		if _, err := conns[i].Write(msg[:1]); err != nil {
			t.Fatal(err)
		}
		wg.Add(1)
		go func(c net.Conn) {
			defer wg.Done()
			tick := time.NewTicker(10 * time.Millisecond)
			defer tick.Stop()
			for _, b := range msg[1:] {
				select {
				case <-stop:
					return
				case <-tick.C:
				}
				if _, err := c.Write([]byte{b}); err != nil {
					return // closed by the server
				}
			}
		}(conns[i])
	}
	// Meanwhile, a normal client is served, on an open connection and on
	// a new one.
	checkServed(t, good, "meanwhile")
	checkFreshServed(t, addr, "meanwhile")

	want := fmt.Sprintf("error: core: read timeout inside a message: message not complete after %s", readTimeout)
	errs := make(chan error, n)
	for i, c := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c.SetReadDeadline(time.Now().Add(hostileWait))
			fr := &frameReader{r: c}
			m, err := fr.next()
			if err != nil {
				errs <- fmt.Errorf("conn %d: %v", i, err)
				return
			}
			if rerr := core.AnswerError(m); rerr == nil || "error: "+rerr.(*core.RemoteError).Text != want {
				errs <- fmt.Errorf("conn %d: answer %s %q, want %q", i, m, m.Content, want)
				return
			}
			k, err := io.Copy(io.Discard, c)
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				errs <- fmt.Errorf("conn %d: not closed after the read timeout", i)
				return
			}
			if k+int64(len(fr.pending)) > 0 {
				errs <- fmt.Errorf("conn %d: %d bytes after the error", i, k+int64(len(fr.pending)))
				return
			}
			errs <- nil
		}()
	}
	for range conns {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
	waitConns(t, s, 1)
	checkServed(t, good, "after")
}

func TestHostileMaxConnections(t *testing.T) {
	const max = 3
	s := &core.Server{MaxConnections: max}
	addr := startServer(t, s)
	var held []net.Conn
	for i := range max {
		c := dialT(t, addr)
		checkServed(t, c, fmt.Sprint(i))
		held = append(held, c)
	}
	want := fmt.Sprintf("core: too many connections: limit is %d", max)
	req := frame(t, jsonReq(t, "over", "limit"))
	var wg sync.WaitGroup
	for range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, err := net.Dial("tcp", addr)
			if err != nil {
				t.Error(err)
				return
			}
			defer c.Close()
			// The over-limit clients even send a request: it is not
			// answered, only refused.
			c.Write(req)
			c.SetReadDeadline(time.Now().Add(hostileWait))
			fr := &frameReader{r: c}
			m, err := fr.next()
			if err != nil {
				t.Errorf("over the limit: %v", err)
				return
			}
			if got := resultOf(t, m); got != "error: "+want {
				t.Errorf("over the limit: %q, want %q", got, "error: "+want)
			}
			k, err := io.Copy(io.Discard, c)
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				t.Errorf("over-limit connection not closed")
			}
			if k+int64(len(fr.pending)) > 0 {
				t.Errorf("%d bytes after the refusal", k+int64(len(fr.pending)))
			}
		}()
	}
	wg.Wait()
	if got := s.Connections(); got != max {
		t.Errorf("Connections() = %d, want %d", got, max)
	}
	for i, c := range held {
		checkServed(t, c, fmt.Sprint("held", i))
	}
}

// TestHostilePipelineNeverReads: a client writes requests and never reads
// the answers. The server must not buffer them (memory stays bounded),
// must keep serving others, and WriteTimeout must close the connection.
func TestHostilePipelineNeverReads(t *testing.T) {
	const (
		total     = 200000
		perChunk  = 1000
		heapBound = 64 << 20
	)
	s := &core.Server{WriteTimeout: 500 * time.Millisecond}
	addr := startServer(t, s)
	good := dialT(t, addr)
	checkServed(t, good, "before")

	var chunk []byte
	for i := range perChunk {
		chunk = append(chunk, frame(t, jsonReq(t, "p", fmt.Sprint(i)))...)
	}
	var ms runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&ms)
	base := ms.HeapInuse

	// Sample the heap while the hostile client runs.
	var peak atomic.Uint64
	sampling := make(chan struct{})
	sampled := make(chan struct{})
	stopSampling := sync.OnceFunc(func() {
		close(sampling)
		<-sampled
	})
	defer stopSampling()
	go func() {
		defer close(sampled)
		var ms runtime.MemStats
		for {
			runtime.ReadMemStats(&ms)
			if ms.HeapInuse > peak.Load() {
				peak.Store(ms.HeapInuse)
			}
			select {
			case <-sampling:
				return
			case <-time.After(5 * time.Millisecond):
			}
		}
	}()

	bad := dialT(t, addr)
	var written atomic.Int64
	writerDone := make(chan error, 1)
	go func() {
		for written.Load() < total {
			bad.SetWriteDeadline(time.Now().Add(hostileWait))
			if _, err := bad.Write(chunk); err != nil {
				writerDone <- err
				return
			}
			written.Add(perChunk)
		}
		writerDone <- nil
	}()

	// While it writes, is held back, and is closed, others are served:
	// a well-behaved request goes round at every moment until the writer
	// stops.
	var werr error
	deadline := time.Now().Add(hostileWait)
	for i := 0; ; i++ {
		checkServed(t, good, fmt.Sprint("during", i))
		if i == 0 {
			checkFreshServed(t, addr, "during")
		}
		select {
		case werr = <-writerDone:
		default:
			if time.Now().Before(deadline) {
				continue
			}
			t.Fatalf("the writer never blocked or failed: %d requests written", written.Load())
		}
		break
	}
	// WriteTimeout closed it (nothing else would: no idle or read
	// timeout applies), which is what failed its writes.
	waitConns(t, s, 1)
	stopSampling()
	// The writer may finish all its requests if the socket buffers are
	// large; either way the server must not hold them in its heap.
	t.Logf("wrote %d requests, then the write returned %v; heap in use %d KiB at start, peak %d KiB",
		written.Load(), werr, base>>10, peak.Load()>>10)
	if p := peak.Load(); p > base && p-base > heapBound {
		t.Errorf("heap in use grew by %d MiB, want under %d MiB", (p-base)>>20, heapBound>>20)
	}
	// The server reset or closed it: reading ends, no timeout.
	bad.SetReadDeadline(time.Now().Add(hostileWait))
	_, err := io.Copy(io.Discard, bad)
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		t.Errorf("hostile connection still open")
	}
	checkServed(t, good, "after")
}

// TestHostileHugeClaimNoLimit: with no content-length limit and no input
// budget, a claim of 2^60 bytes is accepted but never allocated: the
// server buffers what arrives and times the message out. (With a budget,
// the claim is refused at once: TestBudgetRefusesLargerThanBudget.)
func TestHostileHugeClaimNoLimit(t *testing.T) {
	s := &core.Server{MaxContentLength: -1, MaxBuffered: -1, ReadTimeout: 300 * time.Millisecond}
	addr := startServer(t, s)
	good := dialT(t, addr)
	checkServed(t, good, "before")
	bad := dialT(t, addr)
	if _, err := bad.Write(rawFrame(hostileHeader("1152921504606846976"), bytes.Repeat([]byte("y"), 64<<10))); err != nil {
		t.Fatal(err)
	}
	checkServed(t, good, "meanwhile")
	expectErrorThenClose(t, bad, "core: read timeout inside a message: message not complete after 300ms")
	waitConns(t, s, 1)
	checkServed(t, good, "after")
}

// TestHostileLimitsBoundary: what is exactly at the limits is served: a
// content-length equal to MaxContentLength, and a 65535-byte header made
// of thousands of extension keys.
func TestHostileLimitsBoundary(t *testing.T) {
	const limit = 1024
	addr := startServer(t, &core.Server{MaxContentLength: limit})
	c := dialT(t, addr)
	c.SetDeadline(time.Now().Add(hostileWait))
	content := bytes.Repeat([]byte("z"), limit)
	h := `{"byteorder": "big", "content-type": "binary/x", "content-encoding": "binary", "content-length": 1024}`
	if _, err := c.Write(rawFrame(h, content)); err != nil {
		t.Fatal(err)
	}
	m, err := readAnswer(t, c)
	if err != nil {
		t.Fatal(err)
	}
	if m.ContentType != "binary/upper" || !bytes.Equal(m.Content, bytes.ToUpper(content)) {
		t.Errorf("answer %s with %d bytes, want binary/upper with %d", m, len(m.Content), limit)
	}

	// Pad with extension keys to exactly 65535 bytes.
	var sb strings.Builder
	sb.WriteString(`{"byteorder": "little", "content-type": "text/json", "content-encoding": "utf-8", "content-length": 0`)
	for i := 0; sb.Len() < 0xffff-40; i++ {
		fmt.Fprintf(&sb, `, "k%d": %d`, i, i)
	}
	pad := 0xffff - sb.Len() - len(`, "pad": ""}`)
	sb.WriteString(`, "pad": "` + strings.Repeat("p", pad) + `"}`)
	if sb.Len() != 0xffff {
		t.Fatalf("header is %d bytes", sb.Len())
	}
	if _, err := c.Write(rawFrame(sb.String(), nil)); err != nil {
		t.Fatal(err)
	}
	if m, err = readAnswer(t, c); err != nil {
		t.Fatal(err)
	}
	// Empty content is not a JSON object: a handler error, answered, and
	// the connection stays.
	if got := resultOf(t, m); !strings.HasPrefix(got, "error: core: invalid JSON content") {
		t.Errorf("answer %q", got)
	}
	checkServed(t, c, "after")
}
