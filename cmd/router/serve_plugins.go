package main

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"sync"

	"github.com/hashicorp/go-hclog"

	"github.com/msgrouter/router/config"
	"github.com/msgrouter/router/plugins"
)

// pluginFlag is one --plugin NAME=CMD.
type pluginFlag struct{ name, cmd string }

// pluginList is the repeatable --plugin flag.
type pluginList []pluginFlag

var pluginName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_-]*$`)

func (l *pluginList) String() string {
	out := make([]string, len(*l))
	for i, p := range *l {
		out[i] = p.name + "=" + p.cmd
	}
	return strings.Join(out, ", ")
}

func (l *pluginList) Set(s string) error {
	name, cmd, ok := strings.Cut(s, "=")
	if !ok || name == "" || cmd == "" {
		return errors.New("want NAME=CMD, e.g. upper=./upper or find=builtin:search")
	}
	if !pluginName.MatchString(name) {
		return fmt.Errorf("plugin name %q: want letters, digits, '-' and '_'", name)
	}
	for _, p := range *l {
		if p.name == name {
			return fmt.Errorf("plugin name %q is given twice", name)
		}
	}
	if b, ok := strings.CutPrefix(cmd, plugins.BuiltinPrefix); ok {
		if _, ok := lookupBuiltin(b); !ok {
			return fmt.Errorf("unknown built-in %q; the built-ins are %s", b, strings.Join(builtinNames(), ", "))
		}
	}
	*l = append(*l, pluginFlag{name: name, cmd: cmd})
	return nil
}

// learnRoutes returns the routes to what the --plugin plugins declare: for
// each in turn, one per action its handlers declare, then one per
// content-type. A built-in's declarations are known; any other plugin is
// started, all at once, to learn them, and stopped. (Its config entry
// then starts it again, with the others: a config names its routes, it
// does not derive them from a plugin; see the note in serve's help.)
func learnRoutes(ctx context.Context, list pluginList, executable string, log hclog.Logger) ([]config.Route, error) {
	infos := make([]plugins.Info, len(list))
	errs := make([]error, len(list))
	var wg sync.WaitGroup
	for i, p := range list {
		if b, ok := strings.CutPrefix(p.cmd, plugins.BuiltinPrefix); ok {
			bt, _ := lookupBuiltin(b) // the flag checked it
			infos[i] = builtinPlugin(bt).Info()
			continue
		}
		wg.Go(func() {
			log.Debug("starting the plugin to learn what it declares", "plugin", p.name, "cmd", p.cmd)
			proc, err := plugins.Start(ctx, plugins.Config{Name: p.name, Cmd: p.cmd, Logger: log, Executable: executable})
			if err != nil {
				errs[i] = fmt.Errorf("cannot start plugin %q (%s): %s", p.name, p.cmd, plugins.ShortError(err))
				return
			}
			infos[i] = proc.Info()
			proc.Shutdown(context.WithoutCancel(ctx))
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	var routes []config.Route
	for i, p := range list {
		rs, err := pluginRoutes(p, infos[i], log)
		if err != nil {
			return nil, err
		}
		routes = append(routes, rs...)
	}
	return routes, nil
}

// pluginRoutes returns the routes to the handlers of the --plugin p,
// which declared info: one for each action they declare, then one for
// each content-type.
func pluginRoutes(p pluginFlag, info plugins.Info, log hclog.Logger) ([]config.Route, error) {
	var actions, types []config.Route
	for _, h := range info.Handlers {
		ref := p.name + "." + h.Name
		for _, a := range h.Actions {
			if a == "" {
				return nil, fmt.Errorf("plugin %q (%s): handler %q declares an empty action", p.name, p.cmd, h.Name)
			}
			actions = append(actions, config.Route{Action: a, Plugin: ref})
		}
		for _, ct := range h.ContentTypes {
			if ct == "" {
				return nil, fmt.Errorf("plugin %q (%s): handler %q declares an empty content-type", p.name, p.cmd, h.Name)
			}
			types = append(types, config.Route{ContentType: ct, Plugin: ref})
		}
		if len(h.Actions) == 0 && len(h.ContentTypes) == 0 {
			log.Warn("handler declares no action or content-type; no route leads to it", "plugin", p.name, "handler", h.Name)
		}
	}
	if len(actions) == 0 && len(types) == 0 {
		return nil, fmt.Errorf("plugin %q (%s) declares no action or content-type: no route would lead to it", p.name, p.cmd)
	}
	return append(actions, types...), nil
}
