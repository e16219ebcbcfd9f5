package cache

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"
)

// Options are what New takes besides the configuration.
type Options struct {
	Config Config
	// Embedder for the semantic tier; nil means
	// NewLexical(Config.Semantic.Dimensions).
	Embedder Embedder
	// Registerer receives the cache's metrics; optional.
	Registerer prometheus.Registerer
	Logger     zerolog.Logger
	// Now is the clock for TTLs. Default time.Now.
	Now func() time.Time
	// Index replaces the semantic back-end named in the configuration (tests
	// and embedders of Junction use it); optional.
	Index Index
}

// Cache is the two-tier response cache. A Cache built from a disabled
// configuration is valid and never hits. Safe for concurrent use.
type Cache struct {
	cfg      Config
	exact    exactStore // nil when disabled
	index    Index      // nil when the semantic tier is off
	embedder Embedder
	now      func() time.Time
	log      zerolog.Logger
	m        *metrics
	vectors  vectorMemo

	hits, misses [2]atomic.Int64 // by tierIndex
	tokensSaved  atomic.Int64
	costSaved    atomicFloat

	closeOnce sync.Once
	closeErr  error
}

// New builds the tiers. Redis and Qdrant are reached lazily or with a bounded
// timeout: a dead back-end does not fail New, it makes lookups miss (the cache
// fails open and counts the errors). New fails only on an invalid
// configuration or when the metrics cannot be registered.
func New(ctx context.Context, opts Options) (*Cache, error) {
	cfg := opts.Config
	cfg.ApplyDefaults()
	if errs := cfg.Validate(); len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	c := &Cache{cfg: cfg, embedder: opts.Embedder, now: opts.Now, log: opts.Logger, m: newMetrics()}
	if c.now == nil {
		c.now = time.Now
	}
	if c.embedder == nil {
		c.embedder = NewLexical(cfg.Semantic.Dimensions)
	}
	if cfg.Enabled {
		switch cfg.Exact.Backend {
		case BackendRedis:
			r, err := newRedisExact(cfg.Exact.RedisURL, DefaultRedisTimeout)
			if err != nil {
				return nil, err
			}
			c.exact = r
		default:
			c.exact = newMemoryExact(cfg.Exact.MaxBytes, c.now)
		}
		if cfg.SemanticEnabled() {
			switch {
			case opts.Index != nil:
				c.index = opts.Index
			case cfg.Semantic.Backend == BackendQdrant:
				idx, err := NewQdrantIndex(ctx, cfg.Semantic.Qdrant, c.embedder.Name(), 0, QdrantOptions{Now: c.now, Logger: c.log})
				if err != nil {
					_ = c.exact.close()
					return nil, err
				}
				c.index = idx
			default:
				c.index = NewMemoryIndex(MemoryIndexOptions{MaxEntries: cfg.Semantic.MaxEntries, Now: c.now})
			}
		}
	}
	if opts.Registerer != nil {
		if err := c.m.register(opts.Registerer, c); err != nil {
			_ = c.Close()
			return nil, fmt.Errorf("cache: register metrics: %w", err)
		}
	}
	return c, nil
}

// Config returns the effective configuration (defaults applied).
func (c *Cache) Config() Config { return c.cfg }

// Enabled reports whether the cache can hit at all.
func (c *Cache) Enabled() bool { return c.exact != nil }

func tierIndex(t Tier) int {
	if t == TierSemantic {
		return 1
	}
	return 0
}

// Lookup tries the exact tier, then the semantic tier. A miss is (nil, nil).
// Errors of a back-end are returned (wrapped in *BackendError) with a nil Hit;
// callers treat them as a miss. When a tier fails and the other hits, the hit
// is returned without the error (it was counted).
//
// Lookup itself counts a hit's tokens and cost as saved (the cost less
// Config.NominalCost): the caller serves every hit it gets.
func (c *Cache) Lookup(ctx context.Context, r Request) (*Hit, error) {
	if c.exact == nil {
		return nil, nil
	}
	var errs []error
	if r.Exact != "" {
		start := time.Now()
		e, err := c.exact.get(ctx, r.Scope, r.Exact)
		c.m.lookup.WithLabelValues(string(TierExact)).Observe(time.Since(start).Seconds())
		if err != nil {
			errs = append(errs, c.backendError(c.exact.name(), "get", err))
		}
		if e != nil {
			return c.hit(&Hit{Entry: *e, Tier: TierExact, Similarity: 1}), nil
		}
		c.miss(TierExact)
	}
	if c.index != nil && r.Prompt != "" {
		start := time.Now()
		h, err := c.lookupSemantic(ctx, r)
		c.m.lookup.WithLabelValues(string(TierSemantic)).Observe(time.Since(start).Seconds())
		if err != nil {
			errs = append(errs, err)
		}
		if h != nil {
			return c.hit(h), nil
		}
		c.miss(TierSemantic)
	}
	return nil, errors.Join(errs...)
}

func (c *Cache) lookupSemantic(ctx context.Context, r Request) (*Hit, error) {
	vec, err := c.embed(ctx, r.Prompt)
	if err != nil {
		return nil, err
	}
	threshold := c.cfg.Semantic.Threshold
	if r.Threshold > 0 {
		threshold = r.Threshold
	}
	ms, err := c.index.Search(ctx, vec, ExactFilter(r.Scope, r.Context), 1, threshold)
	if err != nil {
		return nil, c.backendError(c.cfg.Semantic.Backend, "search", err)
	}
	if len(ms) == 0 {
		return nil, nil
	}
	e, err := DecodeEntry(ms[0].Payload)
	if err != nil {
		return nil, c.backendError(c.cfg.Semantic.Backend, "decode", err)
	}
	return &Hit{Entry: e, Tier: TierSemantic, Similarity: ms[0].Score}, nil
}

func (c *Cache) hit(h *Hit) *Hit {
	i := tierIndex(h.Tier)
	c.hits[i].Add(1)
	c.m.hits.WithLabelValues(string(h.Tier)).Inc()
	tokens := h.PromptTokens + h.CompletionTokens
	c.tokensSaved.Add(tokens)
	c.m.tokensSaved.Add(float64(tokens))
	if saved := h.CostUSD - c.cfg.NominalCost; saved > 0 {
		c.costSaved.add(saved)
		c.m.costSaved.Add(saved)
	}
	return h
}

func (c *Cache) miss(t Tier) {
	c.misses[tierIndex(t)].Add(1)
	c.m.misses.WithLabelValues(string(t)).Inc()
}

func (c *Cache) backendError(backend, op string, err error) error {
	var be *BackendError
	if !errors.As(err, &be) {
		be = &BackendError{Backend: backend, Op: op, Err: err}
	}
	c.m.errors.WithLabelValues(be.Backend).Inc()
	c.log.Warn().Err(err).Str("backend", be.Backend).Str("op", be.Op).Msg("cache back-end failed; treated as a miss")
	return be
}

// embed returns the prompt's vector, reusing the one a recent Lookup made so a
// Store after a miss does not embed twice.
func (c *Cache) embed(ctx context.Context, prompt string) ([]float32, error) {
	if v := c.vectors.get(prompt); v != nil {
		return v, nil
	}
	start := time.Now()
	vs, err := c.embedder.Embed(ctx, []string{prompt})
	c.m.embed.Observe(time.Since(start).Seconds())
	if err == nil && (len(vs) != 1 || len(vs[0]) == 0) {
		err = fmt.Errorf("embedder %s returned %d vectors for 1 text", c.embedder.Name(), len(vs))
	}
	if err != nil {
		return nil, c.backendError("embedder", "embed", err)
	}
	c.vectors.put(prompt, vs[0])
	return vs[0], nil
}

// Store saves e in both tiers (as the Request allows) for ttl (0:
// Config.TTL). Errors of the back-ends are joined and returned; a failing
// tier does not keep the other from storing.
func (c *Cache) Store(ctx context.Context, r Request, e Entry, ttl time.Duration) error {
	if c.exact == nil {
		return nil
	}
	if ttl <= 0 {
		ttl = c.cfg.TTL
	}
	now := c.now()
	if e.CreatedAt.IsZero() {
		e.CreatedAt = now
	}
	var errs []error
	if r.Exact != "" {
		if err := c.exact.set(ctx, r.Scope, r.Exact, e, ttl); err != nil {
			errs = append(errs, c.backendError(c.exact.name(), "set", err))
		}
	}
	if c.index != nil && r.Prompt != "" {
		vec, err := c.embed(ctx, r.Prompt)
		if err == nil {
			err = c.index.Upsert(ctx, Point{
				ID:        semanticID(r),
				Vector:    vec,
				Scope:     r.Scope,
				Context:   r.Context,
				Payload:   EncodeEntry(e),
				ExpiresAt: now.Add(ttl),
			})
			if err != nil {
				err = c.backendError(c.cfg.Semantic.Backend, "upsert", err)
			}
		}
		if err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// semanticID names the point of a request: the same prompt in the same scope
// and context replaces the earlier answer.
func semanticID(r Request) string {
	h := sha256.New()
	for _, s := range []string{r.Scope.Tenant, r.Scope.Model, r.Scope.Tools, r.Context, r.Prompt} {
		h.Write([]byte(s))
		h.Write([]byte{0})
	}
	return hex.EncodeToString(h.Sum(nil)[:16])
}

// Purge deletes the entries matching f (empty fields match anything) in both
// tiers and returns how many.
func (c *Cache) Purge(ctx context.Context, f Filter) (int64, error) {
	if c.exact == nil {
		return 0, nil
	}
	var errs []error
	n, err := c.exact.purge(ctx, f)
	if err != nil {
		errs = append(errs, c.backendError(c.exact.name(), "purge", err))
	}
	if c.index != nil {
		m, err := c.index.Delete(ctx, IndexFilter{Tenant: f.Tenant, Model: f.Model})
		if err != nil {
			errs = append(errs, c.backendError(c.cfg.Semantic.Backend, "purge", err))
		}
		n += m
	}
	return n, errors.Join(errs...)
}

// Stats reports the tiers' sizes (from the back-ends) and this replica's hits,
// misses and savings since start.
func (c *Cache) Stats(ctx context.Context) Stats {
	st := Stats{
		Enabled:      c.exact != nil,
		TokensSaved:  c.tokensSaved.Load(),
		CostSavedUSD: c.costSaved.load(),
	}
	if c.exact == nil {
		return st
	}
	st.Exact = TierStats{Backend: c.exact.name(), Hits: c.hits[0].Load(), Misses: c.misses[0].Load()}
	st.Exact.Entries, st.Exact.Bytes = c.exact.stats(ctx)
	if c.index != nil {
		st.Semantic = TierStats{Backend: c.cfg.Semantic.Backend, Hits: c.hits[1].Load(), Misses: c.misses[1].Load(), Entries: -1, Bytes: -1}
		if n, err := c.index.Len(ctx); err == nil {
			st.Semantic.Entries = n
		}
		if b, ok := c.index.(interface{ bytes() int64 }); ok {
			st.Semantic.Bytes = b.bytes()
		}
	}
	return st
}

// Close releases the back-ends. It is idempotent.
func (c *Cache) Close() error {
	c.closeOnce.Do(func() {
		var errs []error
		if c.index != nil {
			errs = append(errs, c.index.Close())
		}
		if c.exact != nil {
			errs = append(errs, c.exact.close())
		}
		c.closeErr = errors.Join(errs...)
	})
	return c.closeErr
}

// vectorMemo remembers the vectors of the last prompts embedded.
type vectorMemo struct {
	mu sync.Mutex // guards m
	m  map[string][]float32
}

const vectorMemoSize = 1024

func (v *vectorMemo) get(prompt string) []float32 {
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.m[prompt]
}

func (v *vectorMemo) put(prompt string, vec []float32) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.m == nil || len(v.m) >= vectorMemoSize {
		v.m = make(map[string][]float32, vectorMemoSize)
	}
	v.m[prompt] = vec
}

// atomicFloat is a float64 updated atomically.
type atomicFloat struct{ bits atomic.Uint64 }

func (f *atomicFloat) add(d float64) {
	for {
		old := f.bits.Load()
		if f.bits.CompareAndSwap(old, floatBits(floatFrom(old)+d)) {
			return
		}
	}
}

func (f *atomicFloat) load() float64 { return floatFrom(f.bits.Load()) }
