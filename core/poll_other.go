//go:build !linux

package core

// Other systems have no poll loop: every connection gets a goroutine.

type poller struct{}

type pollConn struct{}

func (c *conn) start() { go c.serve() }

// pollKick reports that c is not in a poll loop.
func (c *conn) pollKick() bool { return false }

func (s *Server) pollWake() {}
