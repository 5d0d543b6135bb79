package router_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/msgrouter/router"
	"github.com/msgrouter/router/config"
	"github.com/msgrouter/router/core"
	"github.com/msgrouter/router/internal/routertest"
	"github.com/msgrouter/router/internal/testlog"
	"github.com/msgrouter/router/plugins"
)

// The test binary doubles as the plugin processes under test (the
// re-exec trick): run with CONFIG_TEST_PLUGIN=NAME, it serves the test
// plugin NAME instead of running tests.
func TestMain(m *testing.M) {
	if name := os.Getenv("CONFIG_TEST_PLUGIN"); name != "" {
		p := testPlugin(name)
		if p == nil {
			fmt.Fprintln(os.Stderr, "no test plugin", name)
			os.Exit(1)
		}
		plugins.ServePlugin(p)
	}
	os.Exit(m.Run())
}

// testPlugin returns a fresh test plugin:
//
//	tag       actions "tag" and "added": {"result": "TAG:ACTION"}, TAG
//	          from the settings' "tag" (default "none")
//	fallback  every content-type ("*"): {"result": "fallback"}
//	echo      every content-type ("*"): the request's content
//	upper     action "upper": the "value" in capitals
//	multi     handlers "a" (action "a") and "b" (action "b")
//	slow      action "slow": waits "value" milliseconds, then answers
func testPlugin(name string) *plugins.Plugin {
	answer := func(s string) (*core.Message, error) {
		return core.NewJSON(core.Object{{Key: "result", Value: s}})
	}
	switch name {
	case "tag":
		var tag atomic.Value
		tag.Store("none")
		return &plugins.Plugin{
			Name: "tag",
			Handlers: []plugins.HandlerSpec{{
				Name:    "tag",
				Actions: []string{"tag", "added"},
				Handler: core.HandlerFunc(func(_ context.Context, m *core.Message) (*core.Message, error) {
					a, err := m.Action()
					if err != nil {
						return nil, err
					}
					return answer(tag.Load().(string) + ":" + a)
				}),
			}},
			Init: func(_ context.Context, s map[string]any) error {
				v, given := s["tag"]
				if !given {
					tag.Store("untagged")
					return nil
				}
				t, ok := v.(string)
				if !ok {
					return errors.New(`settings: want "tag", a string`)
				}
				tag.Store(t)
				return nil
			},
		}
	case "fallback":
		return &plugins.Plugin{Name: "fallback", Handlers: []plugins.HandlerSpec{{
			Name: "fallback", Actions: []string{}, ContentTypes: []string{"*"},
			Handler: core.HandlerFunc(func(context.Context, *core.Message) (*core.Message, error) {
				return answer("fallback")
			}),
		}}}
	case "echo":
		return &plugins.Plugin{Name: "echo", Handlers: []plugins.HandlerSpec{{
			Name: "echo", Actions: []string{}, ContentTypes: []string{"*"},
			Handler: core.HandlerFunc(func(_ context.Context, m *core.Message) (*core.Message, error) {
				return core.NewBinary(m.ContentType, bytes.Clone(m.Content)), nil
			}),
		}}}
	case "upper":
		return &plugins.Plugin{Name: "upper", Handlers: []plugins.HandlerSpec{{
			Name: "upper",
			Handler: core.HandlerFunc(func(_ context.Context, m *core.Message) (*core.Message, error) {
				v, _, err := m.Field("value")
				if err != nil {
					return nil, err
				}
				var s string
				json.Unmarshal(v, &s)
				return answer(strings.ToUpper(s))
			}),
		}}}
	case "multi":
		h := func(n string) core.Handler {
			return core.HandlerFunc(func(context.Context, *core.Message) (*core.Message, error) { return answer(n) })
		}
		return &plugins.Plugin{Name: "multi", Handlers: []plugins.HandlerSpec{
			{Name: "a", Handler: h("a")}, {Name: "b", Handler: h("b")},
		}}
	case "innermux": // a handler that is a Mux of its own, with no route
		return &plugins.Plugin{Name: "innermux", Handlers: []plugins.HandlerSpec{{Name: "inner", Handler: &core.Mux{}}}}
	case "slow":
		return &plugins.Plugin{Name: "slow", Handlers: []plugins.HandlerSpec{{
			Name: "slow",
			Handler: core.HandlerFunc(func(ctx context.Context, m *core.Message) (*core.Message, error) {
				v, _, _ := m.Field("value")
				var ms int
				json.Unmarshal(v, &ms)
				select {
				case <-time.After(time.Duration(ms) * time.Millisecond):
				case <-ctx.Done():
					return nil, ctx.Err()
				}
				return answer("slow")
			}),
		}}}
	}
	return nil
}

// inProcess returns StartOptions that run the named test plugins
// in-process, with the test's logger.
func inProcess(t testing.TB, names ...string) router.StartOptions {
	o := router.StartOptions{Logger: testLogger(t), InProcess: map[string]func() *plugins.Plugin{}}
	for _, n := range names {
		o.InProcess[n] = func() *plugins.Plugin { return testPlugin(n) }
	}
	return o
}

// testLogger logs to the test, at debug level.
func testLogger(t testing.TB) hclog.Logger { return testlog.New(t, "router") }

// start starts a router for cfg, serves it, and shuts it down when the
// test ends.
func start(t testing.TB, cfg *config.Config, o router.StartOptions) *router.Router {
	t.Helper()
	return routertest.Start(t, cfg, o)
}

// addr returns the dial address of the router's listener i.
func addr(r *router.Router, i int) string {
	a := r.Addrs()[i]
	if a.Network() == "unix" {
		return "unix://" + a.String()
	}
	return a.String()
}

// action returns the request {"action": a, "value": v}.
func action(a string, v any) *core.Message {
	m, err := core.NewJSON(core.Object{{Key: "action", Value: a}, {Key: "value", Value: v}})
	if err != nil {
		panic(err)
	}
	return m
}

// result returns the "result" of a JSON answer, or the error it carries.
func result(m *core.Message) (string, error) {
	if err := core.AnswerError(m); err != nil {
		return "", err
	}
	var v struct {
		Result string `json:"result"`
	}
	if err := json.Unmarshal(m.Content, &v); err != nil {
		return "", fmt.Errorf("answer %q: %w", m.Content, err)
	}
	return v.Result, nil
}

// ask sends req over a new connection to addr and returns the result.
func ask(t testing.TB, addr string, req *core.Message) string {
	t.Helper()
	s, err := tryAsk(addr, req)
	if err != nil {
		t.Fatalf("%s: %v", addr, err)
	}
	return s
}

func tryAsk(addr string, req *core.Message) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, err := core.Dial(ctx, addr)
	if err != nil {
		return "", err
	}
	defer c.Close()
	ans, err := c.Do(ctx, req)
	if err != nil {
		return "", err
	}
	return result(ans)
}

// eventually polls f until it returns nil or 5s pass.
func eventually(t testing.TB, what string, f func() error) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		err := f()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: still %v after 5s", what, err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
