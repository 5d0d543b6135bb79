package core_test

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"testing"

	"github.com/hashicorp/go-hclog"

	"github.com/msgrouter/router/core"
	"github.com/msgrouter/router/internal/syncbuf"
)

// At debug level, a Server whose Handler names routes (a Mux) logs the
// route of each request, by its Name or else by its match, and the
// result; a request no route takes has a result and no route.
func TestServerRequestLogRouteAndResult(t *testing.T) {
	ok := core.HandlerFunc(func(context.Context, *core.Message) (*core.Message, error) {
		return core.NewBinary("text/plain", []byte("ok")), nil
	})
	fail := core.HandlerFunc(func(context.Context, *core.Message) (*core.Message, error) {
		return nil, errors.New("boom")
	})
	mux, err := core.NewMux(
		core.Route{Action: "greet", Handler: ok, Name: "hello"},
		core.Route{Action: "fail", Handler: fail},
	)
	if err != nil {
		t.Fatal(err)
	}
	var logs syncbuf.Buffer
	log := hclog.New(&hclog.LoggerOptions{Output: &logs, Level: hclog.Debug})
	c := dialClient(t, startServer(t, &core.Server{Handler: mux, Logger: log}))
	for _, req := range []*core.Message{jsonReq(t, "greet", ""), jsonReq(t, "fail", ""), core.NewBinary("binary/x", []byte("hi"))} {
		if _, err := c.Do(t.Context(), req); err != nil {
			t.Fatal(err)
		}
	}
	matchInOrder(t, logs.String(),
		`server: request: remote=\S+ route=hello result=ok content_type=text/json `,
		`server: request: remote=\S+ route="action=fail content-type=\*" result=error .* error=boom`,
		`server: request: remote=\S+ result=no_route content_type=binary/x `)
}

// A Handler that does not name routes gets the result alone; at info
// level there is no request line.
func TestServerRequestLogWithoutRoutes(t *testing.T) {
	h := core.HandlerFunc(func(context.Context, *core.Message) (*core.Message, error) {
		return core.NewBinary("text/plain", []byte("ok")), nil
	})
	for _, level := range []hclog.Level{hclog.Debug, hclog.Info} {
		var logs syncbuf.Buffer
		log := hclog.New(&hclog.LoggerOptions{Output: &logs, Level: level})
		c := dialClient(t, startServer(t, &core.Server{Handler: h, Logger: log}))
		if _, err := c.Do(t.Context(), jsonReq(t, "greet", "")); err != nil {
			t.Fatal(err)
		}
		c.Close()
		if level == hclog.Info {
			if regexp.MustCompile(`request:`).MatchString(logs.String()) {
				t.Errorf("a request line at info level:\n%s", logs.String())
			}
			continue
		}
		matchInOrder(t, logs.String(), `server: request: remote=\S+ result=ok content_type=text/json `)
	}
}

func TestResultOf(t *testing.T) {
	for _, c := range []struct {
		err  error
		want string
	}{
		{nil, "ok"},
		{errors.New("boom"), "error"},
		{&core.PanicError{Value: "x"}, "error"},
		{fmt.Errorf("%w: %w", core.ErrHandlerTimeout, errors.New("slow")), "timeout"},
		{context.DeadlineExceeded, "timeout"},
		{context.Canceled, "canceled"},
		{fmt.Errorf("%w: content-type %q", core.ErrNoRoute, "x"), "no_route"},
	} {
		if got := core.ResultOf(c.err).String(); got != c.want {
			t.Errorf("ResultOf(%v) = %s, want %s", c.err, got, c.want)
		}
	}
}

// dialClient returns a Client of addr, closed when the test ends.
func dialClient(t *testing.T, addr string) *core.Client {
	t.Helper()
	c, err := core.Dial(t.Context(), addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// matchInOrder checks that each pattern matches text, after the match
// of the one before.
func matchInOrder(t *testing.T, text string, patterns ...string) {
	t.Helper()
	rest := text
	for _, p := range patterns {
		loc := regexp.MustCompile(p).FindStringIndex(rest)
		if loc == nil {
			t.Errorf("no match of %q, in order, in the log:\n%s", p, text)
			return
		}
		rest = rest[loc[1]:]
	}
}
