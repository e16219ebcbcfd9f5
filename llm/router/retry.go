package router

import (
	"context"
	"errors"
	"net/http"
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
	// (a revoked or wrong key, see AuthFailure); cool the target
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
	case AuthFailure(ue):
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

// JunctionProvider is the Provider of the upstream errors Junction makes
// itself for a request it cannot send: they are the request's fault, never
// a provider's refusal of its credentials.
const JunctionProvider = "junction"

// AuthFailure reports a provider refusing Junction's own credentials: 401,
// 403 or 407 from the provider, or an error that says so in its type or
// code (Gemini answers a bad key with 400 API_KEY_INVALID; a stream
// reports it in-band).
func AuthFailure(up *chat.UpstreamError) bool {
	if up.Provider == JunctionProvider {
		return false
	}
	switch up.Status {
	case http.StatusUnauthorized, http.StatusForbidden, http.StatusProxyAuthRequired:
		return true
	}
	switch up.Type {
	case "authentication_error", "permission_error", "UNAUTHENTICATED", "PERMISSION_DENIED":
		return true
	}
	switch up.Code {
	case "invalid_api_key", "API_KEY_INVALID":
		return true
	}
	return false
}
