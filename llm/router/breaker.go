package router

import (
	"sync"
	"sync/atomic"
)

// Breaker states, as TargetState.Breaker reports them.
const (
	BreakerStateClosed   = "closed"
	BreakerStateOpen     = "open"
	BreakerStateHalfOpen = "half-open"
)

// Internal breaker states.
const (
	circuitClosed int32 = iota
	circuitOpen
	circuitHalfOpen
)

// attemptMode says how an attempt relates to its target's breaker.
type attemptMode uint8

const (
	// modeNormal: the breaker was closed when the target was picked.
	modeNormal attemptMode = iota
	// modeProbe: the attempt holds the breaker's one half-open probe; its
	// outcome (for a stream, the outcome of the whole stream) closes or
	// re-opens the breaker.
	modeProbe
)

// breaker is a target's circuit breaker: closed until failures consecutive
// retryable failures, then open for the open period, then half-open with
// one probe at a time whose outcome closes it or opens it again.
//
// Times are stamps (nanoseconds since the router's epoch). The hot path,
// admitting and settling a request while closed, touches only atomics.
type breaker struct {
	state    atomic.Int32 // circuit*; changed under mu
	openedAt atomic.Int64 // stamp of the last opening; changed under mu
	probing  atomic.Bool  // a half-open probe is in flight; changed under mu
	failures atomic.Int32 // consecutive failures while closed

	mu sync.Mutex // serializes state transitions (state, openedAt, probing, failures on the failure path)
}

// admits reports whether a request may be sent now (without claiming the
// half-open probe).
func (b *breaker) admits(now, openFor int64) bool {
	switch b.state.Load() {
	case circuitClosed:
		return true
	case circuitOpen:
		return now-b.openedAt.Load() >= openFor
	default:
		return !b.probing.Load()
	}
}

// acquire admits a request: ok says whether it may be sent; mode says
// whether it holds the half-open probe.
func (b *breaker) acquire(now, openFor int64) (mode attemptMode, ok bool) {
	if b.state.Load() == circuitClosed {
		return modeNormal, true
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	switch b.state.Load() {
	case circuitClosed:
		return modeNormal, true
	case circuitOpen:
		if now-b.openedAt.Load() < openFor {
			return modeNormal, false
		}
		b.state.Store(circuitHalfOpen)
	}
	if b.probing.Load() {
		return modeNormal, false
	}
	b.probing.Store(true)
	return modeProbe, true
}

// succeeded records an answer from the target.
func (b *breaker) succeeded(mode attemptMode) {
	if mode == modeNormal {
		// A late answer to a request admitted while closed says nothing
		// about an open breaker; while closed it ends the failure run.
		if b.state.Load() == circuitClosed && b.failures.Load() != 0 {
			b.failures.Store(0)
		}
		return
	}
	b.mu.Lock()
	b.state.Store(circuitClosed)
	b.failures.Store(0)
	b.probing.Store(false)
	b.mu.Unlock()
}

// failed records a retryable failure of the target at now.
func (b *breaker) failed(now int64, threshold int32, mode attemptMode) {
	b.mu.Lock()
	defer b.mu.Unlock()
	switch {
	case mode == modeProbe:
		b.open(now)
		b.probing.Store(false)
	case b.state.Load() == circuitClosed:
		if b.failures.Add(1) >= threshold {
			b.open(now)
		}
	}
}

// open opens the breaker at now. b.mu is held.
func (b *breaker) open(now int64) {
	b.state.Store(circuitOpen)
	b.openedAt.Store(now)
	b.failures.Store(0)
}

// released gives back a probe whose attempt ended without a verdict (the
// client went away, or the target reported an exhausted quota, which its
// cool-down handles).
func (b *breaker) released(mode attemptMode) {
	if mode != modeProbe {
		return
	}
	b.mu.Lock()
	b.probing.Store(false)
	b.mu.Unlock()
}

// admitsAt is the stamp from which the breaker admits a request: its
// open period's end while open, now while closed or half-open (a probe in
// flight settles within the request's own time, so a caller turned away
// for it may come back at once).
func (b *breaker) admitsAt(now, openFor int64) int64 {
	if b.state.Load() == circuitOpen {
		return b.openedAt.Load() + openFor
	}
	return now
}

// describe names the state as TargetState reports it.
func (b *breaker) describe(now, openFor int64) string {
	switch b.state.Load() {
	case circuitClosed:
		return BreakerStateClosed
	case circuitOpen:
		if now-b.openedAt.Load() >= openFor {
			return BreakerStateHalfOpen // it admits the probe now
		}
		return BreakerStateOpen
	}
	return BreakerStateHalfOpen
}
