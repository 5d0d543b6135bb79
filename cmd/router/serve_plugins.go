package main

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"sync"

	"github.com/hashicorp/go-hclog"

	"github.com/msgrouter/router/core"
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
	if _, ok := lookupBuiltin(name); ok {
		return fmt.Errorf("plugin name %q is the built-in plugin's; choose another", name)
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

// pluginConfig returns the configuration of the plugin name, run from cmd.
func (c *cli) pluginConfig(name, cmd string, log hclog.Logger) plugins.Config {
	return plugins.Config{
		Name:       name,
		Cmd:        cmd,
		Logger:     log,
		Executable: c.executable,
	}
}

// startPlugins starts the plugins cfgs describes, all at once. If any
// fails, it stops the others and returns an error naming each that failed
// and its command.
func startPlugins(ctx context.Context, cfgs []plugins.Config) ([]*plugins.Process, error) {
	procs := make([]*plugins.Process, len(cfgs))
	errs := make([]error, len(cfgs))
	var wg sync.WaitGroup
	for i, cfg := range cfgs {
		wg.Go(func() { procs[i], errs[i] = plugins.Start(ctx, cfg) })
	}
	wg.Wait()
	var failed []string
	for i, err := range errs {
		if err != nil {
			failed = append(failed, fmt.Sprintf("cannot start plugin %q (%s): %s", cfgs[i].Name, cfgs[i].Cmd, startReason(err)))
		}
	}
	if failed == nil {
		return procs, nil
	}
	var started []*plugins.Process
	for _, p := range procs {
		if p != nil {
			started = append(started, p)
		}
	}
	shutdownPlugins(ctx, started, hclog.NewNullLogger())
	return nil, errors.New(strings.Join(failed, "; "))
}

// startReason shortens an error of plugins.Start to one line, without
// the plugin's name and path that the caller gives.
func startReason(err error) string {
	msg := err.Error()
	// plugins.Start's errors read `plugins: cannot start plugin "NAME"
	// (PATH): what: cause`.
	if rest, ok := strings.CutPrefix(msg, plugins.ErrStart.Error()+" "); ok {
		if _, after, ok := strings.Cut(rest, "): "); ok {
			msg = after
		}
	}
	// go-plugin explains a failed handshake over several lines; the
	// first says what happened, the rest lists generic causes.
	if first, _, cut := strings.Cut(msg, "\n"); cut {
		msg = first
		if strings.Contains(first, "Unrecognized remote plugin message") {
			msg += " (not a router plugin, or it failed before the handshake; --log-level debug shows its output)"
		}
	}
	return strings.Join(strings.Fields(msg), " ")
}

// shutdownPlugins stops procs, all at once.
func shutdownPlugins(ctx context.Context, procs []*plugins.Process, log hclog.Logger) {
	var wg sync.WaitGroup
	for _, p := range procs {
		wg.Go(func() {
			if err := p.Shutdown(ctx); err != nil {
				log.Warn("plugin did not stop gracefully; killed", "plugin", p.Name(), "error", err)
			}
		})
	}
	wg.Wait()
}

// pluginRoutes returns the routes to the handlers of p, a --plugin run
// from cmd: one for each action they declare, then one for each
// content-type.
func pluginRoutes(p *plugins.Process, cmd string, log hclog.Logger) ([]route, error) {
	var actions, types []route
	for _, h := range p.Info().Handlers {
		handler, err := p.Handler(h.Name)
		if err != nil {
			return nil, err
		}
		label := fmt.Sprintf("plugin %s handler %s", p.Name(), h.Name)
		for _, a := range h.Actions {
			if a == "" {
				return nil, fmt.Errorf("plugin %q (%s): handler %q declares an empty action", p.Name(), cmd, h.Name)
			}
			actions = append(actions, route{Route: core.Route{Action: a, Handler: handler}, label: label})
		}
		for _, ct := range h.ContentTypes {
			if ct == "" {
				return nil, fmt.Errorf("plugin %q (%s): handler %q declares an empty content-type", p.Name(), cmd, h.Name)
			}
			// A glob of stars alone matches every request: it is the
			// catch-all, and the Mux must see it as one to find the
			// routes it would hide.
			if strings.Trim(ct, "*") == "" {
				ct = ""
			}
			types = append(types, route{Route: core.Route{ContentType: ct, Handler: handler}, label: label})
		}
		if len(h.Actions) == 0 && len(h.ContentTypes) == 0 {
			log.Warn("handler declares no action or content-type; no route leads to it", "plugin", p.Name(), "handler", h.Name)
		}
	}
	if len(actions) == 0 && len(types) == 0 {
		return nil, fmt.Errorf("plugin %q (%s) declares no action or content-type: no route would lead to it", p.Name(), cmd)
	}
	return append(actions, types...), nil
}
