package config_test

import (
	"errors"
	"testing"

	"github.com/msgrouter/router/config"
	"github.com/msgrouter/router/internal/configtest"
)

// A map, or a scalar, where a list belongs names what the list holds,
// with a map's keys as the schema has them.
func TestLoadListWanted(t *testing.T) {
	dir := t.TempDir()
	path := configtest.WriteFile(t, dir, "r.yaml", `
listen: {addr: "127.0.0.1:0"}
plugins: {p: {cmd: /bin/p, args: {verbose: true}}}
routes: {action: echo, plugin: p}
`)
	_, err := config.Load(path, config.LoadOptions{Environ: []string{}})
	configtest.AssertLines(t, err, dir,
		`DIR/r.yaml: listen: got a map (want a list of addresses)`,
		`DIR/r.yaml: plugins.p.args: got a map (want a list of strings)`,
		`DIR/r.yaml: routes: got a map (want a list of maps with keys action, content_type, plugin, nats, name)`,
	)
}

// Once the file parses, one run reports its problems of form and of
// value, the form's first; a value check that a problem of form would
// mislead (its value was left out, and a default or nothing took its
// place) is left out. Each file here also has a bad log level, which is
// reported after the problems of form.
func TestLoadFormAndValueErrorsInOneRun(t *testing.T) {
	const level = `DIR/r.yaml: log.level: unknown level "loud" (want trace, debug, info, warn, error or off)`
	for _, tc := range []struct {
		name string
		file string
		env  []string
		want []string
	}{
		{
			name: "unknown key, bad level and negative duration",
			file: "limits: {max_conections: 5}\ntimeouts: {idle: -1s}\n",
			want: []string{
				`DIR/r.yaml: limits.max_conections: unknown key, did you mean "max_connections"? (want one of max_content_length, max_header_length, max_connections, max_buffered)`,
				`DIR/r.yaml: timeouts.idle: negative duration -1s (want 0 or more; 0 means none)`,
				level,
			},
		},
		{
			name: "a wrong type in the environment, a bad value in the file",
			file: "limits: {max_connections: -1}\n",
			env:  []string{"ROUTER_TIMEOUTS_READ=soon"},
			want: []string{
				`$ROUTER_TIMEOUTS_READ: timeouts.read: invalid duration "soon" (want a duration such as 500ms, 10s or 1m30s, or 0 for none)`,
				`DIR/r.yaml: limits.max_connections: negative count -1 (want 0 or more; 0 means no limit)`,
				level,
			},
		},
		{
			// Not: routes[0].plugin: no plugin "echo" is defined, of the
			// default routes that took the list's place.
			name: "routes not a list",
			file: "plugins: {p: {cmd: /bin/p}}\nroutes: {action: echo, plugin: p}\n",
			want: []string{
				`DIR/r.yaml: routes: got a map (want a list of maps with keys action, content_type, plugin, nats, name)`,
				level,
			},
		},
		{
			// Not: routes[0].plugin: no plugin "p" is defined.
			name: "plugins not a map",
			file: "plugins: [p]\nroutes: [{plugin: p}]\n",
			want: []string{
				`DIR/r.yaml: plugins: got a list (want a map)`,
				level,
			},
		},
		{
			// Not: plugins.p.cmd: no command.
			name: "cmd of the wrong type",
			file: "plugins: {p: {cmd: 7}}\nroutes: [{plugin: p}]\n",
			want: []string{
				`DIR/r.yaml: plugins.p.cmd: got integer 7 (want a string)`,
				level,
			},
		},
		{
			// Not: listen[0]: no address.
			name: "listener with a misspelt addr",
			file: "listen: [{adr: ':1'}]\n",
			want: []string{
				`DIR/r.yaml: listen[0].adr: unknown key, did you mean "addr"? (want one of addr, raw, plugin, tls)`,
				level,
			},
		},
		{
			// Not: listen[0].plugin: only a raw listener names a plugin.
			name: "raw of the wrong type",
			file: "listen: [{addr: ':0', raw: 'yes', plugin: echo}]\n",
			want: []string{
				`DIR/r.yaml: listen[0].raw: got string "yes" (want true or false)`,
				level,
			},
		},
		{
			// Not: listen[0].tls.cert: not set.
			name: "TLS cert of the wrong type",
			file: "listen: [{addr: ':0', tls: {cert: 5, key: /nonexistent/key.pem}}]\n",
			want: []string{
				`DIR/r.yaml: listen[0].tls.cert: got integer 5 (want a string)`,
				`DIR/r.yaml: listen[0].tls.key: cannot read "/nonexistent/key.pem": no such file or directory (want a PEM private key file)`,
				level,
			},
		},
		{
			// Not: routes[1]: can never match: it follows the
			// catch-all routes[0], which it is only for want of its
			// content_type.
			name: "route with a misspelt key before a narrower one",
			file: "routes:\n  - {contenttype: text/json, plugin: search}\n  - {action: echo, plugin: echo}\n  - {action: echo, plugin: binary}\n",
			want: []string{
				`DIR/r.yaml: routes[0].contenttype: unknown key, did you mean "content_type"? (want one of action, content_type, plugin, nats, name)`,
				`DIR/r.yaml: routes[2]: duplicates routes[1] (action echo, content_type *) (want each action and content_type once)`,
				level,
			},
		},
		{
			// Not: max_backoff: 50ms is less than backoff 100ms, the
			// default that took backoff's place.
			name: "backoff that does not parse",
			file: "plugins: {p: {cmd: /bin/p, restart: {backoff: soon, max_backoff: 50ms}}}\nroutes: [{plugin: p}]\n",
			want: []string{
				`DIR/r.yaml: plugins.p.restart.backoff: invalid duration "soon" (want a duration such as 500ms, 10s or 1m30s, or 0 for none)`,
				level,
			},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			path := configtest.WriteFile(t, dir, "r.yaml", tc.file+"log: {level: loud}\n")
			env := tc.env
			if env == nil {
				env = []string{}
			}
			_, err := config.Load(path, config.LoadOptions{Environ: env})
			configtest.AssertLines(t, err, dir, tc.want...)
			es := config.Errors(err)
			if last := es[len(es)-1]; !errors.Is(last, config.ErrValue) || last.Key != "log.level" {
				t.Errorf("last error = %+v, want the log level's ErrValue", last)
			}
		})
	}
}

// A file that does not parse stops Load at once: there is nothing to
// check the values of.
func TestLoadSyntaxErrorAlone(t *testing.T) {
	dir := t.TempDir()
	_, err := config.Load(configtest.WriteFile(t, dir, "r.yaml", "log: {level: loud\n"), config.LoadOptions{Environ: []string{"ROUTER_TIMEOUTS_IDLE=-1s"}})
	if es := config.Errors(err); len(es) != 1 || !errors.Is(es[0], config.ErrSyntax) {
		t.Errorf("Load = %v, want one ErrSyntax", err)
	}
}
