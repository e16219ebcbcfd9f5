package counters

import (
	"context"
	"errors"
	"fmt"
	"math"
	"sync/atomic"
	"time"
)

// Bucket is one counter an admission touches: a fixed-window counter
// identified by Key and Window.
type Bucket struct {
	// Key is the counter's stable identity, e.g. "key:3f2a:rpm"; the caller
	// builds it. It must not be empty, and one call must not list a Key twice.
	Key string
	// Window is the id of the current window (the caller passes e.g. the
	// window's start in unix seconds). A different Window means a fresh counter
	// starting at 0; use 0 for a counter that never resets. The Windows of one
	// Key are expected to grow over time.
	Window int64
	// TTL is how long after its creation the window's counter may be forgotten
	// (window length + slack); 0 means it never expires. Negative is invalid.
	// A TTL is set when a counter is created (or first given one) and is not
	// extended by later calls.
	TTL time.Duration
	// Limit bounds the value: Reserve admits only if value+Amount <= Limit. A
	// negative Limit means unlimited (just count).
	Limit int64
	// Amount is how much to add: >= 0 for Reserve, any sign for Adjust.
	Amount int64
	// Missing says what Reserve does when the window has no counter: it
	// was never made, it expired, or the back-end lost it (a restarted
	// process, a Redis without persistence). The zero value starts it at 0.
	// Adjust and Get ignore it.
	Missing Missing
	// Init is the value a missing counter starts from when Missing is
	// [StartAtInit], for example a budget's spend rebuilt from the usage
	// records. It must not be negative.
	Init int64
	// Slot optionally remembers where Key's counter is held, for back-ends
	// that keep counters in process ([Memory]): a call whose buckets carry
	// Slots finds their counters without hashing the Keys. Make one Slot per
	// Key with [NewSlot] and pass it with every call for that Key; a Slot
	// made for another Key is ignored. nil is always fine, and [Redis]
	// ignores Slots.
	Slot *Slot
}

// A Slot caches a back-end's lookup of one Key; see [Bucket.Slot]. It holds
// no counter value of its own, so a stale Slot (its counter was forgotten,
// or it was last used with another back-end) costs one lookup and is then
// refreshed. It is safe for concurrent use by any number of calls and
// back-ends.
type Slot struct {
	key   string
	entry atomic.Pointer[entry] // the Memory entry of key last found
}

// NewSlot returns a Slot for Key key.
func NewSlot(key string) *Slot { return &Slot{key: key} }

// Key is the Key the Slot was made for.
func (s *Slot) Key() string { return s.key }

// Missing is what Reserve does with a bucket whose window has no counter.
type Missing uint8

// What Reserve does with a missing counter.
const (
	// StartAtZero starts the counter at 0; it is created only when Reserve
	// admits.
	StartAtZero Missing = iota
	// ReportMissing changes nothing: Reserve returns an error wrapping
	// [ErrMissing], with values[i] = -1 for every bucket whose counter is
	// missing (and the current value of the others), so that the caller can
	// rebuild the value and call again with [StartAtInit].
	ReportMissing
	// StartAtInit starts the counter at Init, atomically with the check. The
	// counter is created at Init even when Reserve rejects, so a value rebuilt
	// for a window need not be rebuilt again.
	StartAtInit
)

// ErrMissing is returned (wrapped) by Reserve when a bucket with
// [ReportMissing] has no counter for its window; nothing was changed.
var ErrMissing = errors.New("counters: window has no counter")

// Counters is the atomic counter store. Implementations are safe for
// concurrent use.
type Counters interface {
	// Reserve atomically checks every bucket and, only if all stay within their
	// limit, adds each Amount. A bucket whose window has no counter counts
	// from 0, from its Init, or stops the call, as its Missing says. values
	// (len(values) must be >= len(bs), caller-provided to avoid allocation)
	// receives each bucket's value after the operation (or the current value
	// when rejected). It returns
	// rejected = -1 when admitted, else the index of the first bucket over its
	// limit (nothing was changed). An empty bs is admitted and changes nothing.
	//
	// On error rejected is -1 and must be ignored: the caller denies (fail
	// closed). With Redis a lost reply leaves it unknown whether the amounts
	// were added.
	Reserve(ctx context.Context, bs []Bucket, values []int64) (rejected int, err error)
	// Adjust adds each Amount (possibly negative) without limit checks, for
	// settling a reservation: it only touches a bucket whose window still
	// exists (a window that rolled over or expired is left alone, never
	// recreated); values never go below 0. Limit and TTL are ignored.
	Adjust(ctx context.Context, bs []Bucket) error
	// Get reads current values (0 for absent/expired windows) into values,
	// which must have len(values) >= len(bs). Amount, Limit and TTL are
	// ignored.
	Get(ctx context.Context, bs []Bucket, values []int64) error
	// Close releases the back-end. It is idempotent; every other method called
	// after it returns [ErrClosed].
	Close() error
}

// Both back-ends implement Counters.
var (
	_ Counters = (*Memory)(nil)
	_ Counters = (*Redis)(nil)
)

// ErrClosed is returned by every method called after Close.
var ErrClosed = errors.New("counters: closed")

// ErrInvalidInput matches (with errors.Is) every error about a malformed call:
// values shorter than bs, an empty or repeated Key, a negative Amount in
// Reserve, a negative TTL or Init, an unknown Missing. Such calls change nothing. It is always returned
// wrapped with the operation and the offending bucket.
var ErrInvalidInput = errors.New("invalid input")

// unlimited is the effective limit of a bucket with a negative Limit: values
// are int64, so an unlimited counter still stops at the largest one.
const unlimited = math.MaxInt64

// limitOf returns the limit Reserve enforces for b.
func limitOf(b *Bucket) int64 {
	if b.Limit < 0 {
		return unlimited
	}
	return b.Limit
}

// checkReserve reports what is wrong with the arguments of a Reserve call;
// a Key listed twice only when unique is set (Memory finds those itself, by
// comparing the counters the Keys lead to).
func checkReserve(bs []Bucket, values []int64, unique bool) error {
	if len(values) < len(bs) {
		return shortValues(bs, values)
	}
	for i := range bs {
		b := &bs[i]
		switch {
		case b.Amount < 0:
			return fmt.Errorf("%w: bucket %d (%q): Amount %d is negative", ErrInvalidInput, i, b.Key, b.Amount)
		case b.TTL < 0:
			return fmt.Errorf("%w: bucket %d (%q): TTL %s is negative", ErrInvalidInput, i, b.Key, b.TTL)
		case b.Init < 0:
			return fmt.Errorf("%w: bucket %d (%q): Init %d is negative", ErrInvalidInput, i, b.Key, b.Init)
		case b.Missing > StartAtInit:
			return fmt.Errorf("%w: bucket %d (%q): Missing %d is not a known mode", ErrInvalidInput, i, b.Key, b.Missing)
		}
	}
	return checkKeys(bs, unique)
}

// checkAdjust reports what is wrong with the arguments of an Adjust call.
func checkAdjust(bs []Bucket) error {
	return checkKeys(bs, true)
}

// checkGet reports what is wrong with the arguments of a Get call.
func checkGet(bs []Bucket, values []int64) error {
	if len(values) < len(bs) {
		return shortValues(bs, values)
	}
	return checkKeys(bs, false)
}

// shortValues is the error for a values slice too short for bs.
func shortValues(bs []Bucket, values []int64) error {
	return fmt.Errorf("%w: values has %d elements for %d buckets", ErrInvalidInput, len(values), len(bs))
}

// checkKeys reports an empty Key and, when unique is set, a Key listed twice.
// The quadratic scan is cheaper than a set for the handful of buckets a call
// carries and allocates nothing.
func checkKeys(bs []Bucket, unique bool) error {
	for i := range bs {
		if bs[i].Key == "" {
			return fmt.Errorf("%w: bucket %d: Key is empty", ErrInvalidInput, i)
		}
		if !unique {
			continue
		}
		for j := range i {
			if bs[j].Key == bs[i].Key {
				return repeatedKey(bs, j, i)
			}
		}
	}
	return nil
}

// repeatedKey is the error for buckets j and i sharing a Key.
func repeatedKey(bs []Bucket, j, i int) error {
	return fmt.Errorf("%w: buckets %d and %d both have Key %q", ErrInvalidInput, j, i, bs[i].Key)
}
