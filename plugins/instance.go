package plugins

import (
	"bytes"
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
	"time"

	"github.com/hashicorp/go-plugin"
	"github.com/msgrouter/router/plugins/internal/pluginpb"
)

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
	stderr  *stderrTail   // the last lines of the process's standard error
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
	inst := p.newInstance(mtls, identity, pipes)
	ok := false
	defer func() {
		if !ok {
			// It failed to start, or froze while starting: no grace.
			inst.kill(context.Background(), 0, nil)
			pipes.conn.Close()
		}
	}()
	rpc, err := inst.client.Client()
	if err != nil {
		// Once go-plugin is done with the process, its standard error
		// has been read to the end: the reason a plugin gives for
		// failing before its handshake (a missing package) is there.
		inst.kill(context.Background(), 0, nil)
		return nil, Info{}, &StartError{Plugin: p.cfg.Name, Path: p.path, Stage: "handshake", Err: err, Stderr: inst.stderr.String()}
	}
	inst.rpc = rpc
	inst.watch(p)
	ctx, cancel := context.WithTimeout(ctx, p.cfg.StartTimeout)
	defer cancel()
	desc, stage, err := p.describe(ctx, rpc)
	if err != nil {
		return fail(stage, err)
	}
	if err := p.connectData(ctx, inst, desc.DataSocket, int(desc.DataProtocol), pipes); err != nil {
		return fail("data socket", err)
	}
	info := Info{Name: desc.Name, Version: desc.Version}
	for _, h := range desc.Handlers {
		info.Handlers = append(info.Handlers, HandlerInfo{Name: h.Name, Actions: h.Actions, ContentTypes: h.ContentTypes})
	}
	ok = true
	p.log.Info("plugin started", "path", p.path, "name", info.Name, "version", info.Version,
		"pid", inst.pid(), "handlers", len(info.Handlers))
	return inst, info, nil
}

// newInstance makes the go-plugin client that runs one process of the
// plugin, with its TLS identity and data pipes (descriptors 3, 4 and 5).
func (p *Process) newInstance(mtls *hostTLS, identity *os.File, pipes *dataPipes) *instance {
	cmd := exec.Command(p.path, p.args...)
	// The protocols offered come before the configured variables, which
	// may narrow them (the last occurrence of a variable wins).
	cmd.Env = append(os.Environ(), envDataProtocols+"="+offeredProtocols)
	cmd.Env = append(cmd.Env, p.cfg.Env...)
	cmd.Env = append(cmd.Env, "PLUGIN_CLIENT_CERT="+string(mtls.certPEM), envTLSFD+"=3",
		fmt.Sprintf("%s=%d,%d", envDataFDs, childRequestsFD, childAnswersFD),
		fmt.Sprintf("%s=%d", envMaxAnswer, max(p.cfg.MaxAnswerLength, 0)))
	cmd.ExtraFiles = []*os.File{identity, pipes.child[0], pipes.child[1]}
	setProcAttr(cmd)
	tail := &stderrTail{}
	client := plugin.NewClient(&plugin.ClientConfig{
		HandshakeConfig:  Handshake,
		Plugins:          plugin.PluginSet{pluginKey: &grpcPlugin{}},
		Cmd:              cmd,
		AllowedProtocols: []plugin.Protocol{plugin.ProtocolGRPC},
		Logger:           p.plog,
		StartTimeout:     p.cfg.StartTimeout,
		TLSConfig:        mtls.config,
		Stderr:           tail,
	})
	return &instance{client: client, cmd: cmd, started: time.Now(), exited: make(chan struct{}), stderr: tail}
}

// describe asks the plugin what it serves and hands it its settings; on
// error it says at which stage.
func (p *Process) describe(ctx context.Context, rpc plugin.ClientProtocol) (*pluginpb.DescribeResponse, string, error) {
	raw, err := rpc.Dispense(pluginKey)
	if err != nil {
		return nil, "dispense", err
	}
	ctrl := raw.(pluginpb.PluginClient)
	desc, err := ctrl.Describe(ctx, &pluginpb.DescribeRequest{})
	if err != nil {
		return nil, "describe", err
	}
	if desc.DataProtocol != dataProtocolHeaders && desc.DataProtocol != dataProtocolEnvelope {
		return nil, "describe", fmt.Errorf("data protocol %d, want %d or %d", desc.DataProtocol, dataProtocolHeaders, dataProtocolEnvelope)
	}
	// Init runs before the first request even without settings, so a
	// plugin can rely on it.
	settings := p.cfg.Settings
	if settings == nil {
		settings = map[string]any{}
	}
	b, err := json.Marshal(settings)
	if err != nil {
		return nil, "settings", err
	}
	if _, err := ctrl.Init(ctx, &pluginpb.InitRequest{Config: b}); err != nil {
		return nil, "init", err
	}
	return desc, "", nil
}

// connectData connects inst's data path: the pipes, or, for a plugin
// that does not know them and named a socket, the socket.
func (p *Process) connectData(ctx context.Context, inst *instance, socket string, proto int, pipes *dataPipes) error {
	// The label names the plugin in errors that reach clients: no path
	// or pid (the log has them).
	label := strconv.Quote(p.cfg.Name)
	onFail := func(err error) { p.crashed(inst, err) }
	if socket == "" {
		inst.data = newDataClient(pipes.conn, label, proto, p.cfg.MaxAnswerLength, p.log, onFail)
		return nil
	}
	pipes.conn.Close()
	inst.socket = socket
	data, err := dialData(ctx, socket, label, proto, p.cfg.MaxAnswerLength, p.log, onFail)
	if err != nil {
		return err
	}
	inst.data = data
	return nil
}

// pid returns the process id of inst, or 0 if it has none.
func (inst *instance) pid() int {
	if inst == nil || inst.cmd == nil || inst.cmd.Process == nil {
		return 0
	}
	return inst.cmd.Process.Pid
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

// stderrTail keeps the last lines of a plugin's standard error, which
// go-plugin copies to it as it reads them, for the error of a plugin that
// fails before its handshake.
type stderrTail struct {
	mu    sync.Mutex
	lines []string
	part  []byte
}

// Limits of stderrTail: how many lines it keeps, and how long each.
const (
	tailLines   = 3
	tailLineMax = 1024
)

func (t *stderrTail) Write(p []byte) (int, error) {
	n := len(p)
	t.mu.Lock()
	defer t.mu.Unlock()
	for len(p) > 0 {
		line, rest, full := bytes.Cut(p, []byte{'\n'})
		if room := tailLineMax - len(t.part); room > 0 {
			t.part = append(t.part, line[:min(len(line), room)]...)
		}
		p = rest
		if !full {
			break
		}
		if s := strings.TrimSpace(logMessage(t.part)); s != "" {
			t.lines = append(t.lines, s)
			if len(t.lines) > tailLines {
				t.lines = t.lines[1:]
			}
		}
		t.part = t.part[:0]
	}
	return n, nil
}

// String returns the lines kept, joined by " | ".
func (t *stderrTail) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	lines := t.lines
	if s := strings.TrimSpace(logMessage(t.part)); s != "" {
		lines = append(lines[:len(lines):len(lines)], s)
	}
	return strings.Join(lines, " | ")
}

// logMessage returns the message of an hclog JSON line, or the line.
func logMessage(line []byte) string {
	var entry struct {
		Message string `json:"@message"`
	}
	if json.Unmarshal(line, &entry) == nil && entry.Message != "" {
		return entry.Message
	}
	return string(line)
}
