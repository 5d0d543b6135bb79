package core

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
)

// Mux is an ordered route table; the first matching Route answers. It is
// itself a Handler. Its table can be replaced at run time with Replace,
// atomically: a request in flight finishes on the table it started with.
//
// The zero Mux has no routes and answers every request with ErrNoRoute.
type Mux struct {
	table atomic.Pointer[muxTable]
}

type muxTable struct {
	routes   []compiledRoute
	needsAct bool // some route matches on action
}

type compiledRoute struct {
	Route
	glob bool
}

var (
	_ BatchHandler = (*Mux)(nil)
	_ RouteNamer   = (*Mux)(nil)
)

// NewMux returns a Mux with the given routes, in order. See Replace.
func NewMux(routes ...Route) (*Mux, error) {
	m := new(Mux)
	if err := m.Replace(routes...); err != nil {
		return nil, err
	}
	return m, nil
}

// Replace validates routes and atomically makes them the table. On error
// the old table stays. A route must have a Handler, and no route may be
// unreachable: none may be shadowed by an earlier one (see
// Route.ShadowedBy).
func (m *Mux) Replace(routes ...Route) error {
	t := &muxTable{routes: make([]compiledRoute, len(routes))}
	for i, r := range routes {
		if r.Handler == nil {
			return fmt.Errorf("core: route %d (%s): no handler", i, r)
		}
		glob := isGlob(r.ContentType)
		for j, prev := range routes[:i] {
			switch r.ShadowedBy(prev) {
			case ShadowCatchAll:
				return fmt.Errorf("core: route %d (%s) can never match: it follows the catch-all route %d", i, r, j)
			case ShadowDuplicate:
				return fmt.Errorf("core: route %d (%s) can never match: it duplicates route %d", i, r, j)
			case ShadowCovered:
				return fmt.Errorf("core: route %d (%s) can never match: route %d (%s) matches every request it would", i, r, j, prev)
			}
		}
		t.routes[i] = compiledRoute{Route: r, glob: glob}
		t.needsAct = t.needsAct || r.Action != ""
	}
	m.table.Store(t)
	return nil
}

// Routes returns a copy of the current table.
func (m *Mux) Routes() []Route {
	t := m.table.Load()
	if t == nil {
		return nil
	}
	out := make([]Route, len(t.routes))
	for i, r := range t.routes {
		out[i] = r.Route
	}
	return out
}

// Match returns the route that answers req, and false if none does. A JSON
// request whose content is not a JSON object only matches routes without
// an Action; if none matches, the content error is returned.
func (m *Mux) Match(req *Message) (Route, bool, error) {
	t := m.table.Load()
	ri, err := t.match(req)
	if ri < 0 {
		if errors.Is(err, ErrNoRoute) {
			err = nil
		}
		return Route{}, false, err
	}
	return t.routes[ri].Route, true, nil
}

// RouteName names the route that answers req, as the Server's debug log
// gives it: its Name, else its match (see Route.String); "" if no route
// matches.
func (m *Mux) RouteName(req *Message) string {
	r, ok, _ := m.Match(req)
	switch {
	case !ok:
		return ""
	case r.Name != "":
		return r.Name
	}
	return r.String()
}

// match returns the index of the route that answers req, or -1 and the
// error to answer with.
func (t *muxTable) match(req *Message) (int, error) {
	if t == nil {
		return -1, noRoute(req)
	}
	var action []byte // raw JSON of the request's "action", read once
	var actErr error
	actDone := false
	for i, r := range t.routes {
		if r.ContentType != "" {
			if r.glob {
				if !globMatch(r.ContentType, req.ContentType) {
					continue
				}
			} else if r.ContentType != req.ContentType {
				continue
			}
		}
		if r.Action != "" {
			if !req.IsJSON() {
				continue
			}
			if !actDone {
				action, _, actErr = req.Field("action")
				actDone = true
			}
			if actErr != nil || !jsonStringIs(action, r.Action) {
				continue
			}
		}
		return i, nil
	}
	if actErr != nil {
		return -1, actErr
	}
	return -1, noRoute(req)
}

// Handle answers req with the first matching route's handler.
func (m *Mux) Handle(ctx context.Context, req *Message) (*Message, error) {
	t := m.table.Load()
	ri, err := t.match(req)
	if ri < 0 {
		return nil, err
	}
	return t.routes[ri].Handler.Handle(ctx, req)
}

// HandleBatch answers reqs as Handle would, but hands the requests that
// go to the same route's BatchHandler to it in one call. Other handlers are
// called one request at a time, in order.
func (m *Mux) HandleBatch(ctx context.Context, reqs []*Message, answers []*Message, errs []error) {
	t := m.table.Load()
	var routeOf [64]int
	route := routeOf[:0]
	if len(reqs) > len(routeOf) {
		route = make([]int, 0, len(reqs))
	}
	// batched: some route is a BatchHandler; one: every request has
	// the first one's route (with batched, a route, not none).
	batched, one := false, true
	for i, req := range reqs {
		ri, err := t.match(req)
		route = append(route, ri)
		one = one && ri == route[0]
		if ri < 0 {
			errs[i] = err
			continue
		}
		if _, ok := t.routes[ri].Handler.(BatchHandler); ok {
			batched = true
		}
	}
	if batched && one {
		// One route for the whole batch, the common case: it answers
		// into the caller's slices, without gathering a sub-batch, as
		// it would into one: as long as reqs, and cleared.
		n := len(reqs)
		clear(answers[:n])
		clear(errs[:n])
		handleBatchSafe(ctx, t.routes[route[0]].Handler.(BatchHandler), reqs, answers[:n], errs[:n])
		return
	}
	if !batched {
		for i, req := range reqs {
			if route[i] >= 0 {
				answers[i], errs[i] = Call(ctx, t.routes[route[i]].Handler, req)
			}
		}
		return
	}
	var subReqs, subAns []*Message
	var subErrs []error
	var idx []int
	for i, req := range reqs {
		ri := route[i]
		if ri < 0 {
			continue
		}
		bh, ok := t.routes[ri].Handler.(BatchHandler)
		if !ok {
			answers[i], errs[i] = Call(ctx, t.routes[ri].Handler, req)
			continue
		}
		// Gather every later request for the same route, and answer
		// them together.
		subReqs, idx = subReqs[:0], idx[:0]
		for j := i; j < len(reqs); j++ {
			if route[j] == ri {
				subReqs = append(subReqs, reqs[j])
				idx = append(idx, j)
				route[j] = -1
			}
		}
		subAns = append(subAns[:0], make([]*Message, len(subReqs))...)
		subErrs = append(subErrs[:0], make([]error, len(subReqs))...)
		handleBatchSafe(ctx, bh, subReqs, subAns, subErrs)
		for k, j := range idx {
			answers[j], errs[j] = subAns[k], subErrs[k]
		}
	}
}

func noRoute(req *Message) error {
	if req.IsJSON() {
		if a, err := req.Action(); err == nil && a != "" {
			return fmt.Errorf("%w: content-type %q, action %q", ErrNoRoute, req.ContentType, a)
		}
	}
	return fmt.Errorf("%w: content-type %q", ErrNoRoute, req.ContentType)
}

// MatchContentType reports whether a route's ContentType pattern matches
// the content-type ct, as the Mux matches it: exactly, or as a glob where
// '*' is any run of bytes ('/' included) and '?' any one byte. An empty
// pattern matches everything.
func MatchContentType(pattern, ct string) bool {
	if pattern == "" {
		return true
	}
	if !strings.ContainsAny(pattern, "*?") {
		return pattern == ct
	}
	return globMatch(pattern, ct)
}

// globMatch matches s against a pattern of literal bytes, '*' (any run of
// bytes) and '?' (any one byte), without allocating.
func globMatch(pattern, s string) bool {
	px, sx := 0, 0
	starP, starS := -1, 0 // where the last '*' was, to backtrack to
	for sx < len(s) {
		switch {
		case px < len(pattern) && pattern[px] == '*':
			starP, starS = px, sx
			px++
		case px < len(pattern) && (pattern[px] == '?' || pattern[px] == s[sx]):
			px++
			sx++
		case starP >= 0:
			starS++
			px, sx = starP+1, starS
		default:
			return false
		}
	}
	for px < len(pattern) && pattern[px] == '*' {
		px++
	}
	return px == len(pattern)
}

// jsonStringIs reports whether raw is a JSON string equal to want, without
// allocating unless the string holds escapes.
func jsonStringIs(raw []byte, want string) bool {
	if len(raw) < 2 || raw[0] != '"' {
		return false
	}
	inner := raw[1 : len(raw)-1]
	if bytes.IndexByte(inner, '\\') < 0 {
		return string(inner) == want
	}
	return unquote(raw) == want
}
