package llm

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/junctionhq/junction/llm/chat"
)

// failureKind is what the router does after a failed attempt.
type failureKind uint8

const (
	// failRetry: wait (backoff or a short retry-after) and retry, preferring
	// another target. Counts against the target's breaker.
	failRetry failureKind = iota
	// failSkip: a retry-after longer than MaxRetryAfter; cool the target
	// down for it and move on without waiting. Counts against the breaker.
	failSkip
	// failQuota: an exhausted quota or spend cap; cool the target down and
	// move on without waiting. Not a breaker failure: the cool-down already
	// excludes the key, and the upstream itself is healthy.
	failQuota
	// failAuth: the provider refused Junction's credentials for the target
	// (a revoked or wrong key, see providerAuthFailure); cool the target
	// down for AuthCoolDown and move on without waiting. The key is at
	// fault, not the request: the other keys, targets and fallbacks may
	// still serve it. Not a breaker failure, as for failQuota.
	failAuth
	// failFatal: the request itself is wrong (a 4xx other than 408, 409 and
	// 429); return the error at once.
	failFatal
)

// failure is the router's reading of a failed attempt.
type failure struct {
	kind       failureKind
	retryAfter time.Duration // failRetry: what the upstream asked to wait, 0 when nothing
	cool       time.Duration // failSkip, failQuota, failAuth: how long to exclude the target
	upstream   *chat.UpstreamError
}

// classify reads err, as returned by an Attempt: a *chat.UpstreamError
// (possibly wrapped) says what the upstream answered; any other error is a
// network failure or a timeout, and retryable.
func (r *Router) classify(err error) failure {
	ue, ok := err.(*chat.UpstreamError)
	if !ok && !errors.As(err, &ue) {
		return failure{kind: failRetry}
	}
	switch {
	case providerAuthFailure(ue):
		return failure{kind: failAuth, cool: max(ue.RetryAfter, r.opts.AuthCoolDown), upstream: ue}
	case ue.QuotaExhausted():
		// Waiting will not fix it; exclude the key for what the upstream
		// said, and at least for a breaker's open period.
		return failure{kind: failQuota, cool: max(ue.RetryAfter, r.opts.BreakerOpen), upstream: ue}
	case !ue.Retryable():
		return failure{kind: failFatal}
	case ue.RetryAfter > r.opts.MaxRetryAfter:
		return failure{kind: failSkip, cool: ue.RetryAfter, upstream: ue}
	}
	return failure{kind: failRetry, retryAfter: ue.RetryAfter}
}

// backoff is the wait before retry n (0 for the first retry): "equal
// jitter" exponential backoff, uniformly drawn in [d/2, d) where
// d = min(BackoffBase·2ⁿ, BackoffMax), so that retries spread out but never
// come back at once.
func (r *Router) backoff(n int) time.Duration {
	d := r.opts.BackoffMax
	if n < 30 {
		if b := r.opts.BackoffBase << n; b > 0 && b < d {
			d = b
		}
	}
	half := d / 2
	return half + time.Duration(r.float64()*float64(d-half))
}

// sleepContext waits d, or until ctx is done (returning ctx.Err()).
func sleepContext(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// exhaustedRetryAfter is when a client turned away by e may come back: when
// no target takes traffic, the time until the first does; else what the
// last upstream asked for, if anything.
func exhaustedRetryAfter(e *ExhaustedError) time.Duration {
	if e.RetryAfter > 0 {
		return e.RetryAfter
	}
	var ue *chat.UpstreamError
	if errors.As(e.Last, &ue) {
		return ue.RetryAfter
	}
	return 0
}

// retryAfterHeader is the Retry-After header of a status-503 answer: d in
// whole seconds, rounded up, and at least 1. Other statuses get none.
func retryAfterHeader(status int, d time.Duration) map[string]string {
	if status != http.StatusServiceUnavailable {
		return nil
	}
	return map[string]string{"Retry-After": strconv.FormatInt(retryAfterSeconds(d), 10)}
}

// retryAfterSeconds is d in whole seconds, rounded up, at least 1.
func retryAfterSeconds(d time.Duration) int64 {
	secs := int64(d / time.Second)
	if d%time.Second > 0 {
		secs++
	}
	return max(1, secs)
}

// setErrorHeaders writes e's headers into h, and a Retry-After of one
// second on a 503 that has none: every 503 Junction makes on the LLM path
// tells the client when to come back.
func setErrorHeaders(h http.Header, e *apiError) {
	for k, v := range e.Header {
		h.Set(k, v)
	}
	if e.Status == http.StatusServiceUnavailable && h.Get("Retry-After") == "" {
		h.Set("Retry-After", "1")
	}
}
