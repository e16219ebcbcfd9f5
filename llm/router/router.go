// Package router picks the target of each LLM request: routes (aliases and
// provider/models) with their targets and fallbacks, adaptive or weighted
// balancing, retries with backoff, cool-downs, circuit breakers. It knows
// nothing of HTTP or of the client's wire format: an attempt is a function
// the caller gives, which returns what it produced as a value (Do).
package router

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/junctionhq/junction/llm/chat"
)

// Candidate is one target of a route with the provider that serves it.
type Candidate struct {
	// Route is the route (alias or provider/model) it belongs to; NewRouter
	// fills it in when empty.
	Route string
	// Target is where the request goes. Its (Provider, Model, KeyName)
	// identifies it for health: the same key of the same model in two
	// routes shares one latency estimate and one breaker.
	Target chat.Target
	// Provider serves Target.
	Provider chat.Provider
	// Weight is the target's share of traffic, > 0.
	Weight float64

	// Upstream is the caller's own description of the provider the
	// candidate was made from (the LLM service's configured provider
	// entry); the router carries it and never reads it. Nil for routers
	// built directly.
	Upstream any
}

// Route is an alias (or a direct provider/model) with its targets.
type Route struct {
	// Name is what clients put in "model".
	Name string
	// Targets are the candidates, at most 64, each target at most once.
	Targets []Candidate
	// Fallbacks are route names tried in order when every target of this
	// one failed (and, breadth-first, their own fallbacks).
	Fallbacks []string
	// Strategy is "adaptive" (default) or "weighted"; see balancer.go.
	Strategy string

	// Demand is the caller's bookkeeping of a route it made on demand (the
	// LLM service's use of an unlisted provider/model route, which requests
	// hold without a lock); the router carries it and never reads it. Nil
	// for every other route.
	Demand any
}

// DefaultAuthCoolDown is RouterOptions.AuthCoolDown's default.
const DefaultAuthCoolDown = 5 * time.Minute

// RouterOptions configure a Router. Zero values mean the defaults.
type RouterOptions struct {
	// Routes are the routes, each name once.
	Routes []Route
	// MaxAttempts bounds the attempts on one route before moving to the
	// next fallback. Default 3.
	MaxAttempts int
	// MaxTotalAttempts bounds the attempts across the whole chain. Default 6.
	MaxTotalAttempts int
	// BackoffBase and BackoffMax shape the jittered exponential backoff
	// between attempts. Defaults 100ms and 2s.
	BackoffBase, BackoffMax time.Duration
	// MaxRetryAfter is the longest upstream retry-after the router waits;
	// a longer one means: do not wait, try another target, and cool that
	// one down for the retry-after. Default 5s.
	MaxRetryAfter time.Duration
	// BreakerFailures consecutive retryable failures open a target's
	// breaker. Default 5.
	BreakerFailures int
	// BreakerOpen is how long a breaker stays open before it admits one
	// half-open probe. Default 30s.
	BreakerOpen time.Duration
	// AuthCoolDown is how long a target whose provider refused Junction's
	// credentials (401, 403, 407, or an error saying so) is left out:
	// a revoked key does not come back by itself, and replacing its value
	// (a reload, the admin API) starts the target afresh. At least
	// BreakerOpen. Default 5m.
	AuthCoolDown time.Duration
	// Now is the clock. Default time.Now.
	Now func() time.Time
	// Sleep waits between attempts; it returns early with ctx.Err() when
	// ctx is done. Default a timer honouring ctx.
	Sleep func(ctx context.Context, d time.Duration) error
	// Rand draws targets and jitter, under a lock. By default the router
	// uses math/rand/v2's global generator, which the runtime seeds from
	// the operating system's entropy and which needs no lock. Set it for
	// reproducible tests.
	Rand *rand.Rand
	// OnFailure, when set, is told of every failure a target is blamed
	// for (one that counts against its error rate): a failed attempt,
	// whether or not another attempt then succeeded, and, with
	// inStream, a stream broken after its first event (Result.Finish).
	// It runs on the request's goroutine and must return quickly; the
	// LLM metrics count failures with it.
	OnFailure func(c *Candidate, err error, inStream bool)
}

// Attempt performs one call on c and returns what it produced, or the
// error: a *chat.UpstreamError (possibly wrapped), or any other error, which
// means a network failure or a timeout and is retryable unless ctx is done.
// ttfb is how long until the upstream answered (for latency tracking); 0 if
// unknown, and the router uses the duration of the call. The value of a
// failed attempt is dropped.
type Attempt[T any] func(ctx context.Context, c *Candidate) (value T, ttfb time.Duration, err error)

// Result is what Do returns: how it served the request, and the value of
// the answering attempt.
type Result[T any] struct {
	Served
	// Value is what the answering attempt returned; the zero T on error.
	Value T
}

// Served describes how Do served a request, whatever its attempts return.
type Served struct {
	// Candidate is the target that answered; on error, the last one tried
	// (nil when none was).
	Candidate *Candidate
	// Attempts is the number of attempt calls made.
	Attempts int
	// Fallbacks is the number of routes after the requested one that were
	// tried.
	Fallbacks int
	// UpstreamTime is the total time spent inside attempt calls.
	UpstreamTime time.Duration

	// open is the answering attempt of DoStream, whose outcome waits for
	// Finish; nil for Do.
	open *openAttempt
}

// Finish reports how the stream that DoStream opened ended, and with it
// the answering target's health: nil for a stream that ran to its end;
// context.Canceled (or an error wrapping it) for one cut because its
// client went away, which says nothing about the target; any other error
// (the upstream cut the connection, sent an error event or fell silent
// past the idle timeout) is a failure of the target, for its breaker and
// its share of traffic. Only the first call counts; Finish on a Result of
// Do, or of a failed DoStream, does nothing.
func (s Served) Finish(err error) { s.open.finish(err) }

// openAttempt is a successful DoStream attempt whose stream is still being
// relayed: the target counts it in flight and, while half-open, holds its
// probe for it.
type openAttempt struct {
	r    *Router
	c    *Candidate
	b    *backend
	mode attemptMode
	lat  time.Duration // time to the first event
	done atomic.Bool
}

// finish settles the attempt once: see Result.Finish.
func (o *openAttempt) finish(err error) {
	if o == nil || !o.done.CompareAndSwap(false, true) {
		return
	}
	r := o.r
	o.b.inFlight.Add(-1)
	now := r.stamp(r.opts.Now())
	switch {
	case err == nil:
		o.b.observe(now, o.lat, false)
		o.b.breaker.succeeded(o.mode)
	case errors.Is(err, context.Canceled):
		o.b.breaker.released(o.mode)
	default:
		if r.record(o.b, o.mode, now, o.lat, true, r.classify(err)) {
			r.blame(o.c, err, true)
		}
	}
}

// UnknownModelError is returned by Do for a model (or request fallback)
// that names no route.
type UnknownModelError struct {
	Model string
}

// Error names the model.
func (e *UnknownModelError) Error() string {
	return fmt.Sprintf("llm: unknown model %q", e.Model)
}

// ErrCircuitOpen is ExhaustedError.Last when no attempt was made because
// the breaker of every target of the chain was open (or had its one
// half-open probe in flight).
var ErrCircuitOpen = errors.New("llm: every target's circuit breaker is open")

// ExhaustedError is returned by Do when no target of the model's chain
// succeeded within the attempt limits. It unwraps to the last failure.
type ExhaustedError struct {
	// Model is the requested model (alias or provider/model).
	Model string
	// Attempts is the number of attempts made: 0 when no target of the
	// chain admitted traffic (the request failed fast, without reaching
	// any upstream).
	Attempts int
	// Last is the last upstream failure. When no attempt was made, it is
	// ErrCircuitOpen, or, when a cool-down ends before any breaker
	// half-opens, the *chat.UpstreamError that started the cool-down
	// ending first, with RetryAfter set to the time left.
	Last error
	// RetryAfter is how long until a target of the chain takes traffic
	// again (the earliest end of an open period or cool-down) when none
	// did as Do returned; 0 when one did.
	RetryAfter time.Duration
}

// Error names the model and the last upstream failure.
func (e *ExhaustedError) Error() string {
	switch {
	case e.Last == nil:
		return fmt.Sprintf("llm: no target of %q is available", e.Model)
	case e.Attempts == 0:
		return fmt.Sprintf("llm: no target of %q is available; last: %v", e.Model, e.Last)
	}
	return fmt.Sprintf("llm: every target of %q failed (%d attempts); last: %v", e.Model, e.Attempts, e.Last)
}

// Unwrap returns Last.
func (e *ExhaustedError) Unwrap() error { return e.Last }

// TargetState is a snapshot of one target of one route, for metrics.
type TargetState struct {
	Route, Provider, Model, KeyName string
	// Breaker is BreakerStateClosed, BreakerStateOpen or
	// BreakerStateHalfOpen (open, and admitting its probe).
	Breaker string
	// LatencyEWMA is the latency estimate as last observed (not decayed).
	LatencyEWMA time.Duration
	// ErrorRate is the error-rate estimate (0 to 1) as last observed.
	ErrorRate float64
	// InFlight is the number of requests on the target now.
	InFlight int
}

// Router picks targets for requests, retries and fails over. It is safe
// for concurrent use; its routes are fixed at construction (build a new
// Router when the configuration changes).
type Router struct {
	opts    RouterOptions // with defaults
	tab     atomic.Pointer[routeTable]
	epoch   time.Time
	openFor int64 // opts.BreakerOpen in ns

	// addMu serialises AddRoute and guards backends, the health state of
	// every target by identity, shared by the routes that name it.
	addMu    sync.Mutex
	backends map[targetKey]*backend

	randMu sync.Mutex // guards opts.Rand when set
}

// Do runs attempt on the best candidate of r's route model, retrying and
// failing over (the route's fallbacks, breadth-first, then the routes in
// extra, the request's own fallbacks, with theirs; each route at most once)
// until one succeeds, an error is not retryable (returned as is, at once,
// e.g. a 400), the attempts are spent (an *ExhaustedError), or ctx is done
// (ctx.Err()). An unknown model or extra route is an *UnknownModelError.
//
// Between attempts it waits a jittered exponential backoff, or the
// upstream's retry-after when that is at most MaxRetryAfter; a longer
// retry-after, an exhausted quota or a provider refusing the key (for
// AuthCoolDown) cools the target down instead, and the next attempt goes
// elsewhere at once. A retry prefers a target of the
// route not tried yet by this request.
//
// Targets whose breaker is open are skipped, and a route with every
// target open gives way to its fallbacks. When nothing in the whole chain
// admits traffic (every breaker open or cooling down), Do fails at once,
// without calling attempt, with an *ExhaustedError whose RetryAfter says
// when the first target takes traffic again. Once a breaker's open period
// has passed, one request at a time probes the target (half-open) until
// one succeeds (closing it) or fails (opening it again).
//
// The answering attempt's value is the Result's Value. Do is a function,
// not a method, because it is generic over the value's type.
func Do[T any](ctx context.Context, r *Router, model string, extra []string, attempt Attempt[T]) (Result[T], error) {
	return do(ctx, r, model, extra, attempt, false)
}

// DoStream is Do for streamed answers, whose outcome is known only when the
// stream ends. The attempt that opens a stream (its first event arrived)
// ends the retries as in Do, but its target's health waits for the end of
// the stream: it stays in flight on the target, holds the target's
// half-open probe if it took it, and counts as a success or a failure for
// the breaker and the balancer when the caller reports the outcome with
// Result.Finish. After a successful DoStream the caller must call Finish
// exactly once (a deferred call is the safe way).
func DoStream[T any](ctx context.Context, r *Router, model string, extra []string, attempt Attempt[T]) (Result[T], error) {
	return do(ctx, r, model, extra, attempt, true)
}

// do is Do, or DoStream with stream.
func do[T any](ctx context.Context, r *Router, model string, extra []string, attempt Attempt[T], stream bool) (Result[T], error) {
	primary := r.tab.Load().routes[model]
	if primary == nil {
		return Result[T]{}, &UnknownModelError{Model: model}
	}
	for _, name := range extra {
		if r.tab.Load().routes[name] == nil {
			return Result[T]{}, &UnknownModelError{Model: name}
		}
	}
	d := dispatch[T]{r: r, ctx: ctx, attempt: attempt, primary: primary, stream: stream}
	if err := ctx.Err(); err != nil {
		return d.res, err
	}
	for _, e := range primary.chain {
		if done, err := d.route(e); done {
			return d.res, err
		}
	}
	for i, name := range extra {
		for _, e := range r.tab.Load().routes[name].chain {
			if r.visited(e, primary, extra[:i]) {
				continue
			}
			if done, err := d.route(e); done {
				return d.res, err
			}
		}
	}
	retryAfter, cooling := r.unavailable(primary, extra)
	if d.res.Attempts == 0 {
		d.last = ErrCircuitOpen
		if cooling != nil {
			d.last = cooling
		}
	}
	return d.res, &ExhaustedError{Model: model, Attempts: d.res.Attempts, Last: d.last, RetryAfter: retryAfter}
}

// visited reports whether e was in the chain of primary or of a route in
// before.
func (r *Router) visited(e, primary *routeEntry, before []string) bool {
	if slices.Contains(primary.chain, e) {
		return true
	}
	for _, name := range before {
		if slices.Contains(r.tab.Load().routes[name].chain, e) {
			return true
		}
	}
	return false
}

// dispatch is the state of one Do call. It lives on Do's stack.
type dispatch[T any] struct {
	r       *Router
	ctx     context.Context
	attempt Attempt[T]
	primary *routeEntry
	stream  bool // DoStream: a success's outcome waits for Result.Finish
	res     Result[T]
	last    error         // the last failure
	wait    time.Duration // to wait before the next attempt
	retries int           // backoffs so far, the exponent of the next
}

// route makes attempts on e's targets; done says Do must return err.
func (d *dispatch[T]) route(e *routeEntry) (done bool, err error) {
	r := d.r
	var tried uint64 // targets of e this request tried
	for n := 0; n < r.opts.MaxAttempts && d.res.Attempts < r.opts.MaxTotalAttempts; n++ {
		if d.wait > 0 {
			if err := r.opts.Sleep(d.ctx, d.wait); err != nil {
				return true, err
			}
			d.wait = 0
		}
		if err := d.ctx.Err(); err != nil {
			return true, err
		}
		start := r.opts.Now()
		i, mode := r.pick(e, r.stamp(start), tried)
		if i < 0 {
			return false, nil // nothing of e admits traffic: next route
		}
		if n == 0 && e != d.primary {
			d.res.Fallbacks++
		}
		tried |= 1 << i
		if done, err := d.try(e, i, mode, start); done {
			return true, err
		}
	}
	return false, nil
}

// unavailable is for when Do gives up: if no target of the chain
// (primary's, and the routes in extra with theirs) admits traffic now, it
// returns how long until the first one does, and, when that one is cooling
// down rather than behind an open breaker, the failure that started its
// cool-down (with RetryAfter set to the time left). It returns 0 and nil
// when a target admits traffic now.
func (r *Router) unavailable(primary *routeEntry, extra []string) (time.Duration, error) {
	now := r.stamp(r.opts.Now())
	first, cooling := int64(math.MaxInt64), (*backend)(nil)
	consider := func(e *routeEntry) {
		for _, b := range e.backends {
			at := b.breaker.admitsAt(now, r.openFor)
			until := b.coolUntil.Load()
			if until > at {
				at = until
			}
			if at < first {
				first, cooling = at, nil
				if until == at && until > now {
					cooling = b
				}
			}
		}
	}
	for _, e := range primary.chain {
		consider(e)
	}
	for _, name := range extra {
		for _, e := range r.tab.Load().routes[name].chain {
			consider(e)
		}
	}
	if first <= now {
		return 0, nil
	}
	var cause error
	if cooling != nil {
		cause = cooling.coolError(now)
	}
	return time.Duration(first - now), cause
}

// try makes one attempt on target i of e, picked at start, and settles
// its outcome; done says Do must return err (nil: success). A DoStream
// success is settled later, by Result.Finish.
func (d *dispatch[T]) try(e *routeEntry, i int, mode attemptMode, start time.Time) (done bool, err error) {
	r := d.r
	c := &e.pub.Targets[i]
	b := e.backends[i]
	d.res.Attempts++
	d.res.Candidate = c
	value, ttfb, elapsed, end, err := call(d.ctx, r, c, b, mode, d.attempt, start, d.stream)
	d.res.UpstreamTime += elapsed
	now := r.stamp(end)
	lat := ttfb
	if lat <= 0 {
		lat = elapsed
	}
	if err == nil {
		d.res.Value = value
		if d.stream {
			d.res.open = &openAttempt{r: r, c: c, b: b, mode: mode, lat: lat}
			return true, nil
		}
		b.observe(now, lat, false)
		b.breaker.succeeded(mode)
		return true, nil
	}
	if cerr := d.ctx.Err(); cerr != nil {
		b.breaker.released(mode)
		return true, cerr
	}
	f := r.classify(err)
	if r.record(b, mode, now, lat, false, f) {
		r.blame(c, err, false)
	}
	switch f.kind {
	case failFatal:
		return true, err
	case failRetry:
		if f.retryAfter > 0 {
			d.wait = f.retryAfter
		} else {
			d.wait = r.backoff(d.retries)
			d.retries++
		}
	}
	d.last = err
	return false, nil
}

// record folds the failed attempt f, in mode, that took lat, into b's
// health at now, and reports whether the target is to blame (false for a
// request the upstream refused as the client's fault). answered says the
// target did answer in lat (a stream that broke after its first event).
func (r *Router) record(b *backend, mode attemptMode, now int64, lat time.Duration, answered bool, f failure) bool {
	switch f.kind {
	case failFatal:
		// The upstream answered; the request is at fault, not the target.
		b.observe(now, lat, false)
		b.breaker.succeeded(mode)
		return false
	case failQuota, failAuth:
		b.coolDown(now, f.cool, f.upstream)
		b.observe(now, 0, true)
		b.breaker.released(mode)
	case failSkip:
		b.coolDown(now, f.cool, f.upstream)
		b.fold(now, lat, answered, true)
		b.breaker.failed(now, int32(r.opts.BreakerFailures), mode)
	default:
		b.fold(now, lat, answered, true)
		b.breaker.failed(now, int32(r.opts.BreakerFailures), mode)
	}
	return true
}

// blame tells OnFailure about a failure of c.
func (r *Router) blame(c *Candidate, err error, inStream bool) {
	if r.opts.OnFailure != nil {
		r.opts.OnFailure(c, err, inStream)
	}
}

// call runs attempt on c, counting it in flight on b, and times it from
// start (a clock reading just before; one fewer on the hot path) to end,
// when it returned. With keep, a success stays in flight until its
// Result is finished. If attempt panics, the half-open probe it may hold
// is given back so that the target is not shut out for good.
func call[T any](ctx context.Context, r *Router, c *Candidate, b *backend, mode attemptMode, attempt Attempt[T], start time.Time, keep bool) (value T, ttfb, elapsed time.Duration, end time.Time, err error) {
	b.inFlight.Add(1)
	finished := false
	defer func() {
		if !finished {
			b.inFlight.Add(-1)
			b.breaker.released(mode)
		}
	}()
	value, ttfb, err = attempt(ctx, c)
	end = r.opts.Now()
	finished = true
	if err != nil || !keep {
		b.inFlight.Add(-1)
	}
	return value, ttfb, end.Sub(start), end, err
}

// stamp converts t to nanoseconds since the router's epoch (monotonic
// when the clock is).
func (r *Router) stamp(t time.Time) int64 { return int64(t.Sub(r.epoch)) }

// float64 draws from [0, 1): from opts.Rand under randMu, or else from
// math/rand/v2's global generator, which the runtime seeds from the
// operating system's entropy and which needs no lock.
func (r *Router) float64() float64 {
	if r.opts.Rand == nil {
		return rand.Float64()
	}
	r.randMu.Lock()
	f := r.opts.Rand.Float64()
	r.randMu.Unlock()
	return f
}
