package plugins

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/msgrouter/router/core"
)

// A read deadline that fires while nobody's context has ended (the end of
// a context interrupts the read that waits for its answer, and may come
// late, once another goroutine reads) is not an error: the reader reads
// on, whether it is the caller waiting for its answer or the connection's
// own reader while idle.
func TestDataClientStrayReadDeadline(t *testing.T) {
	p, err := Start(context.Background(), Config{
		Name: "stray", Cmd: os.Args[0], Env: []string{"ROUTER_TEST_PLUGIN=basic"}, HealthInterval: -1,
	})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Shutdown(context.Background())
	h, err := p.Handler("sleep")
	if err != nil {
		t.Fatal(err)
	}
	data := p.cur.Load().data
	stray := func() { data.nc.SetReadDeadline(time.Unix(1, 0)) }
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	// The connection's reader starts with the turn to read, and gives it
	// up once it has read an answer: then the caller reads its own, and
	// the deadline fires in its read.
	if _, err := h.Handle(ctx, core.NewBinary("text/plain", []byte("1ms"))); err != nil {
		t.Fatal(err)
	}
	go func() { time.Sleep(50 * time.Millisecond); stray() }()
	ans, err := h.Handle(ctx, core.NewBinary("text/plain", []byte("300ms")))
	if err != nil || string(ans.Content) != "slept 300ms" {
		t.Fatalf("with a stray deadline in the caller's read: %v, %v", ans, err)
	}
	// Idle: the connection's reader holds the turn after idleRead.
	time.Sleep(3 * idleRead)
	stray()
	time.Sleep(idleRead)
	ans, err = h.Handle(ctx, core.NewBinary("text/plain", []byte("1ms")))
	if err != nil || string(ans.Content) != "slept 1ms" {
		t.Fatalf("after a stray deadline in the idle read: %v, %v", ans, err)
	}
	if n := p.Restarts(); n != 0 || data.lost() != nil {
		t.Errorf("restarts %d, connection lost: %v", n, data.lost())
	}
}

// A request in flight when the router closes a plugin's data pipes (a
// failed health check, a stop) is told so, whichever of the closing and
// the reading goroutine fails the connection first: a closed pipe reads
// net.ErrClosed, as a socket does (a closed file says os.ErrClosed).
func TestDataClientClosedByRouter(t *testing.T) {
	for range 20 {
		pipes, err := newDataPipes()
		if err != nil {
			t.Fatal(err)
		}
		c := newDataClient(pipes.conn, "test", dataProtocolEnvelope, -1, hclog.NewNullLogger(), nil)
		h := &remoteHandler{name: "x", nameJSON: []byte(`"x"`)}
		errs := make([]error, 1)
		done := make(chan struct{})
		go func() {
			defer close(done)
			c.do(context.Background(), h, []*core.Message{core.NewBinary("x", nil)}, make([]*core.Message, 1), errs)
		}()
		// The request reaches the pipe: the plugin's end can read it.
		buf := make([]byte, 512)
		pipes.child[0].SetReadDeadline(time.Now().Add(10 * time.Second))
		if _, err := pipes.child[0].Read(buf); err != nil {
			t.Fatal(err)
		}
		c.close(nil)
		<-done
		if !errors.Is(errs[0], ErrExited) || !strings.Contains(errs[0].Error(), "connection closed by the router") {
			t.Fatalf("in flight when the router closed the pipes: %v", errs[0])
		}
		pipes.closeChild()
	}
}

// A caller whose request cannot be written (the plugin does not read)
// returns at its deadline, not at the data path's write timeout; the rest
// of its frame, and the cancel that follows, go out once the plugin reads
// again, the stream intact.
func TestDataClientWriteBoundedByContext(t *testing.T) {
	for _, proto := range []int{dataProtocolHeaders, dataProtocolEnvelope} {
		t.Run(fmt.Sprint("protocol ", proto), func(t *testing.T) { testWriteBoundedByContext(t, proto) })
	}
}

func testWriteBoundedByContext(t *testing.T, proto int) {
	c, pipes, h := pipeDataClient(t, proto)
	big := core.NewBinary("x", make([]byte, 256<<10)) // 4 times what a pipe holds
	errs := make([]error, 1)
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	began := time.Now()
	c.do(ctx, h, []*core.Message{big}, make([]*core.Message, 1), errs)
	if took := time.Since(began); took > dataWriteTimeout/2 {
		t.Errorf("do returned after %s, held by the write", took)
	}
	if !errors.Is(errs[0], core.ErrHandlerTimeout) {
		t.Errorf("error %v, want a handler timeout", errs[0])
	}
	// The plugin's end reads again: the whole request, then its cancel.
	var dec core.Decoder
	dec.MaxContentLength = -1
	env := envReader{maxBody: 1 << 30}
	buf := make([]byte, 64<<10)
	var got []*core.Message
	var kinds []byte
	pipes.child[0].SetReadDeadline(time.Now().Add(10 * time.Second))
	for len(got)+len(kinds) < 2 {
		n, err := pipes.child[0].Read(buf)
		if err != nil {
			t.Fatalf("after %d frames: %v", len(got), err)
		}
		if proto == dataProtocolEnvelope {
			err := env.feed(buf[:n], func(e envelope) error {
				kinds = append(kinds, e.kind)
				if e.kind == envRequest {
					_, _, frame, err := parseRequestBody(e.body)
					if err != nil {
						return err
					}
					m, err := core.Unmarshal(frame)
					if err != nil {
						return err
					}
					got = append(got, m.Clone())
				}
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			continue
		}
		for p := buf[:n]; len(p) > 0; {
			k, m, err := dec.Decode(p)
			if err != nil {
				t.Fatal(err)
			}
			p = p[k:]
			if m != nil {
				got = append(got, m.Clone())
			}
		}
	}
	if len(got[0].Content) != len(big.Content) {
		t.Errorf("request of %d bytes, want %d", len(got[0].Content), len(big.Content))
	}
	if proto == dataProtocolEnvelope {
		if string(kinds) != string([]byte{envRequest, envCancel}) {
			t.Errorf("envelopes of kinds %v, want a request and a cancel", kinds)
		}
	} else if _, ok := got[1].Header(hdrCancel); !ok {
		t.Errorf("second frame %v, want the cancel", got[1])
	}
	if err := c.lost(); err != nil {
		t.Errorf("connection lost: %v", err)
	}
}

// A plugin that reads none of its requests for the write timeout fails
// its data path with an error that says so (not that the router closed
// it on purpose).
func TestDataClientWriteTimeoutSaysWhy(t *testing.T) {
	c, _, h := pipeDataClient(t, dataProtocolEnvelope)
	c.w.timeout = 200 * time.Millisecond // nothing has written yet
	errs := make([]error, 1)
	c.do(context.Background(), h, []*core.Message{core.NewBinary("x", make([]byte, 256<<10))}, make([]*core.Message, 1), errs)
	if !errors.Is(errs[0], ErrExited) || !strings.Contains(errs[0].Error(), "the plugin read none of its requests for 200ms") {
		t.Errorf("error %v, want one saying the plugin read none of its requests", errs[0])
	}
}

// pipeDataClient returns a data client over fresh pipes whose plugin end
// nobody reads unless the test does, and a handler to call through it;
// all closed when the test ends.
func pipeDataClient(t *testing.T, proto int) (*dataClient, *dataPipes, *remoteHandler) {
	t.Helper()
	pipes, err := newDataPipes()
	if err != nil {
		t.Fatal(err)
	}
	c := newDataClient(pipes.conn, "test", proto, -1, hclog.NewNullLogger(), nil)
	t.Cleanup(func() {
		c.close(nil)
		pipes.closeChild()
	})
	return c, pipes, &remoteHandler{name: "x", nameJSON: []byte(`"x"`)}
}
