package router

import (
	"context"
	"errors"
	"net"
	"net/http"
	"time"

	"github.com/msgrouter/router/config"
	"github.com/msgrouter/router/metrics"
	"github.com/msgrouter/router/plugins"
)

// openMetrics opens the metrics endpoint's listener, so that an address
// in use fails Start as a router listener's would.
func (r *Router) openMetrics(ctx context.Context, mc config.Metrics) error {
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", mc.Listen)
	if err != nil {
		return &config.Error{Source: r.cfg.Source("metrics.listen"), Key: "metrics.listen", Msg: "cannot listen: " + err.Error(), Err: config.ErrListen, Cause: err}
	}
	// The path is matched as it is, not as an http.ServeMux pattern,
	// in which braces, a trailing slash or a method mean something else
	// (and a malformed one panics).
	h, path := r.metrics.Handler(), mc.Path
	r.metricsLn = ln
	r.metricsHS = &http.Server{
		Handler: http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
			if req.URL.Path != path {
				http.NotFound(w, req)
				return
			}
			h.ServeHTTP(w, req)
		}),
		ErrorLog:          r.log.Named("metrics").StandardLogger(nil),
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       time.Minute,
	}
	return nil
}

// serveMetricsLocked serves the metrics endpoint, if there is one.
func (r *Router) serveMetricsLocked() {
	if r.metricsHS == nil {
		return
	}
	r.log.Info("metrics listening", "addr", r.metricsLn.Addr().String(), "path", r.cfg.Metrics.Path)
	r.serveWG.Add(1)
	go func() {
		defer r.serveWG.Done()
		if err := r.metricsHS.Serve(r.metricsLn); !errors.Is(err, http.ErrServerClosed) {
			r.log.Error("metrics endpoint failed", "error", err)
		}
	}()
}

// stopMetrics stops the metrics endpoint, if there is one.
func (r *Router) stopMetrics(ctx context.Context) {
	if r.metricsHS == nil {
		return
	}
	if err := r.metricsHS.Shutdown(ctx); err != nil {
		r.metricsHS.Close()
	}
	r.metricsLn.Close() // if it was never served
}

// MetricsAddr returns the address the metrics endpoint is bound to, or
// nil when there is none.
func (r *Router) MetricsAddr() net.Addr {
	if r.metricsLn == nil {
		return nil
	}
	return r.metricsLn.Addr()
}

// Metrics returns the router's metrics, or nil when they are off.
func (r *Router) Metrics() *metrics.Metrics { return r.metrics }

// watchPlugins points the metrics at the plugin processes of procs
// instead of those of old: each process under its own name (NAME, or
// NAME#I for the instances of a pool).
func (r *Router) watchPlugins(old, procs map[string]*pluginRun) {
	if r.metrics == nil {
		return
	}
	now := make(map[string]*plugins.Process)
	for _, p := range procs {
		if p.pool != nil {
			for _, proc := range p.pool.Processes() {
				now[proc.Name()] = proc
			}
		}
	}
	for _, p := range old {
		if p.pool == nil {
			continue
		}
		for _, proc := range p.pool.Processes() {
			if now[proc.Name()] != proc {
				r.metrics.Plugin(proc.Name(), nil)
			}
		}
	}
	for name, proc := range now {
		r.metrics.Plugin(name, proc)
	}
}
