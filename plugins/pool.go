package plugins

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strconv"
	"sync"

	"github.com/msgrouter/router/core"
)

// envInstance names the variable that tells a process of a pool which
// instance it is: 0 to Instances-1.
const envInstance = "ROUTER_PLUGIN_INSTANCE"

// Pool is a plugin run as several processes of the same executable, the
// instances: each supervised on its own (restarted when it dies, health
// checked) as a Process is. A request goes to the better of two
// instances picked at random: the one with fewer requests outstanding,
// among those running; so a slow instance gets less, and one that is
// down gets none while another runs. When an instance dies, only the
// requests it held fail. A Pool of one instance is a Process. It is safe
// for concurrent use.
type Pool struct {
	name  string
	procs []*Process
}

// StartPool starts n instances of the plugin cfg describes (n < 1 means
// 1), together. Each is named NAME#I in logs, errors and metrics when
// n > 1, and has ROUTER_PLUGIN_INSTANCE=I in its environment. If any
// fails to start, the others are stopped and its error returned.
func StartPool(ctx context.Context, cfg Config, n int) (*Pool, error) {
	n = max(n, 1)
	pl := &Pool{name: cfg.Name, procs: make([]*Process, n)}
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		c := cfg
		if n > 1 {
			c.Name = fmt.Sprintf("%s#%d", cfg.Name, i)
			c.Env = append(append([]string(nil), cfg.Env...), envInstance+"="+strconv.Itoa(i))
		}
		wg.Go(func() { pl.procs[i], errs[i] = Start(ctx, c) })
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		pl.Shutdown(context.Background())
		return nil, err
	}
	return pl, nil
}

// Processes returns the pool's instances, in order.
func (pl *Pool) Processes() []*Process { return pl.procs }

// Info returns what the plugin declared when its first instance started.
func (pl *Pool) Info() Info { return pl.procs[0].Info() }

// Err returns the error of the first instance that no longer serves
// (see Process.Err): failed at its restart limit, or stopped; nil while
// every instance runs or restarts. The others may still serve: a router
// starts the whole pool afresh at its next reload.
func (pl *Pool) Err() error {
	for _, p := range pl.procs {
		if err := p.Err(); err != nil {
			return err
		}
	}
	return nil
}

// Handler returns the core.Handler (also a core.BatchHandler) that sends
// requests to the plugin's handler name, on the instance that pick
// chooses for each.
func (pl *Pool) Handler(name string) (core.Handler, error) {
	if len(pl.procs) == 1 {
		return pl.procs[0].Handler(name)
	}
	hs := make([]*remoteHandler, len(pl.procs))
	for i, p := range pl.procs {
		h, err := p.Handler(name)
		if err != nil {
			return nil, err
		}
		hs[i] = h.(*remoteHandler)
	}
	return &poolHandler{pool: pl, hs: hs}, nil
}

// Shutdown stops every instance, together; see Process.Shutdown.
func (pl *Pool) Shutdown(ctx context.Context) error {
	errs := make([]error, len(pl.procs))
	var wg sync.WaitGroup
	for i, p := range pl.procs {
		if p != nil {
			wg.Go(func() { errs[i] = p.Shutdown(ctx) })
		}
	}
	wg.Wait()
	return errors.Join(errs...)
}

// pick returns the index of the instance for the next request: of two
// picked at random, the running one with fewer requests outstanding
// (admitted and waiting).
func (pl *Pool) pick() int {
	n := len(pl.procs)
	a := rand.IntN(n)
	b := rand.IntN(n - 1)
	if b >= a {
		b++
	}
	la, oka := pl.procs[a].load()
	lb, okb := pl.procs[b].load()
	switch {
	case oka && !okb:
		return a
	case okb && !oka:
		return b
	case lb < la:
		return b
	}
	return a
}

// poolHandler is a handler of a Pool: each request, or batch, goes to
// the instance pick chooses.
type poolHandler struct {
	pool *Pool
	hs   []*remoteHandler
}

var _ core.BatchHandler = (*poolHandler)(nil)

func (h *poolHandler) Handle(ctx context.Context, req *core.Message) (*core.Message, error) {
	return h.hs[h.pool.pick()].Handle(ctx, req)
}

func (h *poolHandler) HandleBatch(ctx context.Context, reqs, answers []*core.Message, errs []error) {
	h.hs[h.pool.pick()].HandleBatch(ctx, reqs, answers, errs)
}
