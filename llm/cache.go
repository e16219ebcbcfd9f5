package llm

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"math"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"

	"github.com/junctionhq/junction/cache"
	"github.com/junctionhq/junction/llm/chat"
	"github.com/junctionhq/junction/policy"
)

// The response cache on the chat path (/v1/chat/completions and
// /v1/messages). The cache package stores opaque values; this file decides
// what is cacheable, computes the keys (cachekey.go), encodes answers
// (cachevalue.go) and replays hits in the caller's format (cachereplay.go).
//
// Order on a request: the headers are checked and the keys computed before
// admission (a bad header is a 400 that costs nothing); the lookup comes
// after admission, so a hit counts against rate limits like any request; a
// hit is settled with the nominal cost and zero usage. A miss is served as
// usual and, once the response is written, stored in the background.
//
// Request headers:
//
//	Cache-Control: no-cache       do not serve from the cache (the answer is still stored)
//	Cache-Control: no-store       do not store the answer
//	X-Junction-Cache-TTL          seconds or a Go duration ("90", "10m"): how long to keep this answer
//	X-Junction-Cache-Threshold    0..1: the least similarity of a semantic hit for this request
//
// Response headers: X-Junction-Cache (hit-exact, hit-semantic or miss) and,
// on semantic hits, X-Junction-Cache-Similarity.
//
// The agent loop's intermediate model calls must never be served from the
// cache: they run with WithoutCache(ctx), or set chatCall.cache.bypass.

// Cache response and request headers.
const (
	HeaderCache           = "X-Junction-Cache"
	HeaderCacheSimilarity = "X-Junction-Cache-Similarity"
	HeaderCacheTTL        = "X-Junction-Cache-TTL"
	HeaderCacheThreshold  = "X-Junction-Cache-Threshold"
)

// Values of HeaderCache.
const (
	CacheHitExact    = "hit-exact"
	CacheHitSemantic = "hit-semantic"
	CacheMiss        = "miss"
)

// maxPendingStores bounds the answers being stored in the background; when
// full, further answers are not stored (counted as store errors).
const maxPendingStores = 64

// storeTimeout bounds one background store (embedding included).
const storeTimeout = 10 * time.Second

type noCacheKey struct{}

// WithoutCache returns a context whose chat requests are neither served
// from nor stored in the response cache. The agent loop runs its
// intermediate model calls with it.
func WithoutCache(ctx context.Context) context.Context {
	return context.WithValue(ctx, noCacheKey{}, true)
}

func cacheBypassed(ctx context.Context) bool {
	v, _ := ctx.Value(noCacheKey{}).(bool)
	return v
}

// serviceCache is the Service's side of the cache: the cache (set by the
// gateway with SetCache, again when a reload changes the cache settings) and
// the background stores. A call uses the configuration of the cache it
// loaded (cache.Cache.Config).
type serviceCache struct {
	cache  atomic.Pointer[cache.Cache]
	errors *prometheus.CounterVec // op

	slots   chan struct{} // one per pending store
	pending sync.WaitGroup
}

// initCache records the cache configuration and, when the semantic tier
// embeds with a model, the embedder through the router.
func (s *Service) initCache(opts Options) error {
	cfg := opts.Cache
	cfg.ApplyDefaults()
	s.cache.slots = make(chan struct{}, maxPendingStores)
	s.cache.errors = prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "junction", Subsystem: "llm",
		Name: "cache_errors_total", Help: "Response-cache failures on the chat path, by operation (lookup, store, decode); requests were served without the cache."},
		[]string{"op"})
	if opts.Registerer != nil {
		if err := opts.Registerer.Register(s.cache.errors); err != nil {
			return fmt.Errorf("llm: register cache metrics: %w", err)
		}
	}
	// The embedder exists whenever a model is configured, so that the agent
	// loop can rank tools with it even when the cache is off.
	if m := cfg.Semantic.EmbeddingModel; m != "" {
		if _, ok := s.resolve(m); !ok {
			return fmt.Errorf("llm: cache.semantic.embedding_model: model %q is not configured", m)
		}
		s.embedder = s.Embedder(m, cfg.Semantic.Dimensions)
	}
	return nil
}

// SetCache hands the Service the response cache it serves from and stores
// into (nil turns caching off), with the settings the cache was built with.
// The gateway builds the cache after the Service, since the cache embeds
// through the Service's router, and calls SetCache before serving, and again
// when a reload changes the cache settings; calls in flight finish with the
// cache they started with.
func (s *Service) SetCache(c *cache.Cache) { s.cache.cache.Store(c) }

// CacheEmbedder is the embedder of the cache's semantic tier: the
// configured embedding model through the router, or nil for the lexical
// fallback.
func (s *Service) CacheEmbedder() cache.Embedder { return s.embedder }

// WaitCacheStores waits until the answers being stored in the background
// are stored, or ctx ends. Call it at shutdown before closing the cache.
func (s *Service) WaitCacheStores(ctx context.Context) error {
	done := make(chan struct{})
	go func() { s.cache.pending.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("llm: waiting for cache stores: %w", ctx.Err())
	}
}

func (sc *serviceCache) fail(ctx context.Context, op string, err error) {
	sc.errors.WithLabelValues(op).Inc()
	zerolog.Ctx(ctx).Warn().Err(err).Str("op", op).Msg("llm: response cache failed; serving without it")
}

// callCache is one request's view of the cache.
type callCache struct {
	// bypass keeps the call away from the cache entirely (set it for the
	// agent loop's intermediate steps).
	bypass bool
	c      *cache.Cache
	req    cache.Request
	lookup bool // Cache-Control allows serving from the cache
	store  bool // Cache-Control allows storing the answer
	ttl    time.Duration
	// log is the request's logger, for the background store.
	log *zerolog.Logger
	// rec gathers a streamed answer while it is relayed.
	rec *streamRecorder
}

// active reports whether this call uses the cache at all.
func (cc *callCache) active() bool { return cc.c != nil }

// prepareCache decides whether the call uses the cache, checks the cache
// headers (errors are 400s in the caller's protocol) and computes the keys.
// It runs before admission.
func (c *chatCall) prepareCache(r *http.Request, id *policy.Identity) error {
	cc := &c.cache
	sc := &c.s.cache
	ch := sc.cache.Load()
	if ch == nil || cc.bypass || cacheBypassed(r.Context()) {
		return nil
	}
	cfg := ch.Config()
	if isEmbeddingModel(c.head.Model, cfg) {
		return nil
	}
	ttl, threshold, err := cacheHeaders(r.Header)
	if err != nil {
		return err
	}
	req, err := c.canonical()
	if err != nil {
		return nil // not cacheable; the request fails or passes through as usual
	}
	if !cacheableRequest(req) {
		return nil
	}
	directives := cacheControl(r.Header)
	keys := requestCacheKeys(req)
	cc.c, cc.ttl, cc.log = ch, ttl, zerolog.Ctx(r.Context())
	cc.lookup, cc.store = !directives["no-cache"], !directives["no-store"]
	cc.req = cache.Request{Scope: cache.Scope{Tenant: cacheTenant(id, cfg.Scope), Model: c.head.Model, Tools: keys.Tools},
		Exact: keys.Exact, Threshold: threshold}
	if cfg.SemanticEnabled() {
		cc.req.Prompt, cc.req.Context = keys.Prompt, keys.Context
	}
	return nil
}

// cacheableRequest reports whether answers to req can be replayed: one
// choice, no log probabilities.
func cacheableRequest(req *chat.Request) bool {
	if n, ok := req.Extra["n"]; ok && string(n) != "1" && string(n) != "null" {
		return false
	}
	if lp, ok := req.Extra["logprobs"]; ok && string(lp) == "true" {
		return false
	}
	return true
}

// isEmbeddingModel reports a model that answers embeddings, not chats: the
// cache's own embedding model, or one named like an embedding model.
func isEmbeddingModel(model string, cfg cache.Config) bool {
	return model == cfg.Semantic.EmbeddingModel || strings.Contains(strings.ToLower(model), "embed")
}

// cacheTenant scopes entries: the team ("team:<name>") in team scope when
// the key has one, otherwise the key ("key:<id>").
func cacheTenant(id *policy.Identity, scope string) string {
	if id.Admin {
		return "admin"
	}
	if scope != "key" && id.TeamName() != "" {
		return "team:" + id.TeamName()
	}
	return "key:" + id.KeyID()
}

// cacheControl returns the directives of the Cache-Control headers, lower-cased.
func cacheControl(h http.Header) map[string]bool {
	var out map[string]bool
	for _, v := range h.Values("Cache-Control") {
		for _, d := range strings.Split(v, ",") {
			d, _, _ = strings.Cut(d, "=")
			if d = strings.TrimSpace(d); d == "" { // "no-store =1" is no-store too
				continue
			}
			if out == nil {
				out = map[string]bool{}
			}
			out[strings.ToLower(d)] = true
		}
	}
	return out
}

// maxCacheTTL bounds a per-request TTL.
const maxCacheTTL = 365 * 24 * time.Hour

// cacheHeaders parses X-Junction-Cache-TTL and X-Junction-Cache-Threshold.
func cacheHeaders(h http.Header) (ttl time.Duration, threshold float64, err error) {
	if v := strings.TrimSpace(h.Get(HeaderCacheTTL)); v != "" {
		if ttl, err = parseCacheTTL(v); err != nil {
			return 0, 0, badRequest("", HeaderCacheTTL+": "+err.Error())
		}
	}
	if v := strings.TrimSpace(h.Get(HeaderCacheThreshold)); v != "" {
		threshold, err = strconv.ParseFloat(v, 64)
		if err != nil || threshold < 0 || threshold > 1 || threshold != threshold {
			return 0, 0, badRequest("", HeaderCacheThreshold+": "+strconv.Quote(v)+" is not a number from 0 to 1")
		}
		if threshold == 0 {
			// cache.Request.Threshold 0 means "the configured one"; the
			// caller asked for any non-negative similarity.
			threshold = math.SmallestNonzeroFloat64
		}
	}
	return ttl, threshold, nil
}

// parseCacheTTL reads whole seconds ("90") or a Go duration ("10m").
func parseCacheTTL(v string) (time.Duration, error) {
	var d time.Duration
	if n, err := strconv.ParseInt(v, 10, 64); err == nil {
		if n <= 0 || n > int64(maxCacheTTL/time.Second) {
			return 0, fmt.Errorf("%q is not a positive number of seconds up to one year", v)
		}
		d = time.Duration(n) * time.Second
	} else if d, err = time.ParseDuration(v); err != nil {
		return 0, fmt.Errorf("%q is neither seconds nor a duration such as 10m", v)
	}
	if d <= 0 || d > maxCacheTTL {
		return 0, fmt.Errorf("%q must be positive and at most one year", v)
	}
	return d, nil
}

// serveFromCache looks the call up after admission. On a hit it writes the
// answer, settles res with the nominal cost and reports true; otherwise it
// marks the response a miss and reports false. Lookup errors fail open.
func (c *chatCall) serveFromCache(ctx context.Context, w http.ResponseWriter, res *policy.Reservation) bool {
	cc := &c.cache
	if !cc.active() {
		return false
	}
	w.Header().Set(HeaderCache, CacheMiss)
	if !cc.lookup {
		return false
	}
	hit, err := cc.c.Lookup(ctx, cc.req)
	if err != nil {
		c.s.cache.fail(ctx, "lookup", err)
		return false
	}
	if hit == nil {
		return false
	}
	resp, err := decodeCachedValue(hit.Value)
	if err != nil {
		c.s.cache.fail(ctx, "decode", err)
		return false
	}
	if len(resp.Message.ToolCalls) > 0 && !c.cache.c.Config().CacheToolCalls {
		return false // stored by a replica that caches tool calls; this one does not
	}
	h := w.Header()
	if hit.Tier == cache.TierSemantic {
		h.Set(HeaderCache, CacheHitSemantic)
		h.Set(HeaderCacheSimilarity, strconv.FormatFloat(hit.Similarity, 'f', 4, 64))
	} else {
		h.Set(HeaderCache, CacheHitExact)
	}
	h.Set("X-Junction-Overhead-Ms", strconv.FormatFloat(float64(time.Since(c.start).Microseconds())/1000, 'f', 3, 64))
	setRateLimitHeaders(h, res.RateLimits(), c.s.now())
	status := c.replay(w, resp)
	nominal := c.cache.c.Config().NominalCost
	res.Settle(ctx, policy.Outcome{Model: c.head.Model, CostUSD: &nominal, Status: status})
	c.s.metrics.request(c.head.Model, "cache", requestStatus(status))
	return true
}

// recorder returns the stream recorder when the answer will be stored, nil
// otherwise; the relay records into it.
func (cc *callCache) recorder() *streamRecorder {
	if !cc.active() || !cc.store {
		return nil
	}
	if cc.rec == nil {
		cc.rec = &streamRecorder{}
	}
	return cc.rec
}

// recordEvent and recordChunk feed a streamed answer to the recorder.
func (c *chatCall) recordEvent(ev []byte) {
	if rec := c.cache.recorder(); rec != nil {
		rec.recordEvent(ev)
	}
}

func (c *chatCall) recordChunk(ch *chat.Chunk) {
	if rec := c.cache.recorder(); rec != nil {
		rec.recordChunk(ch)
	}
}

// storeInCache stores a served answer in the background, once the response
// is written: only when the call completed normally (status "ok"). cost is
// what the answer cost, for the cost-saved metric.
func (c *chatCall) storeInCache(status string, cost float64) {
	cc := &c.cache
	if !cc.active() || !cc.store || status != "ok" {
		return
	}
	sc := &c.s.cache
	select {
	case sc.slots <- struct{}{}:
	default:
		sc.errors.WithLabelValues("store_queue_full").Inc()
		return
	}
	// What the goroutine needs, so it does not touch the call after return.
	var (
		format   = c.format.name()
		body     = c.response
		rec      = cc.rec
		stream   = c.head.Stream
		usage    = c.usage
		req      = cc.req
		ttl      = cc.ttl
		ch       = cc.c
		logger   = cc.log
		allowToo = cc.c.Config().CacheToolCalls
	)
	sc.pending.Add(1)
	go func() {
		defer func() { <-sc.slots; sc.pending.Done() }()
		ctx, cancel := context.WithTimeout(logger.WithContext(context.Background()), storeTimeout)
		defer cancel()
		var (
			resp *chat.Response
			err  error
		)
		switch {
		case stream && rec != nil:
			resp, err = rec.response(format)
		case stream:
			err = fmt.Errorf("%w: the stream was not recorded", errNotCacheable)
		default:
			resp, err = decodeClientResponse(format, body)
		}
		if err == nil && !cacheableFinish(resp.FinishReason) {
			err = fmt.Errorf("%w: finish reason %q", errNotCacheable, resp.FinishReason)
		}
		if err == nil && len(resp.Message.ToolCalls) > 0 && !allowToo {
			err = fmt.Errorf("%w: tool calls", errNotCacheable)
		}
		if errors.Is(err, errNotCacheable) {
			return
		}
		if err != nil {
			sc.fail(ctx, "decode", err)
			return
		}
		if usage != (chat.Usage{}) {
			resp.Usage = usage
		}
		value, err := encodeCachedValue(resp)
		if err != nil {
			sc.fail(ctx, "store", err)
			return
		}
		e := cache.Entry{Value: value, PromptTokens: resp.Usage.PromptTokens, CompletionTokens: resp.Usage.CompletionTokens,
			CostUSD: cost}
		if err := ch.Store(ctx, req, e, ttl); err != nil {
			sc.fail(ctx, "store", err)
		}
	}()
}

// newResponseID is a fresh id for a replayed answer, in the format's style.
func newResponseID(format string) string {
	var b [12]byte
	_, _ = rand.Read(b[:])
	if format == chat.FormatAnthropic {
		return "msg_cache" + hex.EncodeToString(b[:])
	}
	return "chatcmpl-cache" + hex.EncodeToString(b[:])
}
