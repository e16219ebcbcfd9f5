package cache

import (
	"context"
	"time"
)

// Point is one vector in an index.
type Point struct {
	// ID identifies the point; an Upsert with an existing ID replaces it.
	ID     string
	Vector []float32
	// Scope and Context are what IndexFilter matches on.
	Scope   Scope
	Context string
	// Payload is opaque (the encoded Entry for the cache).
	Payload []byte
	// ExpiresAt is when the point stops being found; zero means never.
	ExpiresAt time.Time
}

// Match is a point found by Search. Its Vector and Payload belong to the index
// and must not be modified.
type Match struct {
	Point
	// Score is the cosine similarity to the query vector.
	Score float64
}

// IndexFilter restricts a search or a delete. Without Exact, empty fields
// match anything (Scope fields are compared one by one). With Exact every
// field must be equal, empty ones included: the cache's semantic lookups use
// it so that an entry stored without tools or context only serves requests
// without tools or context.
type IndexFilter struct {
	Tenant, Model, Tools, Context string
	Exact                         bool
}

// ExactFilter is the filter that matches exactly scope s and context ctx.
func ExactFilter(s Scope, context string) IndexFilter {
	return IndexFilter{Tenant: s.Tenant, Model: s.Model, Tools: s.Tools, Context: context, Exact: true}
}

// matches reports whether a point of scope s and context ctx passes f.
func (f IndexFilter) matches(s Scope, ctx string) bool {
	eq := func(want, have string) bool { return (want == "" && !f.Exact) || want == have }
	return eq(f.Tenant, s.Tenant) && eq(f.Model, s.Model) && eq(f.Tools, s.Tools) && eq(f.Context, ctx)
}

// Index is a vector index with scoped points and expiry. Implementations are
// safe for concurrent use.
type Index interface {
	// Upsert adds p or replaces the point with the same ID.
	Upsert(ctx context.Context, p Point) error
	// Search returns up to k points matching f with Score >= minScore, best
	// first, skipping expired ones.
	Search(ctx context.Context, vector []float32, f IndexFilter, k int, minScore float64) ([]Match, error)
	// Delete removes the points matching f, expired or not, and returns how
	// many live ones it removed.
	Delete(ctx context.Context, f IndexFilter) (int64, error)
	// Len returns how many live points the index holds.
	Len(ctx context.Context) (int64, error)
	Close() error
}
