package registry

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mark3labs/mcp-go/client"
	"github.com/mark3labs/mcp-go/client/transport"
	"github.com/mark3labs/mcp-go/mcp"
	"github.com/rs/zerolog"
)

// clientInfo is how the registry introduces itself to upstreams.
var clientInfo = mcp.Implementation{Name: "junction", Version: "1"}

// stableAfter is how long a connection must stay ready for the reconnect
// backoff to start again from its minimum.
const stableAfter = 30 * time.Second

// stopGrace is how long a stdio server gets to exit after its stdin is
// closed before its process group is killed.
const stopGrace = 2 * time.Second

// maxListPages bounds the pages followed for one list.
const maxListPages = 1000

// upstream is one registered server and the goroutine that owns its
// connection: it connects, lists the catalog, watches the connection and
// reconnects with backoff, until its context is cancelled.
type upstream struct {
	r   *Registry
	def definition
	log zerolog.Logger

	cancel context.CancelFunc
	// done is closed when the owner goroutine has returned (at once for a
	// disabled server, which has none).
	done chan struct{}
	// refresh asks the owner to re-list the catalog now; each request
	// carries the channel that receives the outcome.
	refresh chan chan error

	// mu guards status, conn and cat.
	mu     sync.Mutex
	status Status
	conn   *connection
	cat    *ServerCatalog

	// tokens obtains the OAuth tokens of an HTTP upstream with auth (nil
	// otherwise); it outlives connections, so a token survives reconnects.
	tokens *tokenSource

	// legacyHTTP remembers that a streamable HTTP upstream speaks only the
	// legacy protocol, so later connections open the standalone GET stream
	// that carries its notifications. The owner goroutine sets it; caller
	// sessions read it.
	legacyHTTP atomic.Bool

	// life is the owner goroutine's context (set by start, before the
	// server can be ready); caller sessions live under it.
	life context.Context
	// callers are the sessions of callers whose clients supply client
	// features (sessions.go).
	callers *callerPool
}

func newUpstream(r *Registry, def definition) *upstream {
	u := &upstream{
		r:       r,
		def:     def,
		log:     r.log.With().Str("server", def.cfg.Name).Logger(),
		done:    make(chan struct{}),
		refresh: make(chan chan error),
		status: Status{
			Name:      def.cfg.Name,
			Transport: def.cfg.Transport,
			State:     StateConnecting,
			Since:     r.now(),
			Source:    def.source,
		},
	}
	u.callers = newCallerPool(r.maxCallers, r.callerIdle, r.now, u.log)
	if a := def.cfg.Auth; a != nil && def.cfg.Transport != TransportStdio {
		u.tokens = newTokenSource(*a, r.now)
	}
	switch {
	case def.cfg.Disabled:
		u.status.State = StateDisabled
	case def.err != nil:
		u.status.State = StateFailed
		u.status.Error = def.err.Error()
	}
	return u
}

// start launches the owner goroutine, unless the server is disabled or its
// definition is unusable.
func (u *upstream) start(parent context.Context) {
	if u.status.State != StateConnecting {
		u.cancel = func() {}
		close(u.done)
		return
	}
	ctx, cancel := context.WithCancel(parent)
	u.cancel = cancel
	u.life = ctx
	u.r.wg.Add(1)
	go func() {
		defer u.r.wg.Done()
		defer close(u.done)
		defer u.callers.close()
		u.run(ctx)
	}()
}

// stop cancels the owner and waits for it to disconnect.
func (u *upstream) stop() {
	u.cancel()
	<-u.done
}

// snapshot returns the status and catalog.
func (u *upstream) snapshot() (Status, *ServerCatalog) {
	n := u.callers.size()
	u.mu.Lock()
	defer u.mu.Unlock()
	st := u.status
	st.CallerSessions = n
	return st, u.cat
}

// ready returns the live connection, or the reason there is none.
func (u *upstream) ready() (*connection, error) {
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.conn == nil {
		return nil, &UnavailableError{Server: u.status.Name, State: u.status.State, Reason: u.status.Error}
	}
	return u.conn, nil
}

func (u *upstream) setState(state string, err error) {
	u.mu.Lock()
	defer u.mu.Unlock()
	u.setStateLocked(state, err)
}

// setStateLocked records state and err (nil: none) in the status, and the
// time of a change of state. u.mu must be held.
func (u *upstream) setStateLocked(state string, err error) {
	if u.status.State != state {
		u.status.Since = u.r.now()
	}
	u.status.State = state
	u.status.Error = ""
	if err != nil {
		u.status.Error = err.Error()
	}
}

// publish makes conn and cat live (or, with nil, takes them down) and
// rebuilds the registry's catalog.
func (u *upstream) publish(conn *connection, cat *ServerCatalog, state string, err error) {
	u.mu.Lock()
	u.conn, u.cat = conn, cat
	u.setStateLocked(state, err)
	u.status.ProtocolVersion = ""
	u.status.Tools = 0
	if cat != nil {
		u.status.ProtocolVersion = cat.ProtocolVersion
		u.status.Tools = len(cat.Tools)
	}
	u.mu.Unlock()
	u.r.rebuildCatalog()
}

// run is the owner goroutine's loop.
func (u *upstream) run(ctx context.Context) {
	attempt := 0
	for {
		conn, cat, err := u.connect(ctx)
		if ctx.Err() != nil {
			if conn != nil {
				conn.close()
			}
			return
		}
		if err != nil {
			attempt++
			u.log.Warn().Err(err).Int("attempt", attempt).Msg("registry: upstream connect failed")
			u.setState(StateFailed, err)
			if !u.sleep(ctx, u.r.backoff(attempt)) {
				return
			}
			continue
		}
		u.publish(conn, cat, StateReady, nil)
		u.log.Info().Str("protocol", cat.ProtocolVersion).Int("tools", len(cat.Tools)).Msg("registry: upstream ready")
		// After publish: a subscription recorded before it is in the
		// snapshot, and one recorded after it reaches this connection itself
		// (subscriptions.go).
		u.r.applySubscriptions(ctx, u, conn, cat)
		readyAt := u.r.now()
		err = u.watch(ctx, conn)
		u.publish(nil, nil, StateFailed, err)
		conn.close()
		// The upstream went away: so did the callers' sessions with it.
		u.callers.reset()
		if ctx.Err() != nil {
			return
		}
		u.mu.Lock()
		u.status.Restarts++
		u.mu.Unlock()
		if u.r.now().Sub(readyAt) >= stableAfter {
			attempt = 0
		}
		attempt++
		u.log.Warn().Err(err).Msg("registry: upstream connection lost; reconnecting")
		if !u.sleep(ctx, u.r.backoff(attempt)) {
			return
		}
	}
}

// sleep waits d, answering refresh requests with "not ready"; it reports
// false if ctx ended first.
func (u *upstream) sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return false
		case <-t.C:
			return true
		case reply := <-u.refresh:
			_, err := u.ready()
			reply <- err
		}
	}
}

// watch serves a ready connection until it fails or ctx ends: it re-lists
// the catalog on list_changed and on request, and checks health
// periodically.
func (u *upstream) watch(ctx context.Context, conn *connection) error {
	tick := time.NewTicker(u.r.health)
	defer tick.Stop()
	relist := func() error {
		cat, err := conn.list(ctx, u.def.cfg)
		if err != nil {
			return fmt.Errorf("re-list catalog: %w", err)
		}
		u.publish(conn, cat, StateReady, nil)
		return nil
	}
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-conn.lost:
			return conn.lostErr()
		case <-conn.listChanged:
			if err := relist(); err != nil {
				return err
			}
		case reply := <-u.refresh:
			err := relist()
			reply <- err
			if err != nil {
				return err
			}
		case <-conn.listenEnded:
			// The subscriptions/listen stream ended: if the upstream is
			// still alive, open it again (once per health interval at most).
			if err := conn.ping(ctx, u.def.cfg.connectTimeout()); err != nil {
				return fmt.Errorf("notification stream ended and health check failed: %w", err)
			}
			conn.relisten(ctx, u.r.health)
		case <-tick.C:
			if err := conn.ping(ctx, u.def.cfg.connectTimeout()); err != nil {
				return fmt.Errorf("health check: %w", err)
			}
			u.callers.sweep()
		}
	}
}

// connect opens a connection and lists the catalog, within the connect
// timeout.
func (u *upstream) connect(ctx context.Context) (*connection, *ServerCatalog, error) {
	u.setState(StateConnecting, nil)
	cfg := u.def.cfg
	cctx, cancel := context.WithTimeout(ctx, cfg.connectTimeout())
	defer cancel()
	conn, err := u.dial(ctx, cctx)
	if err != nil {
		return nil, nil, err
	}
	if cfg.Transport == TransportStreamableHTTP && !u.legacyHTTP.Load() && !mcp.IsModernProtocol(conn.protocol) {
		// A legacy upstream sends notifications on the standalone GET
		// stream, which must be asked for when the transport is built.
		u.legacyHTTP.Store(true)
		conn.close()
		if conn, err = u.dial(ctx, cctx); err != nil {
			return nil, nil, err
		}
	}
	cat, err := conn.list(cctx, cfg)
	if err != nil {
		conn.close()
		return nil, nil, fmt.Errorf("list catalog: %w", err)
	}
	conn.listen()
	return conn, cat, nil
}

// dial builds the transport and client and runs the handshake under cctx;
// the connection itself lives until ctx ends or it is closed.
func (u *upstream) dial(ctx, cctx context.Context) (*connection, error) {
	cfg := u.def.cfg
	lctx, cancel := context.WithCancel(ctx)
	conn := &connection{
		server:      cfg.Name,
		log:         u.log,
		life:        lctx,
		cancel:      cancel,
		wanted:      func() []string { return u.r.wantedResources(cfg.Name) },
		updated:     func(uri string) { u.r.resourceUpdated(cfg.Name, uri) },
		lost:        make(chan struct{}),
		listChanged: make(chan struct{}, 1),
		listenEnded: make(chan struct{}, 1),
		calls:       make(map[string]*callState),
	}
	var (
		tr   transport.Interface
		opts []client.ClientOption
	)
	switch cfg.Transport {
	case TransportStdio:
		proc, err := startProcess(cfg, u.log)
		if err != nil {
			cancel()
			return nil, err
		}
		conn.proc = proc
		conn.watchProcess()
		tr = &rawTransport{inner: proc.transport()}
		if cfg.ProtocolVersion != "" {
			opts = append(opts, client.WithProtocolVersion(cfg.ProtocolVersion))
		}
	case TransportSSE:
		hc, headers := httpParts(cfg, u.tokens)
		conn.httpClient = hc
		t, err := transport.NewSSE(cfg.URL, transport.WithHTTPClient(hc), transport.WithHeaders(headers), transport.WithSSELogger(quietSlog))
		if err != nil {
			cancel()
			return nil, err
		}
		tr = &rawHTTPTransport{rawTransport{inner: t}}
		// The SSE transport predates the stateless protocol.
		opts = append(opts, client.WithProtocolVersion(mcp.LATEST_LEGACY_PROTOCOL_VERSION))
	case TransportStreamableHTTP:
		hc, headers := httpParts(cfg, u.tokens)
		conn.httpClient = hc
		topts := []transport.StreamableHTTPCOption{
			transport.WithHTTPBasicClient(hc), transport.WithHTTPHeaders(headers), transport.WithHTTPLogger(quietSlog),
		}
		pinnedLegacy := cfg.ProtocolVersion != "" && !mcp.IsModernProtocol(cfg.ProtocolVersion)
		if u.legacyHTTP.Load() || pinnedLegacy {
			//lint:ignore SA1019 legacy upstreams send notifications on the standalone GET stream.
			topts = append(topts, transport.WithContinuousListening())
			opts = append(opts, client.WithProtocolVersion(mcp.LATEST_LEGACY_PROTOCOL_VERSION))
		}
		if cfg.ProtocolVersion != "" {
			opts = append(opts, client.WithProtocolVersion(cfg.ProtocolVersion))
		}
		t, err := transport.NewStreamableHTTP(cfg.URL, topts...)
		if err != nil {
			cancel()
			return nil, err
		}
		tr = &rawHTTPTransport{rawTransport{inner: t}}
	default:
		cancel()
		return nil, fmt.Errorf("unknown transport %q", cfg.Transport)
	}
	// Upstreams may ask for sampling, elicitation and roots during a tool
	// call; the requests are relayed to the call's caller, on a caller
	// session only (relay.go, sessions.go).
	opts = append(opts, client.WithSamplingHandler(samplingRelay{conn}), client.WithElicitationHandler(elicitationRelay{conn}),
		client.WithRootsHandler(rootsRelay{conn}))
	conn.client = client.NewClient(tr, opts...)
	conn.client.OnNotification(conn.onNotification)
	conn.client.OnConnectionLost(func(err error) { conn.markLost(fmt.Errorf("connection lost: %w", err)) })
	if err := conn.client.Start(lctx); err != nil {
		conn.close()
		return nil, fmt.Errorf("start transport: %w", err)
	}
	res, err := conn.client.Initialize(cctx, mcp.InitializeRequest{Params: mcp.InitializeParams{ClientInfo: clientInfo}})
	if err != nil {
		conn.close()
		if conn.isLost() {
			return nil, fmt.Errorf("initialize: %w (%v)", err, conn.lostErr())
		}
		return nil, fmt.Errorf("initialize: %w", err)
	}
	conn.protocol = res.ProtocolVersion
	if conn.protocol == "" {
		conn.protocol = conn.client.ProtocolVersion()
	}
	return conn, nil
}

// backoff returns the jittered wait before reconnect attempt n (1-based):
// doubling from the minimum to the maximum, each wait drawn from its upper
// half.
func (r *Registry) backoff(n int) time.Duration {
	d := r.backoffMin
	for i := 1; i < n && d < r.backoffMax; i++ {
		d *= 2
	}
	d = min(d, r.backoffMax)
	half := d / 2
	return half + rand.N(half+1)
}
