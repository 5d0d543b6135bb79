package router

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/msgrouter/router/config"
	"github.com/msgrouter/router/core"
	"github.com/msgrouter/router/plugins"
)

// build returns the route table of cfg over the running plugins procs,
// and checks every route against what its handler declared.
func (r *Router) build(cfg *config.Config, procs map[string]*pluginRun) (*generation, error) {
	if cfg.IsWorker() {
		return r.buildEndpoints(cfg, procs)
	}
	var errs []error
	routes := make([]core.Route, 0, len(cfg.Routes))
	for i, rt := range cfg.Routes {
		key := fmt.Sprintf("routes[%d]", i)
		var h core.Handler
		if rt.NATS != "" {
			h = r.natsHandler(rt.NATS)
		} else {
			var hi plugins.HandlerInfo
			var err error
			h, hi, err = resolve(cfg, procs, key+".plugin", rt.Plugin)
			if err != nil {
				errs = append(errs, err)
				continue
			}
			errs = append(errs, checkDeclared(cfg, key, rt, hi))
		}
		ct := rt.ContentType
		if core.MatchesEveryType(ct) {
			ct = ""
		}
		// One name for the route in its metrics and in the debug log.
		name := rt.Label()
		if r.metrics != nil {
			h = r.metrics.Instrument(name, h)
		}
		routes = append(routes, core.Route{Action: rt.Action, ContentType: ct, Handler: h, Name: name})
	}
	g := newGeneration()
	keys := listenerKeys(cfg.Listen)
	for i, l := range cfg.Listen {
		if !l.Raw || l.Plugin == "" {
			continue
		}
		h, _, err := resolve(cfg, procs, fmt.Sprintf("listen[%d].plugin", i), l.Plugin)
		errs = append(errs, err)
		if h != nil {
			g.raw[keys[i]] = h
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	mux, err := core.NewMux(routes...)
	if err != nil {
		// Validate checks what core does, and more; this is a safety net.
		return nil, &config.Error{Source: cfg.Source("routes"), Key: "routes", Msg: strings.TrimPrefix(err.Error(), "core: "), Err: config.ErrRoute, Cause: err}
	}
	g.mux = mux
	for name := range procs {
		if !uses(cfg, name) {
			r.log.Warn("plugin runs but no route or listener leads to it", "plugin", name)
		}
	}
	return g, nil
}

// pluginOf returns the plugin's name in a handler reference, "NAME" or
// "NAME.HANDLER".
func pluginOf(ref string) string {
	name, _, _ := strings.Cut(ref, ".")
	return name
}

// uses reports whether a route or listener leads to the plugin name.
func uses(c *config.Config, name string) bool {
	for _, rt := range c.Routes {
		if pluginOf(rt.Plugin) == name {
			return true
		}
	}
	for _, l := range c.Listen {
		if pluginOf(l.Plugin) == name && l.Raw {
			return true
		}
	}
	return false
}

// resolve returns the handler that ref ("NAME" or "NAME.HANDLER") names,
// and what it declared.
func resolve(cfg *config.Config, procs map[string]*pluginRun, key, ref string) (core.Handler, plugins.HandlerInfo, error) {
	fail := func(msg, want string) (core.Handler, plugins.HandlerInfo, error) {
		return nil, plugins.HandlerInfo{}, &config.Error{Source: cfg.Source(key), Key: key, Msg: msg, Want: want, Err: config.ErrRoute}
	}
	name, hname, dotted := strings.Cut(ref, ".")
	p, ok := procs[name]
	if !ok {
		return fail(fmt.Sprintf("no plugin %q is defined", name), "a plugin defined under plugins")
	}
	hs := p.info.Handlers
	var choices []string
	for _, h := range hs {
		choices = append(choices, fmt.Sprintf("%q", name+"."+h.Name))
	}
	var hi *plugins.HandlerInfo
	switch {
	case dotted:
		for i := range hs {
			if hs[i].Name == hname {
				hi = &hs[i]
			}
		}
		if hi == nil {
			return fail(fmt.Sprintf("plugin %q has no handler %q", name, hname), "one of "+orList(choices))
		}
	case len(hs) == 1:
		hi = &hs[0]
	default:
		for i := range hs {
			if hs[i].Name == name {
				hi = &hs[i]
			}
		}
		if hi == nil {
			return fail(fmt.Sprintf("plugin %q has %d handlers and none is named %q", name, len(hs), name), orList(choices))
		}
	}
	h, err := p.handler(hi.Name)
	if err != nil {
		return fail(err.Error(), "one of "+orList(choices))
	}
	return h, *hi, nil
}

// checkDeclared checks that the handler hi declares what route rt
// matches: its action, its content-type, or, for the catch-all, every
// content-type ("*").
func checkDeclared(cfg *config.Config, key string, rt config.Route, hi plugins.HandlerInfo) error {
	var errs []error
	fail := func(k, msg, want string) {
		errs = append(errs, &config.Error{Source: cfg.Source(k), Key: k, Msg: msg, Want: want, Err: config.ErrRoute})
	}
	who := fmt.Sprintf("handler %q of plugin %q", hi.Name, strings.SplitN(rt.Plugin, ".", 2)[0])
	if rt.Action != "" && !slices.Contains(hi.Actions, rt.Action) {
		fail(key+".action", fmt.Sprintf("%s does not declare action %q", who, rt.Action), declaredList("an action it declares", "it declares no action", hi.Actions))
	}
	if !core.MatchesEveryType(rt.ContentType) && !slices.ContainsFunc(hi.ContentTypes, func(d string) bool { return core.PatternCovers(d, rt.ContentType) }) {
		fail(key+".content_type", fmt.Sprintf("%s does not declare content-type %q", who, rt.ContentType), declaredList("a content-type it declares", "it declares no content-type", hi.ContentTypes))
	}
	if rt.CoreRoute().IsCatchAll() && !slices.ContainsFunc(hi.ContentTypes, core.MatchesEveryType) {
		fail(key, fmt.Sprintf("the catch-all route leads to %s, which does not declare every content-type (\"*\")", who), "a catch-all to a handler that declares \"*\", or an action or content_type on this route")
	}
	return errors.Join(errs...)
}

func declaredList(some, none string, items []string) string {
	if len(items) == 0 {
		return none
	}
	q := make([]string, len(items))
	for i, s := range items {
		q[i] = fmt.Sprintf("%q", s)
	}
	return some + ": " + strings.Join(q, ", ")
}

func orList(items []string) string {
	switch len(items) {
	case 0:
		return "a handler the plugin has"
	case 1:
		return items[0]
	}
	return strings.Join(items[:len(items)-1], ", ") + " or " + items[len(items)-1]
}

func (r *Router) logRoutes(cfg *config.Config) {
	for i, rt := range cfg.Routes {
		if rt.NATS != "" {
			r.log.Debug("route", "index", i, "action", rt.Action, "content_type", rt.ContentType, "nats", rt.NATS)
			continue
		}
		r.log.Debug("route", "index", i, "action", rt.Action, "content_type", rt.ContentType, "plugin", rt.Plugin)
	}
}
