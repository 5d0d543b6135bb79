package plugins

import (
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/msgrouter/router/core"
)

// panicLogEvery is how often a handler's panic is logged with its stack
// trace at most: a request that makes a handler panic may be sent again
// and again, and a stack trace each time would flood the log.
const panicLogEvery = time.Second

// panicLog logs a handler's panics, each handler's at most once per
// panicLogEvery, with the count of those not logged since its last line.
type panicLog struct {
	log hclog.Logger

	mu   sync.Mutex
	last map[string]time.Time // by handler: when a panic was last logged
	skip map[string]int       // by handler: panics not logged since
}

func newPanicLog(log hclog.Logger) *panicLog {
	return &panicLog{log: log, last: make(map[string]time.Time), skip: make(map[string]int)}
}

// record logs the panic of handler, with its stack, unless one of
// handler's was logged within panicLogEvery.
func (p *panicLog) record(handler string, pe *core.PanicError) {
	now := time.Now()
	p.mu.Lock()
	if t, ok := p.last[handler]; ok && now.Sub(t) < panicLogEvery {
		p.skip[handler]++
		p.mu.Unlock()
		return
	}
	skipped := p.skip[handler]
	p.last[handler] = now
	p.skip[handler] = 0
	p.mu.Unlock()
	p.log.Error("handler panicked", "handler", handler, "panic", pe.Value,
		"panics_not_logged", skipped, "stack", string(pe.Stack))
}
