// Package cache owns the response cache: the exact tier (a canonical request
// hash), the semantic tier (embedding similarity), the embedders, and the
// index back-ends (an in-process index by default, Qdrant in production).
//
// Entries are always scoped (team or key, model, tool set) so tenants never
// see each other's answers. It does not import llm; callers hand it requests
// and responses in its own terms.
package cache
