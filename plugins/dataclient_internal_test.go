package plugins

import (
	"context"
	"errors"
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
		c := newDataClient(pipes.conn, "test", -1, hclog.NewNullLogger(), nil)
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
		c.close()
		<-done
		if !errors.Is(errs[0], ErrExited) || !strings.Contains(errs[0].Error(), "connection closed by the router") {
			t.Fatalf("in flight when the router closed the pipes: %v", errs[0])
		}
		pipes.closeChild()
	}
}
