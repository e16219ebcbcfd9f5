package cache

import (
	"container/list"
	"context"
	"fmt"
	"hash/maphash"
	"sync"
	"time"
)

// MemoryIndexOptions configures NewMemoryIndex.
type MemoryIndexOptions struct {
	// MaxEntries bounds the index; when it is full the oldest point (by
	// insertion) is evicted. 0 means DefaultMaxEntries.
	MaxEntries int
	// Now is the clock for expiry. Default time.Now.
	Now func() time.Time
	// SweepInterval is how often an Upsert first deletes the expired points
	// (expired points are never found either way). Default 30s.
	SweepInterval time.Duration
}

// memIndex is the in-process Index: one HNSW graph per (scope, context), so a
// search with an exact filter walks only its own graph and a tenant's vectors
// never even meet another tenant's. Filters that leave fields empty visit every
// matching graph and merge.
type memIndex struct {
	now   func() time.Time
	max   int
	sweep time.Duration
	seed  maphash.Seed

	// mu guards everything below. Searches share it; writes hold it alone.
	mu        sync.RWMutex
	parts     map[partKey]*hnswGraph
	byID      map[string]*memRecord
	order     *list.List // of *memRecord, oldest first
	lastSweep time.Time
	closed    bool
}

type partKey struct {
	scope   Scope
	context string
}

// memRecord is one point: its data, and where it lives in the graphs.
type memRecord struct {
	p    Point // without Vector: the graph holds it
	part *hnswGraph
	slot int32
	elem *list.Element
}

var _ Index = (*memIndex)(nil)

// NewMemoryIndex returns the in-process HNSW index with expiry and a size
// bound (oldest evicted first when full).
func NewMemoryIndex(opts MemoryIndexOptions) Index {
	if opts.MaxEntries <= 0 {
		opts.MaxEntries = DefaultMaxEntries
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.SweepInterval <= 0 {
		opts.SweepInterval = 30 * time.Second
	}
	return &memIndex{
		now:   opts.Now,
		max:   opts.MaxEntries,
		sweep: opts.SweepInterval,
		seed:  maphash.MakeSeed(),
		parts: map[partKey]*hnswGraph{},
		byID:  map[string]*memRecord{},
		order: list.New(),
	}
}

func (m *memIndex) Upsert(ctx context.Context, p Point) error {
	vec := append([]float32(nil), p.Vector...)
	if !normalize(vec) {
		return ErrZeroVector
	}
	key := partKey{p.Scope, p.Context}
	vs := visitPool.Get().(*visitSet)
	defer visitPool.Put(vs)
	// Search the new node's neighbours under the read lock, concurrently
	// with lookups; the write lock below then only links.
	m.mu.RLock()
	planned := m.parts[key]
	var plan *insertPlan
	if planned != nil && planned.dims == len(vec) {
		plan = planned.plan(vec, vs)
	}
	m.mu.RUnlock()
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return ErrClosed
	}
	now := m.now()
	if now.Sub(m.lastSweep) >= m.sweep {
		m.deleteWhere(func(r *memRecord) bool { return expired(r.p.ExpiresAt, now) })
		m.lastSweep = now
	}
	g := m.parts[key]
	if g != nil && g.dims != len(vec) {
		if old, ok := m.byID[p.ID]; !(ok && old.part == g && g.live == 1) {
			return fmt.Errorf("%w: %d, the scope holds %d", ErrDimensions, len(vec), g.dims)
		}
	}
	if old, ok := m.byID[p.ID]; ok {
		m.removeRecord(old)
		g = m.parts[key]
	}
	for m.order.Len() >= m.max {
		m.removeRecord(m.order.Front().Value.(*memRecord))
		g = m.parts[key]
	}
	if g == nil {
		g = newHNSWGraph(len(vec), maphash.String(m.seed, p.ID))
		m.parts[key] = g
	}
	p.Vector = nil
	p.Payload = append([]byte(nil), p.Payload...)
	r := &memRecord{p: p, part: g}
	if g != planned {
		plan = nil
	}
	r.slot = g.insert(vec, r, vs, plan)
	r.elem = m.order.PushBack(r)
	m.byID[p.ID] = r
	return nil
}

// removeRecord unlinks r everywhere; the caller holds mu.
func (m *memIndex) removeRecord(r *memRecord) {
	r.part.remove(r.slot)
	if r.part.live == 0 {
		delete(m.parts, partKey{r.p.Scope, r.p.Context})
	}
	m.order.Remove(r.elem)
	delete(m.byID, r.p.ID)
}

func (m *memIndex) deleteWhere(match func(*memRecord) bool) int64 {
	var n int64
	for e := m.order.Front(); e != nil; {
		next := e.Next()
		if r := e.Value.(*memRecord); match(r) {
			m.removeRecord(r)
			n++
		}
		e = next
	}
	return n
}

// isUnit reports whether v is unit length already (as embedders' vectors
// usually are), so a search need not copy it.
func isUnit(v []float32) bool {
	n := dot(v, v)
	return n > 0.9999 && n < 1.0001
}

func expired(at, now time.Time) bool { return !at.IsZero() && !now.Before(at) }

func (m *memIndex) Search(ctx context.Context, vector []float32, f IndexFilter, k int, minScore float64) ([]Match, error) {
	if k <= 0 {
		return nil, nil
	}
	q := vector
	if !isUnit(q) {
		q = append([]float32(nil), vector...)
		if !normalize(q) {
			return nil, nil
		}
	}
	m.mu.RLock()
	defer m.mu.RUnlock()
	if m.closed {
		return nil, ErrClosed
	}
	now := m.now()
	vs := visitPool.Get().(*visitSet)
	defer visitPool.Put(vs)
	var out []Match
	searchPart := func(g *hnswGraph) error {
		if g.dims != len(q) {
			if f.Exact {
				return fmt.Errorf("%w: query has %d, the scope holds %d", ErrDimensions, len(q), g.dims)
			}
			return nil
		}
		for _, c := range g.search(q, max(hnswEfSearch, k), vs) {
			if float64(c.sim) < minScore {
				break
			}
			nd := &g.nodes[c.id]
			if expired(nd.rec.p.ExpiresAt, now) {
				continue
			}
			m := Match{Point: nd.rec.p, Score: min(float64(c.sim), 1)}
			m.Vector = nd.vec.toDense()
			out = append(out, m)
		}
		return nil
	}
	if f.Exact {
		if g := m.parts[partKey{Scope{f.Tenant, f.Model, f.Tools}, f.Context}]; g != nil {
			if err := searchPart(g); err != nil {
				return nil, err
			}
		}
	} else {
		for key, g := range m.parts {
			if f.matches(key.scope, key.context) {
				_ = searchPart(g)
			}
		}
	}
	sortMatches(out)
	if len(out) > k {
		out = out[:k]
	}
	return out, ctx.Err()
}

func (m *memIndex) Delete(ctx context.Context, f IndexFilter) (int64, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return 0, ErrClosed
	}
	now := m.now()
	var live int64
	m.deleteWhere(func(r *memRecord) bool {
		ok := f.matches(r.p.Scope, r.p.Context)
		if ok && !expired(r.p.ExpiresAt, now) {
			live++
		}
		return ok
	})
	return live, nil
}

func (m *memIndex) Len(ctx context.Context) (int64, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return 0, ErrClosed
	}
	now := m.now()
	m.deleteWhere(func(r *memRecord) bool { return expired(r.p.ExpiresAt, now) })
	return int64(m.order.Len()), nil
}

// bytes estimates the memory the points hold (vectors, payloads, links).
func (m *memIndex) bytes() int64 {
	m.mu.RLock()
	defer m.mu.RUnlock()
	var n int64
	for _, r := range m.byID {
		v := &r.part.nodes[r.slot].vec
		n += int64(v.size()+len(r.p.Payload)+len(r.p.ID)+8*2*hnswM0) + 160
	}
	return n
}

func (m *memIndex) Close() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.closed = true
	m.parts, m.byID = nil, nil
	m.order.Init()
	return nil
}

func sortMatches(ms []Match) {
	// Insertion sort: the lists are short and mostly sorted already.
	for i := 1; i < len(ms); i++ {
		for j := i; j > 0 && ms[j].Score > ms[j-1].Score; j-- {
			ms[j], ms[j-1] = ms[j-1], ms[j]
		}
	}
}
