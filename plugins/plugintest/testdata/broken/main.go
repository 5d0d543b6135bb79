// Command broken is a plugin that breaks the plugin contract in the way
// its environment variable PLUGINTEST_BROKEN names, for plugintest's own
// tests. With PLUGINTEST_BROKEN unset it is a correct "upper" plugin.
package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"sync/atomic"
	"time"

	"github.com/msgrouter/router/core"
	"github.com/msgrouter/router/plugins"
)

// upper answers a text/plain request with its content upper-cased.
func upper(_ context.Context, m *core.Message) (*core.Message, error) {
	return core.NewBinary("text/plain", bytes.ToUpper(m.Content)), nil
}

// started counts the requests the "shared" mode has started.
var started atomic.Int64

func main() {
	spec := plugins.HandlerSpec{Name: "upper", ContentTypes: []string{"text/plain"}, Handler: core.HandlerFunc(upper)}
	p := &plugins.Plugin{Name: "broken", Version: "v0.0.0-test", Handlers: []plugins.HandlerSpec{spec}}
	h := &p.Handlers[0]
	switch mode := os.Getenv("PLUGINTEST_BROKEN"); mode {
	case "":
	case "empty": // no handlers: the SDK refuses to start
		p.Handlers = nil
	case "stdout": // breaks the handshake
		fmt.Println("hello from a plugin that prints to stdout")
	case "initfail":
		p.Init = func(context.Context, map[string]any) error { return errors.New("bad settings") }
	case "unroutable": // declares nothing the router could route
		h.Actions, h.ContentTypes = []string{}, nil
	case "misroute": // declares another content-type than it serves
		h.ContentTypes = []string{"text/plane"}
	case "duplicate": // two handlers claim one action
		p.Handlers = append(p.Handlers, plugins.HandlerSpec{Name: "shout", Actions: []string{"upper"}, Handler: core.HandlerFunc(upper)})
	case "wrong": // answers the content unchanged
		h.Handler = core.HandlerFunc(func(_ context.Context, m *core.Message) (*core.Message, error) {
			return core.NewBinary("text/plain", m.Content), nil
		})
	case "shared": // right alone, wrong when another request comes in meanwhile
		h.Handler = core.HandlerFunc(func(_ context.Context, m *core.Message) (*core.Message, error) {
			n := started.Add(1)
			time.Sleep(100 * time.Millisecond)
			if started.Load() != n {
				return core.NewBinary("text/plain", []byte("state clobbered")), nil
			}
			return upper(context.Background(), m)
		})
	case "crash": // dies on "crash"
		h.Handler = core.HandlerFunc(func(ctx context.Context, m *core.Message) (*core.Message, error) {
			if string(m.Content) == "crash" {
				os.Exit(3)
			}
			return upper(ctx, m)
		})
	case "hang": // ignores its deadline on "hang"
		h.Handler = core.HandlerFunc(func(ctx context.Context, m *core.Message) (*core.Message, error) {
			if string(m.Content) == "hang" {
				select {}
			}
			return upper(ctx, m)
		})
	case "deaf": // ignores its context: a request about to time out never ends
		h.Handler = core.HandlerFunc(func(ctx context.Context, m *core.Message) (*core.Message, error) {
			if dl, ok := ctx.Deadline(); ok && time.Until(dl) < time.Second {
				select {}
			}
			return upper(ctx, m)
		})
	case "panic":
		h.Handler = core.HandlerFunc(func(context.Context, *core.Message) (*core.Message, error) {
			panic("on purpose")
		})
	default:
		fmt.Fprintln(os.Stderr, "unknown PLUGINTEST_BROKEN mode", mode)
		os.Exit(1)
	}
	plugins.ServePlugin(p)
}
