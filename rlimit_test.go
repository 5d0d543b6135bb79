package router

import (
	"strings"
	"testing"

	"github.com/msgrouter/router/config"
	"github.com/msgrouter/router/plugins"
)

// What a config needs is its connections, its listeners and the
// metrics endpoint, fdsPerPlugin per plugin process, and the margin.
func TestFDNeedOf(t *testing.T) {
	cfg := &config.Config{
		Listen:  []config.Listener{{Addr: "127.0.0.1:0"}, {Addr: "unix:///tmp/r.sock"}},
		Plugins: map[string]config.Plugin{"a": {Cmd: "./a"}, "b": {Cmd: "builtin:search"}, "c": {Cmd: "builtin:search"}, "d": {Cmd: "./d"}},
		Limits:  config.Limits{MaxConnections: 1000},
		Metrics: config.Metrics{Listen: "127.0.0.1:9108"},
	}
	// b and c in-process by their cmd, d by its name.
	newPlugin := func() *plugins.Plugin { return nil }
	o := StartOptions{InProcess: map[string]func() *plugins.Plugin{"builtin:search": newPlugin, "d": newPlugin}}
	got := fdNeedOf(cfg, o)
	if want := (fdNeed{conns: 1000, plugins: 1, listeners: 3}); got != want {
		t.Errorf("fdNeedOf = %+v, want %+v", got, want)
	}
	if got.total() != 1000+fdsPerPlugin+3+fdsMargin {
		t.Errorf("total = %d", got.total())
	}
	if got := fdNeedOf(cfg, StartOptions{}); got.plugins != 4 {
		t.Errorf("with no plugin in-process: %d plugin processes, want 4", got.plugins)
	}
}

func TestOpenFilesProblem(t *testing.T) {
	const over = fdsPerPlugin*3 + 2 + fdsMargin // 3 plugins, 2 listeners
	for _, tt := range []struct {
		name       string
		conns      int
		soft, hard uint64
		want       []string // in the message, in order; none: no warning
	}{
		{"fits", 1000, 1024 + over, 1024 + over, nil},
		{"fits exactly", 1000, 1000 + over, 1000 + over, nil},
		{"no connection limit", 0, 256, 256, nil},
		{"infinite limit", 10_000_000, ^uint64(0), ^uint64(0), nil},
		{"one over", 1001, 1000 + over, 1000 + over, []string{
			"limits.max_connections 1001 needs 1059 open files (with 24 for 3 plugin processes, 2 for 2 listeners and a margin of 32), above this process's limit of 1058",
			`: clients past it wait unanswered instead of getting "too many connections"; `,
			"raise the limit to 1059 (ulimit -n 1059 before starting the router, or LimitNOFILE=1059 in its systemd unit; as root, above the hard limit of 1058)",
			" or lower limits.max_connections to 1000",
		}},
		{"default under 1024", 10000, 1024, 4096, []string{
			"needs 10058 open files", "above this process's limit of 1024:",
			"(ulimit -n 10058 before starting the router, or LimitNOFILE=10058 in its systemd unit; as root, above the hard limit of 4096)",
			" or lower limits.max_connections to 966",
		}},
		{"soft under a hard limit that fits", 10000, 1024, 65536, []string{
			"LimitNOFILE=10058 in its systemd unit) or lower limits.max_connections to 966",
		}},
		{"absurd", 10_000_000, 1_048_575, 1_048_576, []string{
			"limits.max_connections 10000000 needs 10000058 open files", "above this process's limit of 1048575",
			"or lower limits.max_connections to 1048517",
		}},
		{"no room for any connection", 10, 40, 40, []string{
			"needs 68 open files", "above this process's limit of 40:",
			"above the hard limit of 40)",
		}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got := openFilesProblem(fdNeed{conns: tt.conns, plugins: 3, listeners: 2}, tt.soft, tt.hard)
			if len(tt.want) == 0 {
				if got != "" {
					t.Errorf("warning %q, want none", got)
				}
				return
			}
			rest := got
			for _, w := range tt.want {
				i := strings.Index(rest, w)
				if i < 0 {
					t.Fatalf("warning %q\nlacks %q (after what came before)", got, w)
				}
				rest = rest[i+len(w):]
			}
			if strings.HasSuffix(tt.want[len(tt.want)-1], ")") && rest != "" {
				t.Errorf("warning %q goes on after the fix: %q", got, rest)
			}
		})
	}
}
