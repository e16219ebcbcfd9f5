package policy

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"

	"github.com/junctionhq/junction/store/counters"
)

// Settling corrects a reservation by what the work used, and that update
// can fail (Redis unreachable). What a lost correction costs depends on its
// sign:
//
//   - a refund (the work used less than reserved, the common case for
//     budgets) that is lost leaves the estimate counted: the key is denied
//     a little early, but spend never passes a budget;
//   - a charge (the work used more than reserved: a request without
//     max_tokens against a tokens-per-minute limit, a longer answer than
//     estimated) that is lost under-counts, and spend could pass the
//     budget by it.
//
// So charges are retried in the background, with backoff, for
// MeterConfig.SettleRetry; refunds are not. A counter call that timed out
// may still have been applied (Redis ran it after the caller gave up), and
// the counters cannot tell: a charge applied twice over-counts, which fails
// closed, while a refund applied twice would under-count, which fails open.
//
// Pending charges are summed per counter window, so memory is bounded by
// the number of distinct windows (maxPendingCharges), not by requests; a
// charge for a window beyond the bound, or still failing after
// SettleRetry, is given up, counted and logged. A charge for a window that
// has ended changes nothing (Adjust leaves missing windows alone).

// maxPendingCharges bounds the counter windows with a charge waiting.
const maxPendingCharges = 10000

// Retry backoff of pending charges.
const (
	chargeRetryMin = 100 * time.Millisecond
	chargeRetryMax = 5 * time.Second
)

// chargeKey identifies one counter window.
type chargeKey struct {
	key    string
	window int64
}

// pendingCharge is what is owed to one counter window.
type pendingCharge struct {
	bucket counters.Bucket // Amount is the sum owed
	since  time.Time       // when the first unpaid charge was added
}

// chargeRetries retries the charges of failed settlements. Its goroutine
// is started by start and stopped by close.
type chargeRetries struct {
	adjust   func(ctx context.Context, b counters.Bucket) error
	now      func() time.Time
	retryFor time.Duration
	log      zerolog.Logger

	// mu guards pending and full.
	mu      sync.Mutex
	pending map[chargeKey]*pendingCharge
	full    bool          // a charge was turned away since pending last had room
	wake    chan struct{} // capacity 1: there is something to retry

	retried atomic.Int64 // charges applied on a retry
	givenUp atomic.Int64 // charges given up (too old, or no room)

	stop context.CancelFunc
	done chan struct{}
}

func newChargeRetries(adjust func(context.Context, counters.Bucket) error, now func() time.Time, retryFor time.Duration, log zerolog.Logger) *chargeRetries {
	return &chargeRetries{adjust: adjust, now: now, retryFor: retryFor, log: log,
		pending: map[chargeKey]*pendingCharge{}, wake: make(chan struct{}, 1), done: make(chan struct{})}
}

// start runs the retries until close.
func (q *chargeRetries) start() {
	ctx, stop := context.WithCancel(context.Background())
	q.stop = stop
	go q.run(ctx)
}

// add queues the positive amounts of bs (the charges of a settlement whose
// counter update failed); it never blocks.
func (q *chargeRetries) add(bs []counters.Bucket) {
	now := q.now()
	q.mu.Lock()
	for _, b := range bs {
		if b.Amount <= 0 {
			continue
		}
		k := chargeKey{b.Key, b.Window}
		if p := q.pending[k]; p != nil {
			p.bucket.Amount = satAdd(p.bucket.Amount, b.Amount)
			continue
		}
		if len(q.pending) >= maxPendingCharges {
			q.givenUp.Add(1)
			if !q.full {
				q.full = true
				q.log.Error().Int("pending", len(q.pending)).
					Msg("policy: too many counter charges wait for a retry; new ones are given up (counted) until there is room")
			}
			continue
		}
		q.full = false
		q.pending[k] = &pendingCharge{bucket: b, since: now}
	}
	q.mu.Unlock()
	select {
	case q.wake <- struct{}{}:
	default:
	}
}

// run retries the pending charges whenever some are added, backing off
// while the counters keep failing.
func (q *chargeRetries) run(ctx context.Context) {
	defer close(q.done)
	for {
		select {
		case <-ctx.Done():
			return
		case <-q.wake:
		}
		wait := chargeRetryMin
		for !q.retry(ctx) {
			t := time.NewTimer(wait)
			select {
			case <-ctx.Done():
				t.Stop()
				return
			case <-t.C:
			}
			wait = min(2*wait, chargeRetryMax)
		}
	}
}

// retry gives up the charges older than retryFor, then applies the others
// one by one, stopping at the first failure (the counters are still away:
// the rest would fail too). It reports whether nothing is left pending.
func (q *chargeRetries) retry(ctx context.Context) bool {
	q.expire(q.now().Add(-q.retryFor), "policy: counter charges could not be applied in time and are given up; "+
		"their counters under-count them until their windows end")
	for {
		k, b, ok := q.next()
		if !ok {
			return true
		}
		if err := q.adjust(ctx, b); err != nil {
			if ctx.Err() == nil {
				q.log.Debug().Err(err).Str("counter", b.Key).Msg("policy: retrying a counter charge failed")
			}
			return false
		}
		q.applied(k, b.Amount)
	}
}

// next returns a pending charge (a copy of its bucket), in no particular
// order: each round tries them all.
func (q *chargeRetries) next() (chargeKey, counters.Bucket, bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	for k, p := range q.pending {
		return k, p.bucket, true
	}
	return chargeKey{}, counters.Bucket{}, false
}

// applied takes amount, now applied, off k's charge; what was charged to
// k meanwhile stays pending.
func (q *chargeRetries) applied(k chargeKey, amount int64) {
	q.retried.Add(1)
	q.mu.Lock()
	defer q.mu.Unlock()
	p := q.pending[k]
	if p == nil {
		return
	}
	if p.bucket.Amount -= amount; p.bucket.Amount <= 0 {
		delete(q.pending, k)
	}
}

// expire gives up the charges pending since before cutoff, logging them
// as msg.
func (q *chargeRetries) expire(cutoff time.Time, msg string) {
	q.mu.Lock()
	var n int
	for k, p := range q.pending {
		if p.since.Before(cutoff) {
			n++
			delete(q.pending, k)
		}
	}
	q.mu.Unlock()
	if n > 0 {
		q.givenUp.Add(int64(n))
		q.log.Error().Int("charges", n).Msg(msg)
	}
}

// queued is the number of counter windows with a charge waiting.
func (q *chargeRetries) queued() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return len(q.pending)
}

// close stops the retries, trying the pending charges once more within
// ctx; what is left is given up.
func (q *chargeRetries) close(ctx context.Context) {
	q.stop()
	<-q.done
	if q.queued() == 0 {
		return
	}
	q.retry(ctx)
	q.expire(q.now().Add(time.Hour), "policy: counter charges could not be applied before shutdown and are given up")
}
