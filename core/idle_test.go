package core_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/msgrouter/router/core"
)

// idleClientEnv, set to "ADDR N SERVED", makes the test binary an idle
// client instead: it opens N connections to ADDR (with SERVED "1", sends
// one request on each and reads its answer), says "ready" on stdout, and
// holds them open, sending nothing more, until its stdin closes. It is a
// process of its own because the server's and the client's descriptors
// together would pass the file limit.
const idleClientEnv = "CORE_IDLE_CLIENT"

// BenchmarkIdleConnections opens many idle connections (19,000 by
// default, CORE_IDLE_CONNS to change) to a Server, from a child process,
// and reports the server's user-space memory per idle connection: the
// growth of HeapInuse+StackInuse (B/idle-conn), and of Sys, all the memory
// the runtime holds (sys-B/idle-conn), after a GC. The connections are
// either fresh (never sent anything) or served (one request answered, then
// silent for a second, so that the poll loop has parked them). Sys never
// shrinks, so sys-B/idle-conn means something only for the first
// sub-benchmark of a run (run one alone to read it). It runs once
// whatever b.N, for each loop:
//
//	go test ./core -run '^$' -bench IdleConnections -benchtime 1x
func BenchmarkIdleConnections(b *testing.B) {
	n := 19000
	if v := os.Getenv("CORE_IDLE_CONNS"); v != "" {
		var err error
		if n, err = strconv.Atoi(v); err != nil || n <= 0 {
			b.Fatalf("CORE_IDLE_CONNS=%q", v)
		}
	}
	for _, served := range []bool{false, true} {
		for _, loop := range []struct {
			name      string
			goroutine bool
		}{{"poll", false}, {"goroutine", true}} {
			b.Run(fmt.Sprintf("loop=%s/served=%t", loop.name, served), func(b *testing.B) {
				core.SetGoroutineLoop(loop.goroutine)
				defer core.SetGoroutineLoop(false)
				perConn, sysPerConn := idleMemory(b, n, served)
				b.ReportMetric(perConn, "B/idle-conn")
				b.ReportMetric(sysPerConn, "sys-B/idle-conn")
			})
		}
	}
}

// idleMemory measures the memory n idle connections hold in a Server.
func idleMemory(b *testing.B, n int, served bool) (perConn, sysPerConn float64) {
	s := &core.Server{Handler: searchLike, MaxConnections: n + 100, IdleTimeout: time.Hour}
	l, err := core.Listen(context.Background(), "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	serving := make(chan error, 1)
	go func() { serving <- s.Serve(l) }()
	defer func() {
		s.Close()
		<-serving
	}()
	// One connection served first, so that what every server starts
	// once (the poll goroutine, pools) is in the baseline.
	warm, err := net.Dial("tcp", l.Addr().String())
	if err != nil {
		b.Fatal(err)
	}
	exchangeOne(b, warm)
	warm.Close()
	for s.Connections() != 0 {
		time.Sleep(time.Millisecond)
	}

	before := memNow()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), fmt.Sprintf("%s=%s %d %t", idleClientEnv, l.Addr(), n, served))
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		b.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		b.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	defer func() {
		stdin.Close()
		cmd.Wait()
	}()
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil || !strings.HasPrefix(line, "ready") {
		b.Fatalf("idle client: %q, %v", line, err)
	}
	deadline := time.Now().Add(time.Minute)
	for s.Connections() < n {
		if time.Now().After(deadline) {
			b.Fatalf("server has %d connections of %d", s.Connections(), n)
		}
		time.Sleep(10 * time.Millisecond)
	}
	// Let every connection reach its idle state: parked, in the poll
	// loop, after 250ms of silence.
	time.Sleep(time.Second)
	after := memNow()
	if s.Connections() != n {
		b.Fatalf("server has %d connections, want %d", s.Connections(), n)
	}
	perConn = float64(int64(after.HeapInuse+after.StackInuse)-int64(before.HeapInuse+before.StackInuse)) / float64(n)
	sysPerConn = float64(int64(after.Sys)-int64(before.Sys)) / float64(n)
	return perConn, sysPerConn
}

func memNow() runtime.MemStats {
	runtime.GC()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms
}

// exchangeOne sends one request on c and reads its answer.
func exchangeOne(b *testing.B, c net.Conn) {
	c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := c.Write(frame(b, jsonReq(b, "search", "warm"))); err != nil {
		b.Fatal(err)
	}
	var d core.Decoder
	buf := make([]byte, 4096)
	for {
		n, err := c.Read(buf)
		if err != nil {
			b.Fatal(err)
		}
		if _, m, err := d.Decode(buf[:n]); err != nil || m != nil {
			if err != nil {
				b.Fatal(err)
			}
			return
		}
	}
}

// idleClient is the child process of BenchmarkIdleConnections: spec is
// "ADDR N". It returns the exit code.
func idleClient(spec string) int {
	var addr string
	var n int
	var served bool
	if _, err := fmt.Sscan(spec, &addr, &n, &served); err != nil {
		fmt.Fprintln(os.Stderr, "idle client:", err)
		return 2
	}
	req, err := core.Marshal(&core.Message{ContentType: core.ContentTypeJSON, ContentEncoding: core.EncodingUTF8, Content: []byte(`{"action": "search", "value": "idle"}`)})
	if err != nil {
		fmt.Fprintln(os.Stderr, "idle client:", err)
		return 2
	}
	conns := make([]net.Conn, n)
	var wg sync.WaitGroup
	errs := make(chan error, 1)
	const workers = 32
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < n; i += workers {
				c, err := net.DialTimeout("tcp", addr, 30*time.Second)
				if err == nil && served {
					err = roundTrip(c, req)
				}
				if err != nil {
					select {
					case errs <- fmt.Errorf("conn %d: %w", i, err):
					default:
					}
					return
				}
				conns[i] = c
			}
		}()
	}
	wg.Wait()
	select {
	case err := <-errs:
		fmt.Fprintln(os.Stderr, "idle client:", err)
		return 1
	default:
	}
	fmt.Println("ready", n)
	io.Copy(io.Discard, os.Stdin) // until the parent closes it
	for _, c := range conns {
		c.Close()
	}
	return 0
}

// roundTrip sends req on c and reads one answer.
func roundTrip(c net.Conn, req []byte) error {
	c.SetDeadline(time.Now().Add(30 * time.Second))
	defer c.SetDeadline(time.Time{})
	if _, err := c.Write(req); err != nil {
		return err
	}
	var d core.Decoder
	buf := make([]byte, 4096)
	for {
		n, err := c.Read(buf)
		if err != nil {
			return err
		}
		if _, m, err := d.Decode(buf[:n]); err != nil || m != nil {
			return err
		}
	}
}
