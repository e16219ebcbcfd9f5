// Package cache owns the response cache: the exact tier (the caller's
// canonical request hash), the semantic tier (embedding similarity), the
// built-in lexical embedder, and the back-ends (memory and Redis for the exact
// tier; an in-process HNSW index and Qdrant for the semantic tier).
//
// It stores opaque values: the llm package decides what the bytes are and
// computes the exact key. It does not import llm, mcp, policy or gateway.
//
// # Scoping
//
// Every entry carries a Scope (tenant, model, tool-set hash) and, in the
// semantic tier, a Context (hash of the system prompt and earlier turns). A
// lookup only ever sees entries with an equal Scope, and semantic hits also
// need an equal Context, so tenants never see each other's answers. The memory
// index keeps one HNSW graph per scope and context; Qdrant filters on payload
// fields.
//
// # Tiers
//
// Lookup tries the exact tier, then the semantic tier: the prompt is embedded
// and the nearest live entry of the same scope and context is a hit when its
// cosine similarity is at least the threshold (Request.Threshold > 0
// overrides the configured one). Store writes both tiers with the TTL.
//
// # Thresholds and the lexical fallback
//
// Without an embedding model the cache uses NewLexical: feature hashing of
// lower-cased words (function words weigh a quarter), word bigrams, pairs of
// consecutive content words and character trigrams into 512 signed
// dimensions, L2-normalised. It sees shared wording, not meaning, so it runs
// with DefaultLexicalThreshold (0.95). On the pairs in pairs_test.go the
// lowest paraphrase (case, punctuation, "please", contractions, "five"/"5",
// "an"/"the") scores 0.985 and the highest different question (one word
// changed, even in a 26-word prompt, or two words swapped) 0.935. Known limits:
// spelling variants ("summarise") miss, and very long prompts that differ in
// one word can exceed 0.95; lower the risk with a real embedding model.
// DefaultThreshold (0.92) is for real embedding models; it has not been tuned
// against one here.
//
// # Failing open
//
// A failing back-end never fails a request: Lookup and Store return a
// *BackendError, count it in junction_cache_backend_errors_total, and the
// caller treats it as a miss. Qdrant and Redis calls are bounded by a timeout
// (100ms by default), so a dead back-end costs at most that.
package cache
