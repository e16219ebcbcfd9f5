package gateway

import (
	"errors"
	"net/http"

	"github.com/junctionhq/junction/policy"
)

// policyError maps an error from the governance layer to the HTTP error the
// caller sees; errors that are not the governance layer's pass through.
func policyError(err error) error {
	var (
		auth   *policy.AuthError
		access *policy.AccessError
		rate   *policy.RateLimitError
		budget *policy.BudgetError
		inv    *policy.InvalidError
	)
	switch {
	case errors.As(err, &auth):
		return &Error{Status: http.StatusUnauthorized, Type: "authentication_error", Code: auth.Code(), Message: auth.Error()}
	case errors.As(err, &access):
		return &Error{Status: http.StatusForbidden, Type: "permission_error", Code: access.Code(), Message: access.Error()}
	case errors.As(err, &rate):
		return &Error{Status: http.StatusTooManyRequests, Type: "rate_limit_error", Code: rate.Code(), Message: rate.Error(),
			Header: rate.Headers()}
	case errors.As(err, &budget):
		return &Error{Status: http.StatusPaymentRequired, Type: "insufficient_quota", Code: budget.Code(), Message: budget.Error()}
	case errors.As(err, &inv):
		return &Error{Status: http.StatusBadRequest, Type: "invalid_request_error", Code: "invalid_request", Message: inv.Error()}
	case errors.Is(err, policy.ErrNotFound):
		return &Error{Status: http.StatusNotFound, Type: "invalid_request_error", Code: "not_found", Message: err.Error()}
	case errors.Is(err, policy.ErrReadOnly):
		return &Error{Status: http.StatusConflict, Type: "invalid_request_error", Code: "read_only", Message: err.Error()}
	case errors.Is(err, policy.ErrConflict):
		return &Error{Status: http.StatusConflict, Type: "invalid_request_error", Code: "conflict", Message: err.Error()}
	case errors.Is(err, policy.ErrUnavailable):
		return &Error{Status: http.StatusServiceUnavailable, Type: "server_error", Code: "governance_unavailable",
			Message: "the gateway cannot check limits and budgets right now; try again", Err: err,
			Header: map[string]string{"Retry-After": governanceRetryAfter}}
	}
	return err
}

// governanceRetryAfter is the Retry-After, in seconds, of a 503 for counters
// that cannot be reached: a counter call gives up within tens of
// milliseconds, so a client may try again soon.
const governanceRetryAfter = "1"
