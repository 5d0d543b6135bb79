package plugins

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/go-plugin"

	"github.com/msgrouter/router/core"
	"github.com/msgrouter/router/plugins/internal/pluginpb"
)

// BuiltinPrefix marks a Cmd that names a handler built into the router:
// "builtin:search" runs the router executable as "router plugin search".
const BuiltinPrefix = "builtin:"

// Defaults applied by a Config whose fields are zero.
const (
	DefaultStartTimeout   = 10 * time.Second
	DefaultHealthInterval = 10 * time.Second
	DefaultHealthTimeout  = 5 * time.Second
	DefaultMaxRestarts    = 5
	DefaultBackoff        = 100 * time.Millisecond
	DefaultMaxBackoff     = 5 * time.Second
	DefaultResetAfter     = time.Minute
	DefaultCooldown       = time.Minute
	DefaultMaxInFlight    = 1024
)

// Config says how to run one plugin. The zero value of every field but
// Name and Cmd works.
type Config struct {
	// Name is the plugin's name in the router's config; logs and errors
	// use it.
	Name string
	// Cmd is the plugin executable's path, or "builtin:NAME".
	Cmd string
	// Args are extra arguments for the executable.
	Args []string
	// Env holds extra KEY=VALUE environment variables for the plugin.
	Env []string
	// Settings are handed to the plugin's Init as a JSON object.
	Settings map[string]any
	// Logger receives the host's logs and the plugin's, under the
	// plugin's name. Nil means silent.
	Logger hclog.Logger
	// StartTimeout bounds starting the plugin. Zero means
	// DefaultStartTimeout.
	StartTimeout time.Duration
	// HealthInterval is the time between health checks. Zero means
	// DefaultHealthInterval; negative means none.
	HealthInterval time.Duration
	// HealthTimeout bounds one health check; a plugin that does not
	// answer in time (frozen, deadlocked) is restarted. Zero means
	// DefaultHealthTimeout.
	HealthTimeout time.Duration
	// Restart is what happens when the plugin dies.
	Restart RestartPolicy
	// Executable is the router executable that "builtin:" names run.
	// Empty means this process's executable (os.Executable).
	Executable string
	// LogLimits bounds the plugin's log lines that the router re-emits
	// (the plugin's standard error): how many a second, and how long
	// one may be. The zero value applies the defaults (see LogLimits).
	LogLimits LogLimits
	// MaxInFlight bounds the requests sent to the plugin and not yet
	// answered: more wait, in the order they came, until one of those
	// ends or their deadline passes (ErrBusy). This is the plugin's
	// backpressure; a plugin that is slow but alive is never killed for
	// it. Zero means DefaultMaxInFlight; negative means no limit.
	MaxInFlight int
	// MaxAnswerLength bounds the content-length of the plugin's answers,
	// as core.Decoder's MaxContentLength does: zero means
	// core.DefaultMaxContentLength, negative means no limit. The plugin
	// is told the limit when it starts, and a plugin built with this
	// package answers ErrAnswerTooLarge for that request instead of a
	// larger answer. A plugin that sends one anyway breaks the data
	// protocol: its data connection fails (its requests in flight are
	// answered ErrExited, saying so) and it is restarted, since the
	// router never buffers more than the limit.
	MaxAnswerLength int64
}

// RestartPolicy says how a dead plugin is restarted: after Backoff, then
// twice as long each time up to MaxBackoff, at most MaxRestarts times in a
// row. A plugin that has stayed up for ResetAfter starts the count anew.
type RestartPolicy struct {
	// MaxRestarts is the limit; zero means DefaultMaxRestarts and
	// negative means never restart.
	MaxRestarts int
	// Backoff is the first delay; zero means DefaultBackoff.
	Backoff time.Duration
	// MaxBackoff caps the delay; zero means DefaultMaxBackoff.
	MaxBackoff time.Duration
	// ResetAfter is the time up that resets the count; zero means
	// DefaultResetAfter.
	ResetAfter time.Duration
	// Cooldown is how long a plugin that hit MaxRestarts stays failed
	// before it is started again, its count anew; zero means
	// DefaultCooldown and negative means it stays failed until a reload.
	// A plugin that is never restarted (MaxRestarts negative) stays
	// failed too.
	Cooldown time.Duration
}

// Info is what a plugin declared at start.
type Info struct {
	Name     string
	Version  string
	Handlers []HandlerInfo
}

// HandlerInfo is one declared handler.
type HandlerInfo struct {
	Name         string
	Actions      []string
	ContentTypes []string
}

// Process is a running plugin, as the router sees it. Its Handler method
// gives the core.Handler for each of the plugin's handlers. It is safe for
// concurrent use.
type Process struct {
	cfg  Config
	path string
	args []string
	log  hclog.Logger
	plog *limitedLogger // log within cfg.LogLimits, for go-plugin's re-emitted lines
	cur  atomic.Pointer[instance]

	mu       sync.Mutex
	info     Info
	closing  bool
	failErr  error         // set once the restart limit is hit
	restarts int           // deaths in a row, for the restart limit
	started  uint64        // restarts begun since Start, for metrics
	inflight int           // requests admitted (see admit.go)
	waiters  []*slotWait   // requests waiting for room under MaxInFlight, in order
	idle     *sync.Cond    // signalled when inflight drops to 0
	changed  chan struct{} // closed, and replaced, when cur, failErr or closing change
	stop     chan struct{}
	bg       sync.WaitGroup // kills and restarts running in the background
}

// instance is one process of a plugin: it is replaced on restart.
type instance struct {
	client  *plugin.Client
	cmd     *exec.Cmd // the process, once client has started it
	rpc     plugin.ClientProtocol
	data    *dataClient
	socket  string
	started time.Time
	exited  chan struct{} // closed when the process is seen to exit (see watch)
	unwatch func()        // stops the watch; nil if there is none
}

// watch has p told as soon as inst's process exits, not only when its
// data path ends: a process it started may hold the pipes. A system that
// cannot watch leaves it to the data path.
func (inst *instance) watch(p *Process) {
	if inst.cmd.Process == nil {
		return
	}
	stop, err := watchExit(inst.cmd.Process.Pid, func() {
		close(inst.exited)
		p.crashed(inst, errProcessExited)
	})
	if err != nil {
		p.log.Debug("cannot watch the plugin process; its data path tells when it exits", "error", err)
		return
	}
	inst.unwatch = stop
}

// alive reports whether inst's process, just made current, still runs:
// one that died meanwhile was not restarted, since it was not current.
func (inst *instance) alive() error {
	select {
	case <-inst.exited:
		return errProcessExited
	default:
	}
	return inst.data.lost()
}

// errProcessExited is the cause of a plugin's death seen from its process,
// or from the end of its data path.
var errProcessExited = errors.New("the process died or was killed")

// Start launches the plugin cfg describes, checks its handshake and
// health, learns its handlers, hands it its settings, and connects its
// data path.
func Start(ctx context.Context, cfg Config) (*Process, error) {
	p := &Process{cfg: cfg, stop: make(chan struct{}), changed: make(chan struct{})}
	p.idle = sync.NewCond(&p.mu)
	if cfg.Logger == nil {
		p.log = hclog.NewNullLogger()
	} else {
		p.log = cfg.Logger.Named(cfg.Name)
	}
	if cfg.Name == "" {
		return nil, &StartError{Stage: "config", Err: errors.New("Config.Name is empty")}
	}
	path, args, err := resolveCmd(cfg)
	if err != nil {
		return nil, err
	}
	p.path, p.args = path, args
	p.plog = newLogLimiter(p.log, cfg.LogLimits)
	inst, info, err := p.launch(ctx)
	if err != nil {
		p.plog.Close() // reports what it dropped
		return nil, err
	}
	p.info = info
	p.cur.Store(inst)
	if err := inst.alive(); err != nil {
		p.crashed(inst, err) // it died between its start and now
	}
	if iv := orDuration(cfg.HealthInterval, DefaultHealthInterval); iv > 0 {
		go p.healthLoop(iv)
	}
	return p, nil
}

func orDuration(v, def time.Duration) time.Duration {
	switch {
	case v == 0:
		return def
	case v < 0:
		return 0
	}
	return v
}

// resolveCmd turns Cmd into an executable path and its arguments, and
// checks that the executable exists and can be run.
func resolveCmd(cfg Config) (string, []string, error) {
	path, args := cfg.Cmd, cfg.Args
	if name, ok := strings.CutPrefix(cfg.Cmd, BuiltinPrefix); ok {
		path = cfg.Executable
		if path == "" {
			exe, err := os.Executable()
			if err != nil {
				return "", nil, &StartError{Plugin: cfg.Name, Path: cfg.Cmd, Stage: "cannot find the router executable", Err: err}
			}
			path = exe
		}
		args = append([]string{"plugin", name}, cfg.Args...)
	}
	if path == "" {
		return "", nil, &StartError{Plugin: cfg.Name, Stage: "config", Err: errors.New("no cmd")}
	}
	lp, err := exec.LookPath(path)
	if err != nil {
		return "", nil, &StartError{Plugin: cfg.Name, Path: path, Err: err}
	}
	return lp, args, nil
}

// launch starts one process of the plugin.
func (p *Process) launch(ctx context.Context) (*instance, Info, error) {
	fail := func(what string, err error) (*instance, Info, error) {
		return nil, Info{}, &StartError{Plugin: p.cfg.Name, Path: p.path, Stage: what, Err: err}
	}
	// Mutual TLS on the control channel, with certificates made for this
	// process (see mtls.go).
	mtls, err := newHostTLS()
	if err != nil {
		return fail("tls", err)
	}
	identity, err := mtls.pipe()
	if err != nil {
		return fail("tls", err)
	}
	defer identity.Close() // the child has its own copy once started
	pipes, err := newDataPipes()
	if err != nil {
		return fail("data pipes", err)
	}
	defer pipes.closeChild() // likewise; the router then sees the plugin's end
	cmd := exec.Command(p.path, p.args...)
	cmd.Env = append(os.Environ(), p.cfg.Env...)
	cmd.Env = append(cmd.Env, "PLUGIN_CLIENT_CERT="+string(mtls.certPEM), envTLSFD+"=3",
		fmt.Sprintf("%s=%d,%d", envDataFDs, childRequestsFD, childAnswersFD),
		fmt.Sprintf("%s=%d", envMaxAnswer, p.maxAnswer()))
	// Descriptors 3, childRequestsFD and childAnswersFD in the child.
	cmd.ExtraFiles = []*os.File{identity, pipes.child[0], pipes.child[1]}
	setProcAttr(cmd)
	client := plugin.NewClient(&plugin.ClientConfig{
		HandshakeConfig:  Handshake,
		Plugins:          plugin.PluginSet{pluginKey: &grpcPlugin{}},
		Cmd:              cmd,
		AllowedProtocols: []plugin.Protocol{plugin.ProtocolGRPC},
		Logger:           p.plog,
		StartTimeout:     orDuration(p.cfg.StartTimeout, DefaultStartTimeout),
		TLSConfig:        mtls.config,
	})
	inst := &instance{client: client, cmd: cmd, started: time.Now(), exited: make(chan struct{})}
	ok := false
	defer func() {
		if !ok {
			// It failed to start, or froze while starting: no grace.
			inst.kill(context.Background(), 0, nil)
			pipes.conn.Close()
		}
	}()
	rpc, err := client.Client()
	if err != nil {
		return fail("handshake", err)
	}
	inst.rpc = rpc
	inst.watch(p)
	raw, err := rpc.Dispense(pluginKey)
	if err != nil {
		return fail("dispense", err)
	}
	ctrl := raw.(pluginpb.PluginClient)
	ctx, cancel := context.WithTimeout(ctx, orDuration(p.cfg.StartTimeout, DefaultStartTimeout))
	defer cancel()
	desc, err := ctrl.Describe(ctx, &pluginpb.DescribeRequest{})
	if err != nil {
		return fail("describe", err)
	}
	if desc.DataProtocol != dataProtocol {
		return fail("describe", fmt.Errorf("data protocol %d, want %d", desc.DataProtocol, dataProtocol))
	}
	// Init runs before the first request even without settings, so a
	// plugin can rely on it.
	settings := p.cfg.Settings
	if settings == nil {
		settings = map[string]any{}
	}
	b, err := json.Marshal(settings)
	if err != nil {
		return fail("settings", err)
	}
	if _, err := ctrl.Init(ctx, &pluginpb.InitRequest{Config: b}); err != nil {
		return fail("init", err)
	}
	info := Info{Name: desc.Name, Version: desc.Version}
	for _, h := range desc.Handlers {
		info.Handlers = append(info.Handlers, HandlerInfo{Name: h.Name, Actions: h.Actions, ContentTypes: h.ContentTypes})
	}
	// The label names the plugin in errors that reach clients: no path
	// or pid (the log has them).
	label := strconv.Quote(p.cfg.Name)
	onFail := func(err error) { p.crashed(inst, err) }
	if desc.DataSocket == "" {
		// The plugin serves the data pipes.
		inst.data = newDataClient(pipes.conn, label, p.cfg.MaxAnswerLength, p.log, onFail)
	} else {
		// A plugin that does not know the pipes listens on a socket.
		pipes.conn.Close()
		inst.socket = desc.DataSocket
		data, err := dialData(ctx, desc.DataSocket, label, p.cfg.MaxAnswerLength, p.log, onFail)
		if err != nil {
			return fail("data socket", err)
		}
		inst.data = data
	}
	ok = true
	p.log.Info("plugin started", "path", p.path, "name", info.Name, "version", info.Version,
		"pid", client.ReattachConfig().Pid, "handlers", len(info.Handlers))
	return inst, info, nil
}

// maxAnswer is the limit of the plugin's answers' content-length, as its
// data path applies it: 0 for none.
func (p *Process) maxAnswer() int64 {
	switch n := p.cfg.MaxAnswerLength; {
	case n == 0:
		return core.DefaultMaxContentLength
	case n < 0:
		return 0
	default:
		return n
	}
}

// Info returns what the plugin declared when it started.
func (p *Process) Info() Info {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.info
}

// Err returns why the plugin no longer serves: ErrStopped after
// Shutdown, an ErrFailed error once it has hit its restart limit, or nil
// while it runs or is being restarted; as State and its requests say. A
// router's reload replaces a failed plugin.
func (p *Process) Err() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	switch {
	case p.closing:
		return fmt.Errorf("%w: %q", ErrStopped, p.cfg.Name)
	case p.failErr != nil:
		return p.failErr
	}
	return nil
}

// Name returns the plugin's name from its Config.
func (p *Process) Name() string { return p.cfg.Name }

// Handler returns the core.Handler (also a core.BatchHandler) that sends
// requests to the plugin's handler name.
func (p *Process) Handler(name string) (core.Handler, error) {
	for _, h := range p.Info().Handlers {
		if h.Name == name {
			return &remoteHandler{p: p, name: name, nameJSON: core.AppendString(nil, name)}, nil
		}
	}
	return nil, fmt.Errorf("%w: plugin %q (%s) has no handler %q", ErrNoHandler, p.cfg.Name, p.path, name)
}

// changedLocked wakes the requests that wait in enter.
func (p *Process) changedLocked() {
	close(p.changed)
	p.changed = make(chan struct{})
}

// crashed handles the death of inst: its requests in flight have been
// answered with ErrExited by its data client. The plugin is restarted
// after a backoff, unless it has hit its restart limit.
func (p *Process) crashed(inst *instance, cause error) {
	p.mu.Lock()
	if p.closing || !p.cur.CompareAndSwap(inst, nil) {
		p.mu.Unlock()
		return
	}
	pol := p.cfg.Restart
	if inst != nil && time.Since(inst.started) >= orDuration(pol.ResetAfter, DefaultResetAfter) {
		p.restarts = 0
	}
	p.restarts++
	max := pol.MaxRestarts
	if max == 0 {
		max = DefaultMaxRestarts
	}
	if max < 0 || p.restarts > max {
		cool := orDuration(pol.Cooldown, DefaultCooldown)
		if max < 0 {
			cool = 0
		}
		p.failErr = fmt.Errorf("%w: %q died %d times in a row; last: %w", ErrFailed, p.cfg.Name, p.restarts, publicCause(cause))
		p.changedLocked()
		if cool > 0 {
			p.log.Error("plugin failed; starting it again after a cool-down", "error", cause, "restarts", p.restarts-1, "pid", inst.pid(), "cooldown", cool)
			p.background(func() { p.recoverAfter(cool) })
		} else {
			p.log.Error("plugin failed; not restarting", "error", cause, "restarts", p.restarts-1, "pid", inst.pid())
		}
		p.background(func() { inst.kill(context.Background(), 0, cause) })
		p.mu.Unlock()
		return
	}
	delay := orDuration(pol.Backoff, DefaultBackoff) << (p.restarts - 1)
	if mb := orDuration(pol.MaxBackoff, DefaultMaxBackoff); delay > mb || delay <= 0 {
		delay = mb
	}
	p.started++
	p.log.Warn("plugin died; restarting", "error", cause, "pid", inst.pid(), "attempt", p.restarts, "delay", delay)
	p.background(func() { inst.kill(context.Background(), 0, cause) })
	p.background(func() { p.restartAfter(delay) })
	p.mu.Unlock()
}

// background runs f in a goroutine that Shutdown waits for. It is called
// with p.mu held and before Shutdown has begun.
func (p *Process) background(f func()) {
	p.bg.Add(1)
	go func() {
		defer p.bg.Done()
		f()
	}()
}

// recoverAfter starts the plugin again once it has been failed for
// cool, with its restart count anew.
func (p *Process) recoverAfter(cool time.Duration) {
	t := time.NewTimer(cool)
	defer t.Stop()
	select {
	case <-t.C:
	case <-p.stop:
		return
	}
	p.mu.Lock()
	if p.closing || p.failErr == nil {
		p.mu.Unlock()
		return
	}
	p.failErr = nil
	p.restarts = 0
	p.started++
	p.changedLocked() // requests now wait for the new process
	p.mu.Unlock()
	p.log.Warn("plugin failed a cool-down ago; starting it again", "cooldown", cool)
	p.restartAfter(0)
}

// publicCause is cause, the last death of a failed plugin, with a text
// fit for an error answer: a start's error names the executable and its
// owner, which the log has.
func publicCause(cause error) error {
	if se, ok := errors.AsType[*StartError](cause); ok {
		if se.Stage == "" {
			return ErrStart
		}
		return fmt.Errorf("%w: %s", ErrStart, se.Stage)
	}
	return cause
}

// pid returns the process id of inst, or 0 if it has none.
func (inst *instance) pid() int {
	if inst == nil || inst.cmd == nil || inst.cmd.Process == nil {
		return 0
	}
	return inst.cmd.Process.Pid
}

func (p *Process) restartAfter(delay time.Duration) {
	select {
	case <-time.After(delay):
	case <-p.stop:
		return
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		select {
		case <-p.stop: // Shutdown does not wait for a whole start
			cancel()
		case <-ctx.Done():
		}
	}()
	inst, info, err := p.launch(ctx)
	if err != nil {
		p.crashed(nil, err)
		return
	}
	p.mu.Lock()
	if p.closing {
		p.mu.Unlock()
		inst.kill(context.Background(), stopGrace, nil)
		return
	}
	p.info = info
	p.cur.Store(inst)
	p.changedLocked()
	p.mu.Unlock()
	if err := inst.alive(); err != nil {
		p.crashed(inst, err) // it died between its start and now
		return
	}
	p.log.Info("plugin restarted")
}

func (p *Process) healthLoop(every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-p.stop:
			return
		case <-t.C:
		}
		inst := p.cur.Load()
		if inst == nil {
			continue
		}
		// go-plugin's Ping takes no deadline: a frozen plugin would hang
		// it, so it runs aside and is given a limit.
		pinged := make(chan error, 1)
		go func() { pinged <- inst.rpc.Ping() }()
		select {
		case err := <-pinged:
			if err != nil {
				p.crashed(inst, fmt.Errorf("health check: %w", err))
			}
		case <-time.After(orDuration(p.cfg.HealthTimeout, DefaultHealthTimeout)):
			p.crashed(inst, fmt.Errorf("health check: no answer in %s", orDuration(p.cfg.HealthTimeout, DefaultHealthTimeout)))
		case <-p.stop:
			return
		}
	}
}

// Shutdown stops the plugin: new requests are refused, the requests in
// flight are answered, then the process is asked to stop, and killed if
// it has not within stopGrace (or by the end of ctx, if that comes
// first). If ctx ends first, ctx's error is returned.
func (p *Process) Shutdown(ctx context.Context) error {
	p.mu.Lock()
	if p.closing {
		p.mu.Unlock()
		return nil
	}
	p.closing = true
	p.changedLocked()
	close(p.stop)
	drained := make(chan struct{})
	go func() {
		p.mu.Lock()
		for p.inflight > 0 {
			p.idle.Wait()
		}
		p.mu.Unlock()
		close(drained)
	}()
	p.mu.Unlock()
	var err error
	select {
	case <-drained:
	case <-ctx.Done():
		err = ctx.Err()
	}
	if inst := p.cur.Swap(nil); inst != nil {
		grace := stopGrace
		if err != nil {
			grace = 0
		}
		if inst.kill(ctx, grace, nil) && err == nil {
			err = ctx.Err() // it had to be killed at the end of ctx
		}
	}
	// What runs in the background (a restart, the kill of a crashed
	// process) ends soon: each kill is bounded, a start by StartTimeout.
	bg := make(chan struct{})
	go func() {
		p.bg.Wait()
		close(bg)
	}()
	select {
	case <-bg:
	case <-ctx.Done():
		if err == nil {
			err = ctx.Err()
		}
	}
	p.plog.Close()
	p.log.Debug("plugin stopped")
	return err
}

// stopGrace is how long a plugin asked to stop has before it is killed:
// go-plugin's own wait (2s) after its Shutdown call, and a little more.
const stopGrace = 3 * time.Second

// kill stops the process and its data connection: through go-plugin's
// graceful stop, but a process still there after grace, or when ctx
// ends (at once, for grace <= 0), is killed outright; it reports whether
// ctx's end did that. go-plugin's stop alone never returns for a process
// that does not answer, frozen or deadlocked: its Shutdown call to the
// process has no deadline but the process's exit. The requests in
// flight get ErrExited with cause: why the process is killed, if it died
// or failed; nil when the router stops it.
func (inst *instance) kill(ctx context.Context, grace time.Duration, cause error) (byCtx bool) {
	if inst == nil {
		return false
	}
	if inst.data != nil {
		inst.data.close(cause)
	}
	if grace <= 0 {
		inst.killProcess()
	}
	stopped := make(chan struct{})
	go func() {
		inst.client.Kill()
		close(stopped)
	}()
	if grace > 0 {
		t := time.NewTimer(grace)
		select {
		case <-stopped:
		case <-inst.exited:
			// What the plugin started may still hold its output, which
			// go-plugin reads to the end before it is done.
			inst.killProcess()
		case <-t.C:
			inst.killProcess()
		case <-ctx.Done():
			inst.killProcess()
			byCtx = true
		}
		t.Stop()
	}
	<-stopped // prompt once the process is gone: go-plugin sees it exit
	// Whatever the plugin started and left behind goes with it.
	inst.killProcess()
	if inst.unwatch != nil {
		inst.unwatch()
	}
	if inst.socket != "" {
		// The plugin removes its socket once connected; this covers a
		// plugin killed before that. Nothing but the socket and its
		// then empty directory is removed.
		os.Remove(inst.socket)
		os.Remove(filepath.Dir(inst.socket))
	}
	return byCtx
}

// killProcess sends the process and its process group SIGKILL, if it
// was started. os.Process never signals a process already waited for, so
// a recycled pid is safe; the group's id names the plugin's group while
// any process of it lives, and no other group then.
func (inst *instance) killProcess() {
	if inst.cmd != nil && inst.cmd.Process != nil {
		inst.cmd.Process.Kill()
		killGroup(inst.cmd.Process.Pid)
	}
}

// remoteHandler is the core.Handler for one handler of a plugin.
type remoteHandler struct {
	p        *Process
	name     string
	nameJSON []byte
}

var _ core.BatchHandler = (*remoteHandler)(nil)

func (h *remoteHandler) Handle(ctx context.Context, req *core.Message) (*core.Message, error) {
	var ans [1]*core.Message
	var errs [1]error
	h.HandleBatch(ctx, []*core.Message{req}, ans[:], errs[:])
	return ans[0], errs[0]
}

func (h *remoteHandler) HandleBatch(ctx context.Context, reqs, answers []*core.Message, errs []error) {
	inst, err := h.p.enter(ctx, len(reqs))
	if err != nil {
		for i := range errs {
			errs[i] = err
		}
		return
	}
	defer h.p.leave(len(reqs))
	inst.data.do(ctx, h, reqs, answers, errs)
}
