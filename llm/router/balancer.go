package router

import (
	"math"
	"math/bits"
	"sync"
	"sync/atomic"
	"time"

	"github.com/junctionhq/junction/llm/chat"
)

// Adaptive balancing (the default strategy) is the power of two choices:
// draw two distinct targets at random, weighted by Weight, among those
// whose breaker admits traffic and that are not cooling down, and send the
// request to the one with the lower score
//
//	score = L × (1 + 10·E) × (1 + I)
//
// where
//
//   - L is the target's latency estimate: an EWMA of the time to answer
//     of its successes, and of its failures that took longer than the
//     estimate (a timeout makes a target slower; a fast failure never
//     makes it look faster). Each sample weighs max(0.25, 1 − e^(−s)),
//     where s is the staleness of the estimate (below): after a quiet
//     spell a sample counts almost fully. A target with no sample yet
//     counts as the median of the route's estimates (1s when none has
//     one): optimistic, but not infinitely so.
//   - E is the EWMA of its error rate (retryable failures and exhausted
//     quotas count as errors), each outcome weighing max(0.2, 1 − e^(−s)):
//     10% errors count as twice as slow.
//   - I is the number of requests in flight on it, which spreads
//     concurrent load before any latency is measured and shifts it away
//     from a target that slows down under load.
//
// Both estimates decay while they go unrefreshed: the balancer uses
// L·e^(−s) and E·e^(−s), with the staleness
//
//	s = (time since the last observation) / 30s + (times passed over in a draw since) / 20
//
// so that a target avoided for being slow or failing gets a request again
// after a while (a target 5× slower than its rival gets about one in 30 of
// the requests where it is drawn, whatever the latencies; more when
// requests come many seconds apart), and regains its share within a few
// dozen requests once it has recovered. L·e^(−s) never goes below half the
// route's fastest estimate, so that a target that was idle for long is not
// swamped before its first answer (the in-flight factor keeps a floor to
// multiply).
//
// The weighted strategy draws one target at random by weight among the
// same admitted targets.
const (
	healthDecay    = 30 * time.Second // time for one e-fold of staleness
	skipDecay      = 20.0             // draws lost for one e-fold of staleness
	latencyAlpha   = 0.25
	errorAlpha     = 0.2
	errorPenalty   = 10.0
	nominalLatency = float64(time.Second)

	// maxTargets bounds a route's targets so that per-request sets of
	// targets are one machine word.
	maxTargets = 64
)

// targetKey identifies a target for health: the same API key of the same
// provider model, in whichever routes, shares one backend.
type targetKey struct{ provider, model, keyName string }

// backend is the shared, concurrency-safe state of one target: latency and
// error estimates, requests in flight, cool-down and circuit breaker.
// Readers (the balancer) use atomics only.
type backend struct {
	key       targetKey
	inFlight  atomic.Int64
	coolUntil atomic.Int64                       // stamp before which the target is excluded (retry-after, exhausted quota)
	coolCause atomic.Pointer[chat.UpstreamError] // the failure that started the last cool-down
	breaker   breaker

	latency atomic.Int64  // EWMA in ns; 0 until the first sample; written under mu
	errRate atomic.Uint64 // EWMA of the error rate, float64 bits; written under mu
	lastObs atomic.Int64  // stamp of the last observation; written under mu
	skipped atomic.Int64  // draws lost since the last observation; reset under mu

	mu   sync.Mutex // serializes observe's read-modify-write of latency, errRate, lastObs and seen
	seen bool       // observed at least once
}

// observe folds one outcome at now into the estimates: d is how long the
// target took to answer (0 when unknown), failed whether it failed.
func (b *backend) observe(now int64, d time.Duration, failed bool) {
	b.fold(now, d, !failed, failed)
}

// fold is observe, where answered says that d is a genuine time to answer
// (a success, or a stream that broke after its first event came d after
// the request): it counts as a latency sample whatever the outcome. A
// failure that did not answer counts only when it took longer than the
// estimate, so that a fast failure never makes a target look faster.
func (b *backend) fold(now int64, d time.Duration, answered, failed bool) {
	b.mu.Lock()
	var stale float64
	if b.seen {
		stale = b.staleness(now)
	}
	lat := b.latency.Load()
	switch {
	case d <= 0:
	case lat == 0:
		if answered {
			lat = int64(d)
		}
	case answered || int64(d) > lat:
		lat += int64(sampleWeight(stale, latencyAlpha) * float64(int64(d)-lat))
		lat = max(lat, 1)
	}
	e := math.Float64frombits(b.errRate.Load())
	x := 0.0
	if failed {
		x = 1
	}
	e += sampleWeight(stale, errorAlpha) * (x - e)
	b.latency.Store(lat)
	b.errRate.Store(math.Float64bits(e))
	b.lastObs.Store(now)
	b.skipped.Store(0)
	b.seen = true
	b.mu.Unlock()
}

// staleness is s of the formula above, at now.
func (b *backend) staleness(now int64) float64 {
	return float64(max(now-b.lastObs.Load(), 0))/float64(healthDecay) + float64(b.skipped.Load())/skipDecay
}

// sampleWeight is the weight of a new sample for an estimate of staleness
// stale: at least alpha, and the more the staler the estimate.
func sampleWeight(stale, alpha float64) float64 {
	return max(alpha, 1-math.Exp(-stale))
}

// estimate returns the latency (ns) and error rate as decayed at now, and
// whether the latency has a sample.
func (b *backend) estimate(now int64) (lat, errRate float64, known bool) {
	l := b.latency.Load()
	e := math.Float64frombits(b.errRate.Load())
	f := 1.0
	if s := b.staleness(now); s > 0 {
		f = math.Exp(-s)
	}
	return float64(l) * f, e * f, l > 0
}

// available reports whether the target may take a request now.
func (b *backend) available(now, openFor int64) bool {
	return b.coolUntil.Load() <= now && b.breaker.admits(now, openFor)
}

// coolDown excludes the target until now+d (or later, if already so)
// because of cause.
func (b *backend) coolDown(now int64, d time.Duration, cause *chat.UpstreamError) {
	until := now + int64(d)
	b.coolCause.Store(cause)
	for {
		cur := b.coolUntil.Load()
		if cur >= until || b.coolUntil.CompareAndSwap(cur, until) {
			return
		}
	}
}

// coolError is the failure that cools the target down, with RetryAfter
// set to the cool-down left at now.
func (b *backend) coolError(now int64) error {
	cause := b.coolCause.Load()
	if cause == nil {
		return nil
	}
	e := *cause
	e.RetryAfter = time.Duration(max(b.coolUntil.Load()-now, 0))
	return &e
}

// pick chooses the target of rt for an attempt at now, preferring targets
// not in tried, and claims it (the half-open probe, when its breaker is
// half-open). It returns -1 when no target admits traffic.
func (r *Router) pick(rt *routeEntry, now int64, tried uint64) (int, attemptMode) {
	var lost uint64 // targets whose half-open probe another request claimed first
	for {
		var admitted uint64
		for i, b := range rt.backends {
			if lost&(1<<i) == 0 && b.available(now, r.openFor) {
				admitted |= 1 << i
			}
		}
		if admitted == 0 {
			return -1, modeNormal
		}
		eligible := admitted &^ tried
		if eligible == 0 {
			eligible = admitted
		}
		i := r.draw(rt, eligible)
		if !rt.weighted && eligible&(eligible-1) != 0 {
			i = r.better(rt, i, r.draw(rt, eligible&^(1<<i)), now)
		}
		if mode, ok := rt.backends[i].breaker.acquire(now, r.openFor); ok {
			return i, mode
		}
		lost |= 1 << i
	}
}

// draw picks one target of set at random, weighted by Weight.
func (r *Router) draw(rt *routeEntry, set uint64) int {
	var sum float64
	for m := set; m != 0; m &= m - 1 {
		sum += rt.weights[bits.TrailingZeros64(m)]
	}
	u := r.float64() * sum
	last := 0
	for m := set; m != 0; m &= m - 1 {
		last = bits.TrailingZeros64(m)
		if u -= rt.weights[last]; u < 0 {
			return last
		}
	}
	return last // rounding
}

// better returns whichever of targets a and b of rt scores lower (a on a
// tie: a was drawn first, at random) and counts the other as passed over.
func (r *Router) better(rt *routeEntry, a, b int, now int64) int {
	la, ea, ka := rt.backends[a].estimate(now)
	lb, eb, kb := rt.backends[b].estimate(now)
	floor := rt.latencyFloor()
	la, lb = max(la, floor), max(lb, floor)
	if !ka || !kb {
		prior := rt.latencyPrior(now, floor)
		if !ka {
			la = prior
		}
		if !kb {
			lb = prior
		}
	}
	if score(lb, eb, rt.backends[b].inFlight.Load()) < score(la, ea, rt.backends[a].inFlight.Load()) {
		a, b = b, a
	}
	rt.backends[b].skipped.Add(1)
	return a
}

func score(lat, errRate float64, inFlight int64) float64 {
	return lat * (1 + errorPenalty*errRate) * float64(1+max(inFlight, 0))
}

// latencyFloor is half the fastest (undecayed) estimate of rt's targets.
func (rt *routeEntry) latencyFloor() float64 {
	var lowest int64
	for _, b := range rt.backends {
		if l := b.latency.Load(); l > 0 && (lowest == 0 || l < lowest) {
			lowest = l
		}
	}
	return float64(lowest) / 2
}

// latencyPrior is the estimate of a target with no sample: the median of
// the others' (decayed, floored) estimates, or nominalLatency.
func (rt *routeEntry) latencyPrior(now int64, floor float64) float64 {
	var buf [maxTargets]float64
	n := 0
	for _, b := range rt.backends {
		if l, _, known := b.estimate(now); known {
			// insertion sort: routes are small
			l = max(l, floor)
			j := n
			for ; j > 0 && buf[j-1] > l; j-- {
				buf[j] = buf[j-1]
			}
			buf[j] = l
			n++
		}
	}
	switch {
	case n == 0:
		return nominalLatency
	case n%2 == 1:
		return buf[n/2]
	}
	return (buf[n/2-1] + buf[n/2]) / 2
}
