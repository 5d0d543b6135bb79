package plugins

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"slices"
	"sort"
	"strconv"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/go-plugin"
	"google.golang.org/grpc"

	"github.com/msgrouter/router/core"
	"github.com/msgrouter/router/plugins/internal/pluginpb"
)

// Handlers maps handler names to handlers. Each handler serves the JSON
// action of its name.
type Handlers map[string]core.Handler

// HandlerSpec is one handler of a Plugin and what it serves.
type HandlerSpec struct {
	// Name identifies the handler; routes name it as plugin.handler.
	Name string
	// Actions are the JSON actions the handler serves. Nil means
	// []string{Name}; an empty non-nil slice means none.
	Actions []string
	// ContentTypes are the content-types the handler serves, exact or
	// glob (see core.Route).
	ContentTypes []string
	// Handler answers the requests.
	Handler core.Handler
}

// Plugin describes a plugin process: its name, version and handlers.
type Plugin struct {
	// Name of the plugin. Empty means the executable's base name.
	Name string
	// Version of the plugin. Empty means the main module's version from
	// the build info.
	Version string
	// Handlers the plugin serves.
	Handlers []HandlerSpec
	// Init, if set, receives the plugin's settings from the router's
	// config (a JSON object decoded into a map) before any request.
	Init func(ctx context.Context, config map[string]any) error
}

// Initializer is an optional interface of a handler: Init receives the
// plugin's settings from the router's config before any request. An
// error stops the plugin from starting.
type Initializer interface {
	Init(ctx context.Context, config map[string]any) error
}

// stderr is the process's standard error as it was before go-plugin's
// Serve replaced os.Stderr with a pipe of its own: the router reads
// hclog JSON from this one and re-emits it under the plugin's name.
var stderr = os.Stderr

// Logger returns the logger a plugin should use: hclog JSON on stderr,
// which the router re-emits under the plugin's name. It may be called at
// any time, before or after Serve.
func Logger() hclog.Logger {
	return hclog.New(&hclog.LoggerOptions{
		Level:      hclog.Trace,
		Output:     stderr,
		JSONFormat: true,
	})
}

// Serve serves handlers as a plugin process; see ServePlugin. It does not
// return.
func Serve(handlers Handlers) {
	p := &Plugin{}
	names := make([]string, 0, len(handlers))
	for name := range handlers {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		p.Handlers = append(p.Handlers, HandlerSpec{Name: name, Handler: handlers[name]})
	}
	ServePlugin(p)
}

// ServePlugin serves p as a plugin process for the router that launched
// it, and exits when the router asks it to or dies. It does not return.
// Run directly rather than by a router, it explains that and exits with
// status 1.
//
// On Unix the process ignores SIGHUP, the router's reload signal, so that
// signalling every process of a router's tree reloads the router and
// leaves its plugins running.
//
// The process runs with GOMAXPROCS 1 unless its environment sets
// GOMAXPROCS: requests are answered on one goroutine, and a second
// processor that idles between them costs more in thread wake-ups than
// it gives, in the data path's throughput and latency alike (measured:
// see BENCHMARKS.md, "Figures that were in code comments"). A plugin
// whose handlers compute in parallel sets GOMAXPROCS in its env in the
// router's config.
func ServePlugin(p *Plugin) {
	if os.Getenv(Handshake.MagicCookieKey) != Handshake.MagicCookieValue {
		// Not started by a router: go-plugin explains and exits, before
		// anything (the data path) is opened.
		plugin.Serve(&plugin.ServeConfig{HandshakeConfig: Handshake})
		os.Exit(1)
	}
	ignoreHangup()
	if os.Getenv("GOMAXPROCS") == "" {
		runtime.GOMAXPROCS(1)
	}
	log := Logger()
	srv, err := newPluginServer(p, log)
	if err != nil {
		log.Error("plugin cannot start", "error", err)
		fmt.Fprintln(os.Stderr, "plugin:", err)
		os.Exit(1)
	}
	tlsConfig, err := pluginTLS()
	if err != nil {
		log.Error("plugin cannot start", "error", err)
		fmt.Fprintln(os.Stderr, "plugin:", err)
		os.Exit(1)
	}
	cfg := &plugin.ServeConfig{
		HandshakeConfig: Handshake,
		Plugins:         plugin.PluginSet{pluginKey: &grpcPlugin{server: srv}},
		GRPCServer:      plugin.DefaultGRPCServer,
		Logger:          log,
	}
	if tlsConfig != nil {
		// The router sent this process its certificate (mtls.go); without
		// it, go-plugin's AutoMTLS makes one.
		cfg.TLSProvider = func() (*tls.Config, error) { return tlsConfig, nil }
	}
	go watchParent(log)
	plugin.Serve(cfg)
	os.Exit(0)
}

// watchParent exits when the router that started this process is gone:
// the process is then re-parented, and its parent id changes. The host
// also asks Linux to kill its plugins when it dies; this covers the rest.
func watchParent(log hclog.Logger) {
	parent := os.Getppid()
	for range time.Tick(250 * time.Millisecond) {
		if os.Getppid() != parent {
			log.Warn("router process is gone; exiting")
			os.Exit(2)
		}
	}
}

// pluginServer is the plugin side: the control service and the data
// socket.
type pluginServer struct {
	pluginpb.UnimplementedPluginServer
	p        *Plugin
	log      hclog.Logger
	handlers map[string]core.Handler
	dir      string
	socket   string
	data     *dataServer
}

func newPluginServer(p *Plugin, log hclog.Logger) (*pluginServer, error) {
	if len(p.Handlers) == 0 {
		return nil, errors.New("the plugin has no handlers")
	}
	s := &pluginServer{p: p, log: log, handlers: make(map[string]core.Handler)}
	for _, h := range p.Handlers {
		if h.Name == "" || h.Handler == nil {
			return nil, fmt.Errorf("handler %q: a handler needs a name and a Handler", h.Name)
		}
		if _, dup := s.handlers[h.Name]; dup {
			return nil, fmt.Errorf("handler %q is declared twice", h.Name)
		}
		s.handlers[h.Name] = h.Handler
	}
	s.data = newDataServer(s.handlers, log.Named("data"), maxAnswerFromEnv(log), dataProtocolFromEnv())
	// The data path: the pipes the router passed (see pipeconn.go), or
	// else a socket in a directory only this user can enter, unlinked
	// once the router has connected.
	nc, err := pluginDataConn()
	if err != nil {
		return nil, err
	}
	if nc != nil {
		go s.data.serveConn(nc)
		return s, nil
	}
	dir, err := os.MkdirTemp("", "router-plugin-")
	if err != nil {
		return nil, err
	}
	s.dir = dir
	s.socket = filepath.Join(dir, "data.sock")
	l, err := net.Listen("unix", s.socket)
	if err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	go s.data.serve(l, func() { os.RemoveAll(dir) })
	return s, nil
}

func (s *pluginServer) Describe(context.Context, *pluginpb.DescribeRequest) (*pluginpb.DescribeResponse, error) {
	name, version := s.p.Name, s.p.Version
	if name == "" {
		name = filepath.Base(os.Args[0])
	}
	if version == "" {
		version = "devel"
		if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
			version = bi.Main.Version
		}
	}
	resp := &pluginpb.DescribeResponse{
		Name:         name,
		Version:      version,
		DataSocket:   s.socket,
		DataProtocol: uint32(s.data.proto),
	}
	for _, h := range s.p.Info().Handlers {
		resp.Handlers = append(resp.Handlers, &pluginpb.HandlerInfo{
			Name:         h.Name,
			Actions:      h.Actions,
			ContentTypes: h.ContentTypes,
		})
	}
	return resp, nil
}

func (s *pluginServer) Init(ctx context.Context, req *pluginpb.InitRequest) (*pluginpb.InitResponse, error) {
	config := map[string]any{}
	if len(req.Config) > 0 {
		if err := json.Unmarshal(req.Config, &config); err != nil {
			return nil, fmt.Errorf("plugin config is not a JSON object: %w", err)
		}
	}
	if err := s.p.Initialize(ctx, config); err != nil {
		return nil, err
	}
	return &pluginpb.InitResponse{}, nil
}

// Info returns what p declares to the router: its name and version, and
// each handler's actions (its name when Actions is nil) and content-types.
// Name and Version are as set; a plugin process fills in defaults.
func (p *Plugin) Info() Info {
	info := Info{Name: p.Name, Version: p.Version}
	for _, h := range p.Handlers {
		actions := h.Actions
		if actions == nil {
			actions = []string{h.Name}
		}
		info.Handlers = append(info.Handlers, HandlerInfo{
			Name:         h.Name,
			Actions:      slices.Clone(actions),
			ContentTypes: slices.Clone(h.ContentTypes),
		})
	}
	return info
}

// Initialize hands settings to p's Init and to each handler that is an
// Initializer, as a plugin process does before its first request. A
// program that runs a Plugin in process calls it itself. Nil settings
// are an empty map.
func (p *Plugin) Initialize(ctx context.Context, settings map[string]any) error {
	if settings == nil {
		settings = map[string]any{}
	}
	if p.Init != nil {
		if err := p.Init(ctx, settings); err != nil {
			return err
		}
	}
	for _, h := range p.Handlers {
		if in, ok := h.Handler.(Initializer); ok {
			if err := in.Init(ctx, settings); err != nil {
				return fmt.Errorf("handler %q: %w", h.Name, err)
			}
		}
	}
	return nil
}

// envMaxAnswer names the variable by which the router tells a plugin the
// largest answer content it takes, in bytes (Config.MaxAnswerLength);
// absent or 0, there is no limit.
const envMaxAnswer = "ROUTER_PLUGIN_MAX_ANSWER"

// maxAnswerFromEnv returns the limit envMaxAnswer gives, or 0.
func maxAnswerFromEnv(log hclog.Logger) int64 {
	v := os.Getenv(envMaxAnswer)
	if v == "" {
		return 0
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n < 0 {
		log.Warn("ignoring an invalid answer limit from the router", "variable", envMaxAnswer, "value", v)
		return 0
	}
	return n
}

// grpcPlugin binds the control service to go-plugin, on both sides.
type grpcPlugin struct {
	plugin.NetRPCUnsupportedPlugin
	server *pluginServer // plugin side only
}

func (g *grpcPlugin) GRPCServer(_ *plugin.GRPCBroker, s *grpc.Server) error {
	pluginpb.RegisterPluginServer(s, g.server)
	return nil
}

func (g *grpcPlugin) GRPCClient(_ context.Context, _ *plugin.GRPCBroker, c *grpc.ClientConn) (any, error) {
	return pluginpb.NewPluginClient(c), nil
}

var _ plugin.GRPCPlugin = (*grpcPlugin)(nil)
