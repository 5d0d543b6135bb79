// Package testcert makes TLS certificates for tests: self-signed, for
// 127.0.0.1, valid over the dates a test chooses, in files or as
// tls.Configs.
package testcert

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"
)

// Pair is a certificate and its key, written to files.
type Pair struct {
	Cert, Key string   // the files
	Serial    *big.Int // the certificate's serial number, unique in the process
	PEM       []byte   // the certificate, PEM-encoded
}

var serial atomic.Int64

// SelfSigned writes a self-signed certificate for 127.0.0.1, valid from
// notBefore to notAfter, and its key, to dir/name.pem and
// dir/name-key.pem. It fails t if it cannot.
func SelfSigned(t testing.TB, dir, name string, notBefore, notAfter time.Time) Pair {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(serial.Add(1)), Subject: pkix.Name{CommonName: name},
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
	p := Pair{
		Cert: filepath.Join(dir, name+".pem"), Key: filepath.Join(dir, name+"-key.pem"),
		Serial: tmpl.SerialNumber, PEM: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
	}
	if err := os.WriteFile(p.Cert, p.PEM, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p.Key, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder}), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// Leaf returns the certificate of p, parsed.
func (p Pair) Leaf(t testing.TB) *x509.Certificate {
	t.Helper()
	b, _ := pem.Decode(p.PEM)
	if b == nil {
		t.Fatal("testcert: no PEM block")
	}
	c, err := x509.ParseCertificate(b.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// Configs returns a server tls.Config with a fresh self-signed
// certificate for 127.0.0.1, valid for the hour around now, and a client
// tls.Config that trusts it. The files are in a directory the test
// removes.
func Configs(t testing.TB) (server, client *tls.Config) {
	t.Helper()
	p := SelfSigned(t, t.TempDir(), "server", time.Now().Add(-time.Hour), time.Now().Add(time.Hour))
	cert, err := tls.LoadX509KeyPair(p.Cert, p.Key)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(p.Leaf(t))
	return &tls.Config{Certificates: []tls.Certificate{cert}}, &tls.Config{RootCAs: pool}
}
