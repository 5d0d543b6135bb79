package metrics

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/msgrouter/router/plugins"
)

// collector reads the servers' and plugins' counters at scrape time, so
// that serving costs nothing beyond the counters core keeps anyway.
type collector Metrics

var (
	descConnsOpen = prometheus.NewDesc("router_connections_open",
		"Client connections open now.", nil, nil)
	descConnsTotal = prometheus.NewDesc("router_connections_total",
		"Client connections accepted and served.", nil, nil)
	descConnsRejected = prometheus.NewDesc("router_connections_rejected_total",
		"Client connections refused because the connection limit was reached.", nil, nil)
	descBytesIn = prometheus.NewDesc("router_received_bytes_total",
		"Bytes read from clients.", nil, nil)
	descBytesOut = prometheus.NewDesc("router_sent_bytes_total",
		"Bytes written to clients.", nil, nil)
	descInvalid = prometheus.NewDesc("router_invalid_frames_total",
		"Client connections closed for a frame that broke the protocol or a limit.", nil, nil)
	descRestarts = prometheus.NewDesc("router_plugin_restarts_total",
		"Times a plugin was restarted after it died.", []string{"plugin"}, nil)
	descState = prometheus.NewDesc("router_plugin_state",
		"1 for the state a plugin is in (running, restarting, failed, stopped), 0 for the others.", []string{"plugin", "state"}, nil)
	descInFlight = prometheus.NewDesc("router_plugin_in_flight",
		"Requests sent to a plugin and not yet answered (at most its max_in_flight).", []string{"plugin"}, nil)
	descWaiting = prometheus.NewDesc("router_plugin_waiting",
		"Requests waiting for room under a plugin's max_in_flight.", []string{"plugin"}, nil)
	descBuffered = prometheus.NewDesc("router_input_buffered_bytes",
		"Bytes of the input budget (limits.max_buffered) that half-received messages hold now.", nil, nil)
	descBufferWaits = prometheus.NewDesc("router_input_budget_waits_total",
		"Times a connection stopped reading until the input budget had room.", nil, nil)
)

// Describe sends the descriptions of the metrics the collector makes.
func (c *collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descConnsOpen, descConnsTotal, descConnsRejected, descBytesIn, descBytesOut, descInvalid,
		descRestarts, descState, descInFlight, descWaiting, descBuffered, descBufferWaits} {
		ch <- d
	}
}

// Collect sends the current values.
func (c *collector) Collect(ch chan<- prometheus.Metric) {
	c.mu.Lock()
	defer c.mu.Unlock()
	var open, total, rejected, in, out, invalid, buffered, waits float64
	for _, s := range c.servers {
		st := s.Stats()
		open += float64(st.ConnectionsOpen)
		total += float64(st.ConnectionsTotal)
		rejected += float64(st.ConnectionsRejected)
		in += float64(st.BytesRead)
		out += float64(st.BytesWritten)
		invalid += float64(st.InvalidFrames)
		buffered += float64(st.Buffered)
		waits += float64(st.BufferWaits)
	}
	ch <- prometheus.MustNewConstMetric(descConnsOpen, prometheus.GaugeValue, open)
	ch <- prometheus.MustNewConstMetric(descConnsTotal, prometheus.CounterValue, total)
	ch <- prometheus.MustNewConstMetric(descConnsRejected, prometheus.CounterValue, rejected)
	ch <- prometheus.MustNewConstMetric(descBytesIn, prometheus.CounterValue, in)
	ch <- prometheus.MustNewConstMetric(descBytesOut, prometheus.CounterValue, out)
	ch <- prometheus.MustNewConstMetric(descInvalid, prometheus.CounterValue, invalid)
	ch <- prometheus.MustNewConstMetric(descBuffered, prometheus.GaugeValue, buffered)
	ch <- prometheus.MustNewConstMetric(descBufferWaits, prometheus.CounterValue, waits)
	// A plugin no longer run still reports the restarts it had.
	for name, n := range c.retired {
		if _, running := c.plugins[name]; !running {
			ch <- prometheus.MustNewConstMetric(descRestarts, prometheus.CounterValue, float64(n), name)
		}
	}
	for name, p := range c.plugins {
		ch <- prometheus.MustNewConstMetric(descRestarts, prometheus.CounterValue, float64(c.retired[name]+p.Restarts()), name)
		ch <- prometheus.MustNewConstMetric(descInFlight, prometheus.GaugeValue, float64(p.InFlight()), name)
		ch <- prometheus.MustNewConstMetric(descWaiting, prometheus.GaugeValue, float64(p.Waiting()), name)
		cur := p.State()
		for st := plugins.StateRunning; st <= plugins.StateStopped; st++ {
			v := 0.0
			if st == cur {
				v = 1
			}
			ch <- prometheus.MustNewConstMetric(descState, prometheus.GaugeValue, v, name, st.String())
		}
	}
}
