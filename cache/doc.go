// Package cache owns the response cache: the exact tier (the caller's
// canonical request hash), the semantic tier (embedding similarity), the
// built-in lexical embedder, and the back-ends: memory (a bounded LRU) and
// Redis for the exact tier, an in-process HNSW index and Qdrant for the
// semantic tier. The vector index is exported (Index, NewMemoryIndex,
// NewQdrantIndex) for other uses, such as ranking tools.
//
// It stores opaque values: the llm package decides what the bytes are and
// computes the exact key. It must not import llm, mcp, policy or gateway.
//
// # Scoping
//
// Every entry carries a Scope (tenant, model, tool-set hash) and, in the
// semantic tier, a Context (hash of the system prompt and earlier turns). A
// lookup only sees entries with an equal Scope, and semantic hits also need an
// equal Context (empty fields included: an entry stored without tools serves
// only requests without tools), so tenants never see each other's answers. The
// memory index keeps one HNSW graph per scope and context, so a search never
// even visits another tenant's vectors; Qdrant filters on payload fields.
//
// # Tiers
//
// Lookup tries the exact tier, then the semantic tier: the prompt is embedded
// and the nearest live entry of the same scope and context is a hit when its
// cosine similarity is at least the threshold (Request.Threshold > 0
// overrides the configured one). Store writes both tiers with the TTL
// (Config.TTL, default 1h, when 0), reusing the vector the preceding Lookup
// computed. Lookup counts the tokens and cost saved by every hit it returns.
//
// # Thresholds and the lexical fallback
//
// Without an embedding model the cache uses NewLexical: feature hashing of
// lower-cased words (function words weigh a quarter, "five" counts as "5",
// contractions lose their suffix), word bigrams, pairs of consecutive content
// words, and character trigrams, each into one of 512 dimensions with a
// hash-derived sign, L2-normalised. It sees shared wording, not meaning, so it
// runs with the stricter DefaultLexicalThreshold, 0.95. On the pairs in
// pairs_test.go (TestLexicalThreshold) the lowest paraphrase (case,
// punctuation, "please", contractions, "five"/"5", "an"/"the") scores 0.985
// and the highest different question (one word changed, also in a 26-word
// prompt, or two words swapped) 0.935. Known limits: spelling variants
// ("summarise") miss, and prompts much longer than that which differ in one
// word can reach 0.95; a real embedding model avoids both. DefaultThreshold,
// 0.92, applies with an embedding model; it is a conventional value for
// modern text-embedding models and has not been tuned against one here (no
// model is available to the tests).
//
// # Back-ends
//
// Memory exact tier: an LRU bounded by Exact.MaxBytes (value, key, scope and
// ~160 bytes of bookkeeping per entry), entries expire by the injected clock.
//
// Redis exact tier (Exact.RedisURL): every key of a tenant shares the hash tag
// {T} (T a hash of the tenant), so each tenant's keys live in one cluster slot
// and its writes are one MULTI: jc:{T}:e:<hash> holds the encoded Entry with a
// PX expiry, jc:{T}:m:<model hash> is a sorted set of that model's entry keys
// scored by expiry (the scope index for Purge and Stats), jc:{T}:models maps
// model hashes to models, and jc:tenants lists the tenants. Needs Redis >= 7
// (EXPIRE NX/GT).
//
// Memory semantic tier: HNSW (M=16, 32 links on layer 0, ef 64 to build, 48
// to search) per scope and context, with real deletion (the nodes linking to a
// deleted node take over its links), expiry by the injected clock, and
// Semantic.MaxEntries as the bound, oldest evicted first. Vectors that are
// mostly zeros (the lexical ones) are stored sparse, as 4-byte (index, value)
// pairs, so their similarities are accurate to about 1e-4. A Store searches
// its neighbours under the index's read lock and takes the write lock only to
// link.
//
// Qdrant semantic tier: a collection per embedder and vector length
// (CollectionPrefix + "_" + sanitized embedder name + "_" + dims, created on
// first use with cosine distance and keyword/integer payload indexes on
// tenant, model, tools, context and expires_at), point IDs are name-based
// UUIDs of the cache's IDs, keyword fields are stored with a "=" prefix so an
// empty field is matchable, searches filter on scope, context and
// expires_at > now (unix seconds of the cache's clock), a sweeper deletes
// expired points every SweepInterval, and Purge deletes by filter.
//
// # Failing open
//
// A failing back-end never fails a request: Lookup, Store and Purge return a
// *BackendError, count it in junction_cache_backend_errors_total{backend},
// and the caller treats it as a miss. Qdrant calls are bounded by
// Qdrant.Timeout (100ms) and Redis commands by 100ms with one retry, so a dead
// back-end costs at most that; New does not wait for either.
//
// # Metrics
//
// junction_cache_hits_total{tier}, junction_cache_misses_total{tier},
// junction_cache_lookup_duration_seconds{tier} (semantic includes embedding),
// junction_cache_embed_duration_seconds, junction_cache_entries{tier,backend}
// and junction_cache_bytes{tier,backend} (read from the back-ends at scrape
// time), junction_cache_tokens_saved_total, junction_cache_cost_saved_usd_total
// and junction_cache_backend_errors_total{backend}.
package cache
