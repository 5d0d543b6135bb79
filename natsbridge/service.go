package natsbridge

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"sync"
	"time"

	"github.com/msgrouter/router/core"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/micro"
)

// Defaults of Config.
const (
	DefaultName        = "router"
	DefaultVersion     = "0.1.0"
	DefaultQueueGroup  = "router"
	DefaultMaxInFlight = 64
)

// Endpoint is one subject a Service serves, and the handler that serves it.
type Endpoint struct {
	Subject string       // the NATS subject, e.g. "router.search"
	Handler core.Handler // answers the subject's requests
	// Name is the micro endpoint's name; by default the subject with
	// every character micro does not allow replaced by '_'.
	Name string
}

// Config configures a Service.
type Config struct {
	Name        string // micro service name; DefaultName when empty
	Version     string // micro service version (semver); DefaultVersion when empty
	Description string // micro service description, shown by `nats micro info`
	QueueGroup  string // queue group of every endpoint; DefaultQueueGroup when empty
	// MaxInFlight is how many requests the Service handles at once, over
	// all its endpoints; DefaultMaxInFlight when zero. Past it, as many
	// more wait in a queue, and past that the endpoints stop reading
	// until a request is answered.
	MaxInFlight int
	Endpoints   []Endpoint
}

// Service is a NATS micro service whose endpoints serve core.Handlers
// (see the package documentation for the wire mapping). micro delivers one
// request at a time per endpoint; the Service queues each for a pool of
// MaxInFlight goroutines, so it serves many at once. A request's deadline
// counts from its arrival, its wait in the queue included: one that
// waited past it is answered a timeout without its handler being called.
//
// micro's per-endpoint statistics count the requests, but their
// processing times are those of the hand-off, not of the handler, and
// they count no errors: the pool answers with its own publish.
type Service struct {
	nc     *nats.Conn
	svc    micro.Service
	jobs   chan job // the requests received, for the pool to serve
	slots  *slots   // MaxInFlight: a job takes one per request it holds
	chunk  int      // the most requests of a batch one job takes
	base   context.Context
	cancel context.CancelFunc

	mu       sync.Mutex
	active   int    // requests received and not yet answered
	arrivals uint64 // requests received
	stopOnce sync.Once
	stopErr  error
}

var invalidName = regexp.MustCompile(`[^A-Za-z0-9_-]`)

// Serve registers a micro service on nc with cfg's endpoints and starts
// serving them. When it returns, the server has the endpoints'
// subscriptions (unless nc is down: they are sent when it reconnects).
// The caller owns nc; call Shutdown before closing it.
func Serve(nc *nats.Conn, cfg Config) (*Service, error) {
	if len(cfg.Endpoints) == 0 {
		return nil, errors.New("natsbridge: a service needs at least one endpoint")
	}
	n := cfg.MaxInFlight
	if n <= 0 {
		n = DefaultMaxInFlight
	}
	svc, err := micro.AddService(nc, micro.Config{
		Name:        orString(cfg.Name, DefaultName),
		Version:     orString(cfg.Version, DefaultVersion),
		Description: cfg.Description,
		QueueGroup:  orString(cfg.QueueGroup, DefaultQueueGroup),
	})
	if err != nil {
		return nil, fmt.Errorf("natsbridge: add service: %w", err)
	}
	s := &Service{nc: nc, svc: svc, jobs: make(chan job, n), slots: newSlots(n), chunk: max(1, n/2)}
	s.base, s.cancel = context.WithCancel(context.Background())
	context.AfterFunc(s.base, s.slots.close)
	for range n {
		go s.work()
	}
	for _, e := range cfg.Endpoints {
		if e.Subject == "" || e.Handler == nil {
			err = errors.New("natsbridge: an endpoint needs a subject and a handler")
		} else {
			name := e.Name
			if name == "" {
				name = invalidName.ReplaceAllString(e.Subject, "_")
			}
			err = svc.AddEndpoint(name, s.handlerFor(e.Handler), micro.WithEndpointSubject(e.Subject))
		}
		if err != nil {
			_ = svc.Stop()
			s.cancel()
			return nil, fmt.Errorf("natsbridge: endpoint %q: %w", e.Subject, err)
		}
	}
	// Once the server has the subscriptions, requests find this worker.
	if nc.IsConnected() {
		_ = nc.FlushTimeout(5 * time.Second)
	}
	return s, nil
}

func orString(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// Micro returns the underlying micro service, for its Info and Stats.
func (s *Service) Micro() micro.Service { return s.svc }

// InFlight returns how many requests the Service has received and not yet
// answered.
func (s *Service) InFlight() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.active
}

// quietTicks is how many polls in a row Shutdown must see nothing in
// flight and no new arrival before it returns.
const quietTicks = 3

// Shutdown drains the Service: it stops its micro service (the endpoints
// take no new requests; NATS answers new ones with no responders), lets
// the requests already received be answered, then returns. If ctx ends
// first, it cancels the handlers' contexts and returns ctx.Err().
//
// micro drains its subscriptions asynchronously, so Shutdown flushes the
// connection (after which no request can arrive from the server) and then
// waits until, for a few polls in a row, nothing is in flight and nothing
// new has arrived from the subscriptions' queues.
func (s *Service) Shutdown(ctx context.Context) error {
	s.stopOnce.Do(func() {
		s.stopErr = s.svc.Stop()
		if !s.nc.IsConnected() {
			return
		}
		if _, ok := ctx.Deadline(); ok {
			_ = s.nc.FlushWithContext(ctx)
		} else {
			_ = s.nc.FlushTimeout(5 * time.Second)
		}
	})
	t := time.NewTicker(5 * time.Millisecond)
	defer t.Stop()
	var last uint64
	quiet := 0
	for {
		s.mu.Lock()
		active, arrivals := s.active, s.arrivals
		s.mu.Unlock()
		if active == 0 && arrivals == last {
			quiet++
		} else {
			quiet = 0
		}
		last = arrivals
		if quiet >= quietTicks {
			s.cancel()
			return s.stopErr
		}
		select {
		case <-ctx.Done():
			s.cancel()
			return ctx.Err()
		case <-t.C:
		}
	}
}
