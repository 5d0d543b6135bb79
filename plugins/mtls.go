package plugins

import (
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
	"os"
	"strconv"
	"time"
)

// The control channel is mutual TLS with certificates made afresh for each
// plugin process, as go-plugin's AutoMTLS does, but cheaper: AutoMTLS makes
// a P-521 key on each side, which was most of a plugin's start-up time,
// while a P-256 key is far quicker to make (measured: see BENCHMARKS.md,
// "Figures that were in code comments").
//
// The host makes both certificates. Its own goes to the plugin in
// PLUGIN_CLIENT_CERT, as with AutoMTLS; the plugin's certificate and key
// go through a pipe that only the child process inherits (its descriptor
// number in envTLSFD), never through the environment, which the plugin's
// own children would inherit. A plugin that does not read the pipe (built
// on plain go-plugin) still sees PLUGIN_CLIENT_CERT and answers with
// AutoMTLS's own certificate in its handshake, which go-plugin's client
// then trusts instead: either way both sides check each other.

// envTLSFD names the variable that gives the plugin the descriptor of the
// pipe its TLS identity comes through.
const envTLSFD = "ROUTER_PLUGIN_TLS_FD"

// errTLS is the cause of a failure to set up the control channel's TLS.
var errTLS = errors.New("plugins: control channel TLS")

// newCert makes a self-signed P-256 certificate for "localhost", valid for
// both ends of a TLS connection, and returns it with its key, in PEM.
func newCert(now time.Time) (certPEM, keyPEM []byte, err error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, err
	}
	sn, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 128))
	if err != nil {
		return nil, nil, err
	}
	tmpl := &x509.Certificate{
		Subject:               pkix.Name{CommonName: "localhost", Organization: []string{"router plugin"}},
		DNSNames:              []string{"localhost"},
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth, x509.ExtKeyUsageServerAuth},
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
		SerialNumber:          sn,
		NotBefore:             now.Add(-time.Minute),
		NotAfter:              now.Add(10 * 365 * 24 * time.Hour), // a plugin may run for years
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		return nil, nil, err
	}
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return nil, nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder}), nil
}

// hostTLS is what the host needs to start one plugin process with mutual
// TLS on its control channel.
type hostTLS struct {
	config   *tls.Config // for go-plugin's ClientConfig.TLSConfig
	certPEM  []byte      // the host's certificate, for PLUGIN_CLIENT_CERT
	identity []byte      // for the plugin: its certificate and key, then the host's certificate, in PEM
}

// newHostTLS makes the certificates for one plugin process.
func newHostTLS() (*hostTLS, error) {
	now := time.Now()
	hostCert, hostKey, err := newCert(now)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", errTLS, err)
	}
	plugCert, plugKey, err := newCert(now)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", errTLS, err)
	}
	pair, err := tls.X509KeyPair(hostCert, hostKey)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", errTLS, err)
	}
	plugin := x509.NewCertPool()
	if !plugin.AppendCertsFromPEM(plugCert) {
		return nil, fmt.Errorf("%w: cannot parse the plugin's certificate", errTLS)
	}
	identity := append(append(append([]byte(nil), plugCert...), plugKey...), hostCert...)
	return &hostTLS{
		config: &tls.Config{
			Certificates: []tls.Certificate{pair},
			RootCAs:      plugin,
			ClientCAs:    plugin,
			ServerName:   "localhost",
			MinVersion:   tls.VersionTLS13,
		},
		certPEM:  hostCert,
		identity: identity,
	}, nil
}

// pipe returns the read end of a pipe that holds the plugin's identity,
// for the child's ExtraFiles. The identity is a few hundred bytes, well
// within a pipe's buffer, so it is written at once and the write end
// closed: the child reads it to the end.
func (h *hostTLS) pipe() (*os.File, error) {
	r, w, err := os.Pipe()
	if err != nil {
		return nil, fmt.Errorf("%w: %w", errTLS, err)
	}
	_, err = w.Write(h.identity)
	if cerr := w.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		r.Close()
		return nil, fmt.Errorf("%w: %w", errTLS, err)
	}
	return r, nil
}

// pluginTLS is the plugin side: it reads the identity the host sent
// through the descriptor that envTLSFD names, and returns the TLS config
// of the control channel's server. It returns nil, nil when the host sent
// none (go-plugin's AutoMTLS then applies).
func pluginTLS() (*tls.Config, error) {
	v := os.Getenv(envTLSFD)
	if v == "" {
		return nil, nil
	}
	os.Unsetenv(envTLSFD) // the plugin's children do not inherit the descriptor
	fd, err := strconv.Atoi(v)
	if err != nil || fd < 3 {
		return nil, fmt.Errorf("%w: %s=%q is not a descriptor", errTLS, envTLSFD, v)
	}
	f := os.NewFile(uintptr(fd), "tls-identity")
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, 64<<10))
	if err != nil {
		return nil, fmt.Errorf("%w: %w", errTLS, err)
	}
	var certPEM, keyPEM, hostPEM []byte
	for {
		var blk *pem.Block
		start := b
		blk, b = pem.Decode(b)
		if blk == nil {
			break
		}
		raw := start[:len(start)-len(b)]
		switch {
		case blk.Type == "EC PRIVATE KEY" && keyPEM == nil:
			keyPEM = raw
		case blk.Type == "CERTIFICATE" && certPEM == nil:
			certPEM = raw
		case blk.Type == "CERTIFICATE" && hostPEM == nil:
			hostPEM = raw
		}
	}
	if certPEM == nil || keyPEM == nil || hostPEM == nil {
		return nil, fmt.Errorf("%w: incomplete identity from the router", errTLS)
	}
	pair, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", errTLS, err)
	}
	host := x509.NewCertPool()
	if !host.AppendCertsFromPEM(hostPEM) {
		return nil, fmt.Errorf("%w: cannot parse the router's certificate", errTLS)
	}
	return &tls.Config{
		Certificates: []tls.Certificate{pair},
		ClientAuth:   tls.RequireAndVerifyClientCert,
		ClientCAs:    host,
		RootCAs:      host,
		ServerName:   "localhost",
		MinVersion:   tls.VersionTLS13,
	}, nil
}
