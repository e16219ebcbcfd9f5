package llm

import (
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/junctionhq/junction/llm/chat"
	"github.com/junctionhq/junction/llm/router"
)

// exhaustedRetryAfter is when a client turned away by e may come back: when
// no target takes traffic, the time until the first does; else what the
// last upstream asked for, if anything.
func exhaustedRetryAfter(e *router.ExhaustedError) time.Duration {
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
