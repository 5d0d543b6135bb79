package plugins

// State is where a plugin Process stands.
type State int

// The states of a Process.
const (
	// StateRunning: a process is up and takes requests.
	StateRunning State = iota
	// StateRestarting: the process died and a new one is being started;
	// requests meanwhile wait for it, until their deadline.
	StateRestarting
	// StateFailed: the restart limit was hit; see Process.Err.
	StateFailed
	// StateStopped: Shutdown began. It is the last State, so that
	// code can report every state with a loop up to it.
	StateStopped
)

// String returns the state's name: "running", "restarting", "failed" or
// "stopped".
func (s State) String() string {
	switch s {
	case StateRunning:
		return "running"
	case StateRestarting:
		return "restarting"
	case StateFailed:
		return "failed"
	case StateStopped:
		return "stopped"
	}
	return "unknown"
}

// State returns where the plugin stands now.
func (p *Process) State() State {
	p.mu.Lock()
	defer p.mu.Unlock()
	switch {
	case p.closing:
		return StateStopped
	case p.failErr != nil:
		return StateFailed
	case p.cur.Load() == nil:
		return StateRestarting
	}
	return StateRunning
}

// Restarts returns how many times the plugin has been restarted after it
// died, since Start.
func (p *Process) Restarts() uint64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.started
}

// Abandoned returns, for the plugin's current process, how many requests
// the router gave up on (their context ended before their answer came,
// and the plugin was told to cancel them), and how many answers came for
// requests no longer waited for. A plugin whose handlers honour their
// context finishes every abandoned request soon after it is given up on,
// and sends its answer, which is dropped: the second count then catches
// up with the first. One that ignores it holds a goroutine, or worse, for
// each request the second count lags behind. Both are zero while the
// plugin restarts.
func (p *Process) Abandoned() (abandoned, finished uint64) {
	inst := p.cur.Load()
	if inst == nil || inst.data == nil {
		return 0, 0
	}
	return inst.data.abandonment()
}

// InFlight returns how many requests the plugin has been sent, or is
// being sent, and has not answered; at most Config.MaxInFlight.
func (p *Process) InFlight() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.inflight
}

// Waiting returns how many requests wait for room under
// Config.MaxInFlight.
func (p *Process) Waiting() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	n := 0
	for _, w := range p.waiters {
		n += w.n
	}
	return n
}

// load returns how many requests the plugin has outstanding, admitted or
// waiting, and whether a process of it runs: what a Pool balances on.
func (p *Process) load() (outstanding int, running bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	n := p.inflight
	for _, w := range p.waiters {
		n += w.n
	}
	return n, !p.closing && p.failErr == nil && p.cur.Load() != nil
}
