package config

import (
	_ "embed"
	"time"
)

// defaultYAML is the embedded default configuration: the reference
// app-server on 127.0.0.1:65432 with the built-in plugins.
//
//go:embed default.yaml
var defaultYAML []byte

// DefaultYAML returns the embedded default configuration file, as
// "router config default" prints it. The caller may change the copy.
func DefaultYAML() []byte { return append([]byte(nil), defaultYAML...) }

// Default returns the embedded default configuration, parsed, with no
// environment or flag overrides: the reference app-server on
// 127.0.0.1:65432, the built-in plugins search, binary and echo run as
// plugin processes (builtin:NAME), and the limits and timeouts of
// core.Server's defaults. A Config built in code should start from it.
func Default() *Config {
	c, err := Load("", LoadOptions{Environ: []string{}})
	if err != nil {
		panic("config: the embedded default.yaml is invalid: " + err.Error())
	}
	c.src = nil // what a caller changes is no longer the default config's
	return c
}

// Config is the whole setup of a router: where it listens, which plugins
// it runs, how requests are routed to them, and its limits, timeouts and
// logging. Load reads one from a file (YAML, TOML or JSON), the
// environment and flags; Default returns the embedded one.
//
// Keys are given below as they are written in a file. A key the file
// leaves out takes its default, which is the default configuration's
// value (see default.yaml); listen, plugins and routes are taken whole
// from the file when it has them, never merged with the default ones.
//
// Where a limit or timeout is 0, there is none.
type Config struct {
	// Listen lists the addresses to serve (key "listen"). Each is a
	// string, "tcp://127.0.0.1:65432", "unix:///run/router.sock" or
	// "host:port", or an object for a raw or TLS listener. Default:
	// ["tcp://127.0.0.1:65432"].
	Listen []Listener `koanf:"listen"`
	// Plugins are the plugin processes to run, by name (key "plugins").
	// A name is letters, digits, '-' and '_'. Default: search, binary and
	// echo, each "builtin:NAME".
	Plugins map[string]Plugin `koanf:"plugins"`
	// Routes is the route table, in order: the first route that matches
	// a request answers it (key "routes"). Default: action "echo" to
	// echo, content-type "text/json" to search, anything else to binary.
	Routes []Route `koanf:"routes"`
	// Limits bound what clients may send (key "limits").
	Limits Limits `koanf:"limits"`
	// Timeouts bound how long the router waits (key "timeouts").
	Timeouts Timeouts `koanf:"timeouts"`
	// Log sets up the router's logging (key "log").
	Log Log `koanf:"log"`
	// Metrics sets up the Prometheus endpoint (key "metrics").
	Metrics Metrics `koanf:"metrics"`
	// RequestID sets up request ids (key "request_id").
	RequestID RequestID `koanf:"request_id"`
	// NATS connects to NATS (key "nats"): for the routes that name a
	// subject, and for `router worker`.
	NATS NATS `koanf:"nats"`
	// Worker sets up `router worker` (key "worker"); `router serve`
	// does not read it.
	Worker Worker `koanf:"worker"`

	// worker is set when the config was loaded for `router worker`
	// (LoadOptions.Worker): see Validate.
	worker bool

	// src tells where each key's value came from, for errors.
	src *sources
}

// Listener is one address the router serves.
type Listener struct {
	// Addr is the address (key "addr"): tcp://host:port, tcp4://...,
	// tcp6://[::1]:port, unix:///path/to/socket, or host:port. Port 0
	// picks a free port. Required.
	Addr string `koanf:"addr"`
	// Raw serves the address unframed (key "raw"), as the tutorial's
	// echo-server: every chunk of bytes a client sends goes to a handler
	// as the content of an "application/octet-stream" request, and the
	// answer's content is written back as it is. Default: false.
	Raw bool `koanf:"raw"`
	// Plugin names the handler that answers a raw listener's chunks (key
	// "plugin"), as a route's plugin does: "echo" for the tutorial's
	// echo-server. Empty means the route table. Only for a raw listener.
	Plugin string `koanf:"plugin"`
	// TLS, when set, serves the address over TLS (key "tls").
	TLS *TLS `koanf:"tls"`
}

// TLS is a listener's TLS setup. The files are read when the listener
// opens and again on each reload, so a renewed certificate is picked up
// by a reload without closing the listener.
type TLS struct {
	// Cert is the PEM certificate chain file (key "cert"). Required.
	Cert string `koanf:"cert"`
	// Key is the PEM private key file (key "key"). Required.
	Key string `koanf:"key"`
	// ClientCA is a PEM file of the CAs that sign client certificates
	// (key "client_ca"). When set, a client must present a certificate
	// they signed (mutual TLS). Default: none, clients are not asked.
	ClientCA string `koanf:"client_ca"`
	// MinVersion is the lowest TLS version accepted, "1.2" or "1.3"
	// (key "min_version"). Default: "1.2".
	MinVersion string `koanf:"min_version"`
}

// Plugin is one plugin process: an executable that serves one or more
// handlers (see package plugins).
type Plugin struct {
	// Cmd is the plugin executable's path, or "builtin:NAME" for a
	// handler built into the router (key "cmd"). Required. A relative
	// path with a slash ("bin/shout") that a file sets is relative to
	// that file's directory, and Load makes it absolute; a bare name
	// ("python3") is looked up on the PATH.
	Cmd string `koanf:"cmd"`
	// Args are extra arguments for the executable (key "args"). Default:
	// none.
	Args []string `koanf:"args"`
	// Env holds extra environment variables for the plugin (key "env"),
	// on top of the router's own. Default: none.
	Env map[string]string `koanf:"env"`
	// Settings are handed to the plugin's Init as a JSON object (key
	// "settings"); their meaning is the plugin's. Default: none (Init
	// still runs, with an empty object).
	Settings map[string]any `koanf:"settings"`
	// StartTimeout bounds starting the plugin (key "start_timeout").
	// Default: 10s.
	StartTimeout time.Duration `koanf:"start_timeout"`
	// HealthInterval is the time between health checks (key
	// "health_interval"); 0 means none. Default: 10s.
	HealthInterval time.Duration `koanf:"health_interval"`
	// Restart says how a plugin that dies is restarted (key "restart").
	Restart Restart `koanf:"restart"`
	// Instances is how many processes of the plugin run (key
	// "instances"), each restarted on its own; a request goes to the one
	// with fewer requests outstanding of two picked at random. 0 means 1.
	// Default: 1.
	Instances int `koanf:"instances"`
	// MaxInFlight bounds the requests sent to the plugin and not yet
	// answered (key "max_in_flight"); more wait their turn until their
	// deadline. 0 means no limit. Default: 1024.
	MaxInFlight int `koanf:"max_in_flight"`
	// Log bounds the plugin's log lines the router re-emits (key "log").
	Log PluginLog `koanf:"log"`
}

// PluginLog bounds the log lines of a plugin (its standard error) that
// the router re-emits: a flood is cut down to a steady rate, with a line
// a second that counts what was dropped.
type PluginLog struct {
	// LinesPerSecond is the steady rate of lines let through (key
	// "lines_per_second"); 0 means no limit. Default: 100.
	LinesPerSecond int `koanf:"lines_per_second"`
	// Burst is how many lines may come at once above the rate (key
	// "burst"); 0 means one at a time. Default: 200.
	Burst int `koanf:"burst"`
	// MaxLine is the longest line re-emitted; a longer one is cut (key
	// "max_line"). 0 means no limit. Default: 4KiB.
	MaxLine Size `koanf:"max_line"`
}

// Restart is a plugin's restart policy: a plugin that dies is restarted
// after Backoff, then twice as long each time up to MaxBackoff, at most
// MaxRestarts times in a row; one that stayed up for ResetAfter starts
// the count anew. Its routes answer an error while it is down.
type Restart struct {
	// MaxRestarts is the most restarts in a row (key "max_restarts"); 0
	// means never restart. Default: 5.
	MaxRestarts int `koanf:"max_restarts"`
	// Backoff is the first delay (key "backoff"). Default: 100ms.
	Backoff time.Duration `koanf:"backoff"`
	// MaxBackoff caps the delay (key "max_backoff"). Default: 5s.
	MaxBackoff time.Duration `koanf:"max_backoff"`
	// ResetAfter is the time up that resets the count (key
	// "reset_after"). Default: 1m.
	ResetAfter time.Duration `koanf:"reset_after"`
	// Cooldown is how long a plugin that hit MaxRestarts stays failed
	// before it is started again, its count anew (key "cooldown"); 0
	// means until the next reload. Default: 1m.
	Cooldown time.Duration `koanf:"cooldown"`
}

// Route sends the requests it matches to a plugin's handler, or to a
// NATS subject that workers serve. A route with neither Action nor
// ContentType matches every request: the catch-all, which must come
// last.
type Route struct {
	// Action matches the "action" member of JSON requests (key
	// "action"). Empty matches any request, JSON or not.
	Action string `koanf:"action"`
	// ContentType matches the request's content-type exactly, or as a
	// glob with '*' (any run of characters) and '?' (any one) (key
	// "content_type"). Empty, or "*", matches any.
	ContentType string `koanf:"content_type"`
	// Plugin is the handler that answers (key "plugin"): "NAME.HANDLER",
	// or "NAME" for the plugin's only handler, or its handler named NAME.
	// A route has a plugin or a nats subject, not both.
	Plugin string `koanf:"plugin"`
	// NATS is the subject the route's requests are sent to as NATS
	// requests (key "nats"), such as "router.search": whichever worker
	// serves it answers (see `router worker`). Dots separate its
	// tokens; no wildcards.
	NATS string `koanf:"nats"`
	// Name labels the route's metrics, and names it in the debug log
	// line of each request (key "name"). Default: its action, else its
	// content_type, else "default". Routes with the same name share
	// their metrics.
	Name string `koanf:"name"`
}

// Label returns the route's metrics label: see Name.
func (r Route) Label() string {
	switch {
	case r.Name != "":
		return r.Name
	case r.Action != "":
		return r.Action
	case r.ContentType != "":
		return r.ContentType
	}
	return "default"
}

// Limits bound what clients may send.
type Limits struct {
	// MaxContentLength is the largest content-length accepted (key
	// "max_content_length"): bytes, or a size such as "64KiB", "16MiB",
	// "1GB". A request over it is answered an error and its connection
	// closed. Default: 16MiB.
	MaxContentLength Size `koanf:"max_content_length"`
	// MaxHeaderLength is the largest JSON header accepted, 1 to 65535
	// bytes (key "max_header_length"). Default: 65535.
	MaxHeaderLength Size `koanf:"max_header_length"`
	// MaxConnections bounds open connections (key "max_connections"); a
	// client over it is answered an error and closed. Default: 10000.
	MaxConnections int `koanf:"max_connections"`
	// MaxBuffered bounds the bytes held by messages that span reads, on
	// all connections together (key "max_buffered"): past it, a
	// connection in the middle of a large message stops reading until
	// others are done (see core.Server.MaxBuffered). 0, the default,
	// means a quarter of the memory the process may use.
	MaxBuffered Size `koanf:"max_buffered"`
}

// Timeouts bound how long the router waits. Each is a duration such as
// "500ms", "10s" or "1m30s".
type Timeouts struct {
	// Idle closes a connection that sends nothing between messages (key
	// "idle"). Default: 60s.
	Idle time.Duration `koanf:"idle"`
	// Read bounds the wait for the rest of a message once its first bytes
	// have arrived (key "read"). Default: 10s.
	Read time.Duration `koanf:"read"`
	// Write bounds writing the answers of one read (key "write").
	// Default: 10s.
	Write time.Duration `koanf:"write"`
	// Handler is the deadline of each request, counted from when it was
	// read (key "handler"); a request over it is answered an error.
	// Default: 5s.
	Handler time.Duration `koanf:"handler"`
	// Shutdown bounds a graceful stop (key "shutdown"): what is still
	// open after it is closed. It also bounds the wait for the requests
	// of a plugin that a reload removes. Default: 10s.
	Shutdown time.Duration `koanf:"shutdown"`
}

// Metrics sets up the Prometheus endpoint. See the metrics package for
// what it reports.
type Metrics struct {
	// Listen is the host:port of the HTTP endpoint (key "listen"), such
	// as "127.0.0.1:9108". Empty means no endpoint. Default: empty.
	Listen string `koanf:"listen"`
	// Path is the URL path the metrics are served at (key "path").
	// Default: /metrics.
	Path string `koanf:"path"`
}

// RequestID sets up request ids: an extension header that a request
// carries to its plugin, that its answer carries back, and that the
// router's log lines about the request name.
type RequestID struct {
	// Header is the extension header's name (key "header"). Default:
	// request-id.
	Header string `koanf:"header"`
	// Generate gives a request that comes without the header a fresh id
	// (key "generate"). Default: false, so that answers stay byte for
	// byte the reference server's.
	Generate bool `koanf:"generate"`
}

// Log sets up the router's logging, to stderr.
type Log struct {
	// Level is the lowest level logged (key "level"): trace, debug, info,
	// warn, error or off. Default: info.
	Level string `koanf:"level"`
	// Format is "text" or "json" (one JSON object a line) (key
	// "format"). Default: text.
	Format string `koanf:"format"`
}

// Source returns where the value at key ("routes[1].plugin",
// "plugins.search.cmd") came from: the file, an environment variable, a
// flag or the default; for a key nobody set, where its nearest parent
// came from. An *Error about key names it as its Source.
func (c *Config) Source(key string) string { return c.src.of(key) }
