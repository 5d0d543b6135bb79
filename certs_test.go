package router_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"math/big"
	"net"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/msgrouter/router"
	"github.com/msgrouter/router/config"
	"github.com/msgrouter/router/core"
	"github.com/msgrouter/router/internal/configtest"
	"github.com/msgrouter/router/internal/syncbuf"
	"github.com/msgrouter/router/internal/testcert"
)

const day = 24 * time.Hour

// tlsYAML is a config with one TLS listener on a free port of
// 127.0.0.1, with c's files, answered by the in-process "upper" and
// "fallback".
func tlsYAML(c testcert.Pair) string {
	return fmt.Sprintf(`
listen: [{addr: "127.0.0.1:0", tls: {cert: %s, key: %s}}]
plugins: {upper: {cmd: inprocess}, fallback: {cmd: inprocess}}
routes: [{action: upper, plugin: upper}, {plugin: fallback}]
`, c.Cert, c.Key)
}

// tlsAsk asks "upper" of v over a new TLS connection to addr that
// trusts only c, and returns the answer and the serial of the
// certificate the router presented.
func tlsAsk(t testing.TB, addr string, c testcert.Pair, v string) (string, *big.Int) {
	t.Helper()
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(c.PEM)
	nc, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", addr, &tls.Config{RootCAs: pool, ServerName: "127.0.0.1"})
	if err != nil {
		t.Fatalf("TLS to %s: %v", addr, err)
	}
	defer nc.Close()
	serial := nc.ConnectionState().PeerCertificates[0].SerialNumber
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	ans, err := core.NewClient(nc).Do(ctx, action("upper", v))
	if err != nil {
		t.Fatalf("over TLS to %s: %v", addr, err)
	}
	s, err := result(ans)
	if err != nil {
		t.Fatalf("over TLS to %s: %v", addr, err)
	}
	return s, serial
}

// bufLogger returns a logger that writes to the returned buffer.
func bufLogger() (hclog.Logger, *syncbuf.Buffer) {
	b := new(syncbuf.Buffer)
	return hclog.New(&hclog.LoggerOptions{Name: "router", Level: hclog.Debug, Output: b, Color: hclog.ColorOff}), b
}

// Start checks the certificate at its clock, and logs a warning for one
// that expires within 7 days; Check does the same.
func TestCertValidityStart(t *testing.T) {
	dir := t.TempDir()
	c := testcert.SelfSigned(t, dir, "server", time.Now().Add(-day), time.Now().Add(30*day))
	cfg := configtest.MustLoad(t, "r.yaml", tlsYAML(c))
	opts := func(now time.Time) router.StartOptions {
		o := inProcess(t, "upper", "fallback")
		o.Now = func() time.Time { return now }
		return o
	}
	for _, at := range []struct {
		name string
		now  time.Time
		msg  string
	}{
		{"after notAfter", c.Leaf(t).NotAfter.Add(time.Second), "has expired"},
		{"before notBefore", c.Leaf(t).NotBefore.Add(-time.Second), "is not valid yet"},
	} {
		r, err := router.Start(context.Background(), cfg, opts(at.now))
		if err == nil {
			r.Shutdown(context.Background())
		}
		if !errors.Is(err, config.ErrCertificate) || !strings.Contains(err.Error(), "listen[0].tls.cert: certificate \""+c.Cert+"\" "+at.msg) {
			t.Errorf("Start %s: %v", at.name, err)
		}
		if err := router.Check(context.Background(), cfg, opts(at.now)); !errors.Is(err, config.ErrCertificate) {
			t.Errorf("Check %s: %v", at.name, err)
		}
	}

	// 3 days before notAfter: it starts, serves, and warns.
	o := opts(c.Leaf(t).NotAfter.Add(-3 * day))
	log, logs := bufLogger()
	o.Logger = log
	r := start(t, cfg, o)
	if got, _ := tlsAsk(t, addr(r, 0), c, "a"); got != "A" {
		t.Errorf("over TLS: %q", got)
	}
	if want := `[WARN]  router: ` + cfg.Warnings(c.Leaf(t).NotAfter.Add(-3 * day))[0].Error(); !strings.Contains(logs.String(), want) ||
		!strings.Contains(want, "listen[0].tls.cert: certificate \""+c.Cert+"\" expires in 3 days") {
		t.Errorf("no warning %q in the log:\n%s", want, logs)
	}
}

// A reload to an expired or a not yet valid certificate is rejected,
// whether its files are new or the running ones rewritten: the old
// certificate goes on serving new TLS connections. One that expires in 3
// days is taken, with a warning.
func TestCertValidityReload(t *testing.T) {
	dir := t.TempDir()
	now := time.Now()
	good := testcert.SelfSigned(t, dir, "server", now.Add(-day), now.Add(365*day))
	path := configtest.WriteFile(t, dir, "r.yaml", tlsYAML(good))
	noEnv := config.LoadOptions{Environ: []string{}}
	cfg, err := config.Load(path, noEnv)
	if err != nil {
		t.Fatal(err)
	}
	var clock atomic.Pointer[time.Time]
	clock.Store(&now)
	o := inProcess(t, "upper", "fallback")
	log, logs := bufLogger()
	o.Logger, o.Now = log, func() time.Time { return *clock.Load() }
	r := start(t, cfg, o)
	tlsAddr := addr(r, 0)
	if got, serial := tlsAsk(t, tlsAddr, good, "a"); got != "A" || serial.Cmp(good.Serial) != 0 {
		t.Fatalf("over TLS: %q, serial %v", got, serial)
	}
	goodPEM, _ := os.ReadFile(good.Cert)
	goodKey, _ := os.ReadFile(good.Key)

	rejected := func(what, msg string) {
		t.Helper()
		err := r.ReloadFile(context.Background(), path, noEnv)
		if !errors.Is(err, config.ErrCertificate) || !strings.Contains(err.Error(), "listen[0].tls.cert: certificate") || !strings.Contains(err.Error(), msg) {
			t.Errorf("reload to %s: %v", what, err)
		}
		if r.Config() != cfg {
			t.Errorf("reload to %s: the config changed", what)
		}
		// A new connection, a real handshake: the old certificate.
		if got, serial := tlsAsk(t, tlsAddr, good, "b"); got != "B" || serial.Cmp(good.Serial) != 0 {
			t.Errorf("after the reload to %s: %q, serial %v, want %v", what, got, serial, good.Serial)
		}
	}
	// New files.
	expired := testcert.SelfSigned(t, dir, "expired", now.Add(-90*day), now.Add(-2*day))
	configtest.WriteFile(t, dir, "r.yaml", tlsYAML(expired))
	rejected("an expired certificate", "has expired")
	early := testcert.SelfSigned(t, dir, "early", now.Add(2*day), now.Add(90*day))
	configtest.WriteFile(t, dir, "r.yaml", tlsYAML(early))
	rejected("a certificate not yet valid", "is not valid yet")
	// The running files, rewritten.
	configtest.WriteFile(t, dir, "r.yaml", tlsYAML(good))
	testcert.SelfSigned(t, dir, "server", now.Add(-90*day), now.Add(-2*day))
	rejected("an expired certificate in the same files", "has expired")
	// Valid by the real clock, expired by the router's.
	os.WriteFile(good.Cert, goodPEM, 0o644)
	os.WriteFile(good.Key, goodKey, 0o600)
	later := now.Add(400 * day)
	clock.Store(&later)
	rejected("a certificate expired by the router's clock", "has expired")
	clock.Store(&now)

	// Expiring in 3 days: in force, with a warning.
	soon := testcert.SelfSigned(t, dir, "soon", now.Add(-day), now.Add(3*day))
	configtest.WriteFile(t, dir, "r.yaml", tlsYAML(soon))
	if err := r.ReloadFile(context.Background(), path, noEnv); err != nil {
		t.Fatalf("reload to a certificate that expires in 3 days: %v", err)
	}
	if _, serial := tlsAsk(t, tlsAddr, soon, "c"); serial.Cmp(soon.Serial) != 0 {
		t.Errorf("after the reload: serial %v, want %v", serial, soon.Serial)
	}
	want := `[WARN]  router: ` + path + `: listen[0].tls.cert: certificate "` + soon.Cert + `" expires in 3 days`
	if !strings.Contains(logs.String(), want) {
		t.Errorf("no %q in the log:\n%s", want, logs)
	}
}
