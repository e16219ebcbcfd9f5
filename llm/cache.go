package llm

import (
	"context"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/junctionhq/junction/cache"
	"github.com/junctionhq/junction/llm/respcache"
	"github.com/junctionhq/junction/policy"
)

// The response cache on the chat path (/v1/chat/completions and
// /v1/messages). Package respcache holds the rules (what is cacheable, the
// keys, the stored value, the headers, the background stores); this file
// ties a chatCall to it, and cachereplay.go replays hits in the caller's
// format.

// initCache prepares the cache glue and, when the semantic tier embeds
// with a model, the embedder through the router.
func (s *Service) initCache(opts Options) error {
	cfg := opts.Cache
	cfg.ApplyDefaults()
	if err := s.cache.Init(opts.Registerer); err != nil {
		return err
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
func (s *Service) SetCache(c *cache.Cache) { s.cache.Set(c) }

// CacheEmbedder is the embedder of the cache's semantic tier: the
// configured embedding model through the router, or nil for the lexical
// fallback.
func (s *Service) CacheEmbedder() cache.Embedder { return s.embedder }

// WaitCacheStores waits until the answers being stored in the background
// are stored, or ctx ends. Call it at shutdown before closing the cache.
func (s *Service) WaitCacheStores(ctx context.Context) error { return s.cache.Wait(ctx) }

// prepareCache decides whether the call uses the cache, checks the cache
// headers (errors are 400s in the caller's protocol) and computes the keys.
// It runs before admission.
func (c *chatCall) prepareCache(r *http.Request, id *policy.Identity) error {
	var err error
	c.cache, err = c.s.cache.Prepare(r, id, c.head.Model, c.canonical)
	return err
}

// serveFromCache looks the call up after admission. On a hit it writes the
// answer, settles res with the nominal cost and reports true; otherwise it
// reports false.
func (c *chatCall) serveFromCache(ctx context.Context, w http.ResponseWriter, res *policy.Reservation) bool {
	h := w.Header()
	resp := c.cache.Lookup(ctx, h)
	if resp == nil {
		return false
	}
	h.Set("X-Junction-Overhead-Ms", strconv.FormatFloat(float64(time.Since(c.start).Microseconds())/1000, 'f', 3, 64))
	setRateLimitHeaders(h, res.RateLimits(), c.s.now())
	status := c.replay(w, resp)
	nominal := c.cache.NominalCost()
	res.Settle(ctx, policy.Outcome{Model: c.head.Model, CostUSD: &nominal, Status: status})
	c.s.metrics.request(c.head.Model, "cache", requestStatus(status))
	return true
}

// storeInCache stores a served answer in the background, once the response
// is written: only when the call completed normally (status "ok"). cost is
// what the answer cost, for the cost-saved metric.
func (c *chatCall) storeInCache(status string, cost float64) {
	if status != "ok" {
		return
	}
	c.cache.Store(respcache.Answer{Format: c.format.name(), Stream: c.head.Stream, Body: c.response, Usage: c.usage,
		CostUSD: cost})
}
