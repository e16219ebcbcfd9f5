package gateway

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/rs/zerolog"

	"github.com/junctionhq/junction/cache"
	"github.com/junctionhq/junction/llm"
	"github.com/junctionhq/junction/llm/providerstore"
	"github.com/junctionhq/junction/mcp"
	"github.com/junctionhq/junction/policy"
	"github.com/junctionhq/junction/registry"
	"github.com/junctionhq/junction/store"
	"github.com/junctionhq/junction/store/counters"
	"github.com/junctionhq/junction/store/secret"
	"github.com/junctionhq/junction/telemetry"
)

// Options carries what the gateway takes from its host process rather than
// from the configuration file.
type Options struct {
	// Logger receives every log line. Default: discard.
	Logger zerolog.Logger
	// Version is reported by the admin API and /readyz.
	Version string
	// Terminal, when set, is an interactive terminal: a generated admin key
	// is shown on it once. When nil, a generated key is written to
	// <data_dir>/admin.key (mode 0600) and only that path is logged, so the
	// key never reaches the log stream. The CLI sets it only when stderr is
	// a terminal.
	Terminal io.Writer
	// Now is the clock of the auth throttle. Default time.Now.
	Now func() time.Time
	// LoadConfig reads and validates the configuration again, with the
	// same overrides as at start, for Reload (SIGHUP, POST
	// /admin/v1/reload). nil: the gateway cannot reload.
	LoadConfig func() (*Config, error)
}

// Gateway is a configured, running-ready Junction instance. Build it with New,
// serve it with Serve or Run, stop it with Shutdown.
type Gateway struct {
	cfg     Config
	log     zerolog.Logger
	version string
	started time.Time

	store   *store.Store
	metrics *telemetry.Metrics
	admin   *policy.AdminAuth
	policy  *policy.Engine
	llm     *llm.Service
	servers *registry.Registry
	// providers are the LLM providers of the admin API (llm/providerstore;
	// the handlers are in adminproviders.go).
	providers *providerstore.Store
	hub       *mcp.Hub
	router    chi.Router
	server    *http.Server

	// throttle slows down and locks out addresses that keep sending wrong
	// keys, on every authenticated route.
	throttle *authThrottle

	// counters is the rate-limit and budget counter back-end, countersKind
	// its name ("memory" or "redis") for readiness and status.
	counters     counters.Counters
	countersKind string

	// cache is the response cache in force, replaced when a reload changes
	// the cache settings; cacheMetrics serves its metrics (cachemetrics.go).
	cache        atomic.Pointer[cache.Cache]
	cacheMetrics cacheCollectors
	// reload serialises configuration reloads (reload.go).
	reload reloader

	// flushers run during shutdown after the HTTP server has drained and
	// before the store closes, in registration order; later capabilities
	// register their buffered writers (usage, request logs) here.
	flushers []func(context.Context) error

	// streamCtx is the parent of every request context; cancelling it, with
	// http.ErrServerClosed as the cause, tells requests still running at the
	// shutdown deadline to stop now (streams are cut without a drain).
	streamCtx    context.Context
	cancelStream context.CancelCauseFunc
	// handlers counts the handlers running, for shutdown to wait on.
	handlers inflight

	shutdownOnce sync.Once
	shutdownErr  error
	// stopRedisLog ends the routing of go-redis's log lines to log.
	stopRedisLog func()
	// drainCut is the parent of Run's drain deadline; CutDrain cancels it
	// (cutDrain) to end the drain before the deadline.
	drainCut context.Context
	cutDrain context.CancelFunc
}

// New opens the store (running migrations), loads the admin key and builds
// the router. cfg must be validated; LoadConfig does that.
func New(ctx context.Context, cfg Config, opts Options) (_ *Gateway, err error) {
	cfg.ApplyDefaults()
	if err := cfg.Check(); err != nil {
		return nil, err
	}
	// go-redis's own lines (a Redis that cannot be dialled) go to the JSON
	// log from the first connection on, until Shutdown.
	stopRedisLog := routeRedisLog(opts.Logger)
	defer func() {
		if err != nil {
			stopRedisLog()
		}
	}()
	st, err := store.Open(ctx, cfg.Store, cfg.DataDir)
	if err != nil {
		return nil, fmt.Errorf("gateway: open store: %w", err)
	}
	// The secret key is checked against the store before anything else is
	// written: a replica with another key would silently drop every
	// credential stored through the API, so it refuses to start instead.
	key, err := secret.LoadChecked(ctx, st, cfg.DataDir, os.Getenv(secret.EnvVar))
	if err != nil {
		_ = st.Close()
		return nil, fmt.Errorf("gateway: %w", err)
	}
	admin, generated, err := policy.LoadAdminKey(ctx, st, cfg.AdminKey)
	if err == nil && generated != "" {
		// Hand the key over before anything else can fail: its hash is
		// stored now, and a later start will not generate another.
		err = deliverAdminKey(opts.Terminal, cfg.DataDir, generated, opts.Logger)
	}
	if err != nil {
		_ = st.Close()
		return nil, fmt.Errorf("gateway: %w", err)
	}
	ctrs, ctrsKind, err := newCounters(ctx, cfg.Counters)
	if err != nil {
		_ = st.Close()
		return nil, err
	}
	engine, err := policy.New(ctx, policy.Options{Store: st, Counters: ctrs, Admin: admin, Meter: cfg.Meter, SpillDir: cfg.DataDir,
		Logger: opts.Logger})
	if err == nil {
		err = engine.SyncConfig(ctx, cfg.Policy())
		if err != nil {
			_ = engine.Close(ctx)
		}
	}
	if err != nil {
		_ = ctrs.Close()
		_ = st.Close()
		return nil, fmt.Errorf("gateway: %w", err)
	}
	g := &Gateway{
		cfg:          cfg,
		log:          opts.Logger,
		stopRedisLog: stopRedisLog,
		version:      opts.Version,
		started:      time.Now(),
		store:        st,
		metrics:      telemetry.NewMetrics(),
		admin:        admin,
		policy:       engine,

		counters:     ctrs,
		countersKind: ctrsKind,
	}
	g.drainCut, g.cutDrain = context.WithCancel(context.Background())
	g.reload.load, g.reload.inForce = opts.LoadConfig, cfg
	g.reload.inForce.Providers, g.reload.inForce.Models = llmDefaults(&cfg, cfg.Routing)
	registerPolicyMetrics(g.metrics.Registry(), engine)
	if opts.Now == nil {
		opts.Now = time.Now
	}
	proxies, _ := parseTrustedProxies("http.trusted_proxies", cfg.HTTP.TrustedProxies) // validated by cfg.Check
	g.throttle = newAuthThrottle(cfg.HTTP.AuthThrottle, proxies, opts.Now, opts.Logger, g.metrics.Registry())
	fail := func(err error) (*Gateway, error) {
		if c := g.cache.Load(); c != nil {
			_ = c.Close()
		}
		if g.hub != nil {
			g.hub.Close()
		}
		if g.providers != nil {
			_ = g.providers.Close(ctx)
		}
		if g.servers != nil {
			_ = g.servers.Close(ctx)
		}
		_ = engine.Close(ctx)
		_ = ctrs.Close()
		_ = st.Close()
		return nil, fmt.Errorf("gateway: %w", err)
	}
	if g.servers, err = registry.New(ctx, registry.Options{Store: st, SecretKey: key, Logger: opts.Logger,
		MaxCallerSessions: cfg.MCP.CallerSessionsPerServer, CallerSessionIdle: cfg.MCP.CallerSessionIdle}); err != nil {
		return fail(err)
	}
	if err := g.servers.SyncConfig(ctx, cfg.Servers); err != nil {
		return fail(err)
	}
	g.metrics.Registry().MustRegister(upstreamCollector{g.servers})
	g.hub, err = mcp.New(mcp.Options{Upstreams: g.servers, Policy: engine, Logger: opts.Logger, Toolsets: cfg.Toolsets,
		Registerer: g.metrics.Registry(), ServerName: "junction", Version: opts.Version, AllowedOrigins: cfg.MCP.AllowedOrigins})
	if err != nil {
		return fail(err)
	}
	g.llm, err = llm.New(llm.Options{Config: cfg.LLM(), Agent: cfg.Agent, Policy: engine, Registerer: g.metrics.Registry(), Logger: opts.Logger,
		Cache: cfg.Cache, Tools: g.hub})
	if err != nil {
		return fail(err)
	}
	if err := g.startCache(ctx); err != nil {
		return fail(err)
	}
	g.providers, err = providerstore.Open(ctx, providerstore.Options{Store: st, Service: g.llm, SecretKey: key, File: cfg.Providers,
		Logger: opts.Logger})
	if err != nil {
		return fail(err)
	}
	// After the HTTP server has drained: MCP sessions end, upstream
	// connections close (stdio process trees are killed), usage records are
	// flushed, then the counters close; the store closes last.
	g.OnShutdown(func(context.Context) error { g.hub.Close(); return nil })
	g.OnShutdown(g.closeCache)
	g.OnShutdown(func(ctx context.Context) error { return g.servers.Close(ctx) })
	g.OnShutdown(g.providers.Close)
	g.OnShutdown(engine.Close)
	g.OnShutdown(func(context.Context) error { return ctrs.Close() })
	g.streamCtx, g.cancelStream = context.WithCancelCause(context.Background())
	g.router = g.routes()
	g.server = &http.Server{
		Handler:           g.handlers.wrap(g.router),
		ReadHeaderTimeout: cfg.HTTP.ReadHeaderTimeout,
		IdleTimeout:       cfg.HTTP.IdleTimeout,
		// No ReadTimeout or WriteTimeout: both would cut long streams. The
		// body read deadline is set per request by the bodyLimit middleware.
		MaxHeaderBytes: 64 << 10,
		ErrorLog:       newServerErrorLog(opts.Logger),
		BaseContext:    func(net.Listener) context.Context { return g.streamCtx },
	}
	g.log.Info().Str("store", st.Driver()).Str("counters", ctrsKind).Str("data_dir", cfg.DataDir).Msg("gateway ready")
	return g, nil
}

// Handler is the gateway's HTTP handler, for tests and embedding.
func (g *Gateway) Handler() http.Handler { return g.router }

// Metrics is the gateway's Prometheus registry owner.
func (g *Gateway) Metrics() *telemetry.Metrics { return g.metrics }

// Policy is the gateway's governance layer.
func (g *Gateway) Policy() *policy.Engine { return g.policy }

// Store is the gateway's store.
func (g *Gateway) Store() *store.Store { return g.store }

// OnShutdown registers fn to flush buffered writes during shutdown: after the
// HTTP server has drained, before the store closes.
func (g *Gateway) OnShutdown(fn func(context.Context) error) {
	g.flushers = append(g.flushers, fn)
}

// Serve accepts connections on ln until Shutdown. It returns nil after a
// graceful shutdown.
func (g *Gateway) Serve(ln net.Listener) error {
	g.log.Info().Str("listen", ln.Addr().String()).Str("version", g.version).Msg("serving")
	if err := g.server.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("gateway: serve: %w", err)
	}
	return nil
}

// Run listens on the configured address and serves until ctx is cancelled
// (SIGINT/SIGTERM in the CLI), then shuts down gracefully.
func (g *Gateway) Run(ctx context.Context) error {
	ln, err := net.Listen("tcp", g.cfg.Listen)
	if err != nil {
		_ = g.Shutdown(context.Background())
		return fmt.Errorf("gateway: listen: %w", err)
	}
	serveErr := make(chan error, 1)
	go func() { serveErr <- g.Serve(ln) }()
	select {
	case err := <-serveErr:
		_ = g.Shutdown(context.Background())
		return err
	case <-ctx.Done():
	}
	g.log.Info().Dur("deadline", g.cfg.HTTP.ShutdownTimeout).Msg("shutting down: draining in-flight requests")
	sdCtx, cancel := context.WithTimeout(g.drainCut, g.cfg.HTTP.ShutdownTimeout)
	defer cancel()
	err = g.Shutdown(sdCtx)
	if serr := <-serveErr; err == nil {
		err = serr
	}
	return err
}

// CutDrain ends Run's graceful drain now, as if its deadline had passed:
// requests still running are cancelled, the streams cut settle their
// reservations and record their usage (within handlerGrace), buffered
// writes are flushed, and Run returns. Called before the drain starts, it
// makes the drain end as soon as it starts. It may be called any number of
// times, from any goroutine.
func (g *Gateway) CutDrain() { g.cutDrain() }

// handlerGrace bounds the wait, after the shutdown deadline cancelled them,
// for the handlers still running to return: a cut stream settles its
// reservation and queues its usage record on the way out.
const handlerGrace = 5 * time.Second

// Shutdown stops accepting connections and waits for in-flight requests and
// streams until ctx is done. It then cancels what still runs and waits (up to
// handlerGrace) for those handlers to return, so every cut stream is settled
// and recorded; only then are buffered writes flushed (the policy engine's
// usage records among them) and the store closed. It is idempotent; later
// calls return the first result.
func (g *Gateway) Shutdown(ctx context.Context) error {
	g.shutdownOnce.Do(func() { g.shutdownErr = g.shutdown(ctx) })
	return g.shutdownErr
}

func (g *Gateway) shutdown(ctx context.Context) error {
	g.stopReloads()
	var errs []error
	if err := g.server.Shutdown(ctx); err != nil {
		// The deadline passed with requests still running: tell them to stop,
		// then close their connections.
		msg := "shutdown deadline reached; cancelling remaining requests"
		if g.drainCut.Err() != nil {
			msg = "shutdown drain cut short; cancelling remaining requests"
		}
		g.log.Warn().Err(err).Msg(msg)
		g.cancelStream(http.ErrServerClosed)
		if err := g.server.Close(); err != nil {
			errs = append(errs, fmt.Errorf("gateway: close server: %w", err))
		}
	}
	g.cancelStream(http.ErrServerClosed)
	waitCtx, cancelWait := context.WithTimeout(context.WithoutCancel(ctx), handlerGrace)
	if n := g.handlers.wait(waitCtx); n > 0 {
		g.log.Error().Int("handlers", n).Dur("waited", handlerGrace).
			Msg("shutdown: requests still running after being cancelled; their usage may not be recorded")
	}
	cancelWait()
	// Buffered writes get their own short budget even if the drain used all of
	// ctx's: losing usage records is worse than a slightly late exit.
	flushCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	for _, flush := range g.flushers {
		if err := flush(flushCtx); err != nil {
			errs = append(errs, fmt.Errorf("gateway: flush: %w", err))
		}
	}
	if err := g.store.Close(); err != nil {
		errs = append(errs, fmt.Errorf("gateway: close store: %w", err))
	}
	if len(errs) == 0 {
		g.log.Info().Msg("shutdown complete")
	}
	g.stopRedisLog()
	return errors.Join(errs...)
}
