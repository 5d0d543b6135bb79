package metrics

import (
	"context"
	"net/http"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/msgrouter/router/core"
	"github.com/msgrouter/router/plugins"
)

// Request results, the values of the requests_total result label.
const (
	ResultOK       = "ok"
	ResultError    = "error"
	ResultTimeout  = "timeout"
	ResultCanceled = "canceled"
	ResultNoRoute  = "no_route"
)

// latencyBuckets are the upper bounds of router_request_duration_seconds:
// 1, 2.5 and 5 times the powers of ten from 25µs (in process) to 10s (the
// slowest handler timeouts). Each is a decimal constant, the float64
// nearest to it, so that it prints as written (le="0.01"); bounds
// computed by multiplication, as ExponentialBucketsRange does, print as
// 0.010000000000000007.
var latencyBuckets = []float64{
	25e-6, 50e-6,
	100e-6, 250e-6, 500e-6,
	0.001, 0.0025, 0.005,
	0.01, 0.025, 0.05,
	0.1, 0.25, 0.5,
	1, 2.5, 5,
	10,
}

// Metrics holds a router's metrics. Its methods are safe for concurrent
// use. The zero value is not usable: call New.
type Metrics struct {
	reg      *prometheus.Registry
	requests *prometheus.CounterVec
	latency  *prometheus.HistogramVec
	reloads  *prometheus.CounterVec
	reloaded prometheus.Gauge
	noRoute  prometheus.Counter
	nats     natsMetrics

	mu      sync.Mutex
	servers []*core.Server
	plugins map[string]*plugins.Process
	retired map[string]uint64 // restarts of the processes a plugin had before its current one
}

// New returns Metrics registered in a fresh registry, together with
// router_build_info and the Go runtime's and the process's standard
// collectors.
func New() *Metrics {
	m := &Metrics{
		reg: prometheus.NewRegistry(),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "router_requests_total",
			Help: "Requests answered, by route and result (ok, error, timeout, canceled, no_route).",
		}, []string{"route", "result"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "router_request_duration_seconds",
			Help:    "Time from handing a request to its route's handler to its answer, by route.",
			Buckets: latencyBuckets,
		}, []string{"route"}),
		reloads: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "router_reloads_total",
			Help: "Configuration reloads, by result (ok, error).",
		}, []string{"result"}),
		reloaded: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "router_last_reload_success_timestamp_seconds",
			Help: "When the configuration was last applied, in Unix seconds.",
		}),
		plugins: make(map[string]*plugins.Process),
		retired: make(map[string]uint64),
		nats:    newNATSMetrics(),
	}
	m.noRoute = m.requests.WithLabelValues("", ResultNoRoute)
	m.reloaded.SetToCurrentTime()
	m.reg.MustRegister(m.requests, m.latency, m.reloads, m.reloaded, newBuildInfo(), (*collector)(m),
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	m.reg.MustRegister(m.nats.collectors()...)
	return m
}

// Registry returns the registry the metrics are in, for a program that
// adds its own.
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

// Handler returns the HTTP handler that serves the metrics in the
// Prometheus exposition formats.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{Registry: m.reg})
}

// Server adds s's connection and byte counters (see core.Stats). With
// several servers, the figures are their sums.
func (m *Metrics) Server(s *core.Server) {
	m.mu.Lock()
	m.servers = append(m.servers, s)
	m.mu.Unlock()
}

// Plugin reports p's restarts and state under name. A later call with the
// same name replaces the process watched (a reload that restarts a
// plugin), and the restarts counter carries on from the old one's; a nil p
// stops reporting the plugin.
func (m *Metrics) Plugin(name string, p *plugins.Process) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if old, ok := m.plugins[name]; ok && old != p {
		m.retired[name] += old.Restarts()
	}
	if p == nil {
		delete(m.plugins, name)
		return
	}
	m.plugins[name] = p
}

// Reload records the result of a configuration reload: err is nil when
// it was applied.
func (m *Metrics) Reload(err error) {
	if err != nil {
		m.reloads.WithLabelValues(ResultError).Inc()
		return
	}
	m.reloads.WithLabelValues(ResultOK).Inc()
	m.reloaded.SetToCurrentTime()
}

// NoRoute counts n requests that no route matched (core.ErrNoRoute): they
// never reach an instrumented handler.
func (m *Metrics) NoRoute(n int) { m.noRoute.Add(float64(n)) }

// Result classifies a handler's outcome as a result label value: the
// name of core.ResultOf(err).
func Result(err error) string { return core.ResultOf(err).String() }

// resultIndex is the index in results of err's result, core.ErrNoRoute
// counted as an error.
func resultIndex(err error) int {
	r := core.ResultOf(err)
	if r == core.ResultNoRoute {
		return int(core.ResultError)
	}
	return int(r)
}

// Instrument returns h counting its requests and timing them under the
// route label route. If h is a core.BatchHandler, so is the result: a
// batch is timed once, and each of its requests observes that time, which
// is how long it waited for its answer.
func (m *Metrics) Instrument(route string, h core.Handler) core.Handler {
	in := &instrumented{h: h, latency: m.latency.WithLabelValues(route)}
	for i, r := range results {
		in.counts[i] = m.requests.WithLabelValues(route, r)
	}
	if bh, ok := h.(core.BatchHandler); ok {
		return &instrumentedBatch{instrumented: in, bh: bh}
	}
	return in
}

// results are the result labels an instrumented handler counts, in the
// order of instrumented.counts: core.Result's order, which resultIndex
// relies on. A route's handler that reports core.ErrNoRoute (a Mux
// behind a route) counts it as an error: no_route is for the requests no
// route of the router's table took.
var results = [...]string{ResultOK, ResultError, ResultTimeout, ResultCanceled}

type instrumented struct {
	h       core.Handler
	latency prometheus.Observer
	counts  [len(results)]prometheus.Counter
}

func (in *instrumented) count(err error) {
	in.counts[resultIndex(err)].Inc()
}

// Handle answers with the instrumented handler.
func (in *instrumented) Handle(ctx context.Context, req *core.Message) (*core.Message, error) {
	start := time.Now()
	ans, err := in.h.Handle(ctx, req)
	in.latency.Observe(time.Since(start).Seconds())
	in.count(err)
	return ans, err
}

type instrumentedBatch struct {
	*instrumented
	bh core.BatchHandler
}

// HandleBatch answers with the instrumented handler's HandleBatch.
func (in *instrumentedBatch) HandleBatch(ctx context.Context, reqs, answers []*core.Message, errs []error) {
	start := time.Now()
	in.bh.HandleBatch(ctx, reqs, answers, errs)
	d := time.Since(start).Seconds()
	ok := 0
	for _, err := range errs[:len(reqs)] {
		in.latency.Observe(d)
		if err == nil {
			ok++
		} else {
			in.count(err)
		}
	}
	in.counts[0].Add(float64(ok))
}
