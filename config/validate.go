package config

import (
	"errors"
	"fmt"
	"maps"
	"net"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/msgrouter/router/core"
)

var pluginNameRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_-]*$`)

// Log levels and formats, as Log takes them.
var (
	logLevels  = []string{"trace", "debug", "info", "warn", "error", "off"}
	logFormats = []string{"text", "json"}
)

// Validate checks what can be checked without starting anything: that
// there is a listener and a route, that addresses parse and TLS files
// exist and load, that each TLS listener's certificate is valid now
// (not expired, not before its notBefore), that every route names a
// defined plugin and can match (no route repeats an earlier one or
// follows one that matches all it would), that a route's NATS subject
// and the nats section are well formed, that sizes and durations are in
// range, and the log level and format. Every problem is reported, each
// an *Error naming its key.
//
// A config loaded for `router worker` (LoadOptions.Worker) is checked
// without its listeners and routes, which a worker does not read, and
// with its worker section: at least one endpoint, each a subject and a
// defined plugin, and nats.url set.
//
// What needs the plugins running (that a route's handler exists and
// declares the route's action and content-type) and the network (that a
// listener can bind) is checked by Start and Reload.
func (c *Config) Validate() error { return c.ValidateAt(time.Now()) }

// ValidateAt is Validate with the certificates' validity checked at now
// rather than at the time of the call.
func (c *Config) ValidateAt(now time.Time) error { return c.validate(now, nil).err() }

// validate returns the problems of c's values, with the certificates'
// validity checked at now. bad are the keys whose values Load left out
// for a problem of form: the problems that may come from their absence
// are left out too (see validator.tainted).
func (c *Config) validate(now time.Time, bad []string) errList {
	v := &validator{c: c, now: now, bad: bad}
	v.plugins()
	if c.worker {
		v.workerConfig()
	} else {
		v.listeners()
		v.routes()
	}
	v.natsConfig()
	v.limits()
	v.log()
	v.metrics()
	v.requestID()
	return v.errs
}

type validator struct {
	c    *Config
	now  time.Time // for the certificates' validity
	bad  []string  // see Config.validate
	errs errList
}

// fail reports a problem at key, unless key is tainted.
func (v *validator) fail(class error, key, msg, want string) {
	if v.tainted(key) {
		return
	}
	v.errs.add(&Error{Source: v.c.src.of(key), Key: key, Msg: msg, Want: want, Err: class})
}

// tainted reports whether a check of the value at key may be misled by
// a value Load left out for a problem of form (one of v.bad): the same
// key, one above it (the whole listen list, a whole plugin, left out,
// the default or nothing took its place) or one below it (listen[0] has
// no addr because its adr is unknown). A check that also reads other
// keys asks about them too.
func (v *validator) tainted(key string) bool {
	for _, b := range v.bad {
		if b == key || keyUnder(key, b) || keyUnder(b, key) {
			return true
		}
	}
	return false
}

// keyUnder reports whether key is inside the value at parent:
// "routes[1].plugin" is under "routes" and "routes[1]", not "routes[10]".
func keyUnder(key, parent string) bool {
	if parent == "" {
		return key != ""
	}
	rest, found := strings.CutPrefix(key, parent)
	return found && (strings.HasPrefix(rest, ".") || strings.HasPrefix(rest, "["))
}

func (v *validator) listeners() {
	c := v.c
	if len(c.Listen) == 0 {
		v.fail(ErrValue, "listen", "no listener", "at least one address, such as tcp://127.0.0.1:65432")
	}
	seen := make(map[string]int)
	for i, l := range c.Listen {
		key := fmt.Sprintf("listen[%d]", i)
		network, address, ok := v.addr(key, l.Addr)
		if _, port, _ := net.SplitHostPort(address); ok && !(network != "unix" && port == "0") {
			id := network + " " + address
			if j, dup := seen[id]; dup {
				v.fail(ErrValue, key, fmt.Sprintf("duplicates listen[%d] (%s)", j, l.Addr), "each address once")
			} else {
				seen[id] = i
			}
		}
		switch {
		case l.Plugin == "":
		case l.Raw:
			v.pluginRef(key+".plugin", l.Plugin)
		case !v.tainted(key + ".raw"): // raw: "yes" is not false
			v.fail(ErrValue, key+".plugin", "only a raw listener names a plugin; a framed one uses the routes", "raw: true, or no plugin")
		}
		if t := l.TLS; t != nil {
			tk := key + ".tls"
			before := len(v.errs)
			v.file(tk+".cert", t.Cert, "a PEM certificate file")
			v.file(tk+".key", t.Key, "a PEM private key file")
			if t.ClientCA != "" {
				v.file(tk+".client_ca", t.ClientCA, "a PEM file of CA certificates")
			}
			if _, ok := tlsVersions[t.MinVersion]; !ok {
				v.fail(ErrValue, tk+".min_version", fmt.Sprintf("unknown TLS version %q", t.MinVersion), `"1.2" or "1.3"`)
			}
			if len(v.errs) == before {
				// The files are there: they must also load, as
				// serve will load them, and the certificate be valid.
				v.tls(tk, t)
			}
		}
	}
}

// tls loads the TLS files of the listener whose tls key is tk, and
// checks that its certificate is valid at v.now. One that expires soon
// is not an error: see Config.Warnings.
func (v *validator) tls(tk string, t *TLS) {
	if v.tainted(tk) {
		return
	}
	tc, err := loadTLS(v.c, tk, t)
	if err != nil {
		v.errs.add(err)
		return
	}
	leaf, err := leafOf(tc.Certificates[0])
	if err != nil {
		v.errs.add(&Error{Source: v.c.src.of(tk + ".cert"), Key: tk + ".cert", Msg: fmt.Sprintf("cannot parse certificate %q: %s", t.Cert, err), Want: "a PEM certificate", Err: ErrValue, Cause: err})
		return
	}
	if e := certProblem(v.c, tk+".cert", t.Cert, leaf, v.now); e != nil && e.Err == ErrCertificate {
		v.errs.add(e)
	}
}

// addr checks a listen address as core.ParseAddr reads it, with a
// reason a person can act on.
func (v *validator) addr(key, addr string) (network, address string, ok bool) {
	const wantAddr = "tcp://host:port, unix:///path/to/socket or host:port"
	if addr == "" {
		v.fail(ErrValue, key, "no address", "addr: "+wantAddr)
		return "", "", false
	}
	network, address, err := core.ParseAddr(addr)
	if err != nil {
		scheme, rest, hasScheme := strings.Cut(addr, "://")
		switch {
		case hasScheme && !slices.Contains([]string{"tcp", "tcp4", "tcp6", "unix"}, scheme):
			v.fail(ErrValue, key, fmt.Sprintf("unknown scheme %q in %q", scheme, addr), "tcp, tcp4, tcp6 or unix")
		case scheme == "unix":
			v.fail(ErrValue, key, fmt.Sprintf("no socket path in %q", addr), "unix:///path/to/socket")
		default:
			if !hasScheme {
				rest = addr
			}
			reason := err.Error()
			if _, _, serr := net.SplitHostPort(rest); serr != nil {
				var ae *net.AddrError
				reason = serr.Error()
				if errors.As(serr, &ae) {
					reason = ae.Err
				}
			}
			v.fail(ErrValue, key, fmt.Sprintf("invalid address %q: %s", addr, reason), "host:port, [ipv6]:port or :port")
		}
		return "", "", false
	}
	if network != "unix" {
		_, port, _ := net.SplitHostPort(address)
		if n, err := strconv.Atoi(port); err == nil && (n < 0 || n > 65535) {
			v.fail(ErrValue, key, fmt.Sprintf("invalid address %q: port %d out of range", addr, n), "a port from 0 to 65535")
			return "", "", false
		}
	}
	return network, address, true
}

func (v *validator) file(key, path, what string) {
	if path == "" {
		v.fail(ErrValue, key, "not set", what)
		return
	}
	fi, err := os.Stat(path)
	switch {
	case err != nil:
		reason := err.Error()
		if pe, ok := err.(*os.PathError); ok {
			reason = pe.Err.Error()
		}
		v.fail(ErrValue, key, fmt.Sprintf("cannot read %q: %s", path, reason), what)
	case fi.IsDir():
		v.fail(ErrValue, key, fmt.Sprintf("%q is a directory", path), what)
	case !fi.Mode().IsRegular():
		// A device or a pipe could be read for ever (/dev/zero, a FIFO
		// nobody writes), now that validation loads the files.
		v.fail(ErrValue, key, fmt.Sprintf("%q is not a regular file", path), what)
	case fi.Size() > maxPEMFile:
		v.fail(ErrValue, key, fmt.Sprintf("%q is %d bytes, too large for a PEM file", path, fi.Size()), what)
	}
}

// maxPEMFile bounds the TLS files validation reads: a certificate chain or
// a bundle of CAs is a few kilobytes, seldom more than a few hundred.
const maxPEMFile = 16 << 20

func (v *validator) plugins() {
	c := v.c
	for _, name := range slices.Sorted(maps.Keys(c.Plugins)) {
		p := c.Plugins[name]
		key := "plugins." + name
		if !pluginNameRE.MatchString(name) {
			v.fail(ErrValue, "plugins", fmt.Sprintf("invalid plugin name %q", name), wantPluginName)
		}
		switch b, isBuiltin := strings.CutPrefix(p.Cmd, BuiltinPrefix); {
		case p.Cmd == "":
			v.fail(ErrValue, key+".cmd", "no command", "the plugin executable's path, or builtin:NAME")
		case isBuiltin && b == "":
			v.fail(ErrValue, key+".cmd", "no built-in named after builtin:", "builtin:NAME, such as builtin:search")
		}
		for k := range p.Env {
			if k == "" || strings.ContainsAny(k, "=\x00") {
				v.fail(ErrValue, key+".env", fmt.Sprintf("invalid variable name %q", k), "a name without '='")
			}
		}
		v.positive(key+".start_timeout", p.StartTimeout)
		v.nonNegative(key+".health_interval", p.HealthInterval)
		if p.Restart.MaxRestarts < 0 {
			v.fail(ErrValue, key+".restart.max_restarts", fmt.Sprintf("negative count %d", p.Restart.MaxRestarts), "0 or more; 0 means never restart")
		}
		v.positive(key+".restart.backoff", p.Restart.Backoff)
		v.positive(key+".restart.reset_after", p.Restart.ResetAfter)
		if v.positive(key+".restart.max_backoff", p.Restart.MaxBackoff) && p.Restart.MaxBackoff < p.Restart.Backoff && !v.tainted(key+".restart.backoff") {
			v.fail(ErrValue, key+".restart.max_backoff", fmt.Sprintf("%s is less than backoff %s", formatDuration(p.Restart.MaxBackoff), formatDuration(p.Restart.Backoff)), "max_backoff at least backoff")
		}
		v.nonNegative(key+".restart.cooldown", p.Restart.Cooldown)
		v.noLimitIfZero(key+".max_in_flight", p.MaxInFlight)
		if p.Instances < 0 {
			v.fail(ErrValue, key+".instances", fmt.Sprintf("negative count %d", p.Instances), "1 or more processes; 0 means 1")
		}
		v.noLimitIfZero(key+".log.lines_per_second", p.Log.LinesPerSecond)
		if p.Log.Burst < 0 {
			v.fail(ErrValue, key+".log.burst", fmt.Sprintf("negative count %d", p.Log.Burst), "0 or more; 0 means one line at a time")
		}
	}
}

func (v *validator) positive(key string, d time.Duration) bool {
	if d <= 0 {
		v.fail(ErrValue, key, "duration "+formatDuration(d)+" is not positive", "a duration above 0, such as 10s")
		return false
	}
	return true
}

// noLimitIfZero checks a count of which 0 means no limit.
func (v *validator) noLimitIfZero(key string, n int) {
	if n < 0 {
		v.fail(ErrValue, key, fmt.Sprintf("negative count %d", n), "0 or more; 0 means no limit")
	}
}

func (v *validator) nonNegative(key string, d time.Duration) {
	if d < 0 {
		v.fail(ErrValue, key, "negative duration "+formatDuration(d), "0 or more; 0 means none")
	}
}

// pluginRef checks that ref ("NAME" or "NAME.HANDLER") names a defined
// plugin.
func (v *validator) pluginRef(key, ref string) {
	name, handler, dotted := strings.Cut(ref, ".")
	names := slices.Sorted(maps.Keys(v.c.Plugins))
	if name == "" || (dotted && handler == "") {
		v.fail(ErrRoute, key, fmt.Sprintf("invalid plugin %q", ref), "NAME or NAME.HANDLER")
		return
	}
	if _, ok := v.c.Plugins[name]; ok || v.tainted("plugins."+name) {
		return
	}
	msg := fmt.Sprintf("no plugin %q is defined", name)
	if s := suggest(name, names); s != "" {
		msg += fmt.Sprintf(", did you mean %q?", s)
	}
	w := "one of the plugins: " + strings.Join(names, ", ")
	if len(names) == 0 {
		w = "a plugin defined under plugins"
	}
	v.fail(ErrRoute, key, msg, w)
}

func (v *validator) routes() {
	c := v.c
	if len(c.Routes) == 0 {
		v.fail(ErrRoute, "routes", "no route", "at least one route; {plugin: NAME} alone answers every request")
	}
	for j, r := range c.Routes {
		key := fmt.Sprintf("routes[%d]", j)
		switch {
		case r.Plugin != "" && r.NATS != "":
			v.fail(ErrRoute, key, "both a plugin and a nats subject", "one of plugin and nats")
		case r.NATS != "":
			// natsConfig checks the subject.
		case r.Plugin == "":
			v.fail(ErrRoute, key+".plugin", "no plugin", "the handler that answers: NAME or NAME.HANDLER, or nats: SUBJECT")
		default:
			v.pluginRef(key+".plugin", r.Plugin)
		}
		for i, prev := range c.Routes[:j] {
			shadow := r.CoreRoute().ShadowedBy(prev.CoreRoute())
			if shadow == core.ShadowNone || v.tainted(fmt.Sprintf("routes[%d]", i)) {
				continue
			}
			switch shadow {
			case core.ShadowCatchAll:
				v.fail(ErrRoute, key, fmt.Sprintf("can never match: it follows the catch-all routes[%d]", i), "the catch-all route last")
			case core.ShadowDuplicate:
				v.fail(ErrRoute, key, fmt.Sprintf("duplicates routes[%d] (%s)", i, describeRoute(r)), "each action and content_type once")
			default:
				v.fail(ErrRoute, key, fmt.Sprintf("can never match: routes[%d] (%s) matches every request it would", i, describeRoute(prev)), "the narrower route first")
			}
			break
		}
	}
}

// CoreRoute returns what r matches, as a core.Route without a handler.
func (r Route) CoreRoute() core.Route {
	return core.Route{Action: r.Action, ContentType: r.ContentType}
}

func describeRoute(r Route) string {
	a, ct := r.Action, r.ContentType
	if a == "" {
		a = "*"
	}
	if ct == "" {
		ct = "*"
	}
	return fmt.Sprintf("action %s, content_type %s", a, ct)
}

func (v *validator) limits() {
	l, t := v.c.Limits, v.c.Timeouts
	if l.MaxContentLength < 0 {
		v.fail(ErrValue, "limits.max_content_length", fmt.Sprintf("negative size %d", l.MaxContentLength), "0 or more bytes; 0 means no limit")
	}
	if l.MaxHeaderLength < 0 || l.MaxHeaderLength > core.MaxHeaderLength {
		v.fail(ErrValue, "limits.max_header_length", fmt.Sprintf("%d is out of range", l.MaxHeaderLength), "0 to 65535 bytes, the protocol's limit; 0 means 65535")
	}
	if l.MaxConnections < 0 {
		v.fail(ErrValue, "limits.max_connections", fmt.Sprintf("negative count %d", l.MaxConnections), "0 or more; 0 means no limit")
	}
	for _, d := range []struct {
		key string
		d   time.Duration
	}{{"idle", t.Idle}, {"read", t.Read}, {"write", t.Write}, {"handler", t.Handler}, {"shutdown", t.Shutdown}} {
		v.nonNegative("timeouts."+d.key, d.d)
	}
}

func (v *validator) log() {
	l := v.c.Log
	if !slices.Contains(logLevels, l.Level) {
		v.fail(ErrValue, "log.level", fmt.Sprintf("unknown level %q", l.Level), strings.Join(logLevels[:len(logLevels)-1], ", ")+" or off")
	}
	if !slices.Contains(logFormats, l.Format) {
		v.fail(ErrValue, "log.format", fmt.Sprintf("unknown format %q", l.Format), "text or json")
	}
}

func (v *validator) metrics() {
	m := v.c.Metrics
	if m.Listen != "" {
		if !isHostPort(m.Listen) {
			v.fail(ErrValue, "metrics.listen", fmt.Sprintf("invalid address %q", m.Listen), "host:port such as 127.0.0.1:9108, or empty for no endpoint")
		}
	}
	if !strings.HasPrefix(m.Path, "/") || strings.ContainsFunc(m.Path, func(r rune) bool {
		return r == '?' || r == '#' || unicode.IsSpace(r) || unicode.IsControl(r)
	}) {
		v.fail(ErrValue, "metrics.path", fmt.Sprintf("%q is not a URL path", m.Path), "a path starting with /, such as /metrics")
	}
}

// isHostPort reports whether s is a TCP host:port, the port from 0 to
// 65535: the form of metrics.listen and nats.embedded.listen.
func isHostPort(s string) bool {
	host, port, err := net.SplitHostPort(s)
	n, perr := strconv.Atoi(port)
	return err == nil && perr == nil && n >= 0 && n <= 65535 && !strings.Contains(host, "/")
}

func (v *validator) requestID() {
	h := v.c.RequestID.Header
	switch h {
	case "":
		v.fail(ErrValue, "request_id.header", "empty header name", "an extension header name, such as request-id")
	case "byteorder", "content-type", "content-encoding", "content-length", core.HeaderConnection:
		v.fail(ErrValue, "request_id.header", fmt.Sprintf("%q is a header the protocol uses", h), "an extension header name, such as request-id")
	}
}
