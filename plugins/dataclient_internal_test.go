package plugins

import (
	"context"
	"os"
	"testing"
	"time"

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
