package cache

import (
	"container/list"
	"context"
	"sync"
	"time"
)

// exactStore is an exact-tier back-end: entries keyed by scope and the
// caller's request hash.
type exactStore interface {
	get(ctx context.Context, s Scope, key string) (*Entry, error)
	set(ctx context.Context, s Scope, key string, e Entry, ttl time.Duration) error
	purge(ctx context.Context, f Filter) (int64, error)
	// stats returns entries and bytes, -1 when unknown.
	stats(ctx context.Context) (entries, bytes int64)
	name() string
	close() error
}

type exactKey struct {
	scope Scope
	key   string
}

// memoryExact is a bounded LRU with per-entry expiry.
type memoryExact struct {
	maxBytes int64
	now      func() time.Time

	// mu guards everything below.
	mu    sync.Mutex
	items map[exactKey]*list.Element // of *exactItem
	lru   *list.List                 // most recently used first
	bytes int64
}

type exactItem struct {
	k       exactKey
	e       Entry
	expires time.Time
	size    int64
}

// exactOverhead approximates the bookkeeping of one entry (map slot, list
// element, item struct).
const exactOverhead = 160

func newMemoryExact(maxBytes int64, now func() time.Time) *memoryExact {
	return &memoryExact{maxBytes: maxBytes, now: now, items: map[exactKey]*list.Element{}, lru: list.New()}
}

func (m *memoryExact) name() string { return BackendMemory }

func (m *memoryExact) get(_ context.Context, s Scope, key string) (*Entry, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	el, ok := m.items[exactKey{s, key}]
	if !ok {
		return nil, nil
	}
	it := el.Value.(*exactItem)
	if expired(it.expires, m.now()) {
		m.removeElement(el)
		return nil, nil
	}
	m.lru.MoveToFront(el)
	e := it.e
	return &e, nil
}

func (m *memoryExact) set(_ context.Context, s Scope, key string, e Entry, ttl time.Duration) error {
	k := exactKey{s, key}
	size := int64(len(e.Value)+len(key)+len(s.Tenant)+len(s.Model)+len(s.Tools)) + exactOverhead
	if size > m.maxBytes {
		return nil // larger than the whole cache: not stored
	}
	e.Value = append([]byte(nil), e.Value...)
	m.mu.Lock()
	defer m.mu.Unlock()
	if el, ok := m.items[k]; ok {
		m.removeElement(el)
	}
	it := &exactItem{k: k, e: e, size: size}
	if ttl > 0 {
		it.expires = m.now().Add(ttl)
	}
	m.items[k] = m.lru.PushFront(it)
	m.bytes += size
	for m.bytes > m.maxBytes {
		m.removeElement(m.lru.Back())
	}
	return nil
}

func (m *memoryExact) removeElement(el *list.Element) {
	it := m.lru.Remove(el).(*exactItem)
	delete(m.items, it.k)
	m.bytes -= it.size
}

func (m *memoryExact) purge(_ context.Context, f Filter) (int64, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var n int64
	for el := m.lru.Front(); el != nil; {
		next := el.Next()
		it := el.Value.(*exactItem)
		if (f.Tenant == "" || f.Tenant == it.k.scope.Tenant) && (f.Model == "" || f.Model == it.k.scope.Model) {
			m.removeElement(el)
			n++
		}
		el = next
	}
	return n, nil
}

func (m *memoryExact) stats(context.Context) (int64, int64) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return int64(len(m.items)), m.bytes
}

func (m *memoryExact) close() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.items = map[exactKey]*list.Element{}
	m.lru.Init()
	m.bytes = 0
	return nil
}
