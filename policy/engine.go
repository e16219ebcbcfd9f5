package policy

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/casbin/casbin/v2"
	"github.com/rs/zerolog"

	"github.com/junctionhq/junction/store"
	"github.com/junctionhq/junction/store/counters"
	"github.com/junctionhq/junction/telemetry"
)

// Resource kinds the governance layer keeps in the store.
const (
	kindTeam  = "team"
	kindKey   = "key"
	kindPrice = "price"
)

// Options configures an Engine.
type Options struct {
	// Store holds keys, teams, policies, prices and usage. Required.
	Store *store.Store
	// Counters holds rate-limit and budget counters. Default: in memory.
	Counters counters.Counters
	// Admin verifies the admin key, which authenticates as an all-powerful
	// identity. Optional.
	Admin *AdminAuth
	// Meter tunes estimates and usage recording.
	Meter MeterConfig
	// SpillDir holds the usage spill file (telemetry.UsageSpillFile), which keeps
	// usage records the store cannot take in time; normally the data dir.
	// Empty: no spill file, so records beyond Meter.UsageQueue are dropped
	// while the store is away.
	SpillDir string
	// Now is the clock for expiry, windows and usage times. Default time.Now.
	Now func() time.Time
	// Logger receives reload and usage-writer problems. Default: discard.
	Logger zerolog.Logger

	// usageSink, for benchmarks, takes the usage records instead of Store.
	usageSink telemetry.UsageSink
}

// Engine is the governance layer both request paths use: it authenticates
// keys, decides access, admits and settles work, and records usage. Keys,
// teams, policies and prices are held in an in-memory snapshot that is
// rebuilt whenever the store reports a change (on any replica), so nothing
// on the request path reads the database.
type Engine struct {
	store    *store.Store
	counters counters.Counters
	// memory is counters when it is the in-process back-end, called
	// directly so that the buckets of a call can stay on the stack.
	memory *counters.Memory
	admin  *AdminAuth
	meter  MeterConfig
	now    func() time.Time
	// since is the time elapsed since a time now returned: time.Since (one
	// monotonic clock read) on the real clock.
	since func(time.Time) time.Duration
	log   zerolog.Logger

	snap    atomic.Pointer[snapshot]
	windows windowCache
	usage   *telemetry.UsageWriter[usageEntry]
	charges *chargeRetries
	seeds   *spendSeeds
	reloads atomic.Int64

	// reloadMu serialises reloads so that a slow one never replaces a newer one.
	reloadMu sync.Mutex

	stop      context.CancelFunc
	done      chan struct{}
	closeOnce sync.Once
	closeErr  error
}

// snapshot is an immutable view of the governance state.
type snapshot struct {
	byHash   map[[sha256.Size]byte]*Identity
	byKeyID  map[string]*Identity
	keys     map[string]*Key // by id
	keyNames map[string]*Key // by name
	teams    map[string]*Team
	rules    []Rule
	prices   *PriceTable
	enforcer *casbin.SyncedEnforcer
	cache    decisions
}

// New loads the governance state from the store and starts following its
// changes. Close it to stop and to flush usage.
func New(ctx context.Context, opts Options) (*Engine, error) {
	if opts.Store == nil {
		return nil, errors.New("policy: Options.Store is required")
	}
	if opts.Counters == nil {
		opts.Counters = counters.NewMemory(counters.MemoryOptions{Now: opts.Now})
	}
	since := time.Since
	if opts.Now == nil {
		opts.Now = time.Now
	} else {
		now := opts.Now
		since = func(t time.Time) time.Duration { return now().Sub(t) }
	}
	opts.Meter.applyDefaults()
	e := &Engine{
		store:    opts.Store,
		counters: opts.Counters,
		admin:    opts.Admin,
		meter:    opts.Meter,
		now:      opts.Now,
		since:    since,
		log:      opts.Logger,
		done:     make(chan struct{}),
	}
	e.memory, _ = opts.Counters.(*counters.Memory)
	// Subscribe before the first load, so no change falls between them. The
	// subscription lives until Close, not until ctx (which bounds start-up).
	runCtx, stop := context.WithCancel(context.WithoutCancel(ctx))
	changes, err := e.store.Subscribe(runCtx)
	if err != nil {
		stop()
		return nil, fmt.Errorf("policy: follow store changes: %w", err)
	}
	if err := e.Reload(ctx); err != nil {
		stop()
		return nil, err
	}
	if opts.usageSink == nil {
		opts.usageSink = e.store
	}
	e.usage, err = telemetry.NewUsageWriter(opts.usageSink, (*usageEntry).record, e.meter.usageWriter(opts.SpillDir), e.log)
	if err != nil {
		stop()
		return nil, err
	}
	e.stop = stop
	e.seeds = newSpendSeeds(e.store, e.FlushUsage, e.meter.SpendRebuildTimeout)
	e.charges = newChargeRetries(e.adjustOne, e.now, e.meter.SettleRetry, e.log)
	e.charges.start()
	go e.follow(runCtx, changes)
	return e, nil
}

// Close stops following changes and flushes queued usage records to the
// store, waiting at most until ctx is done. It is idempotent.
func (e *Engine) Close(ctx context.Context) error {
	e.closeOnce.Do(func() {
		e.stop()
		<-e.done
		e.charges.close(ctx)
		e.closeErr = e.usage.Close(ctx)
	})
	return e.closeErr
}

// follow rebuilds the snapshot on every change notification (coalescing
// bursts) and on a timer as a safety net against missed notifications.
func (e *Engine) follow(ctx context.Context, changes <-chan store.Change) {
	defer close(e.done)
	store.Follow(ctx, changes, store.FollowOptions{Interval: e.meter.ReloadInterval, Coalesce: 20 * time.Millisecond,
		OnError: func(err error) {
			e.log.Error().Err(err).Msg("policy: reload failed; keeping the previous keys, teams, policies and prices")
		}}, e.Reload)
}

// Reload rebuilds the in-memory snapshot from the store.
func (e *Engine) Reload(ctx context.Context) error {
	e.reloadMu.Lock()
	defer e.reloadMu.Unlock()
	s, err := e.load(ctx)
	if err != nil {
		return err
	}
	e.snap.Store(s)
	e.reloads.Add(1)
	return nil
}

func (e *Engine) load(ctx context.Context) (*snapshot, error) {
	teamRows, err := e.store.ListResources(ctx, kindTeam)
	if err != nil {
		return nil, fmt.Errorf("policy: load teams: %w", err)
	}
	keyRows, err := e.store.ListResources(ctx, kindKey)
	if err != nil {
		return nil, fmt.Errorf("policy: load keys: %w", err)
	}
	priceRows, err := e.store.ListResources(ctx, kindPrice)
	if err != nil {
		return nil, fmt.Errorf("policy: load prices: %w", err)
	}
	ruleRows, err := e.store.ListPolicyRules(ctx)
	if err != nil {
		return nil, fmt.Errorf("policy: load policies: %w", err)
	}
	s := &snapshot{
		byHash:   make(map[[sha256.Size]byte]*Identity, len(keyRows)),
		byKeyID:  make(map[string]*Identity, len(keyRows)),
		keys:     make(map[string]*Key, len(keyRows)),
		keyNames: make(map[string]*Key, len(keyRows)),
		teams:    make(map[string]*Team, len(teamRows)),
		cache:    decisions{m: make(map[decisionKey]bool, 1024)},
	}
	for _, row := range teamRows {
		t, err := teamFromRow(row)
		if err != nil {
			e.log.Error().Err(err).Str("team", row.Name).Msg("policy: skipping unreadable team")
			continue
		}
		s.teams[t.Name] = t
	}
	var derived [][]string
	for _, row := range keyRows {
		k, hash, err := keyFromRow(row)
		if err != nil {
			e.log.Error().Err(err).Str("key", row.Name).Msg("policy: skipping unreadable key")
			continue
		}
		s.keys[k.ID] = k
		s.keyNames[k.Name] = k
		id := newIdentity(k, s.teams[k.Team], hash)
		s.byHash[hash] = id
		s.byKeyID[k.ID] = id
		derived = append(derived, derivedLines(k)...)
	}
	builtin, err := loadBuiltinPrices()
	if err != nil {
		return nil, err
	}
	var filePrices, apiPrices []Price
	for _, row := range priceRows {
		var p Price
		if err := json.Unmarshal(row.Spec, &p); err != nil {
			e.log.Error().Err(err).Str("model", row.Name).Msg("policy: skipping unreadable price")
			continue
		}
		p.Model, p.Source = row.Name, row.Source
		if row.Source == store.SourceFile {
			filePrices = append(filePrices, p)
		} else {
			apiPrices = append(apiPrices, p)
		}
	}
	s.prices = newPriceTable(builtin, filePrices, apiPrices)
	for _, r := range ruleRows {
		if r.PType != "p" {
			continue
		}
		s.rules = append(s.rules, Rule{Subject: r.V[0], Domain: r.V[1], Object: r.V[2], Action: r.V[3], Effect: r.V[4], Source: r.Source})
	}
	enf, err := newEnforcer(&adapter{ctx: ctx, store: e.store, rules: ruleRows, derived: derived})
	if err != nil {
		return nil, err
	}
	s.enforcer = enf
	return s, nil
}

func teamFromRow(row store.Resource) (*Team, error) {
	var t Team
	if err := json.Unmarshal(row.Spec, &t); err != nil {
		return nil, fmt.Errorf("policy: team %s: %w", row.Name, err)
	}
	t.Name, t.Source, t.CreatedAt, t.UpdatedAt = row.Name, row.Source, row.CreatedAt, row.UpdatedAt
	return &t, nil
}

func keyFromRow(row store.Resource) (*Key, [sha256.Size]byte, error) {
	var spec keySpec
	var hash [sha256.Size]byte
	if err := json.Unmarshal(row.Spec, &spec); err != nil {
		return nil, hash, fmt.Errorf("policy: key %s: %w", row.Name, err)
	}
	if len(spec.Hash) != hex.EncodedLen(sha256.Size) {
		return nil, hash, fmt.Errorf("policy: key %s: stored hash is corrupt", row.Name)
	}
	if _, err := hex.Decode(hash[:], []byte(spec.Hash)); err != nil {
		return nil, hash, fmt.Errorf("policy: key %s: stored hash is corrupt", row.Name)
	}
	k := spec.Key
	k.ID, k.Name, k.Source, k.CreatedAt, k.UpdatedAt = row.ID, row.Name, row.Source, row.CreatedAt, row.UpdatedAt
	return &k, hash, nil
}

// Authenticate returns the identity of the presented key: a virtual key
// ("jk-...") or the admin key. It reads only memory.
func (e *Engine) Authenticate(token string) (*Identity, error) {
	if token == "" {
		return nil, &AuthError{Reason: AuthMissing}
	}
	h := sha256.Sum256([]byte(token))
	if e.admin != nil && subtle.ConstantTimeCompare(h[:], e.admin.hash[:]) == 1 {
		return adminIdentity, nil
	}
	// A map lookup is not constant-time, but it is keyed by a SHA-256 of the
	// secret, so its timing says nothing useful about the secret.
	id, ok := e.snap.Load().byHash[h]
	if !ok {
		return nil, &AuthError{Reason: AuthInvalid}
	}
	if !id.Key.Enabled {
		return nil, &AuthError{Reason: AuthDisabled}
	}
	if !id.expires.IsZero() && !e.now().Before(id.expires) {
		return nil, &AuthError{Reason: AuthExpired}
	}
	return id, nil
}

// Allowed reports whether id may do action on object (for example
// "model:openai/gpt-4o", "use"). Decisions are cached until the next change
// to keys or policies; one that cannot be evaluated is a deny.
func (e *Engine) Allowed(id *Identity, object, action string) bool {
	return e.allowed(id, object, "", "", action)
}

// AllowedTool reports whether id may do action ("call" or "list") on the
// tool "tool:<server>/<tool>", without building the object string when the
// decision is cached.
func (e *Engine) AllowedTool(id *Identity, server, tool, action string) bool {
	return e.allowed(id, "tool:", server, tool, action)
}

// AllowedModel reports whether id may do action ("use" or "list") on
// "model:<model>".
func (e *Engine) AllowedModel(id *Identity, model, action string) bool {
	return e.allowed(id, "model:", model, "", action)
}

// allowed decides for the object kind+a (+"/"+b when b is set).
func (e *Engine) allowed(id *Identity, kind, a, b, action string) bool {
	return e.allowedIn(e.snap.Load(), id, kind, a, b, action)
}

// allowedIn is allowed as of snapshot s.
func (e *Engine) allowedIn(s *snapshot, id *Identity, kind, a, b, action string) bool {
	if id == nil {
		return false
	}
	if id.Admin {
		return true
	}
	k := decisionKey{id: id, kind: kind, a: a, b: b, act: action}
	if allowed, ok := s.cache.get(k); ok {
		return allowed
	}
	object := kind + a
	if b != "" {
		object += "/" + b
	}
	allowed, err := s.enforcer.Enforce(id.subject, id.domain, object, action)
	if err != nil {
		e.log.Error().Err(err).Str("object", object).Msg("policy: access decision failed; denying")
		return false
	}
	s.cache.put(k, allowed)
	return allowed
}

// Check explains an access decision for the admin API: whether subject (in
// domain) may do action on object and which rule decided it.
func (e *Engine) Check(subject, domain, object, action string) (allowed bool, rule []string, err error) {
	if domain == "" {
		domain = noTeamDomain
	}
	return e.snap.Load().enforcer.EnforceEx(subject, domain, object, action)
}

// Prices is the current price table.
func (e *Engine) Prices() *PriceTable { return e.snap.Load().prices }

// Stats are counters for metrics.
type Stats struct {
	Reloads int64                // snapshots built
	Usage   telemetry.UsageStats // the usage writer's
	// Counter charges of settlements that could not update the counters
	// (settleretry.go): waiting for a retry, applied on one, given up.
	ChargesQueued, ChargesRetried, ChargesGivenUp int64
	Keys, Teams                                   int // in the current snapshot
	Rules                                         int
}

// Stats returns the current counters.
func (e *Engine) Stats() Stats {
	s := e.snap.Load()
	return Stats{
		Reloads:        e.reloads.Load(),
		Usage:          e.usage.Stats(),
		ChargesQueued:  int64(e.charges.queued()),
		ChargesRetried: e.charges.retried.Load(),
		ChargesGivenUp: e.charges.givenUp.Load(),
		Keys:           len(s.keys),
		Teams:          len(s.teams),
		Rules:          len(s.rules),
	}
}

// IdentityOf returns the identity of the key with the given id or name, for
// admin views ("what may this key see?").
func (e *Engine) IdentityOf(idOrName string) (*Identity, error) {
	k, err := e.Key(idOrName)
	if err != nil {
		return nil, err
	}
	if id, ok := e.snap.Load().byKeyID[k.ID]; ok {
		return id, nil
	}
	return nil, fmt.Errorf("%w: key %q", ErrNotFound, idOrName)
}
