package config

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"time"
)

// certWarnWithin is how close to its notAfter a listener's certificate
// is warned about: a week leaves time to renew it.
const certWarnWithin = 7 * 24 * time.Hour

// certState is where a time falls in a certificate's validity period.
type certState int

const (
	certValid       certState = iota
	certNotYetValid           // before notBefore
	certExpired               // after notAfter
	certExpiring              // valid, but for at most certWarnWithin more
)

// certStateAt tells where now falls in the validity period [notBefore,
// notAfter], both included, as crypto/x509 verifies it.
func certStateAt(notBefore, notAfter, now time.Time) certState {
	switch {
	case now.Before(notBefore):
		return certNotYetValid
	case now.After(notAfter):
		return certExpired
	case notAfter.Sub(now) <= certWarnWithin:
		return certExpiring
	}
	return certValid
}

// leafOf returns the certificate a listener presents first, the one a
// client checks the dates of.
func leafOf(cert tls.Certificate) (*x509.Certificate, error) {
	if cert.Leaf != nil {
		return cert.Leaf, nil
	}
	if len(cert.Certificate) == 0 {
		return nil, errors.New("no certificate")
	}
	return x509.ParseCertificate(cert.Certificate[0])
}

// certProblem checks leaf, read from file for the key key (such as
// "listen[0].tls.cert"), against now. It returns nil for a certificate
// valid for more than certWarnWithin; else an *Error of class
// ErrCertificate, or, for one that is valid but expires soon,
// ErrCertificateExpiring.
func certProblem(cfg *Config, key, file string, leaf *x509.Certificate, now time.Time) *Error {
	nb, na := leaf.NotBefore, leaf.NotAfter
	e := &Error{Source: cfg.src.of(key), Key: key, Err: ErrCertificate}
	switch certStateAt(nb, na, now) {
	case certNotYetValid:
		e.Msg = fmt.Sprintf("certificate %q is not valid yet: notBefore %s is in %s (notAfter %s, now %s)",
			file, certTime(nb), approxDuration(nb.Sub(now)), certTime(na), certTime(now))
		e.Want = "a certificate valid now: check this machine's clock, or issue one whose notBefore has passed"
	case certExpired:
		e.Msg = fmt.Sprintf("certificate %q has expired: notAfter %s was %s ago (notBefore %s, now %s)",
			file, certTime(na), approxDuration(now.Sub(na)), certTime(nb), certTime(now))
		e.Want = "a certificate valid now: renew it, and point cert at the renewed file"
	case certExpiring:
		e.Msg = fmt.Sprintf("certificate %q expires in %s: notAfter %s (notBefore %s)",
			file, approxDuration(na.Sub(now)), certTime(na), certTime(nb))
		e.Want = "a renewed certificate before then; a reload (SIGHUP) reads it without a restart"
		e.Err = ErrCertificateExpiring
	default:
		return nil
	}
	return e
}

// certTime formats a certificate's date, always in UTC.
func certTime(t time.Time) string { return t.UTC().Format("2006-01-02 15:04:05 UTC") }

// approxDuration says d (not negative), rounded, in the largest unit of
// which it makes at least two: "3 days", "5 hours", "40 minutes". A
// certificate made for "3 days from now" is read a moment later: that
// is still 3 days, not 71 hours.
func approxDuration(d time.Duration) string {
	for _, u := range []struct {
		d    time.Duration
		name string
	}{{24 * time.Hour, "days"}, {time.Hour, "hours"}, {time.Minute, "minutes"}, {time.Second, "seconds"}} {
		if n := (d + u.d/2) / u.d; n >= 2 {
			return fmt.Sprintf("%d %s", n, u.name)
		}
	}
	return plural(int((d+time.Second/2)/time.Second), "second", "seconds")
}

// plural returns n and the noun for it: "1 listener", "2 listeners".
func plural(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return fmt.Sprintf("%d %s", n, many)
}

// Warnings returns what in c does not stop it from running, but will:
// each listener's certificate that expires within 7 days of now, as an
// *Error of class ErrCertificateExpiring naming the listener's
// tls.cert key; and, when routes name NATS subjects and the router runs
// the embedded NATS server, a max_content_length over its max payload
// (see PayloadWarning). Start and Reload log them; "router config check"
// prints them. A certificate that cannot be read is left to Validate.
func (c *Config) Warnings(now time.Time) []*Error {
	var out []*Error
	if c.NATS.URL == "" && !c.worker {
		if w := c.PayloadWarning(int64(c.EmbeddedMaxPayload())); w != nil {
			out = append(out, w)
		}
	}
	for i, l := range c.Listen {
		if l.TLS == nil {
			continue
		}
		cert, err := tls.LoadX509KeyPair(l.TLS.Cert, l.TLS.Key)
		if err != nil {
			continue
		}
		leaf, err := leafOf(cert)
		if err != nil {
			continue
		}
		key := fmt.Sprintf("listen[%d].tls.cert", i)
		if e := certProblem(c, key, l.TLS.Cert, leaf, now); e != nil && e.Err == ErrCertificateExpiring {
			out = append(out, e)
		}
	}
	return out
}
