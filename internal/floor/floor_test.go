package main

import (
	"bytes"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"strings"
	"testing"
	"time"
)

// startFloor serves the floor on a free loopback port for the test.
func startFloor(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		serve(l)
	}()
	t.Cleanup(func() {
		l.Close()
		<-done
	})
	return l.Addr().String()
}

// testFrame returns a frame with content of size bytes, its header in
// the reference's spaced layout or compact.
func testFrame(i, size int, compact bool) []byte {
	h := fmt.Sprintf(`{"byteorder": "little", "content-type": "binary/x", "content-encoding": "binary", "content-length": %d, "n": %d}`, size, i)
	if compact {
		h = fmt.Sprintf(`{"n":%d,"content-length":%d,"byteorder":"big","content-type":"x","content-encoding":"x"}`, i, size)
	}
	f := append([]byte{byte(len(h) >> 8), byte(len(h))}, h...)
	return append(f, bytes.Repeat([]byte{byte('a' + i%26)}, size)...)
}

// TestEchoPipelined writes frames of several sizes, from empty content
// to content larger than the first buffer, all before reading, in
// writes cut at random points; the answers are the same bytes in order.
func TestEchoPipelined(t *testing.T) {
	addr := startFloor(t)
	sizes := []int{0, 1, 41, 100, 1000, 16 << 10, 70 << 10, 200 << 10, 3, 0}
	var want []byte
	for i := range 60 {
		want = append(want, testFrame(i, sizes[i%len(sizes)], i%3 == 0)...)
	}
	for _, chunk := range []int{16, 1500, len(want)} {
		t.Run(fmt.Sprintf("chunks-up-to-%d", chunk), func(t *testing.T) {
			c, err := net.Dial("tcp", addr)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			c.SetDeadline(time.Now().Add(30 * time.Second))
			errc := make(chan error, 1)
			go func() { errc <- writeCut(c, want, chunk) }()
			got := make([]byte, len(want))
			if _, err := io.ReadFull(c, got); err != nil {
				t.Fatalf("read %v", err)
			}
			if err := <-errc; err != nil {
				t.Fatalf("write: %v", err)
			}
			if !bytes.Equal(got, want) {
				i := 0
				for i < len(got) && got[i] == want[i] {
					i++
				}
				t.Fatalf("answers differ from the requests at byte %d of %d", i, len(want))
			}
		})
	}
}

// writeCut writes p in pieces of 1 to max bytes, at random cut points.
func writeCut(c net.Conn, p []byte, max int) error {
	r := rand.New(rand.NewPCG(1, uint64(max)))
	for len(p) > 0 {
		n := min(len(p), 1+r.IntN(max))
		if _, err := c.Write(p[:n]); err != nil {
			return err
		}
		p = p[n:]
	}
	return nil
}

// TestEchoHoldsPartialFrame: a frame cut short is not answered until its
// last byte comes.
func TestEchoHoldsPartialFrame(t *testing.T) {
	addr := startFloor(t)
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	f := testFrame(1, 10, false)
	if _, err := c.Write(f[:len(f)-1]); err != nil {
		t.Fatal(err)
	}
	c.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
	if n, err := c.Read(make([]byte, 1)); n != 0 || err == nil {
		t.Fatalf("answered %d bytes of a partial frame (err %v)", n, err)
	}
	c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := c.Write(f[len(f)-1:]); err != nil {
		t.Fatal(err)
	}
	got := make([]byte, len(f))
	if _, err := io.ReadFull(c, got); err != nil || !bytes.Equal(got, f) {
		t.Fatalf("got %q, %v; want %q", got, err, f)
	}
}

// TestFrameSizeErrors: frames that cannot be sized close the connection
// without an answer.
func TestFrameSizeErrors(t *testing.T) {
	for _, h := range []string{"", `{"a": 1}`, `{"content-length": -1}`, `{"content-length" 5}`, `{"content-length": 99999999999}`} {
		f := append([]byte{byte(len(h) >> 8), byte(len(h))}, h...)
		if _, err := frameSize(f); err == nil {
			t.Errorf("frameSize(%q) = nil error", f)
		}
	}
	addr := startFloor(t)
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	c.Write([]byte("\x00\x00" + strings.Repeat("x", 10)))
	if n, err := c.Read(make([]byte, 16)); n != 0 || err == nil {
		t.Fatalf("read %d bytes, %v; want the connection closed", n, err)
	}
}
