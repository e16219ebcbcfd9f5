package cache

import (
	"context"
	"errors"
	"time"
)

// Default similarity thresholds: with a real embedding model, and (stricter)
// with the lexical fallback. See the package doc for how they were tuned.
const (
	DefaultThreshold        = 0.92
	DefaultLexicalThreshold = 0.95
)

// Scope says whose answers an entry may serve. Every field must be equal for
// an entry to be served, in both tiers.
type Scope struct {
	// Tenant is "team:<id>" or "key:<id>"; the caller builds it from the
	// identity and Config.Scope.
	Tenant string
	// Model is the model as requested.
	Model string
	// Tools is a hash of the tool set offered ("" when none).
	Tools string
}

// Request identifies one cacheable request for Lookup and Store.
type Request struct {
	Scope Scope
	// Exact is the hex hash of the canonical request, computed by the
	// caller; "" skips the exact tier.
	Exact string
	// Prompt is the text embedded for the semantic tier (the last user
	// message); "" skips the semantic tier.
	Prompt string
	// Context is a hash of the system prompt and earlier turns; semantic
	// hits require an equal Context.
	Context string
	// Threshold overrides the configured similarity threshold when > 0.
	Threshold float64
}

// Entry is a cached answer.
type Entry struct {
	// Value is opaque to the cache.
	Value []byte
	// PromptTokens and CompletionTokens are what the original answer
	// consumed, for the tokens-saved metric.
	PromptTokens     int64
	CompletionTokens int64
	// CostUSD is what the original answer cost, for the cost-saved metric.
	CostUSD float64
	// CreatedAt is set by Store when zero.
	CreatedAt time.Time
}

// Tier names a cache tier.
type Tier string

// The tiers.
const (
	TierExact    Tier = "exact"
	TierSemantic Tier = "semantic"
)

// Hit is an answer served from the cache.
type Hit struct {
	Entry
	Tier Tier
	// Similarity is the cosine similarity of the semantic match; 1 for
	// exact hits.
	Similarity float64
}

// Filter selects entries for Purge; empty fields match anything.
type Filter struct {
	Tenant string
	Model  string
}

// Stats describes the cache since start, on this replica (entries and bytes
// come from the back-ends and are shared when the back-end is).
type Stats struct {
	Enabled      bool      `json:"enabled"`
	Exact        TierStats `json:"exact"`
	Semantic     TierStats `json:"semantic"`
	TokensSaved  int64     `json:"tokens_saved"`
	CostSavedUSD float64   `json:"cost_saved_usd"`
}

// TierStats describes one tier. Entries and Bytes are -1 when the back-end
// cannot tell cheaply.
type TierStats struct {
	Backend string `json:"backend"`
	Entries int64  `json:"entries"`
	Bytes   int64  `json:"bytes"`
	Hits    int64  `json:"hits"`
	Misses  int64  `json:"misses"`
}

// Embedder turns texts into vectors (unit-normalised or not; the index uses
// cosine similarity).
type Embedder interface {
	// Name identifies the embedding model, e.g. "lexical" or
	// "openai/text-embedding-3-small". The Qdrant collection is derived
	// from Name and the vector length.
	Name() string
	Embed(ctx context.Context, texts []string) ([][]float32, error)
}

// Errors a caller may branch on.
var (
	// ErrClosed is returned by a closed cache or index.
	ErrClosed = errors.New("cache: closed")
	// ErrDimensions is returned when a vector's length differs from the
	// vectors already indexed in the same scope.
	ErrDimensions = errors.New("cache: vector dimensions do not match")
	// ErrZeroVector is returned when a zero vector is upserted (it has no
	// direction, so no cosine similarity).
	ErrZeroVector = errors.New("cache: zero vector")
	// ErrCorruptEntry is returned when a stored entry cannot be decoded.
	ErrCorruptEntry = errors.New("cache: corrupt entry")
)

// BackendError wraps an error of a back-end (redis, qdrant) so callers can
// tell a broken back-end from a bad request. The cache counts them in
// junction_cache_backend_errors_total.
type BackendError struct {
	Backend string
	Op      string
	Err     error
}

func (e *BackendError) Error() string {
	return "cache: " + e.Backend + " " + e.Op + ": " + e.Err.Error()
}

// Unwrap returns the back-end's error.
func (e *BackendError) Unwrap() error { return e.Err }
