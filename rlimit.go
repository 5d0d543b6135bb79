package router

import (
	"fmt"
	"strings"

	"github.com/msgrouter/router/config"
)

// Descriptors the router holds besides its clients' connections. A
// connection is one descriptor; a client over limits.max_connections
// is accepted, answered "too many connections" and closed, but one past
// the open-file limit is never accepted: it waits unanswered in the
// listen queue, and a plugin cannot be started or restarted either.
const (
	// fdsPerPlugin is what one plugin process holds open in the router.
	// Six were counted in /proc/self/fd after starting one (four pipes
	// for its output and the data path, the gRPC connection, a pidfd);
	// two more for the pipes a start or a restart opens while the old
	// ones are still open.
	fdsPerPlugin = 8
	// fdsMargin is for the rest: stdin, stdout and stderr, the
	// runtime's poller, the config file's watch, the metrics
	// endpoint's scrapes, a rejected client while it is told why,
	// a log file, and a reload that runs a changed plugin twice.
	fdsMargin = 32
)

// fdNeed is what a config needs in descriptors.
type fdNeed struct {
	conns     int // limits.max_connections; 0 means no limit
	plugins   int // plugin processes (not those in-process)
	listeners int // the listeners, and the metrics endpoint
}

// fdNeedOf counts what cfg, started with o, needs.
func fdNeedOf(cfg *config.Config, o StartOptions) fdNeed {
	n := fdNeed{conns: cfg.Limits.MaxConnections, listeners: len(cfg.Listen)}
	if cfg.Metrics.Listen != "" {
		n.listeners++
	}
	for name, p := range cfg.Plugins {
		if o.InProcess[name] == nil && o.InProcess[p.Cmd] == nil {
			n.plugins += max(p.Instances, 1)
		}
	}
	return n
}

// total is the descriptors n needs at most, margin included.
func (n fdNeed) total() uint64 {
	return uint64(n.conns) + uint64(n.plugins)*fdsPerPlugin + uint64(n.listeners) + fdsMargin
}

// openFilesProblem compares n with the open-file limit soft (its hard
// limit hard) and returns what is wrong and the fix, or "" if n fits or
// has no limit on connections to compare.
func openFilesProblem(n fdNeed, soft, hard uint64) string {
	if n.conns <= 0 || n.total() <= soft {
		return ""
	}
	var b strings.Builder
	fmt.Fprintf(&b, "limits.max_connections %d needs %d open files (with %d for %s, %d for %s and a margin of %d), above this process's limit of %d",
		n.conns, n.total(), n.plugins*fdsPerPlugin, plural(n.plugins, "plugin process", "plugin processes"),
		n.listeners, plural(n.listeners, "listener", "listeners"), fdsMargin, soft)
	b.WriteString(`: clients past it wait unanswered instead of getting "too many connections"; `)
	fmt.Fprintf(&b, "raise the limit to %d (ulimit -n %d before starting the router, or LimitNOFILE=%d in its systemd unit", n.total(), n.total(), n.total())
	if hard < n.total() {
		fmt.Fprintf(&b, "; as root, above the hard limit of %d", hard)
	}
	b.WriteString(")")
	if fit := int64(soft) - int64(n.total()-uint64(n.conns)); fit > 0 {
		fmt.Fprintf(&b, " or lower limits.max_connections to %d", fit)
	}
	return b.String()
}

// warnOpenFiles logs a warning if cfg needs more descriptors than the
// process may open. Go raises the soft limit to the hard one as it
// starts (see syscall's rlimit.go), so the limit is usually the hard one.
func (r *Router) warnOpenFiles(cfg *config.Config) {
	soft, hard, ok := openFileLimit()
	if !ok {
		return
	}
	n := fdNeedOf(cfg, r.opts)
	if msg := openFilesProblem(n, soft, hard); msg != "" {
		r.log.Warn(msg, "max_connections", n.conns, "plugin_processes", n.plugins, "needed", n.total(), "limit", soft, "hard_limit", hard)
	}
}

// plural returns "n one" or "n many".
func plural(n int, one, many string) string {
	if n == 1 {
		return fmt.Sprintf("%d %s", n, one)
	}
	return fmt.Sprintf("%d %s", n, many)
}
