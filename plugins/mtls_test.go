//go:build unix

package plugins

import (
	"crypto/tls"
	"net"
	"strconv"
	"syscall"
	"testing"
)

func dupFD(fd int) (int, error) { return syscall.Dup(fd) }

// handIdentity puts h's plugin identity where pluginTLS looks for it, as
// a plugin process gets it: in a pipe whose descriptor envTLSFD names.
func handIdentity(t *testing.T, h *hostTLS) {
	t.Helper()
	r, err := h.pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	// pluginTLS closes the descriptor it is given: give it a copy.
	fd, err := dupFD(int(r.Fd()))
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv(envTLSFD, strconv.Itoa(fd))
}

// identityFor hands h's plugin identity to pluginTLS and returns the
// plugin's TLS config.
func identityFor(t *testing.T, h *hostTLS) *tls.Config {
	t.Helper()
	handIdentity(t, h)
	cfg, err := pluginTLS()
	if err != nil {
		t.Fatal(err)
	}
	if cfg == nil {
		t.Fatal("pluginTLS found no identity")
	}
	return cfg
}

// handshake runs a TLS handshake between client and server configs over a
// real socket pair and returns each side's error.
func handshake(t *testing.T, client, server *tls.Config) (cerr, serr error) {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	done := make(chan error, 1)
	go func() {
		nc, err := l.Accept()
		if err != nil {
			done <- err
			return
		}
		defer nc.Close()
		s := tls.Server(nc, server)
		err = s.Handshake()
		if err == nil {
			// TLS 1.3 checks the client's certificate after the
			// client's handshake returns: read to learn the verdict.
			_, err = s.Read(make([]byte, 1))
		}
		done <- err
	}()
	nc, err := net.Dial("tcp", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	c := tls.Client(nc, client)
	cerr = c.Handshake()
	if cerr == nil {
		_, cerr = c.Write([]byte{1})
	}
	serr = <-done
	c.Close()
	return cerr, serr
}

// The host and its plugin each accept the other's certificate, and
// nothing else: not a plugin started by another host, nor a host that
// started another plugin.
func TestControlChannelMutualTLS(t *testing.T) {
	a, err := newHostTLS()
	if err != nil {
		t.Fatal(err)
	}
	b, err := newHostTLS()
	if err != nil {
		t.Fatal(err)
	}
	plugA := identityFor(t, a)
	plugB := identityFor(t, b)
	if _, err := pluginTLS(); err != nil {
		t.Fatalf("pluginTLS without %s: %v, want nil (AutoMTLS applies)", envTLSFD, err)
	}
	for _, tc := range []struct {
		name   string
		host   *tls.Config
		plugin *tls.Config
		ok     bool
	}{
		{"own plugin", a.config, plugA, true},
		{"other host's plugin", a.config, plugB, false},
		{"other host", b.config, plugA, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cerr, serr := handshake(t, tc.host, tc.plugin)
			if ok := cerr == nil && serr == nil; ok != tc.ok {
				t.Errorf("host: %v; plugin: %v; want success %v", cerr, serr, tc.ok)
			}
		})
	}
}

// A descriptor that is not a pipe of identity, or an incomplete identity,
// is an error, not a silent fallback.
func TestPluginTLSErrors(t *testing.T) {
	for _, v := range []string{"x", "-1", "2"} {
		t.Setenv(envTLSFD, v)
		if cfg, err := pluginTLS(); err == nil || cfg != nil {
			t.Errorf("%s=%q: %v, %v; want an error", envTLSFD, v, cfg, err)
		}
	}
	h, err := newHostTLS()
	if err != nil {
		t.Fatal(err)
	}
	h.identity = h.identity[:len(h.identity)/2]
	handIdentity(t, h)
	if _, err := pluginTLS(); err == nil {
		t.Error("half an identity: no error")
	}
}
