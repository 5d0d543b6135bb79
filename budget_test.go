package router_test

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/msgrouter/router/core"
	"github.com/msgrouter/router/internal/configtest"
)

// limits.max_buffered is the server's input budget: a message that spans
// reads and is larger than the budget is refused, one within it served.
func TestLimitsMaxBuffered(t *testing.T) {
	cfg := configtest.MustLoad(t, "r.yaml", `
listen: ["127.0.0.1:0"]
plugins: {echo: {cmd: inprocess}}
routes: [{plugin: echo}]
limits: {max_buffered: 1MiB}
`)
	r := start(t, cfg, inProcess(t, "echo"))
	ask := func(size int) (*core.Message, error) {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		c, err := core.Dial(ctx, addr(r, 0))
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		return c.Do(ctx, core.NewBinary("binary/x", bytes.Repeat([]byte("x"), size)))
	}
	ans, err := ask(512 << 10)
	if err != nil || core.AnswerError(ans) != nil || len(ans.Content) != 512<<10 {
		t.Fatalf("512 KiB under a 1 MiB budget: %v, %v", err, core.AnswerError(ans))
	}
	ans, err = ask(2 << 20)
	if err == nil {
		err = core.AnswerError(ans)
	}
	if err == nil || !strings.Contains(err.Error(), "content-length above limit") {
		t.Fatalf("2 MiB over a 1 MiB budget: %v; want it refused as too large", err)
	}
}
