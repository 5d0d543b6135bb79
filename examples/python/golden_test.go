package python_test

import (
	"bytes"
	"context"
	"net"
	"testing"
	"time"

	"github.com/msgrouter/router/core"
	"github.com/msgrouter/router/internal/goldentest"
)

// The example search plugin behind the router answers every golden
// request byte for byte as the tutorial's server does, each on a
// connection of its own as the tutorial's client sends it.
func TestGolden(t *testing.T) {
	addr := start(t, referenceConfig(t))
	cases := goldentest.Cases(t, "*")
	if len(cases) < 20 {
		t.Fatalf("only %d golden cases in %s", len(cases), goldentest.Dir())
	}
	for _, c := range cases {
		t.Run(c.Name, func(t *testing.T) {
			got := exchange(t, addr, c.Request)
			if want := goldentest.WithNativeByteOrder(t, c.Answer); !bytes.Equal(got, want) {
				t.Errorf("answer differs\n got %q\nwant %q", got, want)
			}
		})
	}
}

// exchange writes req on a new connection and reads one answer frame.
func exchange(t *testing.T, addr string, req []byte) []byte {
	t.Helper()
	nc, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	nc.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := nc.Write(req); err != nil {
		t.Fatal(err)
	}
	var d core.Decoder
	buf := make([]byte, 64<<10)
	var got []byte
	for {
		n, err := nc.Read(buf)
		got = append(got, buf[:n]...)
		if end, m, derr := d.Decode(got); derr != nil {
			t.Fatalf("answer %q: %v", got, derr)
		} else if m != nil {
			return got[:end]
		}
		if err != nil {
			t.Fatalf("after %q: %v", got, err)
		}
	}
}

// The same answers when many clients ask at once on kept-alive
// connections, pipelined: the plugin's thread pool answers out of order,
// the router puts each connection's answers back in order.
func TestGoldenPipelined(t *testing.T) {
	addr := start(t, referenceConfig(t))
	cases := goldentest.Cases(t, "search_*")
	var reqs, want []byte
	for _, c := range cases {
		reqs = append(reqs, c.Request...)
		want = append(want, goldentest.WithNativeByteOrder(t, c.Answer)...)
	}
	errs := make(chan error, 8)
	for range 8 {
		go func() {
			errs <- pipeline(addr, reqs, want, 20)
		}()
	}
	for range 8 {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
}

func pipeline(addr string, reqs, want []byte, rounds int) error {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	var d net.Dialer
	nc, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return err
	}
	defer nc.Close()
	nc.SetDeadline(time.Now().Add(20 * time.Second))
	buf := make([]byte, len(want))
	for range rounds {
		if _, err := nc.Write(reqs); err != nil {
			return err
		}
		if _, err := readFull(nc, buf); err != nil {
			return err
		}
		if !bytes.Equal(buf, want) {
			return &mismatch{got: buf, want: want}
		}
	}
	return nil
}

func readFull(nc net.Conn, buf []byte) (int, error) {
	n := 0
	for n < len(buf) {
		m, err := nc.Read(buf[n:])
		n += m
		if err != nil {
			return n, err
		}
	}
	return n, nil
}

type mismatch struct{ got, want []byte }

func (m *mismatch) Error() string {
	return "pipelined answers differ:\n got " + string(m.got) + "\nwant " + string(m.want)
}
