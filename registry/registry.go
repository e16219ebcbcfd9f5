package registry

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"

	"github.com/junctionhq/junction/store"
)

// kindServer is the store resource kind of server definitions.
const kindServer = "server"

// DefaultHealthInterval is how often a ready upstream is checked when
// Options.HealthInterval is zero.
const DefaultHealthInterval = 15 * time.Second

// Reconnect backoff bounds.
const (
	backoffMin = time.Second
	backoffMax = 60 * time.Second
)

// reloadInterval is the safety-net reload period, against missed change
// notifications.
const reloadInterval = time.Minute

// Options configures a Registry.
type Options struct {
	// Store holds the server definitions. Required.
	Store *store.Store
	// SecretKey (32 bytes, see secret.Load) encrypts the credentials in
	// stored definitions. Required.
	SecretKey []byte
	// Logger receives connection events and upstream stderr. Default:
	// discard. Credentials are never logged.
	Logger zerolog.Logger
	// Now is the clock for status times. Default time.Now.
	Now func() time.Time
	// HealthInterval is how often each ready upstream is pinged. Default
	// DefaultHealthInterval.
	HealthInterval time.Duration

	// MaxCallerSessions bounds the caller sessions of one server, the
	// upstream sessions kept for the callers whose clients supply client
	// features (sessions.go). Default DefaultMaxCallerSessions.
	MaxCallerSessions int
	// CallerSessionIdle is how long an unused caller session is kept.
	// Default DefaultCallerSessionIdle.
	CallerSessionIdle time.Duration

	// backoffMin and backoffMax override the reconnect backoff (tests).
	backoffMin, backoffMax time.Duration
}

// Registry owns the upstream MCP servers: their definitions (in the store,
// followed on every replica), one connection per enabled server, and the
// merged catalog of the ready ones. Nothing on a call's path waits for
// another upstream: each has its own owner goroutine and calls take no
// registry-wide lock across I/O.
type Registry struct {
	store  *store.Store
	sealer *sealer
	secret []byte // the secret key, for DeriveKey
	log    zerolog.Logger
	now    func() time.Time
	health time.Duration

	backoffMin, backoffMax time.Duration

	// maxCallers and callerIdle bound each server's caller sessions.
	maxCallers int
	callerIdle time.Duration

	// runCtx is the parent of every owner goroutine; stop cancels it.
	runCtx context.Context
	stop   context.CancelFunc
	// wg counts owner goroutines and the follower.
	wg sync.WaitGroup

	// reloadMu serialises reloads (and so starting and stopping upstreams).
	reloadMu sync.Mutex

	// mu guards ups and closed.
	mu     sync.RWMutex
	ups    map[string]*upstream
	closed bool

	// catMu serialises catalog rebuilds and guards version.
	catMu   sync.Mutex
	version uint64
	catalog atomic.Pointer[Catalog]

	// subMu guards subs.
	subMu sync.Mutex
	subs  map[chan struct{}]struct{}

	// resSubs counts resource subscriptions (subscriptions.go).
	resSubs subscriptions

	closeOnce sync.Once
	closeErr  error
}

// definition is one stored server, decoded and decrypted.
type definition struct {
	cfg       ServerConfig // with credentials in clear
	source    string
	spec      string // the stored spec, to detect changes
	createdAt time.Time
	updatedAt time.Time
	// err is set when the definition cannot be used (undecodable spec,
	// undecryptable credentials); the server is then shown as failed.
	err error
}

// New starts a Registry: it loads the definitions and starts connecting to
// every enabled server in the background. It never waits for an upstream.
// Close it to disconnect.
func New(ctx context.Context, opts Options) (*Registry, error) {
	if opts.Store == nil {
		return nil, errors.New("registry: Options.Store is required")
	}
	s, err := newSealer(opts.SecretKey)
	if err != nil {
		return nil, err
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.HealthInterval <= 0 {
		opts.HealthInterval = DefaultHealthInterval
	}
	if opts.MaxCallerSessions <= 0 {
		opts.MaxCallerSessions = DefaultMaxCallerSessions
	}
	if opts.CallerSessionIdle <= 0 {
		opts.CallerSessionIdle = DefaultCallerSessionIdle
	}
	if opts.backoffMin <= 0 {
		opts.backoffMin = backoffMin
	}
	if opts.backoffMax <= 0 {
		opts.backoffMax = backoffMax
	}
	r := &Registry{
		store:      opts.Store,
		sealer:     s,
		secret:     bytes.Clone(opts.SecretKey),
		log:        opts.Logger,
		now:        opts.Now,
		health:     opts.HealthInterval,
		backoffMin: opts.backoffMin,
		backoffMax: max(opts.backoffMin, opts.backoffMax),
		maxCallers: opts.MaxCallerSessions,
		callerIdle: opts.CallerSessionIdle,
		ups:        make(map[string]*upstream),
		subs:       make(map[chan struct{}]struct{}),
		resSubs:    subscriptions{counts: map[string]map[string]int{}},
	}
	r.catalog.Store(&Catalog{})
	r.runCtx, r.stop = context.WithCancel(context.WithoutCancel(ctx))
	// Subscribe before the first load, so no change falls between them.
	changes, err := r.store.Subscribe(r.runCtx)
	if err != nil {
		r.stop()
		return nil, fmt.Errorf("registry: follow store changes: %w", err)
	}
	if err := r.Reload(ctx); err != nil {
		r.stop()
		return nil, err
	}
	r.wg.Add(1)
	go r.follow(changes)
	return r, nil
}

// Close disconnects every upstream (killing stdio process groups) and stops
// following the store. It is idempotent; ctx bounds the wait.
func (r *Registry) Close(ctx context.Context) error {
	r.closeOnce.Do(func() {
		r.mu.Lock()
		r.closed = true
		r.mu.Unlock()
		r.stop()
		done := make(chan struct{})
		go func() {
			r.wg.Wait()
			close(done)
		}()
		select {
		case <-done:
		case <-ctx.Done():
			r.closeErr = fmt.Errorf("registry: close: %w", ctx.Err())
		}
		r.mu.Lock()
		r.ups = map[string]*upstream{}
		r.mu.Unlock()
		r.rebuildCatalog()
	})
	return r.closeErr
}

// follow reloads on every change to server definitions and periodically as
// a safety net.
func (r *Registry) follow(changes <-chan store.Change) {
	defer r.wg.Done()
	store.Follow(r.runCtx, changes, store.FollowOptions{Topic: store.ResourceTopic(kindServer), Interval: reloadInterval,
		OnError: func(err error) { r.log.Error().Err(err).Msg("registry: reload failed; keeping the current servers") }},
		r.Reload)
}

// Reload reads the definitions from the store and connects, disconnects or
// reconnects whatever changed. Changes made through this Registry and, via
// the store's change feed, through any other replica are reloaded by
// themselves; Reload is for callers that know better.
func (r *Registry) Reload(ctx context.Context) error {
	r.reloadMu.Lock()
	defer r.reloadMu.Unlock()
	rows, err := r.store.ListResources(ctx, kindServer)
	if err != nil {
		return fmt.Errorf("registry: load servers: %w", err)
	}
	defs := make(map[string]definition, len(rows))
	for _, row := range rows {
		defs[row.Name] = r.decode(row)
	}

	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		return nil
	}
	var stopped []*upstream
	next := make(map[string]*upstream, len(defs))
	var started []*upstream
	for name, def := range defs {
		cur, ok := r.ups[name]
		if ok && cur.def.spec == def.spec && cur.def.source == def.source {
			next[name] = cur
			continue
		}
		if ok {
			stopped = append(stopped, cur)
		}
		u := newUpstream(r, def)
		next[name] = u
		started = append(started, u)
	}
	for name, cur := range r.ups {
		if _, ok := defs[name]; !ok {
			stopped = append(stopped, cur)
		}
	}
	r.ups = next
	// Start under the lock so that Close (which takes it) cannot miss one.
	for _, u := range started {
		u.start(r.runCtx)
	}
	r.mu.Unlock()

	// Stopping waits for the owners to disconnect; do it outside r.mu so
	// calls to the other servers carry on meanwhile.
	var wg sync.WaitGroup
	for _, u := range stopped {
		wg.Add(1)
		go func() {
			defer wg.Done()
			u.stop()
		}()
	}
	wg.Wait()
	if len(stopped) > 0 || len(started) > 0 {
		r.rebuildCatalog()
	}
	return nil
}

// decode turns a stored row into a definition.
func (r *Registry) decode(row store.Resource) definition {
	def := definition{source: row.Source, spec: string(row.Spec), createdAt: row.CreatedAt, updatedAt: row.UpdatedAt}
	var sealed ServerConfig
	if err := json.Unmarshal(row.Spec, &sealed); err != nil {
		def.cfg = ServerConfig{Name: row.Name}
		def.err = fmt.Errorf("stored definition is unreadable: %w", err)
		return def
	}
	sealed.Name = row.Name
	cfg, err := r.sealer.openConfig(sealed)
	if err != nil {
		// Keep the shape (without credentials) for the admin API.
		sealed.Bearer = ""
		sealed.Headers = sealMap(sealed.Headers, func(string, string) string { return "" })
		sealed.Env = sealMap(sealed.Env, func(string, string) string { return "" })
		if sealed.Auth != nil {
			a := *sealed.Auth
			a.ClientSecret = ""
			sealed.Auth = &a
		}
		def.cfg = sealed
		def.err = err
		return def
	}
	def.cfg = cfg
	return def
}

// lookup returns the named upstream.
func (r *Registry) lookup(name string) (*upstream, bool) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	u, ok := r.ups[name]
	return u, ok
}

// upstreams returns every upstream, by name.
func (r *Registry) upstreams() []*upstream {
	r.mu.RLock()
	out := make([]*upstream, 0, len(r.ups))
	for _, u := range r.ups {
		out = append(out, u)
	}
	r.mu.RUnlock()
	slices.SortFunc(out, func(a, b *upstream) int { return strings.Compare(a.def.cfg.Name, b.def.cfg.Name) })
	return out
}

// rebuildCatalog publishes a new catalog snapshot from the ready upstreams
// and notifies subscribers.
func (r *Registry) rebuildCatalog() {
	r.catMu.Lock()
	var servers []ServerCatalog
	for _, u := range r.upstreams() {
		if _, cat := u.snapshot(); cat != nil {
			servers = append(servers, *cat)
		}
	}
	r.version++
	r.catalog.Store(&Catalog{Servers: servers, Version: r.version})
	r.catMu.Unlock()

	r.subMu.Lock()
	for ch := range r.subs {
		signal(ch)
	}
	r.subMu.Unlock()
}

// Catalog returns the current snapshot of every ready upstream's catalog,
// ordered by server name. It must not be modified.
func (r *Registry) Catalog() *Catalog { return r.catalog.Load() }

// Subscribe returns a channel that receives a value whenever the catalog
// changes (an upstream became ready, lost its connection, or changed its
// lists). It is buffered and coalescing: a slow reader sees one value for
// many changes and should then read Catalog. The returned func
// unsubscribes; the channel is never closed.
func (r *Registry) Subscribe() (<-chan struct{}, func()) {
	ch := make(chan struct{}, 1)
	r.subMu.Lock()
	r.subs[ch] = struct{}{}
	r.subMu.Unlock()
	var once sync.Once
	return ch, func() {
		once.Do(func() {
			r.subMu.Lock()
			delete(r.subs, ch)
			r.subMu.Unlock()
		})
	}
}

// Statuses returns the live state of every registered server, by name.
func (r *Registry) Statuses() []Status {
	ups := r.upstreams()
	out := make([]Status, 0, len(ups))
	for _, u := range ups {
		st, _ := u.snapshot()
		out = append(out, st)
	}
	return out
}
