package respcache

import (
	"context"
	"fmt"
	"math"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/junctionhq/junction/apierror"
	"github.com/junctionhq/junction/cache"
	"github.com/junctionhq/junction/llm/chat"
	"github.com/junctionhq/junction/policy"
)

// Cache response and request headers.
const (
	// HeaderCache says how a chat answer was served: HitExact, HitSemantic
	// or Miss. Absent when the request did not use the cache.
	HeaderCache = "X-Junction-Cache"
	// HeaderSimilarity is the similarity of a semantic hit, 0..1.
	HeaderSimilarity = "X-Junction-Cache-Similarity"
	// HeaderTTL asks for how long to keep this answer: whole seconds or a
	// Go duration, at most a year.
	HeaderTTL = "X-Junction-Cache-TTL"
	// HeaderThreshold is the least similarity of a semantic hit for this
	// request, 0..1.
	HeaderThreshold = "X-Junction-Cache-Threshold"
)

// Values of HeaderCache.
const (
	HitExact    = "hit-exact"
	HitSemantic = "hit-semantic"
	Miss        = "miss"
)

type noCacheKey struct{}

// WithoutCache returns a context whose chat requests are neither served
// from nor stored in the response cache. The agent loop runs its
// intermediate model calls with it.
func WithoutCache(ctx context.Context) context.Context {
	return context.WithValue(ctx, noCacheKey{}, true)
}

func bypassed(ctx context.Context) bool {
	v, _ := ctx.Value(noCacheKey{}).(bool)
	return v
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

// tenant scopes entries: the team ("team:<name>") in team scope when the
// key has one, otherwise the key ("key:<id>").
func tenant(id *policy.Identity, scope string) string {
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

// maxTTL bounds a per-request TTL.
const maxTTL = 365 * 24 * time.Hour

// parseHeaders parses X-Junction-Cache-TTL and X-Junction-Cache-Threshold;
// a bad value is a 400 (*apierror.Error).
func parseHeaders(h http.Header) (ttl time.Duration, threshold float64, err error) {
	if v := strings.TrimSpace(h.Get(HeaderTTL)); v != "" {
		if ttl, err = parseTTL(v); err != nil {
			return 0, 0, badRequest(HeaderTTL + ": " + err.Error())
		}
	}
	if v := strings.TrimSpace(h.Get(HeaderThreshold)); v != "" {
		threshold, err = strconv.ParseFloat(v, 64)
		if err != nil || threshold < 0 || threshold > 1 || threshold != threshold {
			return 0, 0, badRequest(HeaderThreshold + ": " + strconv.Quote(v) + " is not a number from 0 to 1")
		}
		if threshold == 0 {
			// cache.Request.Threshold 0 means "the configured one"; the
			// caller asked for any non-negative similarity.
			threshold = math.SmallestNonzeroFloat64
		}
	}
	return ttl, threshold, nil
}

func badRequest(msg string) *apierror.Error { return apierror.BadRequest("invalid_request", "", msg) }

// parseTTL reads whole seconds ("90") or a Go duration ("10m").
func parseTTL(v string) (time.Duration, error) {
	var d time.Duration
	if n, err := strconv.ParseInt(v, 10, 64); err == nil {
		if n <= 0 || n > int64(maxTTL/time.Second) {
			return 0, fmt.Errorf("%q is not a positive number of seconds up to one year", v)
		}
		d = time.Duration(n) * time.Second
	} else if d, err = time.ParseDuration(v); err != nil {
		return 0, fmt.Errorf("%q is neither seconds nor a duration such as 10m", v)
	}
	if d <= 0 || d > maxTTL {
		return 0, fmt.Errorf("%q must be positive and at most one year", v)
	}
	return d, nil
}
