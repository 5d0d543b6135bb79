package config_test

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/msgrouter/router/config"
	"github.com/msgrouter/router/core"
	"github.com/msgrouter/router/internal/configtest"
)

// The embedded default is the reference server: 127.0.0.1:65432, the
// built-ins as plugin processes, the routes of the design, and core's
// default limits and timeouts.
func TestDefault(t *testing.T) {
	c := config.Default()
	want := config.Listener{Addr: "tcp://127.0.0.1:65432"}
	if len(c.Listen) != 1 || c.Listen[0] != want {
		t.Errorf("Listen = %+v, want [%+v]", c.Listen, want)
	}
	for _, name := range []string{"search", "binary", "echo"} {
		p, ok := c.Plugins[name]
		if !ok || p.Cmd != "builtin:"+name {
			t.Errorf("plugin %s = %+v, want cmd builtin:%s", name, p, name)
		}
		if p.Settings != nil || p.Args != nil || p.Env != nil {
			t.Errorf("plugin %s has settings, args or env: %+v", name, p)
		}
		wantRestart := config.Restart{MaxRestarts: config.DefaultMaxRestarts, Backoff: config.DefaultBackoff, MaxBackoff: config.DefaultMaxBackoff, ResetAfter: config.DefaultResetAfter, Cooldown: config.DefaultCooldown}
		wantLog := config.PluginLog{LinesPerSecond: config.DefaultLogLinesPerSecond, Burst: config.DefaultLogBurst, MaxLine: config.DefaultMaxLogLine}
		if p.Restart != wantRestart || p.StartTimeout != config.DefaultStartTimeout || p.HealthInterval != config.DefaultHealthInterval ||
			p.MaxInFlight != config.DefaultMaxInFlight || p.Log != wantLog {
			t.Errorf("plugin %s = %+v, want plugins' defaults", name, p)
		}
	}
	if len(c.Plugins) != 3 {
		t.Errorf("%d plugins, want 3", len(c.Plugins))
	}
	wantRoutes := []config.Route{
		{Action: "echo", Plugin: "echo"},
		{ContentType: "text/json", Plugin: "search"},
		{Plugin: "binary"},
	}
	if !reflect.DeepEqual(c.Routes, wantRoutes) {
		t.Errorf("Routes = %+v, want %+v", c.Routes, wantRoutes)
	}
	wantLimits := config.Limits{MaxContentLength: core.DefaultMaxContentLength, MaxHeaderLength: core.MaxHeaderLength, MaxConnections: core.DefaultMaxConnections}
	if c.Limits != wantLimits {
		t.Errorf("Limits = %+v, want %+v", c.Limits, wantLimits)
	}
	wantTimeouts := config.Timeouts{Idle: core.DefaultIdleTimeout, Read: core.DefaultReadTimeout, Write: core.DefaultWriteTimeout, Handler: core.DefaultHandlerTimeout, Shutdown: 10 * time.Second}
	if c.Timeouts != wantTimeouts {
		t.Errorf("Timeouts = %+v, want %+v", c.Timeouts, wantTimeouts)
	}
	if c.Log != (config.Log{Level: "info", Format: "text"}) {
		t.Errorf("Log = %+v", c.Log)
	}

	// DefaultYAML is the same config, as a file, and Load("") is Default.
	fromFile := configtest.MustLoad(t, "default.yaml", string(config.DefaultYAML()))
	assertSameConfig(t, fromFile, c)
	fromEmpty, err := config.Load("", config.LoadOptions{Environ: []string{}})
	if err != nil {
		t.Fatal(err)
	}
	assertSameConfig(t, fromEmpty, c)
}

func assertSameConfig(t *testing.T, got, want *config.Config) {
	t.Helper()
	for _, f := range []struct {
		name      string
		got, want any
	}{
		{"listen", got.Listen, want.Listen},
		{"plugins", got.Plugins, want.Plugins},
		{"routes", got.Routes, want.Routes},
		{"limits", got.Limits, want.Limits},
		{"timeouts", got.Timeouts, want.Timeouts},
		{"log", got.Log, want.Log},
	} {
		if !reflect.DeepEqual(f.got, f.want) {
			t.Errorf("%s:\n got %+v\nwant %+v", f.name, f.got, f.want)
		}
	}
}

// One configuration in each of the three formats reads the same.
func TestFormats(t *testing.T) {
	yaml := `
listen:
  - tcp://127.0.0.1:7000
  - {addr: "unix:///tmp/r.sock", raw: true, plugin: echo}
plugins:
  echo: {cmd: "builtin:echo"}
  tag:
    cmd: /usr/local/bin/tag
    args: [-v, --fast]
    env: {TAG_MODE: fast}
    settings: {tag: v1, n: 3, ratio: 0.5, nested: {list: [1, two]}}
    start_timeout: 2s
    restart: {max_restarts: 0, backoff: 1s, max_backoff: 1m, reset_after: 10m}
routes:
  - {action: tag, plugin: tag.tag}
  - {content_type: "binary/*", plugin: echo}
  - {plugin: echo}
limits: {max_content_length: 64KiB, max_header_length: 4096, max_connections: 100}
timeouts: {idle: 1m30s, read: 2s, write: 3s, handler: 500ms, shutdown: 0}
log: {level: debug, format: json}
`
	toml := `
listen = ["tcp://127.0.0.1:7000", {addr = "unix:///tmp/r.sock", raw = true, plugin = "echo"}]

[plugins.echo]
cmd = "builtin:echo"

[plugins.tag]
cmd = "/usr/local/bin/tag"
args = ["-v", "--fast"]
env = {TAG_MODE = "fast"}
settings = {tag = "v1", n = 3, ratio = 0.5, nested = {list = [1, "two"]}}
start_timeout = "2s"
restart = {max_restarts = 0, backoff = "1s", max_backoff = "1m", reset_after = "10m"}

[[routes]]
action = "tag"
plugin = "tag.tag"

[[routes]]
content_type = "binary/*"
plugin = "echo"

[[routes]]
plugin = "echo"

[limits]
max_content_length = "64KiB"
max_header_length = 4096
max_connections = 100

[timeouts]
idle = "1m30s"
read = "2s"
write = "3s"
handler = "500ms"
shutdown = 0

[log]
level = "debug"
format = "json"
`
	json := `{
  "listen": ["tcp://127.0.0.1:7000", {"addr": "unix:///tmp/r.sock", "raw": true, "plugin": "echo"}],
  "plugins": {
    "echo": {"cmd": "builtin:echo"},
    "tag": {
      "cmd": "/usr/local/bin/tag",
      "args": ["-v", "--fast"],
      "env": {"TAG_MODE": "fast"},
      "settings": {"tag": "v1", "n": 3, "ratio": 0.5, "nested": {"list": [1, "two"]}},
      "start_timeout": "2s",
      "restart": {"max_restarts": 0, "backoff": "1s", "max_backoff": "1m", "reset_after": "10m"}
    }
  },
  "routes": [
    {"action": "tag", "plugin": "tag.tag"},
    {"content_type": "binary/*", "plugin": "echo"},
    {"plugin": "echo"}
  ],
  "limits": {"max_content_length": "64KiB", "max_header_length": 4096, "max_connections": 100},
  "timeouts": {"idle": "1m30s", "read": "2s", "write": "3s", "handler": "500ms", "shutdown": 0},
  "log": {"level": "debug", "format": "json"}
}`
	fromYAML := configtest.MustLoad(t, "r.yaml", yaml)
	// .yml is YAML too.
	assertSameConfig(t, configtest.MustLoad(t, "r.yml", yaml), fromYAML)
	assertSameConfig(t, configtest.MustLoad(t, "r.toml", toml), fromYAML)
	assertSameConfig(t, configtest.MustLoad(t, "r.json", json), fromYAML)
	// Upper-case extensions too.
	assertSameConfig(t, configtest.MustLoad(t, "R.JSON", json), fromYAML)

	// And what they read is what was written.
	c := fromYAML
	wantListen := []config.Listener{{Addr: "tcp://127.0.0.1:7000"}, {Addr: "unix:///tmp/r.sock", Raw: true, Plugin: "echo"}}
	if !reflect.DeepEqual(c.Listen, wantListen) {
		t.Errorf("Listen = %+v, want %+v", c.Listen, wantListen)
	}
	wantTag := config.Plugin{
		Cmd:  "/usr/local/bin/tag",
		Args: []string{"-v", "--fast"},
		Env:  map[string]string{"TAG_MODE": "fast"},
		Settings: map[string]any{"tag": "v1", "n": int64(3), "ratio": 0.5,
			"nested": map[string]any{"list": []any{int64(1), "two"}}},
		StartTimeout:   2 * time.Second,
		HealthInterval: config.DefaultHealthInterval,
		Restart:        config.Restart{MaxRestarts: 0, Backoff: time.Second, MaxBackoff: time.Minute, ResetAfter: 10 * time.Minute, Cooldown: config.DefaultCooldown},
		Instances:      config.DefaultInstances,
		MaxInFlight:    config.DefaultMaxInFlight,
		Log:            config.PluginLog{LinesPerSecond: config.DefaultLogLinesPerSecond, Burst: config.DefaultLogBurst, MaxLine: config.DefaultMaxLogLine},
	}
	if !reflect.DeepEqual(c.Plugins["tag"], wantTag) {
		t.Errorf("plugin tag =\n %#v\nwant\n %#v", c.Plugins["tag"], wantTag)
	}
	if c.Limits != (config.Limits{MaxContentLength: 64 << 10, MaxHeaderLength: 4096, MaxConnections: 100}) {
		t.Errorf("Limits = %+v", c.Limits)
	}
	if c.Timeouts != (config.Timeouts{Idle: 90 * time.Second, Read: 2 * time.Second, Write: 3 * time.Second, Handler: 500 * time.Millisecond}) {
		t.Errorf("Timeouts = %+v", c.Timeouts)
	}
}

// A file's listen, plugins and routes replace the default ones whole;
// the keys it leaves out keep their defaults.
func TestMergeWithDefaults(t *testing.T) {
	def := config.Default()

	c := configtest.MustLoad(t, "r.yaml", "log: {level: debug}\nlimits: {max_connections: 5}\n")
	if c.Log.Level != "debug" || c.Log.Format != "text" {
		t.Errorf("Log = %+v, want level debug and the default format", c.Log)
	}
	if c.Limits.MaxConnections != 5 || c.Limits.MaxContentLength != def.Limits.MaxContentLength {
		t.Errorf("Limits = %+v", c.Limits)
	}
	assertSameConfig(t, &config.Config{Listen: c.Listen, Plugins: c.Plugins, Routes: c.Routes, Limits: def.Limits, Timeouts: c.Timeouts, Log: def.Log}, def)

	c = configtest.MustLoad(t, "r.yaml", `
listen: ["127.0.0.1:7000"]
plugins: {only: {cmd: /bin/only}}
routes: [{plugin: only}]
`)
	if len(c.Listen) != 1 || c.Listen[0].Addr != "127.0.0.1:7000" {
		t.Errorf("Listen = %+v: the file's list must replace the default one", c.Listen)
	}
	// One address needs no list.
	if c := configtest.MustLoad(t, "r.yaml", "listen: unix:///tmp/r.sock\n"); len(c.Listen) != 1 || c.Listen[0].Addr != "unix:///tmp/r.sock" {
		t.Errorf("Listen = %+v from one address", c.Listen)
	}
	if len(c.Plugins) != 1 {
		t.Errorf("Plugins = %v: the file's plugins must replace the default ones", c.Plugins)
	}
	if len(c.Routes) != 1 {
		t.Errorf("Routes = %v", c.Routes)
	}
	// A plugin's keys that the file leaves out take plugins' defaults;
	// those it sets, even to 0, are kept.
	c = configtest.MustLoad(t, "r.yaml", `
plugins:
  a: {cmd: /bin/a, restart: {max_restarts: 0}, health_interval: 0}
  search: {cmd: "builtin:search"}
routes: [{plugin: a}]
`)
	a := c.Plugins["a"]
	if a.Restart.MaxRestarts != 0 || a.HealthInterval != 0 || a.Restart.Backoff != config.DefaultBackoff || a.StartTimeout != config.DefaultStartTimeout {
		t.Errorf("plugin a = %+v", a)
	}
}

// Overrides apply in order: defaults, the file, the environment, flags.
func TestOverridePrecedence(t *testing.T) {
	dir := t.TempDir()
	path := configtest.WriteFile(t, dir, "r.yaml", `
log: {level: warn}
limits: {max_connections: 10}
plugins:
  tag: {cmd: /bin/tag-from-file}
  fallback: {cmd: /bin/fallback}
routes: [{action: tag, plugin: tag}, {plugin: fallback}]
`)
	env := []string{
		"ROUTER_LOG_LEVEL=debug",
		"ROUTER_LIMITS_MAX_CONNECTIONS=20",
		"ROUTER_PLUGINS_TAG_CMD=/bin/tag-from-env",
		"ROUTER_LISTEN=tcp://127.0.0.1:7001, unix:///tmp/env.sock",
		"HOME=/root", "PATH=/bin", // not ours
		"ROUTER_PLUGIN=cookie", "ROUTER_TEST_MAIN=1", // reserved
	}
	flags := map[string]any{
		"log.level":          "error",
		"plugins.tag.cmd":    "/bin/tag-from-flags",
		"listen":             []string{"127.0.0.1:7002"},
		"timeouts.handler":   2 * time.Second,
		"limits.max_content": nil, // see below: removed before use
	}
	delete(flags, "limits.max_content")

	for _, tc := range []struct {
		name       string
		path       string
		env        []string
		flags      map[string]any
		level      string
		maxConns   int
		tagCmd     string
		listen     []string
		handlerTTL time.Duration
	}{
		{"defaults", "", []string{}, nil, "info", 10000, "", []string{"tcp://127.0.0.1:65432"}, 5 * time.Second},
		{"file", path, []string{}, nil, "warn", 10, "/bin/tag-from-file", []string{"tcp://127.0.0.1:65432"}, 5 * time.Second},
		{"env over file", path, env, nil, "debug", 20, "/bin/tag-from-env", []string{"tcp://127.0.0.1:7001", "unix:///tmp/env.sock"}, 5 * time.Second},
		{"flags over env", path, env, flags, "error", 20, "/bin/tag-from-flags", []string{"127.0.0.1:7002"}, 2 * time.Second},
		{"flags over file", path, []string{}, flags, "error", 10, "/bin/tag-from-flags", []string{"127.0.0.1:7002"}, 2 * time.Second},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.path == "" {
				// The defaults have no plugin "tag": no env or flag for it.
				tc.flags = nil
			}
			c, err := config.Load(tc.path, config.LoadOptions{Environ: tc.env, Flags: tc.flags})
			if err != nil {
				t.Fatal(err)
			}
			if c.Log.Level != tc.level || c.Limits.MaxConnections != tc.maxConns || c.Timeouts.Handler != tc.handlerTTL {
				t.Errorf("level %q, max_connections %d, handler %s; want %q, %d, %s", c.Log.Level, c.Limits.MaxConnections, c.Timeouts.Handler, tc.level, tc.maxConns, tc.handlerTTL)
			}
			if tc.tagCmd != "" && c.Plugins["tag"].Cmd != tc.tagCmd {
				t.Errorf("plugins.tag.cmd = %q, want %q", c.Plugins["tag"].Cmd, tc.tagCmd)
			}
			var listen []string
			for _, l := range c.Listen {
				listen = append(listen, l.Addr)
			}
			if !reflect.DeepEqual(listen, tc.listen) {
				t.Errorf("listen = %q, want %q", listen, tc.listen)
			}
		})
	}
}

// Environment variables and flags are read as their key's type wants.
func TestOverrideForms(t *testing.T) {
	path := configtest.WriteFile(t, t.TempDir(), "r.yaml", `
plugins:
  my-tag: {cmd: /bin/tag}
routes: [{plugin: my-tag}]
`)
	c, err := config.Load(path, config.LoadOptions{Environ: []string{
		`ROUTER_LISTEN=["127.0.0.1:7000", {"addr": "127.0.0.1:7001", "raw": true}]`,
		"ROUTER_LIMITS_MAX_CONTENT_LENGTH=64KiB",
		"ROUTER_TIMEOUTS_IDLE=1m",
		"ROUTER_PLUGINS_MY_TAG_ARGS=-v, --fast",
		`ROUTER_PLUGINS_MY_TAG_SETTINGS={"tag": "v2", "n": 1}`,
		`ROUTER_PLUGINS_MY_TAG_ENV={"A": "1"}`,
		"ROUTER_PLUGINS_MY_TAG_RESTART_MAX_RESTARTS=0",
		`ROUTER_ROUTES=[{"action": "x", "plugin": "my-tag"}, {"plugin": "my-tag"}]`,
	}, Flags: map[string]any{
		"timeouts.read":               "3s",
		"limits.max_connections":      7,
		"plugins.my-tag.settings.tag": "v3",
		"listen":                      "127.0.0.1:7003,127.0.0.1:7004",
	}})
	if err != nil {
		t.Fatal(err)
	}
	p := c.Plugins["my-tag"]
	if !reflect.DeepEqual(p.Args, []string{"-v", "--fast"}) || p.Env["A"] != "1" || p.Restart.MaxRestarts != 0 {
		t.Errorf("plugin = %+v", p)
	}
	if want := map[string]any{"tag": "v3", "n": int64(1)}; !reflect.DeepEqual(p.Settings, want) {
		t.Errorf("settings = %#v, want %#v", p.Settings, want)
	}
	if c.Limits.MaxContentLength != 64<<10 || c.Limits.MaxConnections != 7 || c.Timeouts.Idle != time.Minute || c.Timeouts.Read != 3*time.Second {
		t.Errorf("limits %+v, timeouts %+v", c.Limits, c.Timeouts)
	}
	if len(c.Routes) != 2 || c.Routes[0].Action != "x" {
		t.Errorf("routes = %+v", c.Routes)
	}
	if len(c.Listen) != 2 || c.Listen[1].Addr != "127.0.0.1:7004" {
		t.Errorf("listen = %+v", c.Listen)
	}

	// Environ nil means the process's environment.
	t.Setenv("ROUTER_LOG_FORMAT", "json")
	c, err = config.Load("", config.LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if c.Log.Format != "json" {
		t.Errorf("log.format = %q with ROUTER_LOG_FORMAT=json in the environment", c.Log.Format)
	}
}

// Each class of error names the source, the key and what was wanted,
// on one line, and every problem is reported.
func TestLoadErrors(t *testing.T) {
	for _, tc := range []struct {
		name  string
		file  string // name and body: "r.yaml\n..."
		env   []string
		flags map[string]any
		class error
		also  error // the class of the value errors that come with class's, if not class
		want  []string
	}{
		{
			name:  "unknown keys",
			file:  "r.yaml\nlimits:\n  max_conections: 5\nlisten: [{adr: ':1'}]\nplugins:\n  p: {cmd: /bin/p, config: {a: 1}}\nroutes: [{plugin: p, contenttype: x}]\nlogging: {level: debug}\n",
			class: config.ErrUnknownKey,
			want: []string{
				`DIR/r.yaml: limits.max_conections: unknown key, did you mean "max_connections"? (want one of max_content_length, max_header_length, max_connections, max_buffered)`,
				`DIR/r.yaml: listen[0].adr: unknown key, did you mean "addr"? (want one of addr, raw, plugin, tls)`,
				`DIR/r.yaml: logging: unknown key, did you mean "log"? (want one of listen, plugins, routes, limits, timeouts, log, metrics, request_id, nats, worker)`,
				`DIR/r.yaml: plugins.p.config: unknown key, did you mean "settings"? (want one of cmd, args, env, settings, start_timeout, health_interval, restart, instances, max_in_flight, log)`,
				`DIR/r.yaml: routes[0].contenttype: unknown key, did you mean "content_type"? (want one of action, content_type, plugin, nats, name)`,
			},
		},
		{
			name:  "unknown environment variable and flag",
			file:  "r.yaml\nlog: {level: info}\n",
			env:   []string{"ROUTER_LIMITS_MAX_CONECTIONS=5", "ROUTER_PLUGINS_NOPE_CMD=/bin/x", "ROUTER_PLUGIN=cookie"},
			flags: map[string]any{"log.levl": "debug"},
			class: config.ErrUnknownKey,
			want: []string{
				`$ROUTER_LIMITS_MAX_CONECTIONS: unknown variable, did you mean $ROUTER_LIMITS_MAX_CONNECTIONS? (want ROUTER_ and a key in capitals, such as ROUTER_LOG_LEVEL for log.level)`,
				`$ROUTER_PLUGINS_NOPE_CMD: unknown variable: it names no key of a defined plugin (want ROUTER_PLUGINS_<NAME>_<KEY> for a defined plugin NAME: binary, echo, search)`,
				`flags: log.levl: unknown key, did you mean "level"? (want one of level, format)`,
			},
		},
		{
			name:  "wrong types",
			file:  "r.toml\nlisten = 5\n[limits]\nmax_connections = \"many\"\n[plugins.p]\ncmd = 7\nargs = \"-v\"\nenv = {PORT = 8080}\n[log]\nlevel = true\n",
			class: config.ErrType,
			also:  config.ErrRoute,
			want: []string{
				`DIR/r.toml: limits.max_connections: got string "many" (want an integer)`,
				`DIR/r.toml: listen: got integer 5 (want a list of addresses)`,
				`DIR/r.toml: log.level: got boolean true (want a string)`,
				`DIR/r.toml: plugins.p.args: got string "-v" (want a list of strings)`,
				`DIR/r.toml: plugins.p.cmd: got integer 7 (want a string)`,
				`DIR/r.toml: plugins.p.env.PORT: got integer 8080 (want a string: quote it, "8080")`,
				// The file's plugins replace the default ones, which
				// the default routes name. (plugins.p.cmd has no "no
				// command": its value was left out for its type.)
				`default config: routes[0].plugin: no plugin "echo" is defined (want one of the plugins: p)`,
				`default config: routes[1].plugin: no plugin "search" is defined (want one of the plugins: p)`,
				`default config: routes[2].plugin: no plugin "binary" is defined (want one of the plugins: p)`,
			},
		},
		{
			name:  "wrong type from the environment",
			file:  "r.json\n{\"limits\": {\"max_connections\": 1.5}}",
			env:   []string{"ROUTER_LOG_LEVEL=debug", "ROUTER_LISTEN=[{\"addr\": 1}]", "ROUTER_ROUTES=a,b"},
			class: config.ErrType,
			want: []string{
				`DIR/r.json: limits.max_connections: got number 1.5 (want an integer)`,
				`$ROUTER_LISTEN: listen[0].addr: got integer 1 (want a string)`,
				`$ROUTER_ROUTES: routes: got string "a,b" (want a JSON list of maps with keys action, content_type, plugin, nats, name)`,
			},
		},
		{
			name:  "bad durations",
			file:  "r.yaml\ntimeouts: {idle: 10 secs, read: 60, write: -1s}\nplugins: {p: {cmd: /bin/p, restart: {backoff: soon}}}\nroutes: [{plugin: p}]\n",
			flags: map[string]any{"timeouts.handler": "5"},
			class: config.ErrValue,
			want: []string{
				`DIR/r.yaml: plugins.p.restart.backoff: invalid duration "soon" (want a duration such as 500ms, 10s or 1m30s, or 0 for none)`,
				`DIR/r.yaml: timeouts.idle: invalid duration "10 secs" (want a duration such as 500ms, 10s or 1m30s, or 0 for none)`,
				`DIR/r.yaml: timeouts.read: got integer 60, a duration without a unit (want a duration with a unit, such as 60s)`,
				`flags: timeouts.handler: got "5", a duration without a unit (want a duration with a unit, such as 5s)`,
				`DIR/r.yaml: timeouts.write: negative duration -1s (want 0 or more; 0 means none)`,
			},
		},
		{
			name:  "negative duration",
			file:  "r.yaml\ntimeouts: {write: -1s}\n",
			class: config.ErrValue,
			want:  []string{`DIR/r.yaml: timeouts.write: negative duration -1s (want 0 or more; 0 means none)`},
		},
		{
			name:  "bad sizes",
			file:  "r.yaml\nlimits: {max_content_length: 16 MB/s, max_header_length: 70000}\n",
			env:   []string{"ROUTER_LIMITS_MAX_CONNECTIONS=-3"},
			class: config.ErrValue,
			want: []string{
				`DIR/r.yaml: limits.max_content_length: invalid size "16 MB/s" (want a number of bytes, or a number and a unit such as 64KiB, 16MiB or 1GB)`,
				`DIR/r.yaml: limits.max_header_length: 70000 is out of range (want 0 to 65535 bytes, the protocol's limit; 0 means 65535)`,
				`$ROUTER_LIMITS_MAX_CONNECTIONS: limits.max_connections: negative count -3 (want 0 or more; 0 means no limit)`,
			},
		},
		{
			name:  "size out of range",
			file:  "r.yaml\nlimits: {max_header_length: 64KiB, max_connections: -3}\n",
			class: config.ErrValue,
			want: []string{
				`DIR/r.yaml: limits.max_header_length: 65536 is out of range (want 0 to 65535 bytes, the protocol's limit; 0 means 65535)`,
				`DIR/r.yaml: limits.max_connections: negative count -3 (want 0 or more; 0 means no limit)`,
			},
		},
		{
			name:  "route to an undefined plugin",
			file:  "r.yaml\nroutes:\n  - {action: search, plugin: serch}\n  - {plugin: nothing.here}\n",
			class: config.ErrRoute,
			want: []string{
				`DIR/r.yaml: routes[0].plugin: no plugin "serch" is defined, did you mean "search"? (want one of the plugins: binary, echo, search)`,
				`DIR/r.yaml: routes[1].plugin: no plugin "nothing" is defined (want one of the plugins: binary, echo, search)`,
			},
		},
		{
			name:  "duplicate route",
			file:  "r.yaml\nroutes:\n  - {action: echo, plugin: echo}\n  - {content_type: text/json, plugin: search}\n  - {action: echo, plugin: search}\n  - {plugin: binary}\n",
			class: config.ErrRoute,
			want: []string{
				`DIR/r.yaml: routes[2]: duplicates routes[0] (action echo, content_type *) (want each action and content_type once)`,
			},
		},
		{
			name:  "unreachable route after a catch-all",
			file:  "r.yaml\nroutes:\n  - {plugin: binary}\n  - {action: echo, plugin: echo}\n  - {content_type: '*', plugin: binary}\n",
			class: config.ErrRoute,
			want: []string{
				`DIR/r.yaml: routes[1]: can never match: it follows the catch-all routes[0] (want the catch-all route last)`,
				`DIR/r.yaml: routes[2]: can never match: it follows the catch-all routes[0] (want the catch-all route last)`,
			},
		},
		{
			name:  "route shadowed by a broader one",
			file:  "r.yaml\nroutes:\n  - {content_type: 'text/*', plugin: search}\n  - {action: search, content_type: text/json, plugin: search}\n  - {plugin: binary}\n",
			class: config.ErrRoute,
			want: []string{
				`DIR/r.yaml: routes[1]: can never match: routes[0] (action *, content_type text/*) matches every request it would (want the narrower route first)`,
			},
		},
		{
			name:  "bad addresses",
			file:  "r.yaml\nlisten: ['udp://127.0.0.1:1', localhost, '127.0.0.1:70000', 'unix://', '127.0.0.1:7000', 'tcp://127.0.0.1:7000', {raw: true}]\n",
			class: config.ErrValue,
			want: []string{
				`DIR/r.yaml: listen[0]: unknown scheme "udp" in "udp://127.0.0.1:1" (want tcp, tcp4, tcp6 or unix)`,
				`DIR/r.yaml: listen[1]: invalid address "localhost": missing port in address (want host:port, [ipv6]:port or :port)`,
				`DIR/r.yaml: listen[2]: invalid address "127.0.0.1:70000": port 70000 out of range (want a port from 0 to 65535)`,
				`DIR/r.yaml: listen[3]: no socket path in "unix://" (want unix:///path/to/socket)`,
				`DIR/r.yaml: listen[5]: duplicates listen[4] (tcp://127.0.0.1:7000) (want each address once)`,
				`DIR/r.yaml: listen[6]: no address (want addr: tcp://host:port, unix:///path/to/socket or host:port)`,
			},
		},
		{
			name:  "TLS",
			file:  "r.yaml\nlisten: [{addr: ':0', tls: {cert: DIR/missing.pem, min_version: '1.1'}}, {addr: ':0', plugin: echo}]\n",
			class: config.ErrValue,
			want: []string{
				`DIR/r.yaml: listen[0].tls.cert: cannot read "DIR/missing.pem": no such file or directory (want a PEM certificate file)`,
				`DIR/r.yaml: listen[0].tls.key: not set (want a PEM private key file)`,
				`DIR/r.yaml: listen[0].tls.min_version: unknown TLS version "1.1" (want "1.2" or "1.3")`,
				`DIR/r.yaml: listen[1].plugin: only a raw listener names a plugin; a framed one uses the routes (want raw: true, or no plugin)`,
			},
		},
		{
			name:  "plugins",
			file:  "r.yaml\nplugins:\n  p: {cmd: ''}\n  q: {cmd: 'builtin:', restart: {max_restarts: -1, backoff: 2s, max_backoff: 1s}, start_timeout: 0s}\n  bad.name: {cmd: /bin/x}\nroutes: [{plugin: p}]\n",
			class: config.ErrValue,
			want: []string{
				`DIR/r.yaml: plugins: invalid plugin name "bad.name" (want letters, digits, '-' and '_', starting with a letter or digit)`,
				`DIR/r.yaml: plugins.p.cmd: no command (want the plugin executable's path, or builtin:NAME)`,
				`DIR/r.yaml: plugins.q.cmd: no built-in named after builtin: (want builtin:NAME, such as builtin:search)`,
				`DIR/r.yaml: plugins.q.start_timeout: duration 0 is not positive (want a duration above 0, such as 10s)`,
				`DIR/r.yaml: plugins.q.restart.max_restarts: negative count -1 (want 0 or more; 0 means never restart)`,
				`DIR/r.yaml: plugins.q.restart.max_backoff: 1s is less than backoff 2s (want max_backoff at least backoff)`,
			},
		},
		{
			name:  "plugin values",
			file:  "r.yaml\nplugins:\n  p: {cmd: ''}\n  q: {cmd: 'builtin:', restart: {max_restarts: -1, backoff: 2s, max_backoff: 1s, cooldown: -1s}, start_timeout: 0s, max_in_flight: -1, log: {lines_per_second: -5, burst: -1}}\nroutes: [{plugin: p}]\n",
			class: config.ErrValue,
			want: []string{
				`DIR/r.yaml: plugins.p.cmd: no command (want the plugin executable's path, or builtin:NAME)`,
				`DIR/r.yaml: plugins.q.cmd: no built-in named after builtin: (want builtin:NAME, such as builtin:search)`,
				`DIR/r.yaml: plugins.q.start_timeout: duration 0 is not positive (want a duration above 0, such as 10s)`,
				`DIR/r.yaml: plugins.q.restart.max_restarts: negative count -1 (want 0 or more; 0 means never restart)`,
				`DIR/r.yaml: plugins.q.restart.max_backoff: 1s is less than backoff 2s (want max_backoff at least backoff)`,
				`DIR/r.yaml: plugins.q.restart.cooldown: negative duration -1s (want 0 or more; 0 means none)`,
				`DIR/r.yaml: plugins.q.max_in_flight: negative count -1 (want 0 or more; 0 means no limit)`,
				`DIR/r.yaml: plugins.q.log.lines_per_second: negative count -5 (want 0 or more; 0 means no limit)`,
				`DIR/r.yaml: plugins.q.log.burst: negative count -1 (want 0 or more; 0 means one line at a time)`,
			},
		},
		{
			name:  "log",
			file:  "r.yaml\nlog: {level: verbose, format: xml}\n",
			env:   []string{"ROUTER_LOG_LEVEL=loud"},
			class: config.ErrValue,
			want: []string{
				`$ROUTER_LOG_LEVEL: log.level: unknown level "loud" (want trace, debug, info, warn, error or off)`,
				`DIR/r.yaml: log.format: unknown format "xml" (want text or json)`,
			},
		},
		{
			name:  "nothing to listen on",
			file:  "r.json\n{\"listen\": []}",
			class: config.ErrValue,
			want:  []string{`DIR/r.json: listen: no listener (want at least one address, such as tcp://127.0.0.1:65432)`},
		},
		{
			name:  "no routes",
			file:  "r.json\n{\"routes\": []}",
			class: config.ErrRoute,
			want:  []string{`DIR/r.json: routes: no route (want at least one route; {plugin: NAME} alone answers every request)`},
		},
		{
			name:  "YAML syntax",
			file:  "r.yaml\nlisten: [a\nlog: {}\n",
			class: config.ErrSyntax,
			want:  []string{`DIR/r.yaml: invalid YAML: line 1: did not find expected ',' or ']'`},
		},
		{
			name:  "TOML syntax",
			file:  "r.toml\n[log]\nlevel = debug\n",
			class: config.ErrSyntax,
			want:  []string{`DIR/r.toml: invalid TOML: line 2, column 9: toml: incomplete number`},
		},
		{
			name:  "JSON syntax",
			file:  "r.json\n{\"log\": {\n  \"level\": \"debug\",\n}}",
			class: config.ErrSyntax,
			want:  []string{`DIR/r.json: invalid JSON: line 3, column 1: invalid character '}' looking for beginning of object key string`},
		},
		{
			name:  "not a map",
			file:  "r.yaml\n- listen\n",
			class: config.ErrSyntax,
			want:  []string{`DIR/r.yaml: invalid YAML: the file is not a map of keys: line 1: cannot unmarshal !!seq into map[string]interface {}`},
		},
		{
			name:  "unknown extension",
			file:  "r.conf\nlisten = x\n",
			class: config.ErrFile,
			want:  []string{`DIR/r.conf: unknown file type ".conf" (want .yaml, .yml, .toml or .json)`},
		},
		{
			name:  "empty file",
			file:  "r.yaml\n# all commented out\n",
			class: config.ErrValue,
			want:  []string{`DIR/r.yaml: the file sets nothing (want a configuration; to run with the defaults, give no file)`},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			name, body, _ := strings.Cut(tc.file, "\n")
			body = strings.ReplaceAll(body, "DIR", dir)
			path := configtest.WriteFile(t, dir, name, body)
			env := tc.env
			if env == nil {
				env = []string{}
			}
			_, err := config.Load(path, config.LoadOptions{Environ: env, Flags: tc.flags})
			configtest.AssertLines(t, err, dir, tc.want...)
			for _, e := range config.Errors(err) {
				if !errors.Is(e, tc.class) && (tc.also == nil || !errors.Is(e, tc.also)) {
					t.Errorf("%q is not %v", e, tc.class)
				}
			}
			if !errors.Is(err, tc.class) {
				t.Errorf("errors.Is(err, %v) is false", tc.class)
			}
		})
	}

	t.Run("missing file", func(t *testing.T) {
		dir := t.TempDir()
		_, err := config.Load(filepath.Join(dir, "nope.yaml"), config.LoadOptions{Environ: []string{}})
		configtest.AssertLines(t, err, dir, `DIR/nope.yaml: cannot read the file: no such file or directory`)
		if !errors.Is(err, config.ErrFile) || !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%v is not ErrFile and os.ErrNotExist", err)
		}
	})
}

// TLS files that exist but do not load are an error of Load, as they
// are of serve: "router config check" says so, plugins or not.
func TestLoadTLSUnloadable(t *testing.T) {
	dir := t.TempDir()
	bad := configtest.WriteFile(t, dir, "bad.pem", "not a certificate")
	_, err := config.Load(configtest.WriteFile(t, dir, "r.yaml", `
listen: [{addr: "127.0.0.1:0", tls: {cert: `+bad+`, key: `+bad+`}}]
`), config.LoadOptions{Environ: []string{}})
	if !errors.Is(err, config.ErrValue) {
		t.Fatalf("Load = %v, want ErrValue", err)
	}
	configtest.AssertLines(t, err, dir,
		`DIR/r.yaml: listen[0].tls: cannot load certificate "DIR/bad.pem" and key "DIR/bad.pem": failed to find any PEM data in certificate input (want a PEM certificate and its PEM private key)`)

	// Nor is anything but a regular file read: /dev/zero never ends.
	_, err = config.Load(configtest.WriteFile(t, dir, "z.yaml", `
listen: [{addr: "127.0.0.1:0", tls: {cert: /dev/zero, key: `+bad+`}}]
`), config.LoadOptions{Environ: []string{}})
	configtest.AssertLines(t, err, dir,
		`DIR/z.yaml: listen[0].tls.cert: "/dev/zero" is not a regular file (want a PEM certificate file)`)
}

// Errors gives each problem with its parts.
func TestErrorsParts(t *testing.T) {
	dir := t.TempDir()
	_, err := config.Load(configtest.WriteFile(t, dir, "r.yaml", "limits: {max_connections: x}\nlog: {lvl: 1}\n"), config.LoadOptions{Environ: []string{}})
	es := config.Errors(err)
	if len(es) != 2 {
		t.Fatalf("Errors = %v, want 2", es)
	}
	e := es[0]
	if e.Source != filepath.Join(dir, "r.yaml") || e.Key != "limits.max_connections" || e.Msg != `got string "x"` || e.Want != "an integer" || e.Err != config.ErrType {
		t.Errorf("Errors()[0] = %+v", e)
	}
	if es[1].Key != "log.lvl" || es[1].Err != config.ErrUnknownKey {
		t.Errorf("Errors()[1] = %+v", es[1])
	}
}

// Validate works on a Config built in code: its errors have no source.
func TestValidateInCode(t *testing.T) {
	c := config.Default()
	c.Routes = append(c.Routes, config.Route{Action: "late", Plugin: "echo"})
	c.Timeouts.Idle = -time.Second
	c.Plugins["x"] = config.Plugin{Cmd: "/bin/x", StartTimeout: time.Second, Restart: config.Restart{Backoff: time.Second, MaxBackoff: time.Second, ResetAfter: time.Second}}
	err := c.Validate()
	configtest.AssertLines(t, err, "",
		`routes[3]: can never match: it follows the catch-all routes[2] (want the catch-all route last)`,
		`timeouts.idle: negative duration -1s (want 0 or more; 0 means none)`,
	)
}

func TestParseSize(t *testing.T) {
	for in, want := range map[string]config.Size{
		"0": 0, "1024": 1024, "16MiB": 16 << 20, "16mib": 16 << 20, "64 KB": 64000, "64KiB": 64 << 10,
		"1GB": 1e9, "2GiB": 2 << 30, "1TiB": 1 << 40, "10B": 10, " 5 kb ": 5000,
	} {
		got, err := config.ParseSize(in)
		if err != nil || got != want {
			t.Errorf("ParseSize(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, in := range []string{"", "MiB", "1.5MiB", "-1", "16 MB/s", "1e3", "99999999999TiB", "10 bits"} {
		if got, err := config.ParseSize(in); err == nil {
			t.Errorf("ParseSize(%q) = %d, want an error", in, got)
		}
	}
	for s, want := range map[config.Size]string{16 << 20: "16MiB", 65535: "65535", 0: "0", 1 << 10: "1KiB", 3 << 30: "3GiB"} {
		if s.String() != want {
			t.Errorf("Size(%d).String() = %q, want %q", int64(s), s.String(), want)
		}
	}
}

// The example files of testdata, one per format, load and are the same
// config.
func TestExampleFiles(t *testing.T) {
	noEnv := config.LoadOptions{Environ: []string{}}
	y, err := config.Load("testdata/router.yaml", noEnv)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"testdata/router.toml", "testdata/router.json"} {
		c, err := config.Load(f, noEnv)
		if err != nil {
			t.Fatal(err)
		}
		assertSameConfig(t, c, y)
	}
	if y.Limits.MaxContentLength != 1<<20 || y.Plugins["upper"].Settings["suffix"] != "!" || len(y.Routes) != 5 {
		t.Errorf("testdata/router.yaml read as %+v", y)
	}
}
