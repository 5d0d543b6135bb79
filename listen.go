package router

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"os"
	"strings"
	"sync/atomic"

	"github.com/msgrouter/router/config"
	"github.com/msgrouter/router/core"
)

// listener is one open listener of a Router.
type listener struct {
	key   string // what identifies it across reloads; see listenerKeys
	cfg   config.Listener
	ln    net.Listener // config.TLS-wrapped for a config.TLS listener
	tls   *atomic.Pointer[tls.Config]
	bound net.Addr

	serving bool        // Serve has been called on it; guarded by Router.mu
	closing atomic.Bool // closed on purpose: its Serve's error is expected
}

// listenerKeys identify the listeners of ls across reloads: by network
// and address, and whether they are raw or TLS, which decide how their
// connections are served; a change of anything else (a TLS certificate,
// a raw listener's plugin) is applied to the open listener. Listeners
// alike in all that (several on port 0) are told apart by their order.
func listenerKeys(ls []config.Listener) []string {
	keys := make([]string, len(ls))
	seen := make(map[string]int)
	for i, l := range ls {
		network, address, err := core.ParseAddr(l.Addr)
		if err != nil {
			network, address = "invalid", l.Addr
		}
		k := fmt.Sprintf("%s %s raw=%t tls=%t", network, address, l.Raw, l.TLS != nil)
		keys[i] = fmt.Sprintf("%s #%d", k, seen[k])
		seen[k]++
	}
	return keys
}

// addrKey is the network and address alone: two listeners with the same
// one cannot both be open. It is "" for port 0, which never collides.
func addrKey(l config.Listener) string {
	network, address, _ := core.ParseAddr(l.Addr)
	if _, port, err := net.SplitHostPort(address); network != "unix" && (err != nil || port == "0") {
		return ""
	}
	return network + " " + address
}

// openListener opens the listener cfg.Listen[i].
func openListener(ctx context.Context, cfg *config.Config, i int) (*listener, error) {
	tc, err := cfg.ListenerTLS(i)
	if err != nil {
		return nil, err
	}
	return bindListener(ctx, cfg, i, tc)
}

// bindListener listens on cfg.Listen[i]'s address, with tc, what
// listenerTLS read for it.
func bindListener(ctx context.Context, cfg *config.Config, i int, tc *tls.Config) (*listener, error) {
	l := cfg.Listen[i]
	key := fmt.Sprintf("listen[%d]", i)
	out := &listener{key: listenerKeys(cfg.Listen)[i], cfg: l}
	ln, err := core.Listen(ctx, l.Addr)
	if err != nil {
		return nil, &config.Error{
			Source: cfg.Source(key), Key: key,
			Msg:  fmt.Sprintf("cannot listen on %s: %s", l.Addr, listenReason(err)),
			Want: "an address that is free and that this user may listen on; port 0 picks a free port",
			Err:  config.ErrListen, Cause: err,
		}
	}
	out.bound = ln.Addr()
	out.ln = ln
	if tc != nil {
		out.tls = new(atomic.Pointer[tls.Config])
		out.tls.Store(tc)
		ptr := out.tls
		out.ln = tls.NewListener(ln, &tls.Config{
			GetConfigForClient: func(*tls.ClientHelloInfo) (*tls.Config, error) { return ptr.Load(), nil },
		})
	}
	return out, nil
}

// listenReason shortens a listen error to what the user needs, e.g.
// "address already in use", without the repeated address.
func listenReason(err error) string {
	var se *os.SyscallError
	if errors.As(err, &se) {
		return se.Err.Error()
	}
	var oe *net.OpError
	if errors.As(err, &oe) && oe.Err != nil {
		return oe.Err.Error()
	}
	return strings.TrimPrefix(err.Error(), "core: ")
}

func closeListeners(ls []*listener) {
	for _, l := range ls {
		if l != nil {
			l.closing.Store(true)
			l.ln.Close()
		}
	}
}
