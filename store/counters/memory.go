package counters

import (
	"context"
	"fmt"
	"math"
	"sync"
	"sync/atomic"
	"time"
)

// Sweep pacing. Expired entries are removed by the writes themselves, never by
// a goroutine: every new Key makes the write that inserted it examine
// sweepPerInsert entries, and every trickleEvery-th write examines
// trickleBatch more, so a map that stops growing is still emptied of its dead
// entries. Sampling 4 entries per insertion bounds the dead share of the map at
// about a quarter in the steady state (it settles where 4·dead/total = 1).
const (
	sweepPerInsert = 4
	trickleEvery   = 64
	trickleBatch   = 16
)

// MemoryOptions configures [NewMemory]. The zero value is ready to use.
type MemoryOptions struct {
	// Now is the clock used for TTL expiry; nil means the wall clock at
	// NewMemory advanced by the monotonic clock, which is immune to wall
	// clock steps and costs one clock read instead of time.Now's two. Tests
	// inject a fake one.
	Now func() time.Time
}

// Memory is the in-process back-end: one mutex over a map from Key to the
// counter of its current window. Every call holds the mutex for its whole
// duration, which is what makes a multi-bucket Reserve atomic; the critical
// section is one map lookup per bucket (none for a bucket whose [Slot]
// already holds its entry), and nothing in Reserve, Adjust or Get allocates
// once a Key's entry exists (a rolled-over window reuses it).
//
// Memory keeps only the newest window of each Key. A Reserve carrying an older
// Window than the stored one (a request that raced a rollover) is checked and
// counted in the newer window, so it can neither reset that counter nor escape
// every limit; Get and Adjust with an older Window see a forgotten window (0,
// left alone). Expired entries read as absent and are deleted by a bounded
// sweep amortised over writes; Memory starts no goroutine.
//
// Use [NewMemory]; the zero value is not usable.
type Memory struct {
	now func() int64 // unix nanoseconds
	id  uint64       // tells this Memory's entries from other ones' in a Slot

	// mu guards entries, found, writes and closed, and is held for the whole
	// of each call.
	mu sync.Mutex
	// entries maps Key to its newest window's counter; nil once closed.
	// Entries are pointers so that a call updates them in place, hashing each
	// Key once.
	entries map[string]*entry
	// found is the scratch space for the entries of a call with many
	// buckets, kept to avoid allocating it per call; it holds no pointers
	// between calls.
	found []*entry
	// writes counts Reserve and Adjust calls, pacing the trickle sweep.
	writes uint64
	// closed is set by Close.
	closed bool
}

// entry is the counter of one Key's current window.
type entry struct {
	window  int64 // Bucket.Window it counts
	value   int64 // never negative
	expires int64 // unix nanoseconds at which it is forgotten; 0 = never
	// owner is the id of the Memory whose map holds the entry, 0 once it
	// was deleted from it: a Slot's entry is that Key's only while owner is
	// the Memory's id. Stored under that Memory's mutex; atomic because a
	// Slot used with two Memories reads it under the other one's.
	owner atomic.Uint64
}

// memoryIDs numbers Memories, from 1.
var memoryIDs atomic.Uint64

// lookup returns b's entry (nil when the Key has none), through b.Slot when
// it holds the entry, else by hashing the Key and remembering the result in
// b.Slot. m.mu must be held.
func (m *Memory) lookup(b *Bucket) *entry {
	s := b.Slot
	if s == nil || s.key != b.Key {
		return m.entries[b.Key]
	}
	if e := s.entry.Load(); e != nil && e.owner.Load() == m.id {
		return e
	}
	e := m.entries[b.Key]
	if e != nil {
		s.entry.Store(e)
	}
	return e
}

// live reports whether e has not expired at now (unix nanoseconds).
func (e *entry) live(now int64) bool { return e.expires == 0 || now < e.expires }

// expiry returns when a counter created at now with ttl expires (0 = never).
func expiry(now int64, ttl time.Duration) int64 {
	if ttl <= 0 {
		return 0
	}
	if now > math.MaxInt64-int64(ttl) {
		return math.MaxInt64
	}
	return now + int64(ttl)
}

// NewMemory returns an empty in-process counter store.
func NewMemory(opts MemoryOptions) *Memory {
	var now func() int64
	if opts.Now != nil {
		now = func() int64 { return opts.Now().UnixNano() }
	} else {
		start := time.Now()
		startNano := start.UnixNano()
		now = func() int64 { return startNano + int64(time.Since(start)) }
	}
	return &Memory{now: now, id: memoryIDs.Add(1), entries: make(map[string]*entry)}
}

// Reserve implements [Counters.Reserve]. It never blocks beyond the mutex, so
// ctx is not consulted.
func (m *Memory) Reserve(_ context.Context, bs []Bucket, values []int64) (int, error) {
	if err := checkReserve(bs, values, false); err != nil {
		return -1, fmt.Errorf("counters: memory reserve: %w", err)
	}
	now := m.now()
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return -1, ErrClosed
	}
	// Check every bucket before touching any, remembering the entries found
	// so that each Key is looked up once.
	var local [8]*entry
	found := m.entryScratch(&local, len(bs))
	if len(bs) > len(local) {
		defer clear(found) // drop the pointers: found lives on in m.found
	}
	if err := m.lookupAll(bs, found); err != nil {
		return -1, fmt.Errorf("counters: memory reserve: %w", err)
	}
	rejected, missing := -1, false
	for i := range bs {
		b, e := &bs[i], found[i]
		var v int64
		switch {
		case e.holds(b, now):
			v = e.value // also for an older Window: see [Memory]
		case b.Missing == ReportMissing:
			values[i], missing = -1, true
			continue
		case b.Missing == StartAtInit:
			v = b.Init
		}
		values[i] = v
		if rejected < 0 && b.Amount > limitOf(b)-v {
			rejected = i
		}
	}
	if missing {
		return -1, fmt.Errorf("counters: memory reserve: %w", ErrMissing)
	}
	inserted := 0
	if rejected >= 0 {
		// Only the counters rebuilt from Init are made, at Init.
		for i := range bs {
			if b := &bs[i]; b.Missing == StartAtInit && !found[i].holds(b, now) {
				if _, added := m.open(b, found[i], now); added {
					inserted++
				}
			}
		}
		if inserted > 0 {
			m.maintain(now, inserted)
		}
		return rejected, nil
	}
	for i := range bs {
		b := &bs[i]
		e, added := m.open(b, found[i], now)
		if added {
			inserted++
		}
		e.value += b.Amount // cannot overflow: the check above bounds it by limitOf(b)
		values[i] = e.value
	}
	m.maintain(now, inserted)
	return -1, nil
}

// holds reports whether e (nil for none) is a live counter that b counts
// in: its window, or a newer one (see [Memory]).
func (e *entry) holds(b *Bucket, now int64) bool {
	return e != nil && e.live(now) && e.window >= b.Window
}

// open returns the counter b counts in, given e, the entry of b's Key (nil
// for none): e itself when it holds b's window (or a newer one), else e
// restarted, or a new entry inserted, for b's window, at 0 or at b.Init as
// b.Missing says. added reports a new entry. m.mu must be held.
func (m *Memory) open(b *Bucket, e *entry, now int64) (_ *entry, added bool) {
	var start int64
	if b.Missing == StartAtInit {
		start = b.Init
	}
	switch {
	case e == nil:
		e = &entry{window: b.Window, value: start, expires: expiry(now, b.TTL)}
		e.owner.Store(m.id)
		m.entries[b.Key] = e
		if b.Slot != nil && b.Slot.key == b.Key {
			b.Slot.entry.Store(e)
		}
		return e, true
	case !e.live(now) || b.Window > e.window:
		e.window, e.value, e.expires = b.Window, start, expiry(now, b.TTL)
	case e.expires == 0 && b.TTL > 0:
		e.expires = expiry(now, b.TTL)
	}
	return e, false
}

// entryScratch returns room for the entries of a call with n buckets: local
// (the caller's array on its stack: no write barriers, nothing to clear)
// for the few buckets of a usual call, else m.found resliced or regrown,
// which the caller clears when done. m.mu must be held.
func (m *Memory) entryScratch(local *[8]*entry, n int) []*entry {
	if n <= len(local) {
		return local[:n]
	}
	if cap(m.found) < n {
		m.found = make([]*entry, n)
	}
	return m.found[:n]
}

// lookupAll puts the entry of each bucket's Key (nil for none) into found,
// and reports a Key listed twice. m.mu must be held.
func (m *Memory) lookupAll(bs []Bucket, found []*entry) error {
	for i := range bs {
		found[i] = m.lookup(&bs[i])
	}
	if j, i := repeated(bs, found); i >= 0 {
		return repeatedKey(bs, j, i)
	}
	return nil
}

// repeated returns the indexes j < i of two buckets with the same Key, or
// -1s, given the entry each bucket's Key leads to (nil for none): two Keys
// with entries are the same exactly when their entries are, so only Keys
// without one are compared as strings.
func repeated(bs []Bucket, found []*entry) (j, i int) {
	for i := 1; i < len(bs); i++ {
		for j := range i {
			if found[i] == found[j] && (found[i] != nil || bs[i].Key == bs[j].Key) {
				return j, i
			}
		}
	}
	return -1, -1
}

// Adjust implements [Counters.Adjust]. Values saturate at math.MaxInt64.
//
// Adjust reads no clock (except when the trickle sweep is due): an entry of
// the right Window that has expired but not yet been swept may be adjusted,
// which nobody can observe, since an expired entry reads as absent, is
// started afresh by the next Reserve and is deleted by the sweep.
func (m *Memory) Adjust(_ context.Context, bs []Bucket) error {
	if err := checkKeys(bs, false); err != nil {
		return fmt.Errorf("counters: memory adjust: %w", err)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return ErrClosed
	}
	var local [8]*entry
	found := m.entryScratch(&local, len(bs))
	if len(bs) > len(local) {
		defer clear(found) // drop the pointers: found lives on in m.found
	}
	if err := m.lookupAll(bs, found); err != nil {
		return fmt.Errorf("counters: memory adjust: %w", err)
	}
	for i := range bs {
		b, e := &bs[i], found[i]
		if b.Amount == 0 || e == nil || e.window != b.Window {
			continue // nothing to add, or rolled over or never created: leave it alone
		}
		switch {
		case b.Amount > 0 && e.value > math.MaxInt64-b.Amount:
			e.value = math.MaxInt64
		case e.value+b.Amount < 0: // e.value >= 0, so this cannot underflow
			e.value = 0
		default:
			e.value += b.Amount
		}
	}
	m.writes++
	if m.writes%trickleEvery == 0 {
		m.sweep(m.now(), trickleBatch)
	}
	return nil
}

// Get implements [Counters.Get].
func (m *Memory) Get(_ context.Context, bs []Bucket, values []int64) error {
	if err := checkGet(bs, values); err != nil {
		return fmt.Errorf("counters: memory get: %w", err)
	}
	now := m.now()
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return ErrClosed
	}
	for i := range bs {
		b := &bs[i]
		values[i] = 0
		if e := m.lookup(b); e != nil && e.window == b.Window && e.live(now) {
			values[i] = e.value
		}
	}
	return nil
}

// Close drops every counter. It is idempotent and returns nil; later calls of
// the other methods return [ErrClosed].
func (m *Memory) Close() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.closed = true
	for _, e := range m.entries {
		e.owner.Store(0)
	}
	m.entries, m.found = nil, nil
	return nil
}

// maintain runs the amortised sweep after a write that inserted inserted new
// Keys. m.mu must be held.
func (m *Memory) maintain(now int64, inserted int) {
	m.writes++
	n := inserted * sweepPerInsert
	if m.writes%trickleEvery == 0 {
		n += trickleBatch
	}
	if n > 0 {
		m.sweep(now, n)
	}
}

// sweep examines up to n entries, starting wherever Go's randomised map
// iteration starts, and deletes those expired at now. m.mu must be held.
func (m *Memory) sweep(now int64, n int) {
	for k, e := range m.entries {
		if !e.live(now) {
			delete(m.entries, k)
			e.owner.Store(0) // a Slot holding e must look k up again
		}
		n--
		if n == 0 {
			return
		}
	}
}
