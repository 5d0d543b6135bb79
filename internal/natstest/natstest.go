// Package natstest runs real NATS servers in a test's process, on
// loopback and free ports: one server, a server restarted on the port it
// had, or a cluster of servers joined by cluster routes. Every server is
// shut down when the test ends.
package natstest

import (
	"fmt"
	"net"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
)

// readyTimeout bounds a server's start, and a cluster's forming.
const readyTimeout = 10 * time.Second

// Server starts a NATS server with opts, on 127.0.0.1. A zero opts.Port
// picks a free port; the server logs nothing and ignores signals. It is
// shut down when the test ends (Stop may shut it down before).
func Server(t testing.TB, opts server.Options) *server.Server {
	t.Helper()
	opts.Host = "127.0.0.1"
	if opts.Port == 0 {
		opts.Port = server.RANDOM_PORT
	}
	opts.NoLog, opts.NoSigs = true, true
	s, err := server.NewServer(&opts)
	if err != nil {
		t.Fatalf("natstest: %v", err)
	}
	s.Start()
	if !s.ReadyForConnections(readyTimeout) {
		s.Shutdown()
		t.Fatalf("natstest: the NATS server on port %d is not ready after %v", opts.Port, readyTimeout)
	}
	t.Cleanup(func() { Stop(s) })
	return s
}

// Stop shuts s down and waits until it has: its port is free again and
// its clients are disconnected. It may be called more than once.
func Stop(s *server.Server) {
	s.Shutdown()
	s.WaitForShutdown()
}

// Port returns the port s takes clients on.
func Port(s *server.Server) int { return s.Addr().(*net.TCPAddr).Port }

// URL returns the nats:// URL of s's clients' port.
func URL(s *server.Server) string { return fmt.Sprintf("nats://127.0.0.1:%d", Port(s)) }

// Restart stops s and starts a server with opts on s's port, which is
// read before s stops: the clients that reconnect to that port find the
// new server. The caller may do what it tests between the two through
// down, which Restart calls once s is stopped; nil is a no-op.
func Restart(t testing.TB, s *server.Server, opts server.Options, down func()) *server.Server {
	t.Helper()
	opts.Port = Port(s)
	Stop(s)
	if down != nil {
		down()
	}
	return Server(t, opts)
}

// Cluster starts n servers (at least 2) joined by cluster routes on
// loopback: the first listens for routes, the others route to it. It
// returns once every server has a route to every other, so that a
// subscription on one is seen from the others soon after it is made.
// opts is each server's options; ServerName and Cluster are set here.
func Cluster(t testing.TB, n int, opts server.Options) []*server.Server {
	t.Helper()
	if n < 2 {
		t.Fatalf("natstest: a cluster of %d servers", n)
	}
	seedOpts := opts
	seedOpts.ServerName = "A"
	seedOpts.Cluster = server.ClusterOpts{Name: "natstest", Host: "127.0.0.1", Port: server.RANDOM_PORT}
	seed := Server(t, seedOpts)
	seedURL := fmt.Sprintf("nats://127.0.0.1:%d", seed.ClusterAddr().Port)
	servers := []*server.Server{seed}
	for i := 1; i < n; i++ {
		o := opts
		o.ServerName = string(rune('A' + i))
		o.Cluster = server.ClusterOpts{Name: "natstest", Host: "127.0.0.1", Port: server.RANDOM_PORT}
		o.Routes = server.RoutesFromStr(seedURL)
		servers = append(servers, Server(t, o))
	}
	WaitRoutes(t, servers...)
	return servers
}

// WaitRoutes waits until each of servers has a route to every other.
func WaitRoutes(t testing.TB, servers ...*server.Server) {
	t.Helper()
	deadline := time.Now().Add(readyTimeout)
	for {
		formed := true
		for _, s := range servers {
			if connectedTo(s) < len(servers)-1 {
				formed = false
			}
		}
		if formed {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("natstest: the cluster routes have not formed after %v", readyTimeout)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// connectedTo returns how many other servers s has a route to (a route
// may be a pool of connections: each server counts once).
func connectedTo(s *server.Server) int {
	rz, err := s.Routez(nil)
	if err != nil {
		return 0
	}
	peers := make(map[string]bool)
	for _, r := range rz.Routes {
		peers[r.RemoteID] = true
	}
	return len(peers)
}
