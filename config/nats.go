package config

import (
	"fmt"
	"net/url"
	"strings"
	"unicode"
)

// NATS connects the router, or a worker, to NATS: to an existing server
// or cluster (URL), or, for a router whose routes name subjects, to a
// NATS server it runs in its own process (Embedded).
type NATS struct {
	// URL lists the NATS servers to connect to, comma-separated (key
	// "url"): nats://host:port, tls://host:port, with user:password@
	// if the server wants it. Empty means, for `router serve` with a
	// route to a subject, the embedded server; `router worker` needs
	// one. Default: empty.
	URL string `koanf:"url"`
	// Embedded is the NATS server `router serve` runs in process when a
	// route names a subject and URL is empty (key "embedded").
	Embedded EmbeddedNATS `koanf:"embedded"`
}

// EmbeddedNATS is the NATS server `router serve` runs in its own process.
// It starts before the routes and stops once the router has drained.
type EmbeddedNATS struct {
	// Listen is the host:port its clients, the workers, connect to (key
	// "listen"). Port 0 picks a free port, which the router logs.
	// Default: 127.0.0.1:4222, NATS's own port.
	Listen string `koanf:"listen"`
	// MaxPayload is the largest NATS message it takes, header and data
	// (key "max_payload"), at most 64MiB. 0, the default, means room
	// for a request of limits.max_content_length and the largest
	// header: that plus 128KiB, at least 1MiB; 64MiB when
	// max_content_length is 0.
	MaxPayload Size `koanf:"max_payload"`
}

// Worker sets up `router worker`: the endpoints it serves over NATS, each
// a subject answered by one of its plugins' handlers.
type Worker struct {
	// Name is the NATS micro service's name (key "name"): `nats micro
	// ls` lists every worker under it. Default: router.
	Name string `koanf:"name"`
	// MaxInFlight bounds the requests the worker handles at once, over
	// all its endpoints (key "max_in_flight"); past it, as many more
	// wait their turn, and past those it takes no more from NATS until
	// one is answered. A request that waits past its deadline is
	// answered a timeout without reaching its handler. Default: 64.
	MaxInFlight int `koanf:"max_in_flight"`
	// Endpoints are the subjects the worker serves (key "endpoints").
	// Required, at least one.
	Endpoints []Endpoint `koanf:"endpoints"`
}

// Endpoint is one subject a worker serves, and the handler that answers
// it.
type Endpoint struct {
	// Subject is the NATS subject (key "subject"), as a router's route
	// names it: "router.search". Required.
	Subject string `koanf:"subject"`
	// Plugin is the handler that answers (key "plugin"), as a route's:
	// "NAME.HANDLER", or "NAME". Required.
	Plugin string `koanf:"plugin"`
}

// MaxEmbeddedPayload is the largest max_payload of the embedded NATS
// server: its default limit on what one client may have pending.
const MaxEmbeddedPayload Size = 64 << 20

// natsHeaderRoom is what a request needs on top of its content in one
// NATS message: the largest JSON header, base64-encoded, and the NATS
// headers around it.
const natsHeaderRoom Size = 128 << 10

// EmbeddedMaxPayload returns the embedded server's max payload: see
// EmbeddedNATS.MaxPayload.
func (c *Config) EmbeddedMaxPayload() Size {
	if p := c.NATS.Embedded.MaxPayload; p > 0 {
		return p
	}
	if c.Limits.MaxContentLength == 0 {
		return MaxEmbeddedPayload
	}
	return min(max(c.Limits.MaxContentLength+natsHeaderRoom, 1<<20), MaxEmbeddedPayload)
}

// NATSRoutes reports whether a route sends its requests to a NATS
// subject: `router serve` then connects to NATS, or runs the embedded
// server.
func (c *Config) NATSRoutes() bool {
	for _, r := range c.Routes {
		if r.NATS != "" {
			return true
		}
	}
	return false
}

// IsWorker reports whether c was loaded for `router worker` (see
// LoadOptions.Worker).
func (c *Config) IsWorker() bool { return c.worker }

// PayloadWarning returns a warning, of class ErrPayload, when a request
// of limits.max_content_length would not fit a NATS message of maxPayload
// bytes, the server's limit: such a request is answered an error at once
// rather than sent. Nil when it fits, or when no route names a subject.
// The router and "router config check" call it with the server's limit
// once connected; for the embedded server, Warnings does.
func (c *Config) PayloadWarning(maxPayload int64) *Error {
	if !c.NATSRoutes() && !c.worker {
		return nil
	}
	need := int64(c.Limits.MaxContentLength)
	if need != 0 && need+int64(natsHeaderRoom) <= maxPayload {
		return nil
	}
	limit := "no limit"
	if need != 0 {
		limit = c.Limits.MaxContentLength.String()
	}
	return &Error{
		Source: c.src.of("limits.max_content_length"), Key: "limits.max_content_length",
		Msg:  fmt.Sprintf("%s is more than a NATS message holds: the server's max_payload is %s, and a request takes up to 128KiB more for its header; a request too large for it is answered an error", limit, Size(maxPayload).String()),
		Want: "max_content_length at most the max_payload less 128KiB, or a larger max_payload on the NATS server",
		Err:  ErrPayload,
	}
}

// natsConfig checks the nats section, and the routes' subjects.
func (v *validator) natsConfig() {
	n := v.c.NATS
	for i, u := range splitURLs(n.URL) {
		if err := checkNATSURL(u); err != "" {
			v.fail(ErrValue, "nats.url", fmt.Sprintf("URL %d, %q: %s", i+1, u, err), "nats://host:port URLs, comma-separated")
		}
	}
	if n.URL == "" && !v.c.worker {
		if !isHostPort(n.Embedded.Listen) {
			v.fail(ErrValue, "nats.embedded.listen", fmt.Sprintf("invalid address %q", n.Embedded.Listen), "host:port such as 127.0.0.1:4222")
		}
	}
	if mp := n.Embedded.MaxPayload; mp < 0 || mp > MaxEmbeddedPayload {
		v.fail(ErrValue, "nats.embedded.max_payload", fmt.Sprintf("%s is out of range", mp.String()), "0 (room for max_content_length) up to 64MiB")
	}
	if v.c.worker {
		return
	}
	for i, r := range v.c.Routes {
		if r.NATS != "" {
			v.subject(fmt.Sprintf("routes[%d].nats", i), r.NATS)
		}
	}
}

// workerConfig checks the worker section, for `router worker`.
func (v *validator) workerConfig() {
	w := v.c.Worker
	if v.c.NATS.URL == "" {
		v.fail(ErrValue, "nats.url", "a worker needs the NATS server to connect to", "nats://host:4222, the URL of the server the routers use")
	}
	if w.MaxInFlight < 1 {
		v.fail(ErrValue, "worker.max_in_flight", fmt.Sprintf("%d is not positive", w.MaxInFlight), "1 or more requests at once")
	}
	if w.Name == "" || !pluginNameRE.MatchString(w.Name) {
		v.fail(ErrValue, "worker.name", fmt.Sprintf("invalid service name %q", w.Name), wantPluginName)
	}
	if len(w.Endpoints) == 0 {
		v.fail(ErrValue, "worker.endpoints", "no endpoint", "at least one {subject: SUBJECT, plugin: NAME}")
	}
	seen := map[string]int{}
	for i, e := range w.Endpoints {
		key := fmt.Sprintf("worker.endpoints[%d]", i)
		v.subject(key+".subject", e.Subject)
		if j, dup := seen[e.Subject]; dup && e.Subject != "" {
			v.fail(ErrValue, key+".subject", fmt.Sprintf("repeats worker.endpoints[%d]", j), "each subject once")
		}
		seen[e.Subject] = i
		if e.Plugin == "" {
			v.fail(ErrRoute, key+".plugin", "no plugin", "the handler that answers: NAME or NAME.HANDLER")
		} else {
			v.pluginRef(key+".plugin", e.Plugin)
		}
	}
}

// subject checks a NATS subject that requests are sent to: tokens of
// printable characters separated by dots, no wildcard.
func (v *validator) subject(key, s string) {
	const want = "a NATS subject such as router.search: tokens separated by dots, no spaces or wildcards"
	switch {
	case s == "":
		v.fail(ErrValue, key, "no subject", want)
	case strings.ContainsFunc(s, func(r rune) bool { return unicode.IsSpace(r) || !unicode.IsPrint(r) }):
		v.fail(ErrValue, key, fmt.Sprintf("subject %q has a space or a control character", s), want)
	case strings.HasPrefix(s, "$") || strings.HasPrefix(s, "_INBOX."):
		v.fail(ErrValue, key, fmt.Sprintf("subject %q is reserved to NATS", s), want)
	default:
		for _, tok := range strings.Split(s, ".") {
			switch tok {
			case "":
				v.fail(ErrValue, key, fmt.Sprintf("subject %q has an empty token", s), want)
				return
			case "*", ">":
				v.fail(ErrValue, key, fmt.Sprintf("subject %q has a wildcard", s), want)
				return
			}
		}
	}
}

// splitURLs splits a comma-separated list of URLs, trimming spaces.
func splitURLs(s string) []string {
	var out []string
	for u := range strings.SplitSeq(s, ",") {
		if u = strings.TrimSpace(u); u != "" {
			out = append(out, u)
		}
	}
	return out
}

// checkNATSURL returns what is wrong with one NATS server URL, or "".
func checkNATSURL(s string) string {
	u, err := url.Parse(s)
	switch {
	case err != nil:
		return "does not parse"
	case u.Scheme != "nats" && u.Scheme != "tls" && u.Scheme != "ws" && u.Scheme != "wss":
		return "the scheme is not nats://, tls://, ws:// or wss://"
	case u.Host == "":
		return "no host"
	}
	return ""
}
