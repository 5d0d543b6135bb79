package router_test

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/msgrouter/router"
	"github.com/msgrouter/router/config"
	"github.com/msgrouter/router/core"
	"github.com/msgrouter/router/internal/configtest"
	"github.com/msgrouter/router/internal/routertest"
	"github.com/msgrouter/router/plugins"
)

// testExe is this test binary, which serves the test plugins as plugin
// processes (see TestMain).
func testExe(t testing.TB) string {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	return exe
}

// procPlugin is the YAML of a plugin that runs the test plugin name as
// a process.
func procPlugin(t testing.TB, name, settings string) string {
	// Under the race detector a process waits a second as it exits,
	// unless told not to.
	s := fmt.Sprintf("{cmd: %q, env: {CONFIG_TEST_PLUGIN: %s, GORACE: atexit_sleep_ms=0}", testExe(t), name)
	if settings != "" {
		s += ", settings: " + settings
	}
	return s + "}"
}

// Every kind of listener serves: TCP, Unix, and raw, with a plugin or
// with the route table.
func TestStartServes(t *testing.T) {
	dir := t.TempDir()
	cfg := configtest.MustLoad(t, "r.yaml", `
listen:
  - 127.0.0.1:0
  - unix://`+dir+`/r.sock
  - {addr: "127.0.0.1:0", raw: true, plugin: echo}
  - {addr: "127.0.0.1:0", raw: true}
plugins:
  tag: {cmd: inprocess, settings: {tag: v1}}
  upper: {cmd: inprocess}
  echo: {cmd: inprocess}
  fallback: {cmd: inprocess}
routes:
  - {action: tag, plugin: tag}
  - {action: upper, plugin: upper.upper}
  - {plugin: fallback}
`)
	r := start(t, cfg, inProcess(t, "tag", "upper", "echo", "fallback"))
	if got := ask(t, addr(r, 0), action("tag", nil)); got != "v1:tag" {
		t.Errorf("tag over TCP = %q, want v1:tag", got)
	}
	if got := ask(t, addr(r, 1), action("upper", "abc")); got != "ABC" {
		t.Errorf("upper over Unix = %q, want ABC", got)
	}
	if got := ask(t, addr(r, 1), action("other", "abc")); got != "fallback" {
		t.Errorf("other = %q, want fallback", got)
	}
	if got := rawAsk(t, addr(r, 2), "hello"); got != "hello" {
		t.Errorf("raw with plugin echo = %q, want hello", got)
	}
	if got := rawAsk(t, addr(r, 3), "hello"); got != `{"result": "fallback"}` {
		t.Errorf("raw with the route table = %q, want the catch-all's answer", got)
	}
	if r.Config() != cfg {
		t.Errorf("Config() is not the config started with")
	}
}

// rawAsk writes s to a raw TCP listener and reads what comes back.
func rawAsk(t testing.TB, addr, s string) string {
	t.Helper()
	return rawAskNet(t, "tcp", addr, s)
}

func rawAskNet(t testing.TB, network, addr, s string) string {
	t.Helper()
	c, err := net.DialTimeout(network, addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.WriteString(c, s); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 1024)
	n, err := c.Read(buf)
	if err != nil {
		t.Fatal(err)
	}
	return string(buf[:n])
}

// A listener that cannot bind fails the start, naming its key and
// address, and nothing is left open.
func TestStartListenError(t *testing.T) {
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	dir := t.TempDir()
	sock := filepath.Join(dir, "r.sock")
	path := configtest.WriteFile(t, dir, "r.yaml", fmt.Sprintf("listen: [unix://%s, %s]\n", sock, busy.Addr()))
	cfg, err := config.Load(path, config.LoadOptions{Environ: []string{}})
	if err != nil {
		t.Fatal(err)
	}
	_, err = router.Start(context.Background(), cfg, router.StartOptions{Logger: testLogger(t)})
	configtest.AssertLines(t, err, dir, fmt.Sprintf("DIR/r.yaml: listen[1]: cannot listen on %s: address already in use (want an address that is free and that this user may listen on; port 0 picks a free port)", busy.Addr()))
	if !errors.Is(err, config.ErrListen) || !errors.Is(err, syscall.EADDRINUSE) {
		t.Errorf("%v is not ErrListen and EADDRINUSE", err)
	}
	if _, err := os.Stat(sock); !os.IsNotExist(err) {
		t.Errorf("the Unix listener opened before the failure is still there: %v", err)
	}
}

// Once the plugins run, each route is checked against what its handler
// declared.
func TestStartChecksDeclarations(t *testing.T) {
	dir := t.TempDir()
	path := configtest.WriteFile(t, dir, "r.yaml", `
listen: ["127.0.0.1:0"]
plugins:
  tag: {cmd: inprocess}
  upper: {cmd: inprocess}
  multi: {cmd: inprocess}
routes:
  - {action: tga, plugin: tag}
  - {content_type: text/plain, plugin: upper}
  - {action: a, plugin: multi}
  - {action: c, plugin: multi.c}
  - {action: b, plugin: multi.b}
  - {plugin: upper}
`)
	cfg, err := config.Load(path, config.LoadOptions{Environ: []string{}})
	if err != nil {
		t.Fatal(err)
	}
	_, err = router.Start(context.Background(), cfg, inProcess(t, "tag", "upper", "multi"))
	configtest.AssertLines(t, err, dir,
		`DIR/r.yaml: routes[0].action: handler "tag" of plugin "tag" does not declare action "tga" (want an action it declares: "tag", "added")`,
		`DIR/r.yaml: routes[1].content_type: handler "upper" of plugin "upper" does not declare content-type "text/plain" (want it declares no content-type)`,
		`DIR/r.yaml: routes[2].plugin: plugin "multi" has 2 handlers and none is named "multi" (want "multi.a" or "multi.b")`,
		`DIR/r.yaml: routes[3].plugin: plugin "multi" has no handler "c" (want one of "multi.a" or "multi.b")`,
		`DIR/r.yaml: routes[5]: the catch-all route leads to handler "upper" of plugin "upper", which does not declare every content-type ("*") (want a catch-all to a handler that declares "*", or an action or content_type on this route)`,
	)
	if !errors.Is(err, config.ErrRoute) {
		t.Errorf("%v is not ErrRoute", err)
	}
}

// The same check applies to a plugin process, which declares its
// handlers when it starts; its settings reach its Init.
func TestStartPluginProcess(t *testing.T) {
	dir := t.TempDir()
	path := configtest.WriteFile(t, dir, "r.yaml", `
listen: ["127.0.0.1:0"]
plugins:
  tag: `+procPlugin(t, "tag", "{tag: from-settings}")+`
  fallback: {cmd: inprocess}
routes:
  - {action: tag, plugin: tag}
  - {action: added, plugin: tag.tag}
  - {plugin: fallback}
`)
	cfg, err := config.Load(path, config.LoadOptions{Environ: []string{}})
	if err != nil {
		t.Fatal(err)
	}
	r := start(t, cfg, inProcess(t, "fallback"))
	if got := ask(t, addr(r, 0), action("added", nil)); got != "from-settings:added" {
		t.Errorf("added = %q, want from-settings:added", got)
	}

	// A route to an action the process does not declare is refused.
	cfg2 := configtest.MustLoad(t, "r.yaml", `
listen: ["127.0.0.1:0"]
plugins:
  tag: `+procPlugin(t, "tag", "{tag: x}")+`
routes: [{action: untagged, plugin: tag}]
`)
	_, err = router.Start(context.Background(), cfg2, router.StartOptions{Logger: testLogger(t)})
	if !errors.Is(err, config.ErrRoute) || !strings.HasSuffix(err.Error(), `routes[0].action: handler "tag" of plugin "tag" does not declare action "untagged" (want an action it declares: "tag", "added")`) {
		t.Errorf("Start = %v", err)
	}
}

// A plugin that cannot start fails the start, naming it and why.
func TestStartPluginError(t *testing.T) {
	dir := t.TempDir()
	path := configtest.WriteFile(t, dir, "r.yaml", `
listen: ["127.0.0.1:0"]
plugins:
  ghost: {cmd: `+dir+`/ghost}
  tag: {cmd: inprocess, settings: {tag: 5}}
  tag2: `+procPlugin(t, "tag", "{tag: 5}")+`
routes: [{action: tag, plugin: tag}, {action: added, plugin: tag2}, {plugin: ghost}]
`)
	cfg, err := config.Load(path, config.LoadOptions{Environ: []string{}})
	if err != nil {
		t.Fatal(err)
	}
	_, err = router.Start(context.Background(), cfg, inProcess(t, "tag"))
	configtest.AssertLines(t, err, dir,
		`DIR/r.yaml: plugins.ghost: cannot start DIR/ghost: exec: "DIR/ghost": stat DIR/ghost: no such file or directory`,
		`DIR/r.yaml: plugins.tag: in-process Init failed: settings: want "tag", a string`,
		`DIR/r.yaml: plugins.tag2: cannot start `+testExe(t)+`: init: rpc error: code = Unknown desc = settings: want "tag", a string`,
	)
	if !errors.Is(err, config.ErrPlugin) {
		t.Errorf("%v is not ErrPlugin", err)
	}
}

// TLS listeners, with mutual TLS and a minimum version; a reload with a
// new certificate serves it to new connections without closing the
// listener or the connections open.
func TestTLS(t *testing.T) {
	dir := t.TempDir()
	ca := newCA(t, "test CA")
	serverCert, serverKey := ca.issue(t, dir, "server", true)
	clientCert, clientKey := ca.issue(t, dir, "client", false)
	caFile := filepath.Join(dir, "ca.pem")
	os.WriteFile(caFile, ca.pem, 0o644)

	yaml := func(cert, key string) string {
		return fmt.Sprintf(`
listen:
  - {addr: "127.0.0.1:0", tls: {cert: %s, key: %s}}
  - {addr: "127.0.0.1:0", tls: {cert: %s, key: %s, client_ca: %s, min_version: "1.3"}}
plugins: {upper: {cmd: inprocess}, fallback: {cmd: inprocess}}
routes: [{action: upper, plugin: upper}, {plugin: fallback}]
`, cert, key, cert, key, caFile)
	}
	path := configtest.WriteFile(t, dir, "r.yaml", yaml(serverCert, serverKey))
	cfg, err := config.Load(path, config.LoadOptions{Environ: []string{}})
	if err != nil {
		t.Fatal(err)
	}
	r := start(t, cfg, inProcess(t, "upper", "fallback"))

	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(ca.pem)
	dialTLS := func(addr string, tc *tls.Config) (*core.Client, *tls.Conn, error) {
		nc, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", addr, tc)
		if err != nil {
			return nil, nil, err
		}
		return core.NewClient(nc), nc, nil
	}
	do := func(c *core.Client) (string, error) {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		ans, err := c.Do(ctx, action("upper", "secret"))
		if err != nil {
			return "", err
		}
		return result(ans)
	}

	c, conn, err := dialTLS(r.Addrs()[0].String(), &tls.Config{RootCAs: pool, ServerName: "127.0.0.1"})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if got, err := do(c); got != "SECRET" {
		t.Fatalf("over TLS: %q, %v", got, err)
	}
	firstSerial := conn.ConnectionState().PeerCertificates[0].SerialNumber

	// Mutual TLS: no client certificate, no answer.
	mtls := r.Addrs()[1].String()
	if nc, _, err := dialTLS(mtls, &tls.Config{RootCAs: pool, ServerName: "127.0.0.1"}); err == nil {
		_, err = do(nc)
		nc.Close()
		if err == nil {
			t.Error("mutual TLS listener answered a client without a certificate")
		}
	}
	cert, err := tls.LoadX509KeyPair(clientCert, clientKey)
	if err != nil {
		t.Fatal(err)
	}
	mc, mconn, err := dialTLS(mtls, &tls.Config{RootCAs: pool, ServerName: "127.0.0.1", Certificates: []tls.Certificate{cert}})
	if err != nil {
		t.Fatal(err)
	}
	defer mc.Close()
	if got, err := do(mc); got != "SECRET" {
		t.Fatalf("over mutual TLS: %q, %v", got, err)
	}
	if v := mconn.ConnectionState().Version; v != tls.VersionTLS13 {
		t.Errorf("TLS version %x, want 1.3", v)
	}
	// min_version 1.3 refuses a TLS 1.2 client.
	if nc, _, err := dialTLS(mtls, &tls.Config{RootCAs: pool, ServerName: "127.0.0.1", Certificates: []tls.Certificate{cert}, MaxVersion: tls.VersionTLS12}); err == nil {
		nc.Close()
		t.Error("a TLS 1.2 client was accepted by a min_version 1.3 listener")
	}

	// A renewed certificate, in the same files, by reload.
	_, key2 := ca.issue(t, dir, "server", true)
	before := r.Addrs()
	if err := r.ReloadFile(context.Background(), path, config.LoadOptions{Environ: []string{}}); err != nil {
		t.Fatal(err)
	}
	if after := r.Addrs(); after[0].String() != before[0].String() {
		t.Errorf("the TLS listener moved from %s to %s", before[0], after[0])
	}
	c2, conn2, err := dialTLS(r.Addrs()[0].String(), &tls.Config{RootCAs: pool, ServerName: "127.0.0.1"})
	if err != nil {
		t.Fatal(err)
	}
	defer c2.Close()
	if got, err := do(c2); got != "SECRET" {
		t.Fatalf("over TLS after reload: %q, %v", got, err)
	}
	if conn2.ConnectionState().PeerCertificates[0].SerialNumber.Cmp(firstSerial) == 0 {
		t.Error("a new connection after the reload got the old certificate")
	}
	if got, err := do(c); got != "SECRET" {
		t.Errorf("the connection opened before the reload: %q, %v", got, err)
	}

	// A certificate that cannot be loaded is rejected and the old one
	// stays.
	bad := configtest.WriteFile(t, dir, "bad.pem", "not a certificate")
	configtest.WriteFile(t, dir, "r.yaml", yaml(bad, key2))
	err = r.ReloadFile(context.Background(), path, config.LoadOptions{Environ: []string{}})
	if !errors.Is(err, config.ErrValue) || !strings.Contains(err.Error(), "listen[0].tls: cannot load certificate") {
		t.Errorf("reload with a bad certificate: %v", err)
	}
	if got, err := do(c2); got != "SECRET" {
		t.Errorf("after the rejected reload: %q, %v", got, err)
	}
}

// A reload that makes a plain listener TLS on the same address, with a
// certificate that cannot be loaded, is rejected before the plain
// listener closes: it goes on serving. (Validation, which loads the TLS
// files, rejects it first; the reload reads them again before it closes
// the old listener.)
func TestReloadModeChangeBadCertificate(t *testing.T) {
	dir := t.TempDir()
	sock := "unix://" + dir + "/m.sock"
	path := configtest.WriteFile(t, dir, "r.yaml", `
listen: ["`+sock+`"]
plugins: {upper: {cmd: inprocess}, fallback: {cmd: inprocess}}
routes: [{action: upper, plugin: upper}, {plugin: fallback}]
`)
	noEnv := config.LoadOptions{Environ: []string{}}
	cfg, err := config.Load(path, noEnv)
	if err != nil {
		t.Fatal(err)
	}
	r := start(t, cfg, inProcess(t, "upper", "fallback"))
	expect(t, routertest.Dial(t, sock), action("upper", "a"), "A")

	bad := configtest.WriteFile(t, dir, "bad.pem", "not a certificate")
	configtest.WriteFile(t, dir, "r.yaml", `
listen: [{addr: "`+sock+`", tls: {cert: `+bad+`, key: `+bad+`}}]
plugins: {upper: {cmd: inprocess}, fallback: {cmd: inprocess}}
routes: [{action: upper, plugin: upper}, {plugin: fallback}]
`)
	err = r.ReloadFile(context.Background(), path, noEnv)
	if !errors.Is(err, config.ErrValue) || !strings.Contains(err.Error(), "listen[0].tls: cannot load certificate") {
		t.Errorf("reload to TLS with a bad certificate: %v", err)
	}
	if errors.Is(err, config.ErrReloadIncomplete) {
		t.Errorf("the reload was applied in part: %v", err)
	}
	// A new connection: the listener is still there, still plain.
	expect(t, routertest.Dial(t, sock), action("upper", "b"), "B")
}

type testCA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	pem  []byte
}

var serial int64

func newCA(t testing.TB, name string) *testCA {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	serial++
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: name},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	return &testCA{cert: cert, key: key, pem: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})}
}

// issue writes a certificate for 127.0.0.1 signed by ca, and its key,
// and returns their paths.
func (ca *testCA) issue(t testing.TB, dir, name string, server bool) (string, string) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	serial++
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: name},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature,
	}
	if server {
		tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
		tmpl.IPAddresses = []net.IP{net.ParseIP("127.0.0.1")}
	} else {
		tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile := filepath.Join(dir, name+".pem"), filepath.Join(dir, name+"-key.pem")
	os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644)
	os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder}), 0o600)
	return certFile, keyFile
}

// Reload, as the CLI calls it on SIGHUP: plugins, routes and listeners
// change; connections stay; a bad config changes nothing.
func TestReload(t *testing.T) {
	dir := t.TempDir()
	v1 := `
listen: ["127.0.0.1:0", "unix://` + dir + `/old.sock"]
plugins:
  tag: {cmd: inprocess, settings: {tag: v1}}
  fallback: {cmd: inprocess}
routes: [{action: tag, plugin: tag}, {plugin: fallback}]
`
	path := configtest.WriteFile(t, dir, "r.yaml", v1)
	noEnv := config.LoadOptions{Environ: []string{}}
	cfg, err := config.Load(path, noEnv)
	if err != nil {
		t.Fatal(err)
	}
	r := start(t, cfg, inProcess(t, "tag", "upper", "echo", "fallback"))
	tcpAddr := addr(r, 0)
	kaTCP := routertest.Dial(t, tcpAddr)
	kaUnix := routertest.Dial(t, addr(r, 1))
	expect(t, kaTCP, action("tag", nil), "v1:tag")
	expect(t, kaUnix, action("upper", "x"), "fallback")

	// v2: the tag plugin's settings change, upper is added with a route,
	// the Unix listener moves and a raw one is added.
	configtest.WriteFile(t, dir, "r.yaml", `
listen: ["127.0.0.1:0", "unix://`+dir+`/new.sock", {addr: "127.0.0.1:0", raw: true, plugin: echo}]
plugins:
  tag: {cmd: inprocess, settings: {tag: v2}}
  upper: {cmd: inprocess}
  echo: {cmd: inprocess}
  fallback: {cmd: inprocess}
routes: [{action: tag, plugin: tag}, {action: upper, plugin: upper}, {plugin: fallback}]
`)
	if err := r.ReloadFile(context.Background(), path, noEnv); err != nil {
		t.Fatal(err)
	}
	if addr(r, 0) != tcpAddr {
		t.Errorf("the TCP listener moved from %s to %s", tcpAddr, addr(r, 0))
	}
	// The connections opened before the reload are served by the new
	// table, the one of the removed listener too.
	expect(t, kaTCP, action("tag", nil), "v2:tag")
	expect(t, kaTCP, action("upper", "x"), "X")
	expect(t, kaUnix, action("upper", "y"), "Y")
	if _, err := tryAsk("unix://"+dir+"/old.sock", action("tag", nil)); err == nil {
		t.Error("the removed Unix listener still accepts connections")
	}
	if got := ask(t, "unix://"+dir+"/new.sock", action("upper", "z")); got != "Z" {
		t.Errorf("new Unix listener: %q", got)
	}
	if got := rawAsk(t, addr(r, 2), "raw bytes"); got != "raw bytes" {
		t.Errorf("new raw listener: %q", got)
	}
	good := r.Config()

	// Rejected reloads change nothing: an invalid config, a plugin that
	// cannot start, a listener that cannot bind, a route its handler
	// does not declare.
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	for _, bad := range []struct {
		name, yaml string
		class      error
	}{
		{"invalid", `
plugins: {tag: {cmd: inprocess, settings: {tag: v3}}}
routes: [{action: tag, plugin: tga}]
`, config.ErrRoute},
		{"plugin fails", `
listen: ["127.0.0.1:0", "unix://` + dir + `/v3.sock"]
plugins: {tag: {cmd: inprocess, settings: {tag: v3}}, ghost: {cmd: /nonexistent/ghost}}
routes: [{action: tag, plugin: tag}, {plugin: ghost}]
`, config.ErrPlugin},
		{"listener fails", `
listen: ["127.0.0.1:0", "unix://` + dir + `/v3.sock", "` + busy.Addr().String() + `"]
plugins: {tag: {cmd: inprocess, settings: {tag: v3}}, fallback: {cmd: inprocess}}
routes: [{action: tag, plugin: tag}, {plugin: fallback}]
`, config.ErrListen},
		{"undeclared", `
listen: ["127.0.0.1:0", "unix://` + dir + `/v3.sock"]
plugins: {tag: {cmd: inprocess, settings: {tag: v3}}, fallback: {cmd: inprocess}}
routes: [{action: tagged, plugin: tag}, {plugin: fallback}]
`, config.ErrRoute},
	} {
		configtest.WriteFile(t, dir, "r.yaml", bad.yaml)
		err := r.ReloadFile(context.Background(), path, noEnv)
		if !errors.Is(err, bad.class) {
			t.Errorf("%s: reload error %v, want %v", bad.name, err, bad.class)
		}
		if r.Config() != good {
			t.Errorf("%s: the config changed", bad.name)
		}
		expect(t, kaTCP, action("tag", nil), "v2:tag")
		expect(t, kaUnix, action("upper", "y"), "Y")
		if _, err := os.Stat(dir + "/v3.sock"); err == nil {
			t.Errorf("%s: the listener of the rejected config is open", bad.name)
		}
	}

	// A listener that changes mode on the same address is closed and
	// opened again; a connection opened to it before stays.
	kaNew := routertest.Dial(t, "unix://"+dir+"/new.sock")
	// Once answered, the connection is surely accepted: one still in the
	// listener's backlog would be reset when the listener closes.
	expect(t, kaNew, action("tag", nil), "v2:tag")
	configtest.WriteFile(t, dir, "r.yaml", `
listen: ["127.0.0.1:0", {addr: "unix://`+dir+`/new.sock", raw: true, plugin: echo}]
plugins:
  tag: {cmd: inprocess, settings: {tag: v2}}
  echo: {cmd: inprocess}
  fallback: {cmd: inprocess}
routes: [{action: tag, plugin: tag}, {plugin: fallback}]
`)
	if err := r.ReloadFile(context.Background(), path, noEnv); err != nil {
		t.Fatal(err)
	}
	if got := rawAskNet(t, "unix", dir+"/new.sock", "now raw"); got != "now raw" {
		t.Errorf("the listener made raw: %q", got)
	}
	expect(t, kaNew, action("tag", nil), "v2:tag")

	// Reload takes a Config directly too; back to v1.
	cfg1, err := config.Load(configtest.WriteFile(t, dir, "v1.yaml", v1), noEnv)
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Reload(context.Background(), cfg1); err != nil {
		t.Fatal(err)
	}
	expect(t, kaTCP, action("tag", nil), "v1:tag")
	expect(t, kaTCP, action("upper", "x"), "fallback")
	if n := len(r.Addrs()); n != 2 {
		t.Errorf("%d listeners after going back to v1, want 2", n)
	}
}

// expect sends req on c and checks the result.
func expect(t testing.TB, c *core.Client, req *core.Message, want string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	ans, err := c.Do(ctx, req)
	if err != nil {
		t.Fatalf("request: %v", err)
	}
	got, err := result(ans)
	if err != nil || got != want {
		t.Errorf("answer %q, %v; want %q", got, err, want)
	}
}

// A request in flight when a reload removes its plugin finishes on the
// old table; the plugin process is stopped only after it.
func TestReloadDrainsRemovedPlugin(t *testing.T) {
	// timeouts.shutdown 0 means no limit to the wait, not none.
	for _, tc := range []struct{ name, yaml string }{{"default", ""}, {"shutdown=0", "timeouts: {shutdown: 0}"}} {
		t.Run(tc.name, func(t *testing.T) { testReloadDrainsRemovedPlugin(t, tc.yaml) })
	}
}

func testReloadDrainsRemovedPlugin(t *testing.T, shutdown string) {
	dir := t.TempDir()
	path := configtest.WriteFile(t, dir, "r.yaml", `
listen: ["127.0.0.1:0"]
plugins:
  slow: `+procPlugin(t, "slow", "")+`
  fallback: {cmd: inprocess}
routes: [{action: slow, plugin: slow}, {plugin: fallback}]
`+shutdown+`
`)
	noEnv := config.LoadOptions{Environ: []string{}}
	cfg, err := config.Load(path, noEnv)
	if err != nil {
		t.Fatal(err)
	}
	r := start(t, cfg, inProcess(t, "fallback"))
	c := routertest.Dial(t, addr(r, 0))
	expect(t, c, action("slow", 0), "slow")

	type res struct {
		s   string
		err error
	}
	done := make(chan res, 1)
	go func() {
		ans, err := c.Do(context.Background(), action("slow", 700))
		if err != nil {
			done <- res{"", err}
			return
		}
		s, err := result(ans)
		done <- res{s, err}
	}()
	time.Sleep(200 * time.Millisecond) // the request is in the plugin

	configtest.WriteFile(t, dir, "r.yaml", `
listen: ["127.0.0.1:0"]
plugins: {fallback: {cmd: inprocess}}
routes: [{plugin: fallback}]
`+shutdown+`
`)
	began := time.Now()
	if err := r.ReloadFile(context.Background(), path, noEnv); err != nil {
		t.Fatal(err)
	}
	took := time.Since(began)
	select {
	case res := <-done:
		if res.err != nil || res.s != "slow" {
			t.Errorf("the request in flight got %q, %v; want its answer", res.s, res.err)
		}
	default:
		t.Errorf("Reload returned after %s, before the request in flight on the old table was answered", took)
		<-done
	}
	// The next request starts on the new table.
	if got := ask(t, addr(r, 0), action("slow", 0)); got != "fallback" {
		t.Errorf("after the reload: %q, want fallback", got)
	}
}

// Shutdown stops serving and the plugin processes; Serve returns
// ErrServerClosed, and Reload after it fails.
func TestShutdown(t *testing.T) {
	cfg := configtest.MustLoad(t, "r.yaml", `
listen: ["127.0.0.1:0"]
plugins: {tag: `+procPlugin(t, "tag", "{tag: t}")+`}
routes: [{action: tag, plugin: tag}]
`)
	r, err := router.Start(context.Background(), cfg, router.StartOptions{Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- r.Serve() }()
	a := addr(r, 0)
	if got := ask(t, a, action("tag", nil)); got != "t:tag" {
		t.Fatalf("tag = %q", got)
	}
	if err := r.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := <-served; !errors.Is(err, core.ErrServerClosed) {
		t.Errorf("Serve = %v", err)
	}
	if _, err := tryAsk(a, action("tag", nil)); err == nil {
		t.Error("the router answers after Shutdown")
	}
	if err := r.Reload(context.Background(), cfg); !errors.Is(err, core.ErrServerClosed) {
		t.Errorf("Reload after Shutdown = %v", err)
	}
	if err := r.Serve(); !errors.Is(err, core.ErrServerClosed) {
		t.Errorf("Serve after Shutdown = %v", err)
	}
}

// The default config runs the reference server with the built-in
// plugins as processes of the router executable ("builtin:NAME"), built
// here from cmd/router.
func TestDefaultWithBuiltins(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the router executable")
	}
	goCmd, err := exec.LookPath("go")
	if err != nil {
		goCmd = filepath.Join(runtime.GOROOT(), "bin", "go")
	}
	bin := filepath.Join(t.TempDir(), "router")
	build := exec.Command(goCmd, "build", "-o", bin, "github.com/msgrouter/router/cmd/router")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build ./cmd/router: %v\n%s", err, out)
	}
	cfg, err := config.Load("", config.LoadOptions{Environ: []string{}, Flags: map[string]any{"listen": []string{"127.0.0.1:0"}}})
	if err != nil {
		t.Fatal(err)
	}
	r := start(t, cfg, router.StartOptions{Logger: testLogger(t), Executable: bin})
	a := addr(r, 0)
	for _, tc := range []struct {
		req  *core.Message
		want string
	}{
		{action("search", "morpheus"), "Follow the white rabbit. \U0001f430"},
		{action("search", "nobody"), "No match for 'nobody'."},
		{action("dance", "x"), "Error: invalid action 'dance'."},
	} {
		if got := ask(t, a, tc.req); got != tc.want {
			t.Errorf("%s: %q, want %q", tc.req.Content, got, tc.want)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c := routertest.Dial(t, a)
	ans, err := c.Do(ctx, core.NewBinary("binary/custom-client-binary-type", []byte("search\U0001f436 and more")))
	if err != nil {
		t.Fatal(err)
	}
	if ans.ContentType != "binary/custom-server-binary-type" || string(ans.Content) != "First 10 bytes of request: search\xf0\x9f\x90\xb6" {
		t.Errorf("binary answer %s %q", ans.ContentType, ans.Content)
	}
	echoReq := action("echo", "hello")
	ans, err = c.Do(ctx, echoReq)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(ans.Content, echoReq.Content) {
		t.Errorf("echo answered %q, want the request %q", ans.Content, echoReq.Content)
	}
}

// Check starts the plugins and checks the routes without listening; a
// plugin runs in-process by its cmd.
func TestCheck(t *testing.T) {
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	o := router.StartOptions{Logger: testLogger(t), InProcess: map[string]func() *plugins.Plugin{
		"builtin:tag": func() *plugins.Plugin { return testPlugin("tag") },
	}}
	cfg := configtest.MustLoad(t, "r.yaml", `
listen: ["`+busy.Addr().String()+`"]
plugins: {a: {cmd: "builtin:tag"}, b: {cmd: "builtin:tag", settings: {tag: b}}}
routes: [{action: tag, plugin: a}, {action: added, plugin: b}]
`)
	if err := router.Check(context.Background(), cfg, o); err != nil {
		t.Errorf("Check: %v", err)
	}
	cfg = configtest.MustLoad(t, "r.yaml", `
plugins: {a: {cmd: "builtin:tag"}}
routes: [{action: tagg, plugin: a}]
`)
	err = router.Check(context.Background(), cfg, o)
	if !errors.Is(err, config.ErrRoute) || !strings.HasSuffix(err.Error(), `routes[0].action: handler "tag" of plugin "a" does not declare action "tagg" (want an action it declares: "tag", "added")`) {
		t.Errorf("Check = %v", err)
	}
}
