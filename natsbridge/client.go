package natsbridge

import (
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/msgrouter/router/core"
)

// Client sends requests over one NATS connection and matches the answers
// that come back to them: one subscription to a reply prefix of its own
// serves every request of its Handlers. Make one per connection with
// NewClient, its Handlers with Client.Handler, and Close it once they are
// no longer used.
type Client struct {
	nc     *nats.Conn
	prefix string // reply subjects are prefix + id

	setup    sync.Once
	setupErr error
	sub      *nats.Subscription

	mu     sync.Mutex
	out    map[uint64]*outMsg // messages awaiting their answers, by id
	nextID uint64
	closed bool
}

// NewClient returns a Client over nc. The caller owns nc.
func NewClient(nc *nats.Conn) *Client {
	return &Client{nc: nc, prefix: nc.NewInbox() + ".", out: make(map[uint64]*outMsg)}
}

// Close unsubscribes the Client's replies; a request outstanding gets
// ErrDisconnected at once.
func (c *Client) Close() error {
	c.mu.Lock()
	c.closed = true
	out := c.out
	c.out = make(map[uint64]*outMsg)
	c.mu.Unlock()
	for _, m := range out {
		m.failAll(fmt.Errorf("%w: the client was closed", ErrDisconnected))
	}
	if c.sub != nil {
		return c.sub.Unsubscribe()
	}
	return nil
}

// subscribe subscribes the reply prefix, once.
func (c *Client) subscribe() error {
	c.setup.Do(func() {
		c.sub, c.setupErr = c.nc.Subscribe(c.prefix+"*", c.onReply)
		if c.setupErr == nil {
			// Replies may come in bursts; their number is bounded by the
			// requests outstanding, so do not drop them.
			c.setupErr = c.sub.SetPendingLimits(-1, 256<<20)
		}
	})
	return c.setupErr
}

// outMsg is one NATS message sent, single or batch, and its requests.
type outMsg struct {
	c       *Client
	h       *Handler
	id      uint64
	calls   []*call
	left    int // requests not yet settled
	latest  time.Time
	timer   *time.Timer
	settled bool // every request settled; released from the window
}

// call is one request and, once settled, its answer or error.
type call struct {
	req      *core.Message
	deadline time.Time
	frame    []byte // the request's frame, for a batch; nil until encoded
	done     chan struct{}
	ans      *core.Message
	err      error
	settled  bool // under the Client's mu
}

func newCall(req *core.Message, deadline time.Time) *call {
	return &call{req: req, deadline: deadline, done: make(chan struct{})}
}

// register makes a message of calls outstanding, and returns it; nil if
// the Client is closed.
func (c *Client) register(h *Handler, calls []*call) *outMsg {
	m := &outMsg{c: c, h: h, calls: calls, left: len(calls)}
	for _, k := range calls {
		if k.deadline.After(m.latest) {
			m.latest = k.deadline
		}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return nil
	}
	c.nextID++
	m.id = c.nextID
	c.out[m.id] = m
	// A message whose answers never come (its worker died) is given up
	// a moment after its latest deadline: its callers have had their
	// timeouts by then.
	m.timer = time.AfterFunc(time.Until(m.latest)+time.Second, m.expire)
	return m
}

// reply returns the reply subject of m.
func (m *outMsg) reply() string { return m.c.prefix + strconv.FormatUint(m.id, 10) }

// onReply delivers an answer message to the requests it answers.
func (c *Client) onReply(msg *nats.Msg) {
	id, err := strconv.ParseUint(msg.Subject[strings.LastIndexByte(msg.Subject, '.')+1:], 10, 64)
	if err != nil {
		return
	}
	c.mu.Lock()
	m := c.out[id]
	c.mu.Unlock()
	if m == nil {
		return // late: given up on
	}
	subject := m.h.subject
	if msg.Header.Get("Status") == "503" && len(msg.Data) == 0 {
		m.failAll(fmt.Errorf("%w for %s", ErrNoWorkers, subject))
		return
	}
	n, first, err := batchHeader(msg.Header)
	switch {
	case err != nil:
		m.failAll(fmt.Errorf("answer from %s: %w", subject, err))
	case n == 0 && len(m.calls) == 1:
		ans, err := m.h.answer(msg)
		m.settle(0, ans, err)
	case n == 0 || first+n > len(m.calls):
		m.failAll(fmt.Errorf("answer from %s: %w", subject, errNoReply))
	default:
		items, err := decodeFrames(msg.Data, n)
		for i := range n {
			if err != nil {
				m.settle(first+i, nil, fmt.Errorf("answer from %s: %w", subject, err))
				continue
			}
			ans, ierr := itemResult(subject, items[i])
			m.settle(first+i, ans, ierr)
		}
	}
}

// settle gives request i of m its answer or error, unless it has one.
func (m *outMsg) settle(i int, ans *core.Message, err error) {
	m.c.mu.Lock()
	k := m.calls[i]
	if k.settled {
		m.c.mu.Unlock()
		return
	}
	k.settled, k.ans, k.err = true, ans, err
	close(k.done)
	m.left--
	done := m.left == 0
	if done {
		m.releaseLocked()
	}
	m.c.mu.Unlock()
	if done {
		m.h.released()
	}
}

// failAll settles every request of m not yet settled with err.
func (m *outMsg) failAll(err error) {
	for i := range m.calls {
		m.settle(i, nil, err)
	}
}

// releaseLocked takes m out of the outstanding messages.
func (m *outMsg) releaseLocked() {
	if m.settled {
		return
	}
	m.settled = true
	m.timer.Stop()
	if m.c.out[m.id] == m {
		delete(m.c.out, m.id)
	}
}

// expire gives up on m, whose answers did not come.
func (m *outMsg) expire() {
	m.failAll(fmt.Errorf("%w: nats request to %s: no answer by the deadline", core.ErrHandlerTimeout, m.h.subject))
}
