// Package respcache holds the chat path's rules for the response cache
// (/v1/chat/completions and /v1/messages): what is cacheable, the keys a
// request is cached under, the value an answer is stored as, the request
// and response headers, and the background stores. The cache package
// stores opaque values; the llm package ties a chat request to this one
// and replays hits in the caller's format.
//
// Order on a request: the headers are checked and the keys computed before
// admission (Cache.Prepare: a bad header is a 400 that costs nothing); the
// lookup comes after admission (Call.Lookup), so a hit counts against rate
// limits like any request; a hit is settled with the nominal cost and zero
// usage. A miss is served as usual and, once the response is written,
// stored in the background (Call.Store).
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
// cache: they run with WithoutCache(ctx).
package respcache
