package metrics

import (
	"context"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/msgrouter/router/core"
	"github.com/msgrouter/router/natsbridge"
)

// natsMetrics are the metrics of routes to NATS subjects and of a
// worker's endpoints.
type natsMetrics struct {
	requests *prometheus.CounterVec // router_nats_requests_total{subject,result}
	worker   *prometheus.CounterVec // router_worker_requests_total{subject,result}
	inFlight *prometheus.GaugeVec   // router_worker_in_flight{subject}
}

func newNATSMetrics() natsMetrics {
	return natsMetrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "router_nats_requests_total",
			Help: "Requests sent to NATS subjects by the routes that name them, by subject and result (ok, error, no_workers, timeout, too_large, disconnected, canceled).",
		}, []string{"subject", "result"}),
		worker: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "router_worker_requests_total",
			Help: "Requests a worker took from NATS, by endpoint subject and result (ok, error, timeout, canceled).",
		}, []string{"subject", "result"}),
		inFlight: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "router_worker_in_flight",
			Help: "Requests a worker is handling, by endpoint subject.",
		}, []string{"subject"}),
	}
}

func (n natsMetrics) collectors() []prometheus.Collector {
	return []prometheus.Collector{n.requests, n.worker, n.inFlight}
}

// NATS returns h, the handler of a route to a NATS subject, counting
// each request in router_nats_requests_total by its result, as
// natsbridge.Kind names it. If h is a core.BatchHandler, so is the
// result.
func (m *Metrics) NATS(subject string, h core.Handler) core.Handler {
	return countedBy(&counted{h: h, c: newKindCounter(m.nats.requests, subject)})
}

// Worker returns h, the handler of a worker's endpoint for subject,
// counting each request in router_worker_requests_total by its result
// and the requests it is handling in router_worker_in_flight.
// If h is a core.BatchHandler, so is the result.
func (m *Metrics) Worker(subject string, h core.Handler) core.Handler {
	return countedBy(&counted{h: h, c: newKindCounter(m.nats.worker, subject),
		inFlight: m.nats.inFlight.WithLabelValues(subject)})
}

// countedBy returns c, as a core.BatchHandler if its handler is one.
func countedBy(c *counted) core.Handler {
	if bh, ok := c.h.(core.BatchHandler); ok {
		return &countedBatch{counted: c, bh: bh}
	}
	return c
}

// kindCounter counts outcomes by kind (natsbridge.Kind), under one
// subject.
type kindCounter map[string]prometheus.Counter

func newKindCounter(vec *prometheus.CounterVec, subject string) kindCounter {
	k := make(kindCounter, len(natsbridge.Kinds))
	for _, kind := range natsbridge.Kinds {
		k[kind] = vec.WithLabelValues(subject, kind)
	}
	return k
}

func (k kindCounter) add(err error, n int) { k[natsbridge.Kind(err)].Add(float64(n)) }

type counted struct {
	h        core.Handler
	c        kindCounter
	inFlight prometheus.Gauge // nil for a route
}

// Handle answers with the counted handler.
func (c *counted) Handle(ctx context.Context, req *core.Message) (*core.Message, error) {
	if c.inFlight != nil {
		c.inFlight.Inc()
		defer c.inFlight.Dec()
	}
	ans, err := c.h.Handle(ctx, req)
	c.c.add(err, 1)
	return ans, err
}

// countedBatch is a counted BatchHandler.
type countedBatch struct {
	*counted
	bh core.BatchHandler
}

// HandleBatch answers with the counted handler's HandleBatch.
func (c *countedBatch) HandleBatch(ctx context.Context, reqs, answers []*core.Message, errs []error) {
	if c.inFlight != nil {
		c.inFlight.Add(float64(len(reqs)))
		defer c.inFlight.Sub(float64(len(reqs)))
	}
	c.bh.HandleBatch(ctx, reqs, answers, errs)
	ok := 0
	for _, err := range errs[:len(reqs)] {
		if err == nil {
			ok++
		} else {
			c.c.add(err, 1)
		}
	}
	if ok > 0 {
		c.c.add(nil, ok)
	}
}
