package natstest_test

import (
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"

	"github.com/msgrouter/router/internal/natstest"
)

// connect connects to url; the connection is closed when the test ends.
func connect(t *testing.T, url string, opts ...nats.Option) *nats.Conn {
	t.Helper()
	nc, err := nats.Connect(url, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	return nc
}

// reply answers requests to subject on nc with "pong".
func reply(t *testing.T, nc *nats.Conn, subject string) {
	t.Helper()
	if _, err := nc.QueueSubscribe(subject, "q", func(m *nats.Msg) { m.Respond([]byte("pong")) }); err != nil {
		t.Fatal(err)
	}
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
}

// request sends a request to subject until it is answered, for 5s at
// most: a subscription takes a moment to cross a cluster route.
func request(t *testing.T, nc *nats.Conn, subject string) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		m, err := nc.Request(subject, []byte("ping"), time.Second)
		if err == nil && string(m.Data) == "pong" {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("request to %s: %v", subject, err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestCluster(t *testing.T) {
	c := natstest.Cluster(t, 3, server.Options{})
	reply(t, connect(t, natstest.URL(c[2])), "svc")
	request(t, connect(t, natstest.URL(c[0])), "svc")
	request(t, connect(t, natstest.URL(c[1])), "svc")
}

func TestRestart(t *testing.T) {
	s := natstest.Server(t, server.Options{MaxPayload: 4096})
	port := natstest.Port(s)
	nc := connect(t, natstest.URL(s), nats.MaxReconnects(-1), nats.ReconnectWait(20*time.Millisecond))
	reply(t, nc, "svc")
	var down bool
	s2 := natstest.Restart(t, s, server.Options{MaxPayload: 4096}, func() { down = !s.Running() })
	if !down || natstest.Port(s2) != port {
		t.Fatalf("down during the restart: %v; port %d, then %d", down, port, natstest.Port(s2))
	}
	request(t, connect(t, natstest.URL(s2)), "svc") // nc reconnected and subscribed again
}
