package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/msgrouter/router/core"
	"github.com/msgrouter/router/internal/testcert"
)

const day = 24 * time.Hour

// testCert is a self-signed certificate for 127.0.0.1 in files, with
// its dates as the router writes them.
type testCert struct {
	testcert.Pair
	notBefore, notAfter string
}

// writeTestCert writes a self-signed certificate for 127.0.0.1, valid
// from notBefore to notAfter, and its key, in a new directory.
func writeTestCert(t *testing.T, notBefore, notAfter time.Time) testCert {
	t.Helper()
	return testCert{
		Pair:      testcert.SelfSigned(t, t.TempDir(), "cert", notBefore, notAfter),
		notBefore: notBefore.UTC().Format("2006-01-02 15:04:05 UTC"),
		notAfter:  notAfter.UTC().Format("2006-01-02 15:04:05 UTC"),
	}
}

// tlsEchoYAML is a config with one TLS listener, with c's files, on a
// free port of 127.0.0.1, answered by the built-ins echo and binary.
func tlsEchoYAML(c testCert) string {
	return fmt.Sprintf(`listen: [{addr: "127.0.0.1:0", tls: {cert: %q, key: %q}}]
plugins: {echo: {cmd: "builtin:echo"}, binary: {cmd: "builtin:binary"}}
routes: [{action: echo, plugin: echo}, {plugin: binary}]
`, c.Cert, c.Key)
}

// The certificate's dates at serve: one expired or not yet valid stops
// it before it listens; one that expires in 3 days is logged, and served.
func TestServeCertificateValidity(t *testing.T) {
	now := time.Now().Truncate(time.Second)
	for _, tt := range []struct {
		name                string
		notBefore, notAfter time.Time
		msg                 string
	}{
		{"expired", now.Add(-90 * day), now.Add(-2 * day), "has expired: notAfter"},
		{"not yet valid", now.Add(2 * day), now.Add(90 * day), "is not valid yet: notBefore"},
	} {
		c := writeTestCert(t, tt.notBefore, tt.notAfter)
		file := writeFile(t, "router.yaml", tlsEchoYAML(c))
		code, stdout, stderr := routerCmd(t, "serve", "-c", file, "--in-process")
		want := file + `: listen[0].tls.cert: certificate "` + c.Cert + `" ` + tt.msg
		if code != exitFailure || stdout != "" || !strings.Contains(stderr, want) || strings.Contains(stderr, "listening") {
			t.Errorf("serve with a certificate %s: exit %d, stderr:\n%s\nwant exit 1 and %q", tt.name, code, stderr, want)
		}
	}

	c := writeTestCert(t, now.Add(-day), now.Add(3*day))
	s := startServe(t, "-c", writeFile(t, "router.yaml", tlsEchoYAML(c)), "--in-process")
	want := regexp.MustCompile(`\[WARN\]  router: \S+/router.yaml: listen\[0\].tls.cert: certificate "` + regexp.QuoteMeta(c.Cert) +
		`" expires in 3 days: notAfter ` + c.notAfter + ` \(notBefore ` + c.notBefore + `\) \(want a renewed certificate before then`)
	if !want.MatchString(s.logs.String()) {
		t.Errorf("no warning %q in the log:\n%s", want, s.logs)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(c.PEM)
	nc, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", s.framed[0], &tls.Config{RootCAs: pool, ServerName: "127.0.0.1"})
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	req, err := core.NewJSON(core.Object{{Key: "action", Value: "echo"}, {Key: "value", Value: "over TLS"}})
	if err != nil {
		t.Fatal(err)
	}
	ans, err := core.NewClient(nc).Do(ctx, req)
	if err != nil || string(ans.Content) != string(req.Content) {
		t.Errorf("echo over TLS: %v, %v", ans, err)
	}
}
