package llm

import (
	"context"
	"fmt"
	"net/http"
	"time"

	"github.com/junctionhq/junction/cache"
	"github.com/junctionhq/junction/llm/chat"
	"github.com/junctionhq/junction/llm/router"
)

// Embedder returns a cache.Embedder that computes embeddings with model (an
// alias or provider/model, as on /v1/embeddings) through the router: the
// same balancing, retries, fallbacks and breakers as POST /v1/embeddings,
// against any provider that serves embeddings (OpenAI-compatible, Azure,
// Gemini, Ollama's OpenAI API). dims asks for shorter vectors (0: the
// model's default).
//
// These calls are Junction's own, made for the cache and for ranking tools:
// they are not admitted or metered against any virtual key (no usage
// record, no budget), since no caller asked for them; they show in the
// upstream metrics (junction_llm_upstream_seconds) under the provider.
func (s *Service) Embedder(model string, dims int) cache.Embedder {
	return &routerEmbedder{s: s, model: model, dims: dims}
}

// routerEmbedder is Service.Embedder.
type routerEmbedder struct {
	s     *Service
	model string
	dims  int
}

var _ cache.Embedder = (*routerEmbedder)(nil)

// Name is the model as configured; with the vector length it names the
// Qdrant collection, so changing the model starts a new one.
func (e *routerEmbedder) Name() string { return e.model }

// Embed returns one vector per text, in order.
func (e *routerEmbedder) Embed(ctx context.Context, texts []string) ([][]float32, error) {
	if len(texts) == 0 {
		return nil, nil
	}
	if _, ok := e.s.resolve(e.model); !ok {
		return nil, &router.UnknownModelError{Model: e.model}
	}
	req := &chat.EmbeddingRequest{Model: e.model, Input: texts, Dimensions: e.dims}
	result, err := router.Do(ctx, e.s.router, e.model, nil, func(ctx context.Context, c *router.Candidate) ([][]float32, time.Duration, error) {
		emb, ok := c.Provider.(chat.Embedder)
		if !ok {
			return nil, 0, &chat.UpstreamError{Provider: c.Target.Provider, Status: http.StatusBadRequest,
				Message: "this provider does not serve embeddings"}
		}
		up := e.s.upstreamOf(c)
		actx, cancel := context.WithTimeout(ctx, up.Config.Timeouts.FirstByte)
		defer cancel()
		t0 := time.Now()
		resp, err := emb.Embed(actx, c.Target, req)
		if err != nil {
			return nil, time.Since(t0), err
		}
		if len(resp.Vectors) != len(texts) {
			return nil, time.Since(t0), &chat.UpstreamError{Provider: c.Target.Provider,
				Message: fmt.Sprintf("%d vectors for %d inputs", len(resp.Vectors), len(texts))}
		}
		return resp.Vectors, time.Since(t0), nil
	})
	if err != nil {
		return nil, fmt.Errorf("llm: embed with %s: %w", e.model, err)
	}
	e.s.metrics.upstream.WithLabelValues(result.Candidate.Target.Provider).Observe(result.UpstreamTime.Seconds())
	return result.Value, nil
}
