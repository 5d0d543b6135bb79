package config_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/msgrouter/router/config"
	"github.com/msgrouter/router/internal/configtest"
	"github.com/msgrouter/router/internal/testcert"
)

const day = 24 * time.Hour

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
			c := testcert.SelfSigned(t, dir, tt.name, tt.notBefore, tt.notAfter)
			// Loaded with the real clock, when every one is valid.
			valid := testcert.SelfSigned(t, dir, "now", time.Now().Add(-day), time.Now().Add(365*day))
			path := configtest.WriteFile(t, dir, "r.yaml", tlsOnly(valid))
			cfg, err := config.Load(path, config.LoadOptions{Environ: []string{}})
			if err != nil {
				t.Fatal(err)
			}
			cfg.Listen[0].TLS.Cert, cfg.Listen[0].TLS.Key = c.Cert, c.Key

			err = cfg.ValidateAt(now)
			if tt.err == "" {
				if err != nil {
					t.Fatalf("ValidateAt: %v", err)
				}
			} else {
				configtest.AssertLines(t, err, dir, tt.err)
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
		c := testcert.SelfSigned(t, dir, tt.name, tt.notBefore, tt.notAfter)
		path := configtest.WriteFile(t, dir, "r.yaml", tlsOnly(c))
		cfg, err := config.Load(path, config.LoadOptions{Environ: []string{}})
		if tt.err != "" {
			want := path + `: listen[0].tls.cert: certificate "` + c.Cert + `" ` + tt.err
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

// tlsOnly is a config with one TLS listener, with c's files.
func tlsOnly(c testcert.Pair) string {
	return fmt.Sprintf("listen: [{addr: \"127.0.0.1:0\", tls: {cert: %s, key: %s}}]\nplugins: {p: {cmd: /bin/p}}\nroutes: [{plugin: p}]\n", c.Cert, c.Key)
}
