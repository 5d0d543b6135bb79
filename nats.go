package router

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"

	"github.com/msgrouter/router/config"
	"github.com/msgrouter/router/core"
	"github.com/msgrouter/router/natsbridge"
)

// natsLink is a router's, or a worker's, connection to NATS, and the NATS
// server the router runs in process when the config names no URL.
type natsLink struct {
	srv    *server.Server // the embedded server; nil with nats.url
	nc     *nats.Conn
	client *natsbridge.Client // the routes' requests and their answers
	// cfg is the nats section it was made from: a reload cannot change
	// it.
	cfg config.NATS
}

// natsReconnectWait is the pause between two attempts to reconnect.
const natsReconnectWait = 250 * time.Millisecond

// embeddedReadyTimeout bounds the embedded server's start.
const embeddedReadyTimeout = 10 * time.Second

// connectNATS connects to the NATS server cfg names, or starts the
// embedded one and connects to it in process. A server at nats.url that
// is not up yet is not an error: the connection keeps trying, and
// requests to subjects are answered an error until it is up. name names
// the connection in the server's monitoring ("router", or the worker's
// name).
func connectNATS(cfg *config.Config, name string, log hclog.Logger) (*natsLink, error) {
	l := &natsLink{cfg: cfg.NATS}
	log = log.Named("nats")
	lost := "NATS connection lost; requests to subjects are answered an error until it is back"
	if cfg.IsWorker() {
		lost = "NATS connection lost; the worker serves again once it is back"
	}
	opts := []nats.Option{
		nats.Name(name),
		nats.MaxReconnects(-1),
		nats.ReconnectWait(natsReconnectWait),
		nats.RetryOnFailedConnect(true),
		nats.ConnectHandler(func(nc *nats.Conn) { connected(cfg, nc, log, "connected to NATS") }),
		nats.ReconnectHandler(func(nc *nats.Conn) { connected(cfg, nc, log, "reconnected to NATS") }),
		nats.DisconnectErrHandler(func(nc *nats.Conn, err error) {
			if !nc.IsClosed() {
				log.Warn(lost, "error", err)
			}
		}),
	}
	url := cfg.NATS.URL
	if url == "" {
		srv, err := startEmbedded(cfg, log)
		if err != nil {
			return nil, err
		}
		l.srv = srv
		url = srv.ClientURL()
		opts = append(opts, nats.InProcessServer(srv))
	}
	nc, err := nats.Connect(url, opts...)
	if err != nil {
		l.close()
		return nil, &config.Error{Source: cfg.Source("nats.url"), Key: "nats.url", Msg: "cannot connect to NATS: " + err.Error(), Err: config.ErrValue, Cause: err}
	}
	l.nc = nc
	l.client = natsbridge.NewClient(nc)
	if !nc.IsConnected() {
		log.Warn("NATS is not up yet; connecting in the background", "url", url)
	}
	return l, nil
}

// connected logs a (re)connection, and warns when requests may be over
// the server's max payload.
func connected(cfg *config.Config, nc *nats.Conn, log hclog.Logger, msg string) {
	log.Info(msg, "url", nc.ConnectedUrlRedacted(), "server", nc.ConnectedServerName(), "max_payload", nc.MaxPayload())
	if w := cfg.PayloadWarning(nc.MaxPayload()); w != nil {
		log.Warn(w.Error())
	}
}

// startEmbedded starts the NATS server of nats.embedded.
func startEmbedded(cfg *config.Config, log hclog.Logger) (*server.Server, error) {
	fail := func(msg string, cause error) (*server.Server, error) {
		return nil, &config.Error{Source: cfg.Source("nats.embedded.listen"), Key: "nats.embedded.listen", Msg: msg, Err: config.ErrListen, Cause: cause}
	}
	host, portStr, err := net.SplitHostPort(cfg.NATS.Embedded.Listen)
	if err != nil {
		return fail(err.Error(), err)
	}
	port, err := strconv.Atoi(portStr)
	if err != nil {
		return fail(err.Error(), err)
	}
	if port == 0 {
		port = server.RANDOM_PORT
	}
	srv, err := server.NewServer(&server.Options{
		ServerName: "router-embedded",
		Host:       host,
		Port:       port,
		MaxPayload: int32(cfg.EmbeddedMaxPayload()),
		NoSigs:     true,
	})
	if err != nil {
		return fail("cannot start the embedded NATS server: "+err.Error(), err)
	}
	srv.SetLoggerV2(natsLogger{log.Named("server")}, false, false, false)
	srv.Start()
	if !srv.ReadyForConnections(embeddedReadyTimeout) {
		srv.Shutdown()
		srv.WaitForShutdown()
		// The server logged why (an address in use, most often).
		return fail(fmt.Sprintf("the embedded NATS server cannot listen on %s (in use?)", cfg.NATS.Embedded.Listen), errors.New("nats server not ready"))
	}
	log.Info("embedded NATS server listening", "addr", srv.Addr().String(), "max_payload", cfg.EmbeddedMaxPayload())
	return srv, nil
}

// close closes the connection, then stops the embedded server.
func (l *natsLink) close() {
	if l == nil {
		return
	}
	if l.client != nil {
		l.client.Close()
	}
	if l.nc != nil {
		l.nc.Close()
	}
	if l.srv != nil {
		l.srv.Shutdown()
		l.srv.WaitForShutdown()
	}
}

// Addr returns the address the embedded server's clients connect to, or
// nil with nats.url.
func (l *natsLink) addr() net.Addr {
	if l == nil || l.srv == nil {
		return nil
	}
	return l.srv.Addr()
}

// natsLogger writes the embedded server's logs to an hclog logger. Its
// notices are at debug level: the router logs what matters itself.
type natsLogger struct{ log hclog.Logger }

func (n natsLogger) Noticef(format string, v ...any) { n.log.Debug(trimf(format, v)) }
func (n natsLogger) Warnf(format string, v ...any) {
	msg := trimf(format, v)
	if strings.HasPrefix(msg, "Maximum payloads over") {
		// The router sized max_payload for max_content_length itself.
		n.log.Debug(msg)
		return
	}
	n.log.Warn(msg)
}
func (n natsLogger) Fatalf(format string, v ...any) { n.log.Error(trimf(format, v)) }
func (n natsLogger) Errorf(format string, v ...any) { n.log.Error(trimf(format, v)) }
func (n natsLogger) Debugf(format string, v ...any) { n.log.Trace(trimf(format, v)) }
func (n natsLogger) Tracef(format string, v ...any) { n.log.Trace(trimf(format, v)) }

func trimf(format string, v []any) string {
	return strings.TrimSpace(fmt.Sprintf(format, v...))
}

// natsHandler returns the handler of a route to subject: a NATS request
// to whichever worker serves it, counted in the NATS metrics. Without a
// connection (Check), it is a placeholder that is never called.
func (r *Router) natsHandler(subject string) core.Handler {
	if r.nats == nil {
		return core.HandlerFunc(func(context.Context, *core.Message) (*core.Message, error) {
			return nil, fmt.Errorf("%w: no NATS connection for %s", natsbridge.ErrDisconnected, subject)
		})
	}
	var h core.Handler = r.nats.client.Handler(subject)
	if r.metrics != nil {
		h = r.metrics.NATS(subject, h)
	}
	return h
}

// linkNATS connects to NATS for cfg, if its routes name subjects and
// the router has no connection yet, and makes it the router's. It
// returns what undoes that, for a start or reload that then fails. A
// reload cannot change the nats section of a router that is connected.
func (r *Router) linkNATS(cfg *config.Config) (undo func(), err error) {
	r.mu.Lock()
	cur := r.nats
	r.mu.Unlock()
	switch {
	case cur != nil && cfg.NATS != cur.cfg:
		return nil, &config.Error{Source: cfg.Source("nats"), Key: "nats", Msg: "a reload cannot change the nats section of a running router", Want: "the nats section it started with; restart it for a new one", Err: config.ErrValue}
	case cur != nil || !cfg.NATSRoutes():
		return func() {}, nil
	}
	link, err := connectNATS(cfg, "router", r.log)
	if err != nil {
		return nil, err
	}
	r.mu.Lock()
	r.nats = link
	r.mu.Unlock()
	return func() {
		r.mu.Lock()
		r.nats = nil
		r.mu.Unlock()
		link.close()
	}, nil
}

// NATSAddr returns the address the embedded NATS server listens on for
// workers, or nil when the router runs none.
func (r *Router) NATSAddr() net.Addr {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.nats.addr()
}

// natsCheckTimeout bounds CheckNATS's connection.
const natsCheckTimeout = 3 * time.Second

// CheckNATS connects to the NATS server at cfg's nats.url, as "router
// config check" does, and returns the warning of
// config.Config.PayloadWarning for its max payload: nil when requests
// fit, or when cfg names no URL or needs no NATS. The error is that of
// the connection, which does not make cfg invalid (the server may be
// down for now).
func CheckNATS(ctx context.Context, cfg *config.Config) (*config.Error, error) {
	if cfg.NATS.URL == "" || (!cfg.NATSRoutes() && !cfg.IsWorker()) {
		return nil, nil
	}
	ctx, cancel := context.WithTimeout(ctx, natsCheckTimeout)
	defer cancel()
	nc, err := nats.Connect(cfg.NATS.URL, nats.Name("router config check"), nats.Timeout(natsCheckTimeout),
		nats.MaxReconnects(0), nats.NoReconnect())
	if err != nil {
		return nil, fmt.Errorf("cannot connect to NATS at %s to check its max payload: %w", cfg.NATS.URL, err)
	}
	defer nc.Close()
	if err := nc.FlushWithContext(ctx); err != nil {
		return nil, fmt.Errorf("NATS at %s: %w", cfg.NATS.URL, err)
	}
	return cfg.PayloadWarning(nc.MaxPayload()), nil
}
