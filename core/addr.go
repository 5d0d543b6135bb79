package core

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"strings"
	"syscall"
	"time"
)

// ParseAddr splits a listen or dial address into a network and an address
// for package net. It accepts:
//
//	tcp://host:port    tcp4://host:port    tcp6://[::1]:port
//	unix:///run/router.sock    unix://relative.sock
//	host:port    [::1]:port    :port            (TCP)
//
// host may be an IPv4 or IPv6 literal or a host name; an empty host
// listens on all interfaces.
func ParseAddr(addr string) (network, address string, err error) {
	scheme, rest, ok := strings.Cut(addr, "://")
	if !ok {
		scheme, rest = "tcp", addr
	}
	switch scheme {
	case "tcp", "tcp4", "tcp6":
		if _, _, err := net.SplitHostPort(rest); err != nil {
			return "", "", fmt.Errorf("%w %q: want host:port, [ipv6]:port or :port: %w", ErrBadAddress, addr, err)
		}
		return scheme, rest, nil
	case "unix":
		if rest == "" {
			return "", "", fmt.Errorf("%w %q: want unix:///path/to/socket", ErrBadAddress, addr)
		}
		return scheme, rest, nil
	}
	return "", "", fmt.Errorf("%w %q: unknown scheme %q (want tcp, tcp4, tcp6 or unix)", ErrBadAddress, addr, scheme)
}

// Listen opens a listener on addr (see ParseAddr). For a Unix socket, a
// stale socket file that nothing listens on any more is removed first; one
// that is in use is an error.
func Listen(ctx context.Context, addr string) (net.Listener, error) {
	network, address, err := ParseAddr(addr)
	if err != nil {
		return nil, err
	}
	if network == "unix" {
		removeStaleSocket(address)
	}
	var lc net.ListenConfig
	l, err := lc.Listen(ctx, network, address)
	if err != nil {
		return nil, fmt.Errorf("core: listen on %s: %w", addr, err)
	}
	return l, nil
}

func removeStaleSocket(path string) {
	fi, err := os.Stat(path)
	if err != nil || fi.Mode()&os.ModeSocket == 0 {
		return
	}
	c, err := net.DialTimeout("unix", path, time.Second)
	if err == nil {
		c.Close()
		return
	}
	if errors.Is(err, syscall.ECONNREFUSED) {
		os.Remove(path)
	}
}

// dial connects to addr (see ParseAddr).
func dial(ctx context.Context, addr string) (net.Conn, error) {
	network, address, err := ParseAddr(addr)
	if err != nil {
		return nil, err
	}
	var d net.Dialer
	c, err := d.DialContext(ctx, network, address)
	if err != nil {
		return nil, fmt.Errorf("core: dial %s: %w", addr, err)
	}
	return c, nil
}
