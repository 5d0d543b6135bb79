// Package metrics exposes a router's metrics to Prometheus, through the
// standard client library: connections, requests by route and result,
// latency histograms by route, bytes in and out, plugin restarts and
// states, reloads, and requests over NATS, from a router's routes and at
// a worker's endpoints.
//
// The config package builds one when the config's metrics section names a
// listen address, and serves it there. A Go program that embeds the router
// builds its own with New, attaches it to what it runs (Server, Instrument,
// Plugin) and serves Handler wherever it likes, or registers Collector in
// a registry of its own.
//
// The names, all prefixed "router_":
//
//	connections_open                      gauge
//	connections_total                     counter   accepted and served
//	connections_rejected_total            counter   over the connection limit
//	received_bytes_total, sent_bytes_total counter  to and from clients
//	invalid_frames_total                  counter   connections closed for a bad frame
//	requests_total{route,result}          counter   result: ok, error, timeout, canceled, no_route
//	request_duration_seconds{route}       histogram from the read of a request's batch to its answer
//	plugin_restarts_total{plugin}         counter
//	plugin_state{plugin,state}            gauge     1 for the plugin's state, 0 for the others
//	reloads_total{result}                 counter   result: ok, error
//	last_reload_success_timestamp_seconds gauge
//	build_info{version,go_version}        gauge     1; version as 'router version' gives it
//	nats_requests_total{subject,result}   counter   routes to NATS subjects; result: ok, error, no_workers,
//	                                                timeout, too_large, disconnected, canceled
//	worker_requests_total{subject,result} counter   a worker's endpoints (router worker)
//	worker_in_flight{subject}             gauge     requests a worker's endpoint is handling
package metrics
