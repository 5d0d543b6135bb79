package config_test

import (
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
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/msgrouter/router/config"
	"github.com/msgrouter/router/core"
	"github.com/msgrouter/router/internal/syncbuf"
)

const day = 24 * time.Hour

// selfSigned is a certificate for 127.0.0.1 valid from notBefore to
// notAfter, written to files.
type selfSigned struct {
	cert, key string // the files
	serial    *big.Int
	pem       []byte
}

var certSerial atomic.Int64

// writeCert writes a self-signed certificate for 127.0.0.1, valid from
// notBefore to notAfter, and its key, to dir/name.pem and
// dir/name-key.pem.
func writeCert(t testing.TB, dir, name string, notBefore, notAfter time.Time) selfSigned {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(certSerial.Add(1)), Subject: pkix.Name{CommonName: name},
		NotBefore: notBefore, NotAfter: notAfter,
		KeyUsage:    x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	s := selfSigned{
		cert: filepath.Join(dir, name+".pem"), key: filepath.Join(dir, name+"-key.pem"),
		serial: tmpl.SerialNumber, pem: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
	}
	if err := os.WriteFile(s.cert, s.pem, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(s.key, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder}), 0o600); err != nil {
		t.Fatal(err)
	}
	return s
}

// tlsYAML is a config with one TLS listener on a free port of
// 127.0.0.1, with c's files, answered by the in-process "upper" and
// "fallback".
func tlsYAML(c selfSigned) string {
	return fmt.Sprintf(`
listen: [{addr: "127.0.0.1:0", tls: {cert: %s, key: %s}}]
plugins: {upper: {cmd: inprocess}, fallback: {cmd: inprocess}}
routes: [{action: upper, plugin: upper}, {plugin: fallback}]
`, c.cert, c.key)
}

// tlsAsk asks "upper" of v over a new TLS connection to addr that
// trusts only c, and returns the answer and the serial of the
// certificate the router presented.
func tlsAsk(t testing.TB, addr string, c selfSigned, v string) (string, *big.Int) {
	t.Helper()
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(c.pem)
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

// Each case of a certificate's dates, at Validate with a clock set:
// expired and not yet valid are errors naming the file, the key and the
// dates; expiring within 7 days is a warning; valid is neither.
func TestCertValidityValidateAt(t *testing.T) {
	dir := t.TempDir()
	now := time.Date(2031, 5, 10, 12, 0, 0, 0, time.UTC)
	for _, tt := range []struct {
		name                string
		notBefore, notAfter time.Time
		err                 string // the error's one line, DIR for dir
		warning             string
	}{{
		name: "expired", notBefore: now.Add(-90 * day), notAfter: now.Add(-2 * day),
		err: `DIR/r.yaml: listen[0].tls.cert: certificate "DIR/expired.pem" has expired: notAfter 2031-05-08 12:00:00 UTC was 2 days ago (notBefore 2031-02-09 12:00:00 UTC, now 2031-05-10 12:00:00 UTC) (want a certificate valid now: renew it, and point cert at the renewed file)`,
	}, {
		name: "not-yet-valid", notBefore: now.Add(5 * time.Hour), notAfter: now.Add(90 * day),
		err: `DIR/r.yaml: listen[0].tls.cert: certificate "DIR/not-yet-valid.pem" is not valid yet: notBefore 2031-05-10 17:00:00 UTC is in 5 hours (notAfter 2031-08-08 12:00:00 UTC, now 2031-05-10 12:00:00 UTC) (want a certificate valid now: check this machine's clock, or issue one whose notBefore has passed)`,
	}, {
		name: "expiring", notBefore: now.Add(-90 * day), notAfter: now.Add(3 * day),
		warning: `DIR/r.yaml: listen[0].tls.cert: certificate "DIR/expiring.pem" expires in 3 days: notAfter 2031-05-13 12:00:00 UTC (notBefore 2031-02-09 12:00:00 UTC) (want a renewed certificate before then; a reload (SIGHUP) reads it without a restart)`,
	}, {
		name: "valid", notBefore: now.Add(-day), notAfter: now.Add(8 * day),
	}} {
		t.Run(tt.name, func(t *testing.T) {
			c := writeCert(t, dir, tt.name, tt.notBefore, tt.notAfter)
			// Loaded with the real clock, when every one is valid.
			valid := writeCert(t, dir, "now", time.Now().Add(-day), time.Now().Add(365*day))
			path := writeFile(t, dir, "r.yaml", tlsYAML(valid))
			cfg, err := config.Load(path, config.LoadOptions{Environ: []string{}})
			if err != nil {
				t.Fatal(err)
			}
			cfg.Listen[0].TLS.Cert, cfg.Listen[0].TLS.Key = c.cert, c.key

			err = cfg.ValidateAt(now)
			if tt.err == "" {
				if err != nil {
					t.Fatalf("ValidateAt: %v", err)
				}
			} else {
				assertLines(t, err, dir, tt.err)
				if !errors.Is(err, config.ErrCertificate) {
					t.Errorf("%v is not ErrCertificate", err)
				}
			}
			var warnings []string
			for _, w := range cfg.Warnings(now) {
				warnings = append(warnings, w.Error())
				if !errors.Is(w, config.ErrCertificateExpiring) || w.Key != "listen[0].tls.cert" {
					t.Errorf("warning %v: class or key", w)
				}
			}
			want := strings.ReplaceAll(tt.warning, "DIR", dir)
			if strings.Join(warnings, "\n") != want {
				t.Errorf("warnings:\n%s\nwant:\n%s", strings.Join(warnings, "\n"), want)
			}
		})
	}
}

// Load, with the real clock, refuses an expired certificate and one not
// yet valid, and loads one that expires in 3 days and a valid one.
func TestCertValidityLoad(t *testing.T) {
	dir := t.TempDir()
	now := time.Now()
	for _, tt := range []struct {
		name                string
		notBefore, notAfter time.Time
		err                 string
	}{
		{"expired", now.Add(-90 * day), now.Add(-2 * day), "has expired: notAfter"},
		{"not-yet-valid", now.Add(2 * day), now.Add(90 * day), "is not valid yet: notBefore"},
		{"expiring", now.Add(-90 * day), now.Add(3 * day), ""},
		{"valid", now.Add(-day), now.Add(365 * day), ""},
	} {
		c := writeCert(t, dir, tt.name, tt.notBefore, tt.notAfter)
		path := writeFile(t, dir, "r.yaml", tlsYAML(c))
		cfg, err := config.Load(path, config.LoadOptions{Environ: []string{}})
		if tt.err != "" {
			want := path + `: listen[0].tls.cert: certificate "` + c.cert + `" ` + tt.err
			if !errors.Is(err, config.ErrCertificate) || !strings.HasPrefix(err.Error(), want) {
				t.Errorf("%s: Load: %v, want ErrCertificate, %q...", tt.name, err, want)
			}
			continue
		}
		if err != nil {
			t.Errorf("%s: Load: %v", tt.name, err)
		}
		if err := cfg.Validate(); err != nil {
			t.Errorf("%s: Validate: %v", tt.name, err)
		}
	}
}

// Start checks the certificate at its clock, and logs a warning for one
// that expires within 7 days; Check does the same.
func TestCertValidityStart(t *testing.T) {
	dir := t.TempDir()
	c := writeCert(t, dir, "server", time.Now().Add(-day), time.Now().Add(30*day))
	cfg := mustLoad(t, "r.yaml", tlsYAML(c))
	opts := func(now time.Time) config.StartOptions {
		o := inProcess(t, "upper", "fallback")
		o.Now = func() time.Time { return now }
		return o
	}
	for _, at := range []struct {
		name string
		now  time.Time
		msg  string
	}{
		{"after notAfter", c.notAfter(t).Add(time.Second), "has expired"},
		{"before notBefore", c.notBefore(t).Add(-time.Second), "is not valid yet"},
	} {
		r, err := config.Start(context.Background(), cfg, opts(at.now))
		if err == nil {
			r.Shutdown(context.Background())
		}
		if !errors.Is(err, config.ErrCertificate) || !strings.Contains(err.Error(), "listen[0].tls.cert: certificate \""+c.cert+"\" "+at.msg) {
			t.Errorf("Start %s: %v", at.name, err)
		}
		if err := config.Check(context.Background(), cfg, opts(at.now)); !errors.Is(err, config.ErrCertificate) {
			t.Errorf("Check %s: %v", at.name, err)
		}
	}

	// 3 days before notAfter: it starts, serves, and warns.
	o := opts(c.notAfter(t).Add(-3 * day))
	log, logs := bufLogger()
	o.Logger = log
	r := start(t, cfg, o)
	if got, _ := tlsAsk(t, addr(r, 0), c, "a"); got != "A" {
		t.Errorf("over TLS: %q", got)
	}
	if want := `[WARN]  router: ` + cfg.Warnings(c.notAfter(t).Add(-3 * day))[0].Error(); !strings.Contains(logs.String(), want) ||
		!strings.Contains(want, "listen[0].tls.cert: certificate \""+c.cert+"\" expires in 3 days") {
		t.Errorf("no warning %q in the log:\n%s", want, logs)
	}
}

func (s selfSigned) leaf(t testing.TB) *x509.Certificate {
	t.Helper()
	b, _ := pem.Decode(s.pem)
	c, err := x509.ParseCertificate(b.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func (s selfSigned) notAfter(t testing.TB) time.Time  { return s.leaf(t).NotAfter }
func (s selfSigned) notBefore(t testing.TB) time.Time { return s.leaf(t).NotBefore }

// A reload to an expired or a not yet valid certificate is rejected,
// whether its files are new or the running ones rewritten: the old
// certificate goes on serving new TLS connections. One that expires in 3
// days is taken, with a warning.
func TestCertValidityReload(t *testing.T) {
	dir := t.TempDir()
	now := time.Now()
	good := writeCert(t, dir, "server", now.Add(-day), now.Add(365*day))
	path := writeFile(t, dir, "r.yaml", tlsYAML(good))
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
	if got, serial := tlsAsk(t, tlsAddr, good, "a"); got != "A" || serial.Cmp(good.serial) != 0 {
		t.Fatalf("over TLS: %q, serial %v", got, serial)
	}
	goodPEM, _ := os.ReadFile(good.cert)
	goodKey, _ := os.ReadFile(good.key)

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
		if got, serial := tlsAsk(t, tlsAddr, good, "b"); got != "B" || serial.Cmp(good.serial) != 0 {
			t.Errorf("after the reload to %s: %q, serial %v, want %v", what, got, serial, good.serial)
		}
	}
	// New files.
	expired := writeCert(t, dir, "expired", now.Add(-90*day), now.Add(-2*day))
	writeFile(t, dir, "r.yaml", tlsYAML(expired))
	rejected("an expired certificate", "has expired")
	early := writeCert(t, dir, "early", now.Add(2*day), now.Add(90*day))
	writeFile(t, dir, "r.yaml", tlsYAML(early))
	rejected("a certificate not yet valid", "is not valid yet")
	// The running files, rewritten.
	writeFile(t, dir, "r.yaml", tlsYAML(good))
	writeCert(t, dir, "server", now.Add(-90*day), now.Add(-2*day))
	rejected("an expired certificate in the same files", "has expired")
	// Valid by the real clock, expired by the router's.
	os.WriteFile(good.cert, goodPEM, 0o644)
	os.WriteFile(good.key, goodKey, 0o600)
	later := now.Add(400 * day)
	clock.Store(&later)
	rejected("a certificate expired by the router's clock", "has expired")
	clock.Store(&now)

	// Expiring in 3 days: in force, with a warning.
	soon := writeCert(t, dir, "soon", now.Add(-day), now.Add(3*day))
	writeFile(t, dir, "r.yaml", tlsYAML(soon))
	if err := r.ReloadFile(context.Background(), path, noEnv); err != nil {
		t.Fatalf("reload to a certificate that expires in 3 days: %v", err)
	}
	if _, serial := tlsAsk(t, tlsAddr, soon, "c"); serial.Cmp(soon.serial) != 0 {
		t.Errorf("after the reload: serial %v, want %v", serial, soon.serial)
	}
	want := `[WARN]  router: ` + path + `: listen[0].tls.cert: certificate "` + soon.cert + `" expires in 3 days`
	if !strings.Contains(logs.String(), want) {
		t.Errorf("no %q in the log:\n%s", want, logs)
	}
}
