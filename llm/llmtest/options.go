package llmtest

import (
	"context"
	"log/slog"
	"maps"
	"slices"
	"time"
)

// Option configures a Mock at construction. Options cannot fail: out-of-range values
// fall back to the documented default.
type Option func(*config)

// config is what the options set; it is immutable once New returns.
type config struct {
	seed          uint64
	models        []string
	strictModels  bool
	apiKeys       map[string]struct{} // nil: any non-empty key is accepted
	now           func() time.Time
	sleep         func(ctx context.Context, d time.Duration) error // nil: real timers
	requestLog    int
	embeddingDims int
	aliases       map[string]string
	logger        *slog.Logger // nil: no request logging
	allowRemote   bool
}

// DefaultModels are the models listed by GET /v1/models when WithModels is not used.
// Without WithModels every model name is accepted.
var DefaultModels = []string{
	"gpt-4o-mini",
	"gpt-4o",
	"text-embedding-3-small",
	"text-embedding-3-large",
	"claude-haiku-4-5",
	"claude-sonnet-4-5",
}

// Defaults of the options.
const (
	// DefaultSeed seeds the random generator when WithSeed is not used, so a mock is
	// reproducible out of the box.
	DefaultSeed uint64 = 1
	// DefaultRequestLog is how many received requests are kept by default.
	DefaultRequestLog = 64
	// DefaultEmbeddingDimensions is the native embedding size (that of
	// text-embedding-3-small) used when a request does not ask for dimensions.
	DefaultEmbeddingDimensions = 1536
	// MaxEmbeddingDimensions bounds WithEmbeddingDimensions.
	MaxEmbeddingDimensions = 16384
)

func defaultConfig() config {
	return config{
		seed:          DefaultSeed,
		models:        slices.Clone(DefaultModels),
		now:           time.Now,
		requestLog:    DefaultRequestLog,
		embeddingDims: DefaultEmbeddingDimensions,
	}
}

// WithSeed seeds the random generator behind jitter and failure draws, and the ids the
// mock generates.
func WithSeed(seed uint64) Option {
	return func(c *config) { c.seed = seed }
}

// WithModels sets the models listed by GET /v1/models and makes the mock strict: a
// request for any other model is answered 404 in the provider's shape. With no ids
// the option is ignored.
func WithModels(ids ...string) Option {
	return func(c *config) {
		if len(ids) == 0 {
			return
		}
		c.models = slices.Clone(ids)
		c.strictModels = true
	}
}

// WithAPIKeys restricts the accepted API keys to keys; any other key gets 401. Without
// it every non-empty key is accepted (a missing key still gets 401).
func WithAPIKeys(keys ...string) Option {
	return func(c *config) {
		if c.apiKeys == nil {
			c.apiKeys = make(map[string]struct{}, len(keys))
		}
		for _, k := range keys {
			c.apiKeys[k] = struct{}{}
		}
	}
}

// WithNow sets the clock used for rate-limit windows and the created timestamps of
// responses. Delays do not use it; see WithSleep.
func WithNow(now func() time.Time) Option {
	return func(c *config) {
		if now != nil {
			c.now = now
		}
	}
}

// WithSleep replaces the real timers behind Latency, Jitter, TimeToFirstChunk and
// ChunkDelay: sleep is called with a context that ends when the request's does or the
// mock closes, and the delay; it must return early with an error when ctx is done.
// Tests use it to observe delays without waiting for them. Without it delays really
// delay.
func WithSleep(sleep func(ctx context.Context, d time.Duration) error) Option {
	return func(c *config) { c.sleep = sleep }
}

// WithRequestLog sets how many received requests are kept for Requests (default
// DefaultRequestLog). Zero turns recording off, which saves copying each request's
// headers and body (useful for benchmarks).
func WithRequestLog(n int) Option {
	return func(c *config) { c.requestLog = max(n, 0) }
}

// WithEmbeddingDimensions sets the native embedding size, returned when a request does
// not ask for dimensions and the largest size a request may ask for. Values outside
// [1, MaxEmbeddingDimensions] are ignored.
func WithEmbeddingDimensions(n int) Option {
	return func(c *config) {
		if n >= 1 && n <= MaxEmbeddingDimensions {
			c.embeddingDims = n
		}
	}
}

// WithEmbeddingAliases declares texts equivalent for embeddings: a text found as a key
// (exact match) is embedded as its value, so tests can make two paraphrases produce
// identical vectors. See also Mock.SetEmbeddingAlias.
func WithEmbeddingAliases(aliases map[string]string) Option {
	return func(c *config) {
		if c.aliases == nil {
			c.aliases = make(map[string]string, len(aliases))
		}
		maps.Copy(c.aliases, aliases)
	}
}

// WithLogger logs one line per request (endpoint, status, duration; never keys or
// bodies) to logger at Info level.
func WithLogger(logger *slog.Logger) Option {
	return func(c *config) { c.logger = logger }
}

// WithAllowRemote lets Listen bind non-loopback addresses. A mock has no real
// authentication and should not be reachable from other machines unless asked for.
func WithAllowRemote() Option {
	return func(c *config) { c.allowRemote = true }
}
