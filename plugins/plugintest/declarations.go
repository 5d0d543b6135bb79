package plugintest

import (
	"context"
	"fmt"
	"slices"

	"github.com/msgrouter/router/core"
	"github.com/msgrouter/router/plugins"
)

// runnable returns the cases whose handler the plugin declares, each with
// its handler found, and checks that the handler's declarations route the
// case's request to it (unless the case is Unrouted).
func (r *runner) runnable(errs *errorList, p *plugins.Process, info plugins.Info, cases []*testCase) []*testCase {
	declared := make(map[string]plugins.HandlerInfo)
	for _, hi := range info.Handlers {
		declared[hi.Name] = hi
	}
	var out []*testCase
	for _, tc := range cases {
		hi, ok := declared[tc.Handler]
		if !ok {
			errs.add("%s: the plugin declares no handler %q", tc.name, tc.Handler)
			continue
		}
		var err error
		if tc.h, err = p.Handler(tc.Handler); err != nil {
			errs.add("%s: %v", tc.name, err)
			continue
		}
		if !tc.Unrouted {
			checkRouted(errs, tc, hi)
		}
		out = append(out, tc)
	}
	return out
}

// checkInfo checks what the plugin declared.
func (r *runner) checkInfo(errs *errorList, info plugins.Info) {
	if info.Name == "" {
		errs.add("the plugin declares no name")
	}
	if info.Version == "" {
		errs.add("the plugin declares no version")
	}
	if len(info.Handlers) == 0 {
		errs.add("the plugin declares no handlers")
	}
	var names []string
	for _, hi := range info.Handlers {
		names = append(names, hi.Name)
	}
	for _, want := range r.cfg.Handlers {
		if !slices.Contains(names, want) {
			errs.add("the plugin does not declare handler %q (it declares %q)", want, names)
		}
	}
	actions := make(map[string]string)      // action -> handler
	contentTypes := make(map[string]string) // content-type -> handler
	for _, hi := range info.Handlers {
		if len(hi.Actions) == 0 && len(hi.ContentTypes) == 0 {
			errs.add("handler %q declares no action and no content-type: the router cannot route requests to it", hi.Name)
		}
		claim := func(kind string, seen map[string]string, v string) {
			if v == "" {
				errs.add("handler %q declares an empty %s", hi.Name, kind)
				return
			}
			if prev, dup := seen[v]; dup {
				if prev == hi.Name {
					errs.add("handler %q declares %s %q twice", hi.Name, kind, v)
				} else {
					errs.add("handlers %q and %q both declare %s %q: the router cannot route it to both", prev, hi.Name, kind, v)
				}
				return
			}
			seen[v] = hi.Name
		}
		for _, a := range hi.Actions {
			claim("action", actions, a)
		}
		for _, ct := range hi.ContentTypes {
			claim("content-type", contentTypes, ct)
		}
	}
}

// checkRouted checks that the handler's declarations route the case's
// request to it, with the router's own matching (a core.Mux).
func checkRouted(errs *errorList, tc *testCase, hi plugins.HandlerInfo) {
	nop := core.HandlerFunc(func(context.Context, *core.Message) (*core.Message, error) { return nil, nil })
	var routes []core.Route
	for _, a := range hi.Actions {
		if a != "" && !slices.ContainsFunc(routes, func(r core.Route) bool { return r.Action == a }) {
			routes = append(routes, core.Route{Action: a, Handler: nop})
		}
	}
	for _, ct := range hi.ContentTypes {
		if ct != "" && !slices.ContainsFunc(routes, func(r core.Route) bool { return r.ContentType == ct }) {
			routes = append(routes, core.Route{ContentType: ct, Handler: nop})
		}
	}
	mux, err := core.NewMux(routes...)
	if err != nil {
		errs.add("%s: handler %q's declarations are not a valid route table: %v", tc.name, hi.Name, err)
		return
	}
	if _, ok, _ := mux.Match(tc.Request.Clone()); ok {
		return
	}
	what := fmt.Sprintf("content-type %q", tc.Request.ContentType)
	if tc.Request.IsJSON() {
		if a, err := tc.Request.Clone().Action(); err == nil {
			what += fmt.Sprintf(", action %q", a)
		}
	}
	errs.add("%s: handler %q declares actions %q and content-types %q, which do not route this request (%s) to it; set Case.Unrouted if only an explicit route sends it there",
		tc.name, hi.Name, hi.Actions, hi.ContentTypes, what)
}
