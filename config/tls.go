package config

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"strings"
)

// tlsVersions are the values of listen[].tls.min_version.
var tlsVersions = map[string]uint16{"": tls.VersionTLS12, "1.2": tls.VersionTLS12, "1.3": tls.VersionTLS13}

// ListenerTLS reads the TLS files of listener i (c.Listen[i]) and returns
// the tls.Config to serve it with, or nil for a listener without TLS. Its
// errors are *Errors that name the file and the key. Validate calls it
// for every listener; a router calls it again when it opens or reloads
// one, since a renewed certificate often keeps its file name.
func (c *Config) ListenerTLS(i int) (*tls.Config, error) {
	l := c.Listen[i]
	if l.TLS == nil {
		return nil, nil
	}
	return loadTLS(c, fmt.Sprintf("listen[%d].tls", i), l.TLS)
}

// loadTLS reads a listener's certificate, key and client CAs.
func loadTLS(cfg *Config, key string, t *TLS) (*tls.Config, error) {
	fail := func(k, msg, want string, err error) error {
		return &Error{Source: cfg.src.of(k), Key: k, Msg: msg, Want: want, Err: ErrValue, Cause: err}
	}
	cert, err := tls.LoadX509KeyPair(t.Cert, t.Key)
	if err != nil {
		return nil, fail(key, fmt.Sprintf("cannot load certificate %q and key %q: %s", t.Cert, t.Key, tlsReason(err)), "a PEM certificate and its PEM private key", err)
	}
	tc := &tls.Config{
		Certificates: []tls.Certificate{cert},
		MinVersion:   tlsVersions[t.MinVersion],
	}
	if t.ClientCA != "" {
		pem, err := os.ReadFile(t.ClientCA)
		if err != nil {
			return nil, fail(key+".client_ca", "cannot read "+t.ClientCA+": "+tlsReason(err), "a PEM file of CA certificates", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fail(key+".client_ca", fmt.Sprintf("no PEM certificate in %q", t.ClientCA), "a PEM file of CA certificates", nil)
		}
		tc.ClientCAs = pool
		tc.ClientAuth = tls.RequireAndVerifyClientCert
	}
	return tc, nil
}

func tlsReason(err error) string {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return pe.Err.Error()
	}
	return strings.TrimPrefix(err.Error(), "tls: ")
}
