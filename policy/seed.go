package policy

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/junctionhq/junction/store"
	"github.com/junctionhq/junction/store/counters"
)

// A budget's spend lives in a counter, which can be lost: in-process
// counters die with the process, and a Redis without persistence forgets
// them when it restarts. Losing one would hand the key (or team) its whole
// budget again, so a budget's counter is never created from zero: an
// admission that finds it missing rebuilds the period's spend from the
// usage records and starts the counter there, atomically with its own
// reservation (see [counters.StartAtInit]). Only a miss reads the store,
// and concurrent misses of one counter share one read.

// maxSeedRounds bounds how often one admission rebuilds counters that keep
// going missing (a Redis flushed again and again) before it gives up.
const maxSeedRounds = 3

// errCountersLost is the failure of an admission whose budget counters went
// missing every time they were rebuilt.
var errCountersLost = errors.New("budget counters went missing again after each rebuild")

// reserveSeeded finishes an admission whose Reserve found budget counters
// missing (marked -1 in r.values): it rebuilds each from the usage records
// and reserves again, the rebuilt value starting the counter unless another
// admission, here or on another replica, made it meanwhile. An error (the
// store did not answer in time) denies the work, as every policy that
// cannot be evaluated does.
func (e *Engine) reserveSeeded(ctx context.Context, r *Reservation, bs *buckets) (int, error) {
	for range maxSeedRounds {
		for i := range int(r.n) {
			if r.values[i] != -1 {
				continue
			}
			micros, err := e.seeds.spend(ctx, r.seedFor(r.planned(i)))
			if err != nil {
				return -1, err
			}
			bs[i].Missing, bs[i].Init = counters.StartAtInit, micros
		}
		rejected, err := e.reserve(ctx, bs, int(r.n), r.values[:r.n])
		if !errors.Is(err, counters.ErrMissing) {
			return rejected, err
		}
	}
	return -1, errCountersLost
}

// seedFor is what rebuilds budget p's counter for this admission's window.
func (r *Reservation) seedFor(p *plannedBucket) seedRequest {
	window, _ := r.window(p)
	return budgetSeed(r.id, p.scope(), counters.Bucket{Key: p.key, Window: window}, p.period, r.start)
}

// budgetSeed is what rebuilds b, the counter of id's key or team budget
// (by scope) of period, for the window holding t.
func budgetSeed(id *Identity, scope Scope, b counters.Bucket, period Period, t time.Time) seedRequest {
	q := store.SpendQuery{KeyID: id.KeyID()}
	if scope == ScopeTeam {
		q = store.SpendQuery{Team: id.TeamName()}
	}
	if period != PeriodNone {
		q.From, q.To = period.Window(t)
	}
	return seedRequest{key: seedKey{counter: b.Key, window: b.Window}, query: q}
}

// seedKey names one window of one budget counter.
type seedKey struct {
	counter string
	window  int64
}

// seedRequest is a counter window to rebuild and the query that sums its
// spend.
type seedRequest struct {
	key   seedKey
	query store.SpendQuery
}

// spendSeeds reads the spend that rebuilds budget counters: the usage
// records in the store, after writing this process's queued ones, within a
// short timeout.
type spendSeeds struct {
	// sum is the store's SpendMicros; flush writes the queued usage records.
	sum     func(context.Context, store.SpendQuery) (int64, error)
	flush   func(context.Context) error
	timeout time.Duration

	mu    sync.Mutex // guards calls
	calls map[seedKey]*seedCall

	// flushTurn is a one-slot semaphore held by the flush in progress.
	flushTurn chan struct{}
	// flushes counts the flushes begun, and flushErr is the last one's
	// outcome (guarded by flushTurn).
	flushes  atomic.Uint64
	flushErr error
}

// seedCall is one read of a counter window's spend, shared by the
// admissions that miss that counter at once.
type seedCall struct {
	done   chan struct{} // closed when micros and err are set
	micros int64
	err    error
}

func newSpendSeeds(st *store.Store, flush func(context.Context) error, timeout time.Duration) *spendSeeds {
	return &spendSeeds{sum: st.SpendMicros, flush: flush, timeout: timeout,
		calls: map[seedKey]*seedCall{}, flushTurn: make(chan struct{}, 1)}
}

// spend returns the spend recorded for req's counter window. The first
// caller reads it, bounded by the timeout and not by its own ctx (the
// others wait for its answer); the others wait at most until their ctx is
// done.
func (s *spendSeeds) spend(ctx context.Context, req seedRequest) (int64, error) {
	s.mu.Lock()
	c, waiting := s.calls[req.key]
	if !waiting {
		c = &seedCall{done: make(chan struct{})}
		s.calls[req.key] = c
	}
	s.mu.Unlock()
	if waiting {
		select {
		case <-c.done:
			return c.micros, c.err
		case <-ctx.Done():
			return 0, fmt.Errorf("policy: rebuild the spend of %s: %w", req.key.counter, ctx.Err())
		}
	}
	c.micros, c.err = s.read(context.WithoutCancel(ctx), req)
	s.mu.Lock()
	delete(s.calls, req.key)
	s.mu.Unlock()
	close(c.done)
	return c.micros, c.err
}

// read writes the queued usage records and then sums req's spend in the
// store, within the timeout.
func (s *spendSeeds) read(ctx context.Context, req seedRequest) (int64, error) {
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	if err := s.flushQueued(ctx); err != nil {
		return 0, fmt.Errorf("policy: rebuild the spend of %s: write the queued usage records: %w", req.key.counter, err)
	}
	micros, err := s.sum(ctx, req.query)
	if err != nil {
		return 0, fmt.Errorf("policy: rebuild the spend of %s: %w", req.key.counter, err)
	}
	return micros, nil
}

// flushQueued returns once every usage record queued before the call is in
// the store. Concurrent callers share flushes: a caller that waited while
// another flush ran needs its own only when that one began before it came
// (it may have missed the caller's records) or failed.
func (s *spendSeeds) flushQueued(ctx context.Context) error {
	arrived := s.flushes.Load()
	select {
	case s.flushTurn <- struct{}{}:
	case <-ctx.Done():
		return ctx.Err()
	}
	defer func() { <-s.flushTurn }()
	if s.flushes.Load() > arrived && s.flushErr == nil {
		return nil // a flush begun after this call came has succeeded
	}
	s.flushes.Add(1)
	s.flushErr = s.flush(ctx)
	return s.flushErr
}
