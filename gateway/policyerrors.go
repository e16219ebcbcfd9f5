package gateway

import (
	"errors"
	"net/http"
	"strconv"
	"time"

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
			Header: RateLimitHeaders(rate)}
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
			Message: "the gateway cannot check limits and budgets right now; try again", Err: err}
	}
	return err
}

// RateLimitHeaders are the retry-after and x-ratelimit-* headers of a rate
// limit rejection, in OpenAI's naming (limit-requests, remaining-tokens,
// reset-requests...).
func RateLimitHeaders(e *policy.RateLimitError) map[string]string {
	secs := int64((e.RetryAfter + time.Second - 1) / time.Second)
	dim := string(e.Dimension)
	return map[string]string{
		"Retry-After":                  strconv.FormatInt(secs, 10),
		"X-Ratelimit-Limit-" + dim:     strconv.FormatInt(e.Limit, 10),
		"X-Ratelimit-Remaining-" + dim: strconv.FormatInt(e.Remaining, 10),
		"X-Ratelimit-Reset-" + dim:     strconv.FormatInt(secs, 10) + "s",
		"X-Junction-Ratelimit-Scope":   string(e.Scope),
	}
}
