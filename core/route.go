package core

import (
	"fmt"
	"strings"
)

// Route is one rule of a Mux. Empty fields match anything, so a Route with
// only a Handler is the default route.
type Route struct {
	// Action matches the "action" member of JSON requests. A non-JSON
	// request never matches a route that names an action.
	Action string
	// ContentType matches the request's content-type exactly, or as a
	// glob when it holds '*' (any run of characters, '/' included) or '?'
	// (any one character): "binary/*", "*json", "*".
	ContentType string
	// Handler answers the requests the route matches.
	Handler Handler
	// Name names the route in the Server's debug log line of each
	// request it answers (see RouteNamer). Empty: the route is named by
	// its match, as String writes it. It plays no part in matching.
	Name string
}

// String describes the route's match, "*" for what it leaves open.
func (r Route) String() string {
	a, ct := r.Action, r.ContentType
	if a == "" {
		a = "*"
	}
	if ct == "" {
		ct = "*"
	}
	return fmt.Sprintf("action=%s content-type=%s", a, ct)
}

// Shadow says why a route placed after another can never match.
type Shadow int

// The ways a route can be shadowed by one before it.
const (
	// ShadowNone: the route can match.
	ShadowNone Shadow = iota
	// ShadowCatchAll: the route before matches every request.
	ShadowCatchAll
	// ShadowDuplicate: the route before matches the same requests.
	ShadowDuplicate
	// ShadowCovered: the route before matches every request this one
	// would, and more ("binary/*" before "binary/x").
	ShadowCovered
)

// ShadowedBy says whether r, placed after prev in a route table, can
// never match, and why. This is the one rule of the Mux and of the
// router's config.
func (r Route) ShadowedBy(prev Route) Shadow {
	switch {
	case prev.IsCatchAll():
		return ShadowCatchAll
	case prev.Action != "" && prev.Action != r.Action:
		return ShadowNone
	case prev.Action == r.Action && (prev.ContentType == r.ContentType ||
		MatchesEveryType(prev.ContentType) && MatchesEveryType(r.ContentType)):
		return ShadowDuplicate
	case PatternCovers(prev.ContentType, r.ContentType):
		return ShadowCovered
	}
	return ShadowNone
}

// IsCatchAll reports whether r matches every request: no Action, and a
// ContentType that matches every content-type.
func (r Route) IsCatchAll() bool { return r.Action == "" && MatchesEveryType(r.ContentType) }

// MatchesEveryType reports whether a route's content-type pattern matches
// every content-type: empty, or nothing but '*'.
func MatchesEveryType(pattern string) bool {
	return strings.Trim(pattern, "*") == ""
}

// PatternCovers reports whether the content-type pattern a matches every
// content-type that b does. Beyond patterns that match everything and
// equal ones, only a glob against an exact type is decided ("text/*"
// covers "text/plain"); of two different globs, neither is said to
// cover the other.
func PatternCovers(a, b string) bool {
	switch {
	case MatchesEveryType(a):
		return true
	case MatchesEveryType(b):
		return false
	case a == b:
		return true
	case isGlob(a) && !isGlob(b):
		return MatchContentType(a, b)
	}
	return false
}

func isGlob(s string) bool { return strings.ContainsAny(s, "*?") }
