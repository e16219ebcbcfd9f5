package gateway

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"
)

// adminTimeoutRetry is the Retry-After of an admin request that timed out.
const adminTimeoutRetry = 5 * time.Second

// adminToolCallPath runs a tool under its own timeout (the upstream's or the
// request's), not the admin timeout.
const adminToolCallPath = "/admin/v1/tools/call"

// adminDeadlineKey marks a request context whose deadline is the admin
// timeout; its value is the timeout.
type adminDeadlineKey struct{}

// adminTimeout bounds every admin request by d, through its context, so
// that a frozen database answers 503 with Retry-After (see
// adminTimeoutError) instead of hanging: the store's queries all take the
// request's context.
func adminTimeout(d time.Duration) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if d <= 0 || (r.Method == http.MethodPost && r.URL.Path == adminToolCallPath) {
				next.ServeHTTP(w, r)
				return
			}
			ctx, cancel := context.WithTimeout(context.WithValue(r.Context(), adminDeadlineKey{}, d), d)
			defer cancel()
			next.ServeHTTP(w, r.WithContext(ctx))
		})
	}
}

// adminTimeoutError is the error an admin request answers when its admin
// timeout passed, whatever error the handler got from the cut query; nil
// when the request is not an admin one or its time did not run out.
func adminTimeoutError(r *http.Request, err error) *Error {
	ctx := r.Context()
	d, ok := ctx.Value(adminDeadlineKey{}).(time.Duration)
	if !ok || !errors.Is(ctx.Err(), context.DeadlineExceeded) {
		return nil
	}
	return &Error{Status: http.StatusServiceUnavailable, Type: "server_error", Code: "timeout",
		Message: fmt.Sprintf("the request did not finish within the admin timeout of %s (is the database slow or unreachable?); try again", d),
		Err:     err, Header: map[string]string{"Retry-After": strconv.Itoa(int(adminTimeoutRetry.Seconds()))}}
}
