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
)

// Describe sends the descriptions of the metrics the collector makes.
func (c *collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descConnsOpen, descConnsTotal, descConnsRejected, descBytesIn, descBytesOut, descInvalid, descRestarts, descState} {
		ch <- d
	}
}

// Collect sends the current values.
func (c *collector) Collect(ch chan<- prometheus.Metric) {
	c.mu.Lock()
	defer c.mu.Unlock()
	var open, total, rejected, in, out, invalid float64
	for _, s := range c.servers {
		st := s.Stats()
		open += float64(st.ConnectionsOpen)
		total += float64(st.ConnectionsTotal)
		rejected += float64(st.ConnectionsRejected)
		in += float64(st.BytesRead)
		out += float64(st.BytesWritten)
		invalid += float64(st.InvalidFrames)
	}
	ch <- prometheus.MustNewConstMetric(descConnsOpen, prometheus.GaugeValue, open)
	ch <- prometheus.MustNewConstMetric(descConnsTotal, prometheus.CounterValue, total)
	ch <- prometheus.MustNewConstMetric(descConnsRejected, prometheus.CounterValue, rejected)
	ch <- prometheus.MustNewConstMetric(descBytesIn, prometheus.CounterValue, in)
	ch <- prometheus.MustNewConstMetric(descBytesOut, prometheus.CounterValue, out)
	ch <- prometheus.MustNewConstMetric(descInvalid, prometheus.CounterValue, invalid)
	// A plugin no longer run still reports the restarts it had.
	for name, n := range c.retired {
		if _, running := c.plugins[name]; !running {
			ch <- prometheus.MustNewConstMetric(descRestarts, prometheus.CounterValue, float64(n), name)
		}
	}
	for name, p := range c.plugins {
		ch <- prometheus.MustNewConstMetric(descRestarts, prometheus.CounterValue, float64(c.retired[name]+p.Restarts()), name)
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
