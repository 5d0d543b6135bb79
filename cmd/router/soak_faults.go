package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync/atomic"

	"github.com/msgrouter/router"
	"github.com/msgrouter/router/config"
	"github.com/msgrouter/router/internal/soak"
)

// faultList returns the faults names lists, in its order, against the
// router r on addr whose limits.max_content_length is limit. Kills and
// reloads are done here, on r; the others are the soak package's, and
// count into tally.
func (f *soakFlags) faultList(names []string, r *router.Router, addr string, limit int64, events *pluginEvents, tally *soak.Tally) ([]soak.Fault, error) {
	shared, err := soak.Faults(tally, addr, f.hostile, f.storm)
	if err != nil {
		return nil, err
	}
	plugFaults := soak.PluginFaults(addr, limit)
	var faults []soak.Fault
	var kills, reloads atomic.Int64
	for _, n := range names {
		switch n {
		case "kill":
			faults = append(faults, soak.Fault{Name: n, Inject: func(context.Context) (string, error) {
				return killPlugin(int(kills.Add(1)))
			}})
		case "reload":
			faults = append(faults, soak.Fault{Name: n, Inject: func(ctx context.Context) (string, error) {
				gen := reloads.Add(1)
				if err := r.Reload(ctx, changedPlugins(r.Config(), gen)); err != nil {
					events.reloadFailed.Add(1)
					return "", err
				}
				events.reloaded.Add(1)
				return fmt.Sprintf("reload %d: every plugin replaced", gen), nil
			}})
		case "hostile":
			faults = append(faults, shared[0])
		case "storm":
			faults = append(faults, shared[1])
		case "slow":
			faults = append(faults, plugFaults[0])
		case "oversized":
			faults = append(faults, plugFaults[1])
		}
	}
	return faults, nil
}

// killPlugin kills with SIGKILL the n-th (in turn) of this process's
// plugin processes: its children started as "... plugin NAME", but the
// built-in soak.
func killPlugin(n int) (string, error) {
	type proc struct {
		pid  int
		name string
	}
	var ps []proc
	for _, pid := range soak.Children() {
		b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/cmdline")
		if err != nil {
			continue
		}
		args := strings.Split(strings.TrimRight(string(b), "\x00"), "\x00")
		// The built-in "soak" serves the slow and oversized faults, which
		// check that it is not killed: the kill fault spares it.
		if len(args) >= 3 && args[len(args)-2] == "plugin" && args[len(args)-1] != "soak" {
			ps = append(ps, proc{pid, args[len(args)-1]})
		}
	}
	if len(ps) == 0 {
		return "", errors.New("no plugin process running")
	}
	p := ps[n%len(ps)]
	pr, err := os.FindProcess(p.pid)
	if err == nil {
		err = pr.Kill() // SIGKILL
	}
	if err != nil {
		return "", fmt.Errorf("kill -9 %d: %w", p.pid, err)
	}
	return fmt.Sprintf("kill -9 pid %d (plugin %s)", p.pid, p.name), nil
}

// changedPlugins returns a copy of cfg in which every plugin has the
// environment variable ROUTER_SOAK_RELOAD=gen, so that a reload replaces
// each with a new process.
func changedPlugins(cfg *config.Config, gen int64) *config.Config {
	next := *cfg
	next.Plugins = make(map[string]config.Plugin, len(cfg.Plugins))
	for name, p := range cfg.Plugins {
		env := make(map[string]string, len(p.Env)+1)
		for k, v := range p.Env {
			env[k] = v
		}
		env["ROUTER_SOAK_RELOAD"] = strconv.FormatInt(gen, 10)
		p.Env = env
		next.Plugins[name] = p
	}
	return &next
}
