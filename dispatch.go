package router

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"unsafe"

	"github.com/msgrouter/router/core"
)

// generation is one route table. Requests acquire the current one for
// as long as they are handled, so that a reload can wait for the
// requests on the old table before it stops the plugins only that table
// leads to.
type generation struct {
	mux *core.Mux
	raw map[string]core.Handler // by listener key, raw listeners with a plugin
	// endpoints are a worker's handlers, by subject; the mux is nil.
	endpoints map[string]core.Handler
	// refs counts the requests on this table, in shards so that cores
	// serving different connections do not share one counter.
	refs [refShards]struct {
		n atomic.Int64
		_ [56]byte // a cache line each
	}
	retired   atomic.Bool   // set once the table is replaced
	drained   chan struct{} // closed once retired and no request is on it
	drainOnce sync.Once
}

const refShards = 16 // acquire hashes to the top 4 bits

// acquire returns the current generation, counted in until release, in
// a shard chosen by the request (the server reuses a connection's
// requests, so a connection keeps to one shard).
func (r *Router) acquire(req *core.Message) (*generation, *atomic.Int64) {
	shard := int((uint64(uintptr(unsafe.Pointer(req))) >> 4 * 0x9e3779b97f4a7c15) >> 60)
	for {
		g := r.gen.Load()
		n := &g.refs[shard].n
		n.Add(1)
		// A swap between the Load and the Add would let the old table's
		// drain miss this request: check, and if so take the new one.
		if r.gen.Load() == g {
			return g, n
		}
		g.release(n)
	}
}

// inUse reports whether requests are on g. Once g is no longer the
// current table, every acquire that sees it counts itself in before it
// checks, so a pass that finds all shards zero means it is drained.
func (g *generation) inUse() bool {
	for i := range g.refs {
		if g.refs[i].n.Load() != 0 {
			return true
		}
	}
	return false
}

// release counts a request out of g, in the shard n acquire gave it. The
// last request out of a retired table closes its drained channel.
func (g *generation) release(n *atomic.Int64) {
	if n.Add(-1) == 0 && g.retired.Load() && !g.inUse() {
		g.drainOnce.Do(func() { close(g.drained) })
	}
}

// retire marks g as replaced, and returns a channel closed once no
// request is on it. Either retire sees the last release's count, or that
// release sees retired set: the channel is closed either way.
func (g *generation) retire() <-chan struct{} {
	g.retired.Store(true)
	if !g.inUse() {
		g.drainOnce.Do(func() { close(g.drained) })
	}
	return g.drained
}

// newGeneration returns an empty table, in use by nobody.
func newGeneration() *generation {
	return &generation{raw: make(map[string]core.Handler), endpoints: make(map[string]core.Handler), drained: make(chan struct{})}
}

// dispatcher is the Server's Handler: the current route table.
type dispatcher struct{ r *Router }

var (
	_ core.BatchHandler = dispatcher{}
	_ core.RouteNamer   = dispatcher{}
)

func (d dispatcher) Handle(ctx context.Context, req *core.Message) (*core.Message, error) {
	g, n := d.r.acquire(req)
	defer g.release(n)
	ans, err := g.mux.Handle(ctx, req)
	if m := d.r.metrics; m != nil && unrouted(g, req, err) {
		m.NoRoute(1)
	}
	return ans, err
}

// RouteName names the route of the current table that takes req, as its
// metrics label it (see config.Route.Label), for the server's debug log
// line of the request; "" if none does. A reload between the answer and
// the line names the route of the new table.
func (d dispatcher) RouteName(req *core.Message) string {
	return d.r.gen.Load().mux.RouteName(req)
}

// unrouted reports whether err says that no route of g's table took req
// (and not a route's handler, a Mux of its own, which counts it as an
// error of its route).
func unrouted(g *generation, req *core.Message, err error) bool {
	if err == nil || !errors.Is(err, core.ErrNoRoute) {
		return false
	}
	_, ok, _ := g.mux.Match(req)
	return !ok
}

func (d dispatcher) HandleBatch(ctx context.Context, reqs, answers []*core.Message, errs []error) {
	g, n := d.r.acquire(reqs[0])
	defer g.release(n)
	g.mux.HandleBatch(ctx, reqs, answers, errs)
	if m := d.r.metrics; m != nil {
		// The requests no route matched never reach an instrumented
		// handler.
		n := 0
		for i, err := range errs[:len(reqs)] {
			if unrouted(g, reqs[i], err) {
				n++
			}
		}
		if n > 0 {
			m.NoRoute(n)
		}
	}
}

// rawDispatcher answers a raw listener's chunks: with its plugin if the
// current config gives it one, else with the route table.
type rawDispatcher struct {
	r   *Router
	key string
}

func (d rawDispatcher) Handle(ctx context.Context, req *core.Message) (*core.Message, error) {
	g, n := d.r.acquire(req)
	defer g.release(n)
	if h, ok := g.raw[d.key]; ok {
		return h.Handle(ctx, req)
	}
	return g.mux.Handle(ctx, req)
}
