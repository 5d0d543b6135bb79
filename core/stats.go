package core

import "sync/atomic"

// Stats is a snapshot of a Server's counters, for metrics and tests. The
// counters only grow, except ConnectionsOpen.
type Stats struct {
	// ConnectionsOpen is the number of connections being served now.
	ConnectionsOpen int64
	// ConnectionsTotal counts the connections accepted and served.
	ConnectionsTotal uint64
	// ConnectionsRejected counts the connections refused because
	// MaxConnections was reached.
	ConnectionsRejected uint64
	// BytesRead and BytesWritten count the bytes read from and written
	// to clients.
	BytesRead, BytesWritten uint64
	// Requests counts the requests decoded and dispatched.
	Requests uint64
	// InvalidFrames counts connections closed for a frame that broke the
	// protocol or a limit.
	InvalidFrames uint64
	// Buffered is the input budget in use now: the bytes reserved by
	// messages larger than 64 KiB that span reads (see
	// Server.MaxBuffered).
	Buffered int64
	// BufferWaits counts the times a connection stopped reading to wait
	// for input budget.
	BufferWaits uint64
}

// counters are the Server's live Stats.
type counters struct {
	connsTotal    atomic.Uint64
	connsRejected atomic.Uint64
	bytesRead     atomic.Uint64
	bytesWritten  atomic.Uint64
	requests      atomic.Uint64
	invalidFrames atomic.Uint64
	bufferWaits   atomic.Uint64
}

// Stats returns the server's counters.
func (s *Server) Stats() Stats {
	return Stats{
		ConnectionsOpen:     s.nconns.Load(),
		ConnectionsTotal:    s.stats.connsTotal.Load(),
		ConnectionsRejected: s.stats.connsRejected.Load(),
		BytesRead:           s.stats.bytesRead.Load(),
		BytesWritten:        s.stats.bytesWritten.Load(),
		Requests:            s.stats.requests.Load(),
		InvalidFrames:       s.stats.invalidFrames.Load(),
		Buffered:            s.budget.inUse.Load(),
		BufferWaits:         s.stats.bufferWaits.Load(),
	}
}
