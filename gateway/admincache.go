package gateway

import (
	"context"
	"errors"
	"fmt"
	"net/http"

	"github.com/go-chi/chi/v5"

	"github.com/junctionhq/junction/cache"
)

// The response cache: built after the LLM service (it embeds through the
// service's router), handed to it, closed at shutdown once the answers being
// stored in the background are stored. The admin API reports its stats and
// purges entries:
//
//	GET    /admin/v1/cache                       stats (also /admin/v1/cache/stats)
//	POST   /admin/v1/cache/purge                 {"team", "key", "tenant", "model"}, all optional
//	DELETE /admin/v1/cache?team=&key=&model=     the same filter as query parameters
//
// A purge filter names a team (its name), a key (its id or name) or a raw
// tenant ("team:<name>", "key:<id>"), and/or a model as requested; an empty
// filter purges everything. Both answer {"deleted": n}.

// startCache builds the cache from the configuration. A disabled cache is
// still built (its stats say so) but not handed to the LLM service.
func (g *Gateway) startCache(ctx context.Context) error {
	metrics := &collectorSet{}
	c, err := cache.New(ctx, cache.Options{Config: g.cfg.Cache, Embedder: g.llm.CacheEmbedder(),
		Registerer: metrics, Logger: g.log})
	if err != nil {
		return err
	}
	g.cacheMetrics.use(metrics)
	if err := g.metrics.Registry().Register(&g.cacheMetrics); err != nil {
		_ = c.Close()
		return fmt.Errorf("register cache metrics: %w", err)
	}
	g.cache.Store(c)
	if c.Enabled() {
		g.llm.SetCache(c)
		st := c.Stats(ctx)
		embedder := "lexical"
		if e := g.llm.CacheEmbedder(); e != nil {
			embedder = e.Name()
		}
		g.log.Info().Str("exact", st.Exact.Backend).Str("semantic", st.Semantic.Backend).Str("embedder", embedder).
			Msg("response cache enabled")
	}
	return nil
}

// closeCache waits for background stores, then closes the cache.
func (g *Gateway) closeCache(ctx context.Context) error {
	err := g.llm.WaitCacheStores(ctx)
	return errors.Join(err, g.cache.Load().Close())
}

func (g *Gateway) cacheStats(w http.ResponseWriter, r *http.Request) error {
	writeJSON(w, http.StatusOK, g.cache.Load().Stats(r.Context()))
	return nil
}

// cachePurgeRequest is the body of POST /admin/v1/cache/purge.
type cachePurgeRequest struct {
	Team   string `json:"team,omitempty"`
	Key    string `json:"key,omitempty"`
	Tenant string `json:"tenant,omitempty"`
	Model  string `json:"model,omitempty"`
}

type cachePurgeResponse struct {
	Deleted int64 `json:"deleted"`
}

func (g *Gateway) cachePurge(w http.ResponseWriter, r *http.Request) error {
	var in cachePurgeRequest
	if r.ContentLength != 0 {
		if err := decodeJSON(r, &in); err != nil {
			return err
		}
	}
	return g.purgeCache(w, r, in)
}

func (g *Gateway) cacheDelete(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	return g.purgeCache(w, r, cachePurgeRequest{Team: q.Get("team"), Key: q.Get("key"), Tenant: q.Get("tenant"), Model: q.Get("model")})
}

func (g *Gateway) purgeCache(w http.ResponseWriter, r *http.Request, in cachePurgeRequest) error {
	f := cache.Filter{Tenant: in.Tenant, Model: in.Model}
	set := 0
	if in.Tenant != "" {
		set++
	}
	if in.Team != "" {
		set++
		f.Tenant = "team:" + in.Team
	}
	if in.Key != "" {
		set++
		k, err := g.policy.Key(in.Key)
		if err != nil {
			return policyError(err)
		}
		f.Tenant = "key:" + k.ID
	}
	if set > 1 {
		return errBadRequest("invalid_filter", "give at most one of team, key and tenant")
	}
	n, err := g.cache.Load().Purge(r.Context(), f)
	if err != nil {
		return &Error{Status: http.StatusBadGateway, Type: "server_error", Code: "cache_unavailable",
			Message: "the cache back-end failed; some entries may remain", Err: err}
	}
	g.log.Info().Str("tenant", f.Tenant).Str("model", f.Model).Int64("deleted", n).Msg("cache purged")
	writeJSON(w, http.StatusOK, cachePurgeResponse{Deleted: n})
	return nil
}

// mountCache adds the cache's admin routes.
func (g *Gateway) mountCache(r chi.Router) {
	r.Get("/cache", handlerFunc(g.cacheStats).ServeHTTP)
	r.Get("/cache/stats", handlerFunc(g.cacheStats).ServeHTTP)
	r.Post("/cache/purge", handlerFunc(g.cachePurge).ServeHTTP)
	r.Delete("/cache", handlerFunc(g.cacheDelete).ServeHTTP)
}
