package router_test

import (
	"context"
	"testing"

	"github.com/hashicorp/go-hclog"

	"github.com/msgrouter/router"
	"github.com/msgrouter/router/core"
	"github.com/msgrouter/router/internal/configtest"
)

// The cost of the reloadable route table: the Router's Handler counts
// each request in on the table it starts with, over a plain core.Mux.
func BenchmarkDispatch(b *testing.B) {
	cfg := configtest.MustLoad(b, "r.yaml", `
listen: ["127.0.0.1:0"]
plugins: {upper: {cmd: inprocess}, echo: {cmd: inprocess}}
routes: [{action: upper, plugin: upper}, {plugin: echo}]
`)
	o := inProcess(b, "upper", "echo")
	o.Logger = hclog.NewNullLogger()
	r, err := router.Start(context.Background(), cfg, o)
	if err != nil {
		b.Fatal(err)
	}
	defer r.Shutdown(context.Background())
	echo := testPlugin("echo").Handlers[0].Handler
	mux, err := core.NewMux(core.Route{Action: "upper", Handler: echo}, core.Route{Handler: echo})
	if err != nil {
		b.Fatal(err)
	}
	req := core.NewBinary("binary/x", []byte("0123456789"))
	for _, bc := range []struct {
		name string
		h    core.Handler
	}{{"mux", mux}, {"router", r.Handler()}} {
		b.Run(bc.name, func(b *testing.B) {
			b.RunParallel(func(pb *testing.PB) {
				ctx := context.Background()
				m := req.Clone()
				for pb.Next() {
					if _, err := bc.h.Handle(ctx, m); err != nil {
						b.Fatal(err)
					}
				}
			})
		})
	}
}
