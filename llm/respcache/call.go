package respcache

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"

	"github.com/junctionhq/junction/cache"
	"github.com/junctionhq/junction/llm/chat"
	"github.com/junctionhq/junction/policy"
)

// maxPendingStores bounds the answers being stored in the background; when
// full, further answers are not stored (counted as store errors).
const maxPendingStores = 64

// storeTimeout bounds one background store (embedding included).
const storeTimeout = 10 * time.Second

// Cache is the chat path's side of the response cache: the cache in force
// (swapped with Set), the failure counter and the background stores. A
// request uses the configuration of the cache it loaded
// (cache.Cache.Config). Call Init before use.
type Cache struct {
	cache  atomic.Pointer[cache.Cache]
	errors *prometheus.CounterVec // op

	slots   chan struct{} // one per pending store
	pending sync.WaitGroup
}

// Init prepares c and registers its metrics with reg (optional).
func (c *Cache) Init(reg prometheus.Registerer) error {
	c.slots = make(chan struct{}, maxPendingStores)
	c.errors = prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "junction", Subsystem: "llm",
		Name: "cache_errors_total", Help: "Response-cache failures on the chat path, by operation (lookup, store, decode); requests were served without the cache."},
		[]string{"op"})
	if reg != nil {
		if err := reg.Register(c.errors); err != nil {
			return fmt.Errorf("respcache: register metrics: %w", err)
		}
	}
	return nil
}

// Set hands over the cache to serve from and store into (nil turns caching
// off); requests in flight finish with the cache they started with.
func (c *Cache) Set(ch *cache.Cache) { c.cache.Store(ch) }

// Wait waits until the answers being stored in the background are stored,
// or ctx ends.
func (c *Cache) Wait(ctx context.Context) error {
	done := make(chan struct{})
	go func() { c.pending.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("respcache: waiting for cache stores: %w", ctx.Err())
	}
}

func (c *Cache) fail(ctx context.Context, op string, err error) {
	c.errors.WithLabelValues(op).Inc()
	zerolog.Ctx(ctx).Warn().Err(err).Str("op", op).Msg("llm: response cache failed; serving without it")
}

// Call is one request's use of the response cache. The zero Call does not
// use the cache.
type Call struct {
	owner  *Cache
	c      *cache.Cache // nil: the call does not use the cache
	req    cache.Request
	lookup bool // Cache-Control allows serving from the cache
	store  bool // Cache-Control allows storing the answer
	ttl    time.Duration
	// log is the request's logger, for the background store.
	log *zerolog.Logger
	// rec gathers a streamed answer while it is relayed.
	rec *Recorder
}

// Prepare decides whether a chat request for model uses the cache, checks
// the cache headers (a bad one is a 400, *apierror.Error) and computes the
// keys. It runs before admission. canonical decodes the request, on first
// need; a request that does not decode is not cached.
func (c *Cache) Prepare(r *http.Request, id *policy.Identity, model string, canonical func() (*chat.Request, error)) (Call, error) {
	ch := c.cache.Load()
	if ch == nil || bypassed(r.Context()) {
		return Call{}, nil
	}
	cfg := ch.Config()
	if isEmbeddingModel(model, cfg) {
		return Call{}, nil
	}
	ttl, threshold, err := parseHeaders(r.Header)
	if err != nil {
		return Call{}, err
	}
	req, err := canonical()
	if err != nil || !cacheableRequest(req) {
		return Call{}, nil // the request fails or passes through as usual
	}
	directives := cacheControl(r.Header)
	keys := RequestKeys(req)
	call := Call{owner: c, c: ch, ttl: ttl, log: zerolog.Ctx(r.Context()),
		lookup: !directives["no-cache"], store: !directives["no-store"],
		req: cache.Request{Scope: cache.Scope{Tenant: tenant(id, cfg.Scope), Model: model, Tools: keys.Tools},
			Exact: keys.Exact, Threshold: threshold}}
	if cfg.SemanticEnabled() {
		call.req.Prompt, call.req.Context = keys.Prompt, keys.Context
	}
	return call, nil
}

// Active reports whether the call uses the cache at all.
func (cc *Call) Active() bool { return cc.c != nil }

// NominalCost is what a hit is billed.
func (cc *Call) NominalCost() float64 { return cc.c.Config().NominalCost }

// Lookup looks the call up after admission and returns the stored answer
// on a hit, with HeaderCache (and HeaderSimilarity) set in h; otherwise it
// marks the response a miss (when the call uses the cache) and returns
// nil. Lookup errors fail open.
func (cc *Call) Lookup(ctx context.Context, h http.Header) *chat.Response {
	if !cc.Active() {
		return nil
	}
	h.Set(HeaderCache, Miss)
	if !cc.lookup {
		return nil
	}
	hit, err := cc.c.Lookup(ctx, cc.req)
	if err != nil {
		cc.owner.fail(ctx, "lookup", err)
		return nil
	}
	if hit == nil {
		return nil
	}
	resp, err := DecodeValue(hit.Value)
	if err != nil {
		cc.owner.fail(ctx, "decode", err)
		return nil
	}
	if len(resp.Message.ToolCalls) > 0 && !cc.c.Config().CacheToolCalls {
		return nil // stored by a replica that caches tool calls; this one does not
	}
	if hit.Tier == cache.TierSemantic {
		h.Set(HeaderCache, HitSemantic)
		h.Set(HeaderSimilarity, strconv.FormatFloat(hit.Similarity, 'f', 4, 64))
	} else {
		h.Set(HeaderCache, HitExact)
	}
	return resp
}

// recorder returns the stream recorder when the answer will be stored, nil
// otherwise.
func (cc *Call) recorder() *Recorder {
	if !cc.Active() || !cc.store {
		return nil
	}
	if cc.rec == nil {
		cc.rec = &Recorder{}
	}
	return cc.rec
}

// RecordEvent feeds a passed-through event of a streamed answer to the
// recorder, when the answer will be stored.
func (cc *Call) RecordEvent(ev []byte) {
	if rec := cc.recorder(); rec != nil {
		rec.RecordEvent(ev)
	}
}

// RecordChunk feeds a canonical chunk of a streamed answer to the
// recorder, when the answer will be stored.
func (cc *Call) RecordChunk(ch *chat.Chunk) {
	if rec := cc.recorder(); rec != nil {
		rec.RecordChunk(ch)
	}
}

// Answer is a served answer, as the chat handler has it once the response
// is written.
type Answer struct {
	// Format is the client's format (chat.FormatOpenAI or
	// chat.FormatAnthropic).
	Format string
	// Stream is set for a streamed answer (recorded through the Call);
	// Body is a non-streamed one, as the client received it.
	Stream bool
	Body   []byte
	// Usage is what the answer consumed, when known; it replaces the
	// usage the answer reports.
	Usage chat.Usage
	// CostUSD is what the answer cost, for the cost-saved metric.
	CostUSD float64
}

// Store stores a served answer in the background, once the response is
// written; call it only when the call completed normally. Answers the
// cache cannot replay faithfully are not stored.
func (cc *Call) Store(a Answer) {
	if !cc.Active() || !cc.store {
		return
	}
	sc := cc.owner
	select {
	case sc.slots <- struct{}{}:
	default:
		sc.errors.WithLabelValues("store_queue_full").Inc()
		return
	}
	// What the goroutine needs, so it does not touch the call after return.
	var (
		rec      = cc.rec
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
		case a.Stream && rec != nil:
			resp, err = rec.Response(a.Format)
		case a.Stream:
			err = fmt.Errorf("%w: the stream was not recorded", ErrNotCacheable)
		default:
			resp, err = DecodeResponse(a.Format, a.Body)
		}
		if err == nil && !cacheableFinish(resp.FinishReason) {
			err = fmt.Errorf("%w: finish reason %q", ErrNotCacheable, resp.FinishReason)
		}
		if err == nil && len(resp.Message.ToolCalls) > 0 && !allowToo {
			err = fmt.Errorf("%w: tool calls", ErrNotCacheable)
		}
		if errors.Is(err, ErrNotCacheable) {
			return
		}
		if err != nil {
			sc.fail(ctx, "decode", err)
			return
		}
		if a.Usage != (chat.Usage{}) {
			resp.Usage = a.Usage
		}
		value, err := EncodeValue(resp)
		if err != nil {
			sc.fail(ctx, "store", err)
			return
		}
		e := cache.Entry{Value: value, PromptTokens: resp.Usage.PromptTokens, CompletionTokens: resp.Usage.CompletionTokens,
			CostUSD: a.CostUSD}
		if err := ch.Store(ctx, req, e, ttl); err != nil {
			sc.fail(ctx, "store", err)
		}
	}()
}
