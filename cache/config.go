package cache

import (
	"cmp"
	"fmt"
	"net/url"
	"time"
)

// Config is the `cache:` section of junction.yaml. Every field has a useful
// zero value; ApplyDefaults fills the defaults and Validate reports every
// problem at once.
type Config struct {
	// Mode is the short form of the documented configuration: "off"
	// (default), "exact" (the exact tier only) or "semantic" (both tiers).
	// A mode other than off turns the cache on.
	Mode string `yaml:"mode"`
	// Backend, Threshold and EmbeddingModel are the short forms of
	// Semantic.Backend, Semantic.Threshold and Semantic.EmbeddingModel; a
	// short form and its long form must not disagree.
	Backend        string  `yaml:"backend"`
	Threshold      float64 `yaml:"threshold"`
	EmbeddingModel string  `yaml:"embedding_model"`

	// Enabled turns the cache on (both tiers unless Semantic.Enabled says
	// otherwise). Default false.
	Enabled bool `yaml:"enabled"`
	// Scope says whose answers an entry may serve: "team" (default; keys
	// without a team are scoped to themselves) or "key". The caller builds
	// Scope.Tenant from it.
	Scope string `yaml:"scope"`
	// TTL is how long a stored answer is served. Default 1h.
	TTL time.Duration `yaml:"ttl"`
	// NominalCost is the USD charged for a hit. Default 0.
	NominalCost float64 `yaml:"nominal_cost"`
	// CacheToolCalls stores and serves responses that contain tool calls.
	// Default false.
	CacheToolCalls bool `yaml:"cache_tool_calls"`
	// Exact is the exact-match tier.
	Exact ExactConfig `yaml:"exact"`
	// Semantic is the embedding-similarity tier.
	Semantic SemanticConfig `yaml:"semantic"`
}

// ExactConfig configures the exact tier.
type ExactConfig struct {
	// Backend is "memory" (default: a bounded LRU in this process) or
	// "redis" (shared by every replica).
	Backend string `yaml:"backend"`
	// MaxBytes bounds the memory LRU (values plus keys plus a fixed
	// per-entry overhead). Default 256 MiB.
	MaxBytes int64 `yaml:"max_bytes"`
	// RedisURL is the redis:// or rediss:// URL for backend "redis". Keys
	// carry a hash tag per tenant, so a cluster-aware proxy works too.
	RedisURL string `yaml:"redis_url"`
}

// SemanticConfig configures the semantic tier.
type SemanticConfig struct {
	// Enabled defaults to true when the cache is enabled.
	Enabled *bool `yaml:"enabled"`
	// Backend is "memory" (default: an in-process HNSW index) or "qdrant".
	Backend string `yaml:"backend"`
	// EmbeddingModel is a model routed through Junction's /v1/embeddings
	// router; "" uses the built-in lexical embedder (NewLexical).
	EmbeddingModel string `yaml:"embedding_model"`
	// Dimensions asks the embedding model for this many dimensions (0: its
	// default). For the lexical embedder the default is 512.
	Dimensions int `yaml:"dimensions"`
	// Threshold is the least cosine similarity of a hit. 0 means
	// DefaultThreshold with an embedding model and DefaultLexicalThreshold
	// with the lexical embedder.
	Threshold float64 `yaml:"threshold"`
	// MaxEntries bounds the memory index; the oldest entries are evicted
	// first. Default 100000.
	MaxEntries int `yaml:"max_entries"`
	// Qdrant configures backend "qdrant".
	Qdrant QdrantConfig `yaml:"qdrant"`
}

// QdrantConfig configures the Qdrant index back-end.
type QdrantConfig struct {
	// URL is host:port of Qdrant's gRPC API, e.g. localhost:6334.
	URL string `yaml:"url"`
	// APIKey is sent as the api-key header when set.
	APIKey string `yaml:"api_key"`
	// TLS dials with TLS (system roots).
	TLS bool `yaml:"tls"`
	// CollectionPrefix starts every collection name. Default
	// "junction_cache".
	CollectionPrefix string `yaml:"collection_prefix"`
	// SweepInterval is how often expired points are deleted. Default 1m.
	SweepInterval time.Duration `yaml:"sweep_interval"`
	// Timeout bounds every call to Qdrant, so a dead Qdrant costs a lookup
	// at most this long. Default 100ms.
	Timeout time.Duration `yaml:"timeout"`
}

// Defaults.
const (
	DefaultTTL              = time.Hour
	DefaultMaxBytes         = 256 << 20
	DefaultMaxEntries       = 100000
	DefaultLexicalDims      = 512
	DefaultCollectionPrefix = "junction_cache"
	DefaultSweepInterval    = time.Minute
	DefaultQdrantTimeout    = 100 * time.Millisecond
	// DefaultRedisTimeout bounds every Redis command of the exact tier.
	DefaultRedisTimeout = 100 * time.Millisecond
)

// Modes of the short form.
const (
	ModeOff      = "off"
	ModeExact    = "exact"
	ModeSemantic = "semantic"
)

// Backend names.
const (
	BackendMemory = "memory"
	BackendRedis  = "redis"
	BackendQdrant = "qdrant"
)

// ApplyDefaults fills the zero fields with their defaults.
func (c *Config) ApplyDefaults() {
	c.expandShortForm()
	c.Scope = cmp.Or(c.Scope, "team")
	c.TTL = cmp.Or(c.TTL, DefaultTTL)
	c.Exact.Backend = cmp.Or(c.Exact.Backend, BackendMemory)
	c.Exact.MaxBytes = cmp.Or(c.Exact.MaxBytes, DefaultMaxBytes)
	s := &c.Semantic
	if s.Enabled == nil {
		on := true
		s.Enabled = &on
	}
	s.Backend = cmp.Or(s.Backend, BackendMemory)
	if s.EmbeddingModel == "" && s.Dimensions == 0 {
		s.Dimensions = DefaultLexicalDims
	}
	if s.Threshold == 0 {
		if s.EmbeddingModel == "" {
			s.Threshold = DefaultLexicalThreshold
		} else {
			s.Threshold = DefaultThreshold
		}
	}
	s.MaxEntries = cmp.Or(s.MaxEntries, DefaultMaxEntries)
	q := &s.Qdrant
	q.CollectionPrefix = cmp.Or(q.CollectionPrefix, DefaultCollectionPrefix)
	q.SweepInterval = cmp.Or(q.SweepInterval, DefaultSweepInterval)
	q.Timeout = cmp.Or(q.Timeout, DefaultQdrantTimeout)
}

// expandShortForm copies the short form into the long one where the long
// one is unset; Validate reports where they disagree.
func (c *Config) expandShortForm() {
	switch c.Mode {
	case ModeExact:
		c.Enabled = true
		if c.Semantic.Enabled == nil {
			off := false
			c.Semantic.Enabled = &off
		}
	case ModeSemantic:
		c.Enabled = true
	}
	s := &c.Semantic
	if s.Backend == "" {
		s.Backend = c.Backend
	}
	if s.Threshold == 0 {
		s.Threshold = c.Threshold
	}
	if s.EmbeddingModel == "" {
		s.EmbeddingModel = c.EmbeddingModel
	}
}

// SemanticEnabled reports whether the semantic tier is on (after defaults:
// Semantic.Enabled nil counts as true).
func (c Config) SemanticEnabled() bool {
	return c.Semantic.Enabled == nil || *c.Semantic.Enabled
}

// Validate reports every problem, each naming its YAML path under "cache".
func (c Config) Validate() []error {
	var errs []error
	add := func(format string, a ...any) { errs = append(errs, fmt.Errorf(format, a...)) }
	switch c.Mode {
	case "", ModeOff:
		if c.Mode == ModeOff && c.Enabled {
			add("cache.mode: off contradicts cache.enabled: true")
		}
	case ModeExact:
		if c.Semantic.Enabled != nil && *c.Semantic.Enabled {
			add("cache.mode: exact contradicts cache.semantic.enabled: true")
		}
	case ModeSemantic:
		if c.Semantic.Enabled != nil && !*c.Semantic.Enabled {
			add("cache.mode: semantic contradicts cache.semantic.enabled: false")
		}
	default:
		add("cache.mode: %q is not off, exact or semantic", c.Mode)
	}
	if c.Backend != "" && c.Semantic.Backend != "" && c.Backend != c.Semantic.Backend {
		add("cache.backend: %q disagrees with cache.semantic.backend %q", c.Backend, c.Semantic.Backend)
	}
	if c.Threshold != 0 && c.Semantic.Threshold != 0 && c.Threshold != c.Semantic.Threshold {
		add("cache.threshold: %v disagrees with cache.semantic.threshold %v", c.Threshold, c.Semantic.Threshold)
	}
	if c.EmbeddingModel != "" && c.Semantic.EmbeddingModel != "" && c.EmbeddingModel != c.Semantic.EmbeddingModel {
		add("cache.embedding_model: %q disagrees with cache.semantic.embedding_model %q", c.EmbeddingModel, c.Semantic.EmbeddingModel)
	}
	switch c.Scope {
	case "", "team", "key":
	default:
		add("cache.scope: %q is not team or key", c.Scope)
	}
	if c.TTL < 0 {
		add("cache.ttl: must not be negative")
	}
	if c.NominalCost < 0 {
		add("cache.nominal_cost: must not be negative")
	}
	switch c.Exact.Backend {
	case "", BackendMemory:
	case BackendRedis:
		if c.Exact.RedisURL == "" {
			add("cache.exact.redis_url: required for backend redis")
		} else if u, err := url.Parse(c.Exact.RedisURL); err != nil || (u.Scheme != "redis" && u.Scheme != "rediss") {
			add("cache.exact.redis_url: must be a redis:// or rediss:// URL")
		}
	default:
		add("cache.exact.backend: %q is not memory or redis", c.Exact.Backend)
	}
	if c.Exact.MaxBytes < 0 {
		add("cache.exact.max_bytes: must not be negative")
	}
	s := c.Semantic
	switch s.Backend {
	case "", BackendMemory:
	case BackendQdrant:
		if s.Qdrant.URL == "" {
			add("cache.semantic.qdrant.url: required for backend qdrant")
		}
	default:
		add("cache.semantic.backend: %q is not memory or qdrant", s.Backend)
	}
	if s.Dimensions < 0 || s.Dimensions > 65536 {
		add("cache.semantic.dimensions: must be from 0 to 65536")
	}
	if s.Threshold < 0 || s.Threshold > 1 {
		add("cache.semantic.threshold: must be from 0 to 1")
	}
	if s.MaxEntries < 0 {
		add("cache.semantic.max_entries: must not be negative")
	}
	if s.Qdrant.SweepInterval < 0 || s.Qdrant.Timeout < 0 {
		add("cache.semantic.qdrant: sweep_interval and timeout must not be negative")
	}
	return errs
}
