package router

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"os"
	"slices"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/msgrouter/router/config"
	"github.com/msgrouter/router/core"
	"github.com/msgrouter/router/metrics"
	"github.com/msgrouter/router/natsbridge"
)

// Worker serves handlers to routers over NATS: it runs its plugins as a
// router does (restart, limits, logs, blue/green reloads) and registers a
// NATS micro service, one endpoint per entry of the config's worker
// section, in the queue group "router": a router's route to a subject
// reaches whichever worker serving it NATS picks. This is `router
// worker`.
//
// Its lifecycle is a Router's: StartWorker, Serve, Reload or ReloadFile,
// Shutdown.
type Worker struct {
	r *Router // the plugins, their table (the endpoints), logs and metrics; no listeners

	mu  sync.Mutex
	svc *natsbridge.Service
	// svcCfg is what svc was registered with, less its handlers.
	svcCfg serviceKey
}

// serviceKey is what makes a worker's micro service: a reload that
// changes it registers a new service.
type serviceKey struct {
	name        string
	maxInFlight int
	subjects    string // sorted, NUL-separated
}

// StartWorker starts the worker cfg describes: cfg must be loaded with
// config.LoadOptions.Worker. It connects to nats.url (a server that is
// not up yet is waited for in the background), starts the plugins,
// checks each endpoint's plugin and handler, and registers the service.
// It serves at once; Serve waits for Shutdown. On error nothing is left
// running.
func StartWorker(ctx context.Context, cfg *config.Config, o StartOptions) (*Worker, error) {
	if !cfg.IsWorker() {
		return nil, errors.New("router: StartWorker needs a config loaded for a worker (config.LoadOptions.Worker)")
	}
	if err := cfg.ValidateAt(o.now()); err != nil {
		return nil, err
	}
	r := &Router{opts: o, log: o.Logger, cfg: cfg, done: make(chan struct{}), fatal: make(chan error, 1)}
	if r.log == nil {
		r.log = NewLogger(cfg.Log, os.Stderr)
	}
	r.log = r.log.With("worker", cfg.Worker.Name)
	r.ctx, r.cancel = context.WithCancel(context.Background())
	r.metrics = o.Metrics
	if mc := cfg.Metrics; mc.Listen != "" {
		if r.metrics == nil {
			r.metrics = metrics.New()
		}
		if err := r.openMetrics(ctx, mc); err != nil {
			r.cancel()
			return nil, err
		}
	}
	w := &Worker{r: r}
	fail := func(err error) (*Worker, error) {
		if r.metricsLn != nil {
			r.metricsLn.Close()
		}
		r.nats.close()
		r.cancel()
		return nil, err
	}
	link, err := connectNATS(cfg, cfg.Worker.Name, r.log)
	if err != nil {
		return fail(err)
	}
	r.nats = link
	procs, err := r.startPlugins(ctx, cfg, slices.Sorted(maps.Keys(cfg.Plugins)))
	if err != nil {
		return fail(err)
	}
	g, err := r.build(cfg, procs)
	if err == nil {
		r.gen.Store(g)
		err = w.register(cfg)
	}
	if err != nil {
		stopPlugins(context.Background(), cfg.Timeouts.Shutdown, mapValues(procs), r.log)
		return fail(err)
	}
	r.procs = procs
	r.watchPlugins(nil, procs)
	r.drain = w.drain
	r.reloadFileFn = w.ReloadFile
	return w, nil
}

// buildEndpoints returns the table of a worker: each endpoint's handler,
// by subject.
func (r *Router) buildEndpoints(cfg *config.Config, procs map[string]*pluginRun) (*generation, error) {
	g := newGeneration()
	var errs []error
	for i, e := range cfg.Worker.Endpoints {
		h, _, err := resolve(cfg, procs, fmt.Sprintf("worker.endpoints[%d].plugin", i), e.Plugin)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if r.metrics != nil {
			h = r.metrics.Worker(e.Subject, h)
		}
		g.endpoints[e.Subject] = h
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	for name := range procs {
		if !slices.ContainsFunc(cfg.Worker.Endpoints, func(e config.Endpoint) bool { return pluginOf(e.Plugin) == name }) {
			r.log.Warn("plugin runs but no endpoint leads to it", "plugin", name)
		}
	}
	return g, nil
}

// keyOf returns the service key of cfg.
func keyOf(cfg *config.Config) serviceKey {
	subs := make([]string, len(cfg.Worker.Endpoints))
	for i, e := range cfg.Worker.Endpoints {
		subs[i] = e.Subject
	}
	slices.Sort(subs)
	return serviceKey{name: cfg.Worker.Name, maxInFlight: cfg.Worker.MaxInFlight, subjects: fmt.Sprint(subs)}
}

// register registers the micro service of cfg's endpoints, if it is not
// the one registered, and drains the one it replaces.
func (w *Worker) register(cfg *config.Config) error {
	key := keyOf(cfg)
	w.mu.Lock()
	old, same := w.svc, w.svc != nil && w.svcCfg == key
	w.mu.Unlock()
	if same {
		return nil
	}
	eps := make([]natsbridge.Endpoint, len(cfg.Worker.Endpoints))
	for i, e := range cfg.Worker.Endpoints {
		eps[i] = natsbridge.Endpoint{Subject: e.Subject, Handler: endpoint{w.r, e.Subject}}
	}
	svc, err := natsbridge.Serve(w.r.nats.nc, natsbridge.Config{
		Name:        cfg.Worker.Name,
		Description: "router worker: " + key.subjects,
		MaxInFlight: cfg.Worker.MaxInFlight,
		Endpoints:   eps,
	})
	if err != nil {
		return &config.Error{Source: cfg.Source("worker"), Key: "worker", Msg: err.Error(), Err: config.ErrValue, Cause: err}
	}
	w.mu.Lock()
	w.svc, w.svcCfg = svc, key
	w.mu.Unlock()
	w.r.log.Info("worker serving", "subjects", key.subjects, "max_in_flight", key.maxInFlight, "service", svc.Micro().Info().ID)
	if old != nil {
		go func() {
			if err := old.Shutdown(w.r.ctx); err != nil && !errors.Is(err, context.Canceled) {
				w.r.log.Warn("worker: the replaced service did not drain", "error", err)
			}
		}()
	}
	return nil
}

// drain stops taking requests and waits for those taken to be answered.
func (w *Worker) drain(ctx context.Context) error {
	w.mu.Lock()
	svc := w.svc
	w.mu.Unlock()
	return svc.Shutdown(ctx)
}

// endpoint answers one subject's requests with the current table's
// handler for it.
type endpoint struct {
	r       *Router
	subject string
}

// errNoEndpoint answers a request that a service about to be replaced
// took for a subject the new config no longer serves.
var errNoEndpoint = errors.New("router: this worker no longer serves the subject")

var _ core.BatchHandler = endpoint{}

// HandleBatch answers reqs, a batch that came in one NATS message, with
// the handler of e's subject: in one batch to a plugin process.
func (e endpoint) HandleBatch(ctx context.Context, reqs, answers []*core.Message, errs []error) {
	g, n := e.r.acquire(reqs[0])
	defer g.release(n)
	h, ok := g.endpoints[e.subject]
	if !ok {
		for i := range reqs {
			errs[i] = fmt.Errorf("%w %s", errNoEndpoint, e.subject)
		}
		return
	}
	began := time.Now()
	core.CallBatch(ctx, h, reqs, answers, errs)
	if e.r.log.IsDebug() {
		for i, req := range reqs {
			e.logRequest(req, errs[i], began)
		}
	}
}

// Handle answers req with the handler of e's subject; at debug level,
// each request is logged with its subject and result, as a router logs
// its requests.
func (e endpoint) Handle(ctx context.Context, req *core.Message) (*core.Message, error) {
	g, n := e.r.acquire(req)
	defer g.release(n)
	h, ok := g.endpoints[e.subject]
	if !ok {
		return nil, fmt.Errorf("%w %s", errNoEndpoint, e.subject)
	}
	if !e.r.log.IsDebug() {
		return h.Handle(ctx, req)
	}
	began := time.Now()
	ans, err := h.Handle(ctx, req)
	e.logRequest(req, err, began)
	return ans, err
}

// logRequest logs, at debug level, a request answered with err after it
// began.
func (e endpoint) logRequest(req *core.Message, err error, began time.Time) {
	args := []any{"subject", e.subject, "result", natsbridge.Kind(err), "content_type", req.ContentType,
		"content_length", len(req.Content), "duration", time.Since(began)}
	if err != nil {
		args = append(args, "error", err)
	}
	e.r.log.Debug("request", args...)
}

// Serve waits until Shutdown, and returns core.ErrServerClosed; or the
// error of the metrics endpoint if it fails on its own.
func (w *Worker) Serve() error { return w.r.Serve() }

// Shutdown stops the worker gracefully: its service takes no new
// request (NATS sends them to the other workers), the requests it has
// taken are answered, then its plugins stop and it disconnects. If ctx
// ends first, what is left is cancelled and killed.
func (w *Worker) Shutdown(ctx context.Context) error { return w.r.Shutdown(ctx) }

// Reload makes cfg, loaded for a worker, the running config, as
// Router.Reload does: changed plugins start beside the old ones, which
// stop once their requests are answered. A change of the endpoints'
// subjects, worker.name or worker.max_in_flight registers a new service
// and drains the old one. The nats section cannot change.
func (w *Worker) Reload(ctx context.Context, cfg *config.Config) error {
	if !cfg.IsWorker() {
		return errors.New("router: a worker reloads a config loaded for a worker (config.LoadOptions.Worker)")
	}
	if err := w.r.Reload(ctx, cfg); err != nil {
		return err
	}
	return w.register(cfg)
}

// ReloadFile loads the file at path for a worker and reloads with it; see
// Reload and Router.ReloadFile.
func (w *Worker) ReloadFile(ctx context.Context, path string, o config.LoadOptions) error {
	o.Worker = true
	return w.r.reloadFile(ctx, path, o, w.Reload)
}

// Watch reloads the worker from the file at path whenever it changes,
// as Router.Watch does.
func (w *Worker) Watch(ctx context.Context, path string, o config.LoadOptions) error {
	o.Worker = true
	return w.r.Watch(ctx, path, o)
}

// Config returns the running configuration.
func (w *Worker) Config() *config.Config { return w.r.Config() }

// Logger returns the worker's logger.
func (w *Worker) Logger() hclog.Logger { return w.r.log }

// InFlight returns how many requests the worker has taken and not yet
// answered.
func (w *Worker) InFlight() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.svc.InFlight()
}
