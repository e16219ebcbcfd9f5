// Package apierror holds the error value every front end of the gateway
// renders — status, type, code, message and headers — and the one table
// that maps the governance layer's errors to it. The front ends own the
// rendering: OpenAI's and Anthropic's JSON shapes in llm and gateway, a
// JSON-RPC error or a tool error in mcp.
package apierror

import (
	"errors"
	"fmt"
	"net/http"

	"github.com/junctionhq/junction/policy"
)

// Error is an error as a client sees it: an HTTP status, an error family,
// a machine-readable code and a message that is safe to show. Internal
// detail goes in Err, which is logged and never sent.
type Error struct {
	Status  int    // HTTP status code
	Type    string // error family, e.g. "invalid_request_error"
	Code    string // machine-readable code, e.g. "request_too_large"
	Param   string // the request parameter at fault, if one is
	Message string // shown to the caller
	// Header holds response headers that go with the error (Retry-After,
	// x-ratelimit-*).
	Header map[string]string
	Err    error // internal cause; logged, never sent
}

func (e *Error) Error() string {
	if e.Err != nil {
		return fmt.Sprintf("%d %s: %s: %v", e.Status, e.Code, e.Message, e.Err)
	}
	return fmt.Sprintf("%d %s: %s", e.Status, e.Code, e.Message)
}

// Unwrap returns the internal cause.
func (e *Error) Unwrap() error { return e.Err }

// SetHeaders writes e's headers into h, and on a 503 that has no
// Retry-After, retryAfter (seconds): every 503 tells the client when to
// come back, so that it does not retry in a tight loop.
func (e *Error) SetHeaders(h http.Header, retryAfter string) {
	for k, v := range e.Header {
		h.Set(k, v)
	}
	if e.Status == http.StatusServiceUnavailable && h.Get("Retry-After") == "" {
		h.Set("Retry-After", retryAfter)
	}
}

// BadRequest is a 400 invalid_request_error with code, about param (empty
// when no single parameter is at fault).
func BadRequest(code, param, msg string) *Error {
	return &Error{Status: http.StatusBadRequest, Type: "invalid_request_error", Code: code, Param: param, Message: msg}
}

// TooLarge is the 413 of a request body over limit bytes.
func TooLarge(limit int64) *Error {
	return &Error{
		Status:  http.StatusRequestEntityTooLarge,
		Type:    "invalid_request_error",
		Code:    "request_too_large",
		Message: fmt.Sprintf("request body exceeds the limit of %d bytes", limit),
	}
}

// GovernanceRetryAfter is the Retry-After, in seconds, of a 503 for
// counters that cannot be reached: a counter call gives up within tens of
// milliseconds, so a client may try again soon.
const GovernanceRetryAfter = "1"

// Admission maps the errors of admitting a request — authentication,
// access, rate limits, budgets, and counters that cannot be reached — to
// what the caller sees. ok is false for any other error.
func Admission(err error) (e *Error, ok bool) {
	var (
		auth   *policy.AuthError
		access *policy.AccessError
		rate   *policy.RateLimitError
		budget *policy.BudgetError
	)
	switch {
	case errors.As(err, &auth):
		return &Error{Status: http.StatusUnauthorized, Type: "authentication_error", Code: auth.Code(), Message: auth.Error()}, true
	case errors.As(err, &access):
		return &Error{Status: http.StatusForbidden, Type: "permission_error", Code: access.Code(), Message: access.Error()}, true
	case errors.As(err, &rate):
		return &Error{Status: http.StatusTooManyRequests, Type: "rate_limit_error", Code: rate.Code(), Message: rate.Error(),
			Header: rate.Headers()}, true
	case errors.As(err, &budget):
		return &Error{Status: http.StatusPaymentRequired, Type: "insufficient_quota", Code: budget.Code(), Message: budget.Error()}, true
	case errors.Is(err, policy.ErrUnavailable):
		return &Error{Status: http.StatusServiceUnavailable, Type: "server_error", Code: "governance_unavailable",
			Message: "the gateway cannot check limits and budgets right now; try again", Err: err,
			Header: map[string]string{"Retry-After": GovernanceRetryAfter}}, true
	}
	return nil, false
}

// Policy maps every error of the governance layer — Admission's and those
// of managing keys, teams and policies — to what the caller sees. ok is
// false for an error that is not the governance layer's.
func Policy(err error) (e *Error, ok bool) {
	if e, ok := Admission(err); ok {
		return e, true
	}
	return Resource[*policy.InvalidError](err, policy.ErrNotFound, policy.ErrReadOnly, policy.ErrConflict)
}

// Resource maps the errors of managing one kind of admin resource (keys,
// teams, servers, providers: file-managed entries beside API-managed ones)
// to what the caller sees: a definition that is not valid (an error of
// type Inv, whose own message is shown) is Invalid; notFound, readOnly and
// conflict (matched with errors.Is, the whole chain shown) are NotFound,
// ReadOnly and Conflict. ok is false for any other error.
func Resource[Inv error](err error, notFound, readOnly, conflict error) (e *Error, ok bool) {
	var inv Inv
	switch {
	case errors.As(err, &inv):
		return Invalid(inv.Error()), true
	case errors.Is(err, notFound):
		return NotFound(err.Error()), true
	case errors.Is(err, readOnly):
		return ReadOnly(err.Error()), true
	case errors.Is(err, conflict):
		return Conflict(err.Error()), true
	}
	return nil, false
}

// NotFound is a 404 not_found with msg.
func NotFound(msg string) *Error {
	return &Error{Status: http.StatusNotFound, Type: "invalid_request_error", Code: "not_found", Message: msg}
}

// Invalid is a 400 invalid_request for a definition that is not valid.
func Invalid(msg string) *Error { return BadRequest("invalid_request", "", msg) }

// ReadOnly is the 409 read_only of a change to an entry the configuration
// file manages.
func ReadOnly(msg string) *Error {
	return &Error{Status: http.StatusConflict, Type: "invalid_request_error", Code: "read_only", Message: msg}
}

// Conflict is a 409 conflict, e.g. a name that is taken.
func Conflict(msg string) *Error {
	return &Error{Status: http.StatusConflict, Type: "invalid_request_error", Code: "conflict", Message: msg}
}
