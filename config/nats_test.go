package config_test

import (
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/msgrouter/router/config"
	"github.com/msgrouter/router/internal/configtest"
)

// The contract, as written: a router file with a route to a
// subject, and a worker file.
func TestLoadNATSContract(t *testing.T) {
	c := configtest.MustLoad(t, "router.yaml", `
nats:
  url: ""
  embedded: { listen: "127.0.0.1:4222" }
plugins:
  binary: { cmd: "builtin:binary" }
routes:
  - { action: search, nats: router.search }
  - { plugin: binary }
`)
	if !c.NATSRoutes() || c.Routes[0].NATS != "router.search" || c.NATS.Embedded.Listen != "127.0.0.1:4222" {
		t.Errorf("routes %+v, nats %+v", c.Routes, c.NATS)
	}
	// Room for a 16MiB request and its header.
	if got := c.EmbeddedMaxPayload(); got != 16<<20+128<<10 {
		t.Errorf("EmbeddedMaxPayload = %d", got)
	}
	if w := c.Warnings(time.Now()); len(w) != 0 {
		t.Errorf("warnings: %v", w)
	}

	dir := t.TempDir()
	path := configtest.WriteFile(t, dir, "worker.yaml", `
nats: { url: "nats://127.0.0.1:4222" }
plugins:
  search: { cmd: "builtin:search" }
worker:
  endpoints:
    - { subject: router.search, plugin: search }
`)
	w, err := config.Load(path, config.LoadOptions{Environ: []string{}, Worker: true})
	if err != nil {
		t.Fatal(err)
	}
	if !w.IsWorker() || w.Worker.Name != "router" || w.Worker.MaxInFlight != 64 || len(w.Worker.Endpoints) != 1 {
		t.Errorf("worker %+v", w.Worker)
	}
	// A worker has no listeners and routes: not the defaults, not a
	// file's shared with a router.
	if w.Listen != nil || w.Routes != nil {
		t.Errorf("a worker's config has listen %v, routes %v", w.Listen, w.Routes)
	}
	shared := configtest.WriteFile(t, dir, "shared.yaml", `
listen: [127.0.0.1:1]
nats: { url: "nats://127.0.0.1:4222" }
plugins: { search: { cmd: "builtin:search" } }
routes: [{action: search, nats: router.search}, {plugin: search}]
worker: { endpoints: [{ subject: router.search, plugin: search }] }
`)
	sw, err := config.Load(shared, config.LoadOptions{Environ: []string{}, Worker: true})
	if err != nil {
		t.Fatalf("a file shared with a router, loaded for a worker: %v", err)
	}
	if sw.Listen != nil || sw.Routes != nil {
		t.Errorf("a file shared with a router, loaded for a worker: listen %v, routes %v", sw.Listen, sw.Routes)
	}
	// The same file read for serve: its routes are the default ones,
	// which name plugins it does not define.
	if _, err := config.Load(path, config.LoadOptions{Environ: []string{}}); !errors.Is(err, config.ErrRoute) {
		t.Errorf("a worker file loaded for serve: %v, want ErrRoute", err)
	}
}

func TestLoadNATSErrors(t *testing.T) {
	for _, tc := range []struct {
		name   string
		worker bool
		file   string
		want   []string
	}{
		{
			name: "route with a plugin and a subject",
			file: "plugins: {p: {cmd: /bin/p}}\nroutes: [{action: a, plugin: p, nats: a.b}, {plugin: p}]\n",
			want: []string{`DIR/r.yaml: routes[0]: both a plugin and a nats subject (want one of plugin and nats)`},
		},
		{
			name: "bad subjects",
			file: "plugins: {p: {cmd: /bin/p}}\nroutes: [{action: a, nats: 'a.*'}, {action: b, nats: 'a..b'}, {action: c, nats: 'a b'}, {action: d, nats: '$SRV.PING'}, {plugin: p}]\n",
			want: []string{
				`DIR/r.yaml: routes[0].nats: subject "a.*" has a wildcard (want a NATS subject such as router.search: tokens separated by dots, no spaces or wildcards)`,
				`DIR/r.yaml: routes[1].nats: subject "a..b" has an empty token (want a NATS subject such as router.search: tokens separated by dots, no spaces or wildcards)`,
				`DIR/r.yaml: routes[2].nats: subject "a b" has a space or a control character (want a NATS subject such as router.search: tokens separated by dots, no spaces or wildcards)`,
				`DIR/r.yaml: routes[3].nats: subject "$SRV.PING" is reserved to NATS (want a NATS subject such as router.search: tokens separated by dots, no spaces or wildcards)`,
			},
		},
		{
			name: "bad url, listen and max payload",
			file: "nats: {url: 'nats://a:4222, http://b', embedded: {max_payload: 100MiB}}\n",
			want: []string{
				`DIR/r.yaml: nats.url: URL 2, "http://b": the scheme is not nats://, tls://, ws:// or wss:// (want nats://host:port URLs, comma-separated)`,
				`DIR/r.yaml: nats.embedded.max_payload: 100MiB is out of range (want 0 (room for max_content_length) up to 64MiB)`,
			},
		},
		{
			name: "embedded listen",
			file: "nats: {embedded: {listen: 'localhost'}}\n",
			want: []string{`DIR/r.yaml: nats.embedded.listen: invalid address "localhost" (want host:port such as 127.0.0.1:4222)`},
		},
		{
			name:   "worker without url or endpoints",
			worker: true,
			file:   "plugins: {p: {cmd: /bin/p}}\nworker: {name: 'a b', max_in_flight: 0}\n",
			want: []string{
				`default config: nats.url: a worker needs the NATS server to connect to (want nats://host:4222, the URL of the server the routers use)`,
				`DIR/r.yaml: worker.max_in_flight: 0 is not positive (want 1 or more requests at once)`,
				`DIR/r.yaml: worker.name: invalid service name "a b" (want letters, digits, '-' and '_', starting with a letter or digit)`,
				`default config: worker.endpoints: no endpoint (want at least one {subject: SUBJECT, plugin: NAME})`,
			},
		},
		{
			name:   "worker endpoints",
			worker: true,
			file:   "nats: {url: 'nats://127.0.0.1:4222'}\nplugins: {search: {cmd: /bin/p}}\nworker: {endpoints: [{subject: a.b, plugin: serch}, {subject: a.b, plugin: search}, {plugin: search}]}\n",
			want: []string{
				`DIR/r.yaml: worker.endpoints[0].plugin: no plugin "serch" is defined, did you mean "search"? (want one of the plugins: search)`,
				`DIR/r.yaml: worker.endpoints[1].subject: repeats worker.endpoints[0] (want each subject once)`,
				`DIR/r.yaml: worker.endpoints[2].subject: no subject (want a NATS subject such as router.search: tokens separated by dots, no spaces or wildcards)`,
			},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			path := configtest.WriteFile(t, dir, "r.yaml", tc.file)
			_, err := config.Load(path, config.LoadOptions{Environ: []string{}, Worker: tc.worker})
			configtest.AssertLines(t, err, dir, tc.want...)
		})
	}
}

func TestPayloadWarning(t *testing.T) {
	c := configtest.MustLoad(t, "r.yaml", `
plugins: {p: {cmd: /bin/p}}
routes: [{action: a, nats: a.b}, {plugin: p}]
limits: {max_content_length: 8MiB}
`)
	if w := c.PayloadWarning(16 << 20); w != nil {
		t.Errorf("8MiB under a 16MiB max payload: %v", w)
	}
	w := c.PayloadWarning(1 << 20)
	if w == nil || !errors.Is(w, config.ErrPayload) || w.Key != "limits.max_content_length" {
		t.Fatalf("8MiB over a 1MiB max payload: %v", w)
	}
	// No limit on the content: never fits.
	c.Limits.MaxContentLength = 0
	if c.PayloadWarning(64<<20) == nil || c.EmbeddedMaxPayload() != config.MaxEmbeddedPayload {
		t.Error("max_content_length 0: no warning, or not the largest payload")
	}
	// A router without routes to subjects does not care.
	d := config.Default()
	if d.PayloadWarning(1) != nil {
		t.Error("a warning for a config without NATS routes")
	}
	// The embedded server's own limit set too low is a warning of
	// Warnings.
	c.Limits.MaxContentLength = 8 << 20
	c.NATS.Embedded.MaxPayload = 1 << 20
	if ws := c.Warnings(time.Now()); len(ws) != 1 || !errors.Is(ws[0], config.ErrPayload) {
		t.Errorf("Warnings = %v, want the payload warning", ws)
	}
}

// The effective config of a worker leaves out what a worker does not
// read (listen, routes), and a router's leaves out the worker section.
func TestYAMLByRole(t *testing.T) {
	dir := t.TempDir()
	path := configtest.WriteFile(t, dir, "worker.yaml", `
nats: {url: "nats://127.0.0.1:4222"}
plugins: {search: {cmd: "builtin:search"}}
worker: {endpoints: [{subject: router.search, plugin: search}]}
`)
	w, err := config.Load(path, config.LoadOptions{Environ: []string{}, Worker: true})
	if err != nil {
		t.Fatal(err)
	}
	out, err := w.YAML()
	if err != nil {
		t.Fatal(err)
	}
	s := string(out)
	for _, want := range []string{"worker:\n", "  endpoints:\n    - {subject: router.search, plugin: search}\n", "url: nats://127.0.0.1:4222"} {
		if !strings.Contains(s, want) {
			t.Errorf("worker YAML lacks %q:\n%s", want, s)
		}
	}
	if strings.Contains(s, "\nlisten:") || strings.Contains(s, "\nroutes:") {
		t.Errorf("worker YAML has listen or routes:\n%s", s)
	}
	// Read back, it is the same config.
	back := configtest.WriteFile(t, dir, "back.yaml", s)
	w2, err := config.Load(back, config.LoadOptions{Environ: []string{}, Worker: true})
	if err != nil {
		t.Fatalf("the effective worker config does not load: %v", err)
	}
	if !reflect.DeepEqual(w2.Worker, w.Worker) || w2.NATS != w.NATS {
		t.Errorf("read back: %+v %+v, want %+v %+v", w2.Worker, w2.NATS, w.Worker, w.NATS)
	}

	out, err = config.Default().YAML()
	if err != nil {
		t.Fatal(err)
	}
	if s := string(out); strings.Contains(s, "\nworker:") || !strings.Contains(s, "\nnats:") {
		t.Errorf("router YAML: want nats and no worker section:\n%s", s)
	}
}
