//go:build !linux

package core

import "time"

// Other systems have no poll loop: every connection gets a goroutine.

type poller struct{}

type pollConn struct{}

func (c *conn) start() { go c.serve() }

// pollKick reports that c is not in a poll loop.
func (c *conn) pollKick() bool { return false }

func (s *Server) pollWake() {}

// idleDeadline is the read deadline between messages, given the idle
// timeout t. The wait it begins is recorded (idleSince).
func (c *conn) idleDeadline(t time.Duration) time.Time {
	now := time.Now()
	c.idleSince = now
	if t <= 0 {
		return time.Time{}
	}
	return now.Add(t)
}

// idleTimedOut: a read timeout between messages closes the connection.
func (c *conn) idleTimedOut() error {
	c.log.Trace("idle timeout")
	return nil
}
