package config

import (
	"errors"
	"math"
	"slices"
	"strings"
)

// The classes of configuration errors. Every error of Load, Validate,
// Start and Reload is an *Error, or several joined with errors.Join, and
// each wraps one of these: test for them with errors.Is. (A reload that
// is in force without a listener wraps the listener's *Error in
// ErrReloadIncomplete.) A warning of Config.Warnings is an *Error too.
var (
	// ErrFile: the file cannot be read, or its name has no known
	// extension.
	ErrFile = errors.New("config: cannot read file")
	// ErrSyntax: the file is not valid YAML, TOML or JSON.
	ErrSyntax = errors.New("config: syntax error")
	// ErrUnknownKey: a key, or a ROUTER_ environment variable, that the
	// configuration does not have.
	ErrUnknownKey = errors.New("config: unknown key")
	// ErrType: a value of the wrong type, such as a string where a
	// number is wanted.
	ErrType = errors.New("config: wrong type")
	// ErrValue: a value of the right type that is not valid: a bad
	// duration, size, address, level, a missing required key.
	ErrValue = errors.New("config: invalid value")
	// ErrRoute: a route names an undefined plugin or handler, repeats
	// or can never match because of an earlier route, or names an action
	// or content-type its handler does not declare.
	ErrRoute = errors.New("config: invalid route")
	// ErrCertificate: a listener's certificate is expired or not yet
	// valid.
	ErrCertificate = errors.New("config: certificate expired or not yet valid")
	// ErrCertificateExpiring: a listener's certificate expires within 7
	// days. It is the class of a warning (see Config.Warnings), never of
	// an error.
	ErrCertificateExpiring = errors.New("config: certificate expires soon")
	// ErrPayload: a request of limits.max_content_length would not fit
	// a NATS message. It is the class of a warning, never of an error:
	// see Config.PayloadWarning.
	ErrPayload = errors.New("config: requests may be over the NATS max payload")
	// ErrListen: a listener cannot be opened.
	ErrListen = errors.New("config: cannot listen")
	// ErrPlugin: a plugin cannot be started.
	ErrPlugin = errors.New("config: cannot start plugin")
	// ErrReloadIncomplete: a reload is in force, but without a listener
	// it had to close and open again (see Router.Reload).
	ErrReloadIncomplete = errors.New("config: reload in force without a listener")
)

// Error is one problem with a configuration, with where it is. Its text
// is one line:
//
//	SOURCE: KEY: what is wrong (want WHAT)
//
// SOURCE is the file, "$ROUTER_..." for an environment variable,
// "flags" for LoadOptions.Flags, or "default config"; KEY is the key as
// written in a file, such as "routes[2].plugin" or "limits.max_connections".
type Error struct {
	Source string // where the value came from; may be empty
	Key    string // the key; empty for the file as a whole
	Msg    string // what is wrong
	Want   string // what was expected; may be empty
	Err    error  // the class: ErrUnknownKey, ErrType, ...
	Cause  error  // the underlying error, if any
}

// Error returns the one-line form: SOURCE: KEY: what is wrong (want WHAT).
func (e *Error) Error() string {
	// One line, whatever a key, a message or a cause holds.
	oneLine := strings.NewReplacer("\r\n", "; ", "\n", "; ", "\r", "; ")
	var sb strings.Builder
	if e.Source != "" {
		sb.WriteString(oneLine.Replace(e.Source))
		sb.WriteString(": ")
	}
	if e.Key != "" {
		sb.WriteString(oneLine.Replace(e.Key))
		sb.WriteString(": ")
	}
	sb.WriteString(oneLine.Replace(e.Msg))
	if e.Want != "" {
		sb.WriteString(" (want ")
		sb.WriteString(oneLine.Replace(e.Want))
		sb.WriteString(")")
	}
	return sb.String()
}

// Unwrap returns the class and the cause.
func (e *Error) Unwrap() []error {
	if e.Cause != nil {
		return []error{e.Err, e.Cause}
	}
	return []error{e.Err}
}

// errList collects errors in the order they are found.
type errList []error

func (l *errList) add(err error) {
	if err != nil {
		*l = append(*l, err)
	}
}

func (l errList) err() error { return errors.Join(l...) }

// Errors returns the *Errors in err, one per problem, in order. It
// unwraps errors.Join.
func Errors(err error) []*Error {
	var out []*Error
	var walk func(error)
	walk = func(err error) {
		if e, ok := err.(*Error); ok {
			out = append(out, e)
			return
		}
		if j, ok := err.(interface{ Unwrap() []error }); ok {
			for _, e := range j.Unwrap() {
				walk(e)
			}
			return
		}
		if e := errors.Unwrap(err); e != nil {
			walk(e)
		}
	}
	if err != nil {
		walk(err)
	}
	return out
}

// aliases are keys people write for ours, as other tools name them.
var aliases = map[string]string{
	"config":     "settings",
	"options":    "settings",
	"command":    "cmd",
	"path":       "cmd",
	"arguments":  "args",
	"handler":    "plugin",
	"type":       "content_type",
	"address":    "addr",
	"listeners":  "listen",
	"route":      "routes",
	"logging":    "log",
	"certfile":   "cert",
	"keyfile":    "key",
	"ca":         "client_ca",
	"limit":      "limits",
	"timeout":    "timeouts",
	"retries":    "max_restarts",
	"maxretries": "max_restarts",
}

// suggest returns the key of known that k is most likely a misspelling
// of, or "".
func suggest(k string, known []string) string {
	norm := func(s string) string {
		return strings.NewReplacer("_", "", "-", "", " ", "").Replace(strings.ToLower(s))
	}
	nk := norm(k)
	if a, ok := aliases[nk]; ok && slices.Contains(known, a) {
		return a
	}
	best, bestDist := "", math.MaxInt
	for _, cand := range known {
		if norm(cand) == nk {
			return cand
		}
		if d := editDistance(nk, norm(cand)); d < bestDist {
			best, bestDist = cand, d
		}
	}
	if bestDist <= max(1, min(3, len(nk)/3)) {
		return best
	}
	return ""
}

// editDistance is the edit distance between a and b, a swap of two
// neighbours counting as one edit (optimal string alignment).
func editDistance(a, b string) int {
	d := make([][]int, len(a)+1)
	for i := range d {
		d[i] = make([]int, len(b)+1)
		d[i][0] = i
	}
	for j := range d[0] {
		d[0][j] = j
	}
	for i := 1; i <= len(a); i++ {
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			d[i][j] = min(d[i-1][j]+1, d[i][j-1]+1, d[i-1][j-1]+cost)
			if i > 1 && j > 1 && a[i-1] == b[j-2] && a[i-2] == b[j-1] {
				d[i][j] = min(d[i][j], d[i-2][j-2]+1)
			}
		}
	}
	return d[len(a)][len(b)]
}
