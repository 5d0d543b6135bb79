package router_test

import (
	"context"
	"regexp"
	"testing"
	"time"

	"github.com/msgrouter/router/core"
	"github.com/msgrouter/router/internal/configtest"
)

// At debug level, the server's line for each request names the route
// that took it, as its metrics do (its name, else its action), and the
// result: ok; error (a handler's, even a no-route error of a handler
// that is a Mux of its own); timeout; or no_route, and no route named.
func TestRequestLogNamesRouteAndResult(t *testing.T) {
	cfg := configtest.MustLoad(t, "r.yaml", `
listen: ["127.0.0.1:0"]
plugins: {upper: {cmd: inprocess}, innermux: {cmd: inprocess}, slow: {cmd: inprocess}}
routes:
  - {action: upper, plugin: upper, name: capitals}
  - {action: inner, plugin: innermux}
  - {action: slow, plugin: slow, name: sleepy}
timeouts: {handler: 100ms}
`)
	log, logs := bufLogger()
	o := inProcess(t, "upper", "innermux", "slow")
	o.Logger = log
	r := start(t, cfg, o)

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := core.Dial(ctx, addr(r, 0))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for _, req := range []*core.Message{action("upper", "ring"), action("inner", ""), action("slow", 1000), core.NewBinary("binary/x", []byte("hi"))} {
		if _, err := c.Do(ctx, req); err != nil {
			t.Fatal(err)
		}
	}
	want := []*regexp.Regexp{
		regexp.MustCompile(`router\.server: request: remote=\S+ route=capitals result=ok content_type=text/json content_length=\d+ duration=\S+\n`),
		regexp.MustCompile(`router\.server: request: remote=\S+ route=inner result=error content_type=text/json .* error="core: no route for request`),
		regexp.MustCompile(`router\.server: request: remote=\S+ route=sleepy result=timeout .* error="core: handler timed out`),
		regexp.MustCompile(`router\.server: request: remote=\S+ result=no_route content_type=binary/x content_length=2 duration=\S+ error=`),
	}
	text := logs.String()
	for _, re := range want {
		loc := re.FindStringIndex(text)
		if loc == nil {
			t.Fatalf("no line matches %q, in order, in the log:\n%s", re, logs)
		}
		text = text[loc[1]:]
	}
}
