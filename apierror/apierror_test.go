package apierror

import (
	"errors"
	"fmt"
	"maps"
	"net/http"
	"testing"
	"time"

	"github.com/junctionhq/junction/policy"
)

// TestPolicyErrorTable pins what every front end shows for each error of
// the governance layer: status, type, code, message and headers, also when
// the error arrives wrapped (the store errors, whose context is the
// message, show the whole chain).
func TestPolicyErrorTable(t *testing.T) {
	rate := &policy.RateLimitError{Scope: policy.ScopeKey, Dimension: policy.DimRequests, Limit: 10, RetryAfter: 1500 * time.Millisecond}
	for _, tc := range []struct {
		name      string
		err       error
		admission bool
		want      Error
	}{
		{"auth", &policy.AuthError{Reason: policy.AuthMissing}, true, Error{Status: 401, Type: "authentication_error", Code: "missing_api_key",
			Message: "missing API key: send a Junction virtual key as Authorization: Bearer, x-api-key or api-key"}},
		{"access", &policy.AccessError{Object: "model:m", Action: policy.ActionUse}, true, Error{Status: 403, Type: "permission_error",
			Code: "access_denied", Message: "not allowed: this key may not use model:m"}},
		{"rate limit", rate, true, Error{Status: 429, Type: "rate_limit_error", Code: "rate_limit_exceeded", Message: rate.Error(),
			Header: map[string]string{"Retry-After": "2", "X-Ratelimit-Limit-requests": "10", "X-Ratelimit-Remaining-requests": "0",
				"X-Ratelimit-Reset-requests": "2s", "X-Junction-Ratelimit-Scope": "key"}}},
		{"budget", &policy.BudgetError{Scope: policy.ScopeTeam, LimitUSD: 1, SpentUSD: 1, CostUSD: 0.5}, true, Error{Status: 402,
			Type: "insufficient_quota", Code: "budget_exceeded",
			Message: (&policy.BudgetError{Scope: policy.ScopeTeam, LimitUSD: 1, SpentUSD: 1, CostUSD: 0.5}).Error()}},
		{"unavailable", fmt.Errorf("admit: %w", policy.ErrUnavailable), true, Error{Status: 503, Type: "server_error",
			Code: "governance_unavailable", Message: "the gateway cannot check limits and budgets right now; try again",
			Header: map[string]string{"Retry-After": "1"}}},
		{"invalid", &policy.InvalidError{Problems: []string{"name: required"}}, false, Error{Status: 400, Type: "invalid_request_error",
			Code: "invalid_request", Message: (&policy.InvalidError{Problems: []string{"name: required"}}).Error()}},
		{"not found", fmt.Errorf("key k: %w", policy.ErrNotFound), false, Error{Status: 404, Type: "invalid_request_error",
			Code: "not_found", Message: "outer: key k: not found"}},
		{"read only", policy.ErrReadOnly, false, Error{Status: http.StatusConflict, Type: "invalid_request_error", Code: "read_only",
			Message: "outer: " + policy.ErrReadOnly.Error()}},
		{"conflict", policy.ErrConflict, false, Error{Status: http.StatusConflict, Type: "invalid_request_error", Code: "conflict",
			Message: "outer: conflict"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			wrapped := fmt.Errorf("outer: %w", tc.err)
			got, ok := Policy(wrapped)
			if !ok {
				t.Fatalf("Policy(%v) did not map it", wrapped)
			}
			if got.Status != tc.want.Status || got.Type != tc.want.Type || got.Code != tc.want.Code ||
				got.Message != tc.want.Message || !maps.Equal(got.Header, tc.want.Header) {
				t.Errorf("Policy = %+v, want %+v", got, tc.want)
			}
			if _, ok := Admission(wrapped); ok != tc.admission {
				t.Errorf("Admission maps it: %v, want %v", ok, tc.admission)
			}
		})
	}
}

// TestNonPolicyErrorsAreNotMapped: an error that is not the governance
// layer's is left to the front end.
func TestNonPolicyErrorsAreNotMapped(t *testing.T) {
	for _, err := range []error{errors.New("boom"), http.ErrHandlerTimeout} {
		if e, ok := Policy(err); ok || e != nil {
			t.Errorf("Policy(%v) = %v, %v; want nil, false", err, e, ok)
		}
	}
}

// TestErrorKeepsItsCause: the cause is in the log line and reachable with
// errors.Is, never in the message.
func TestErrorKeepsItsCause(t *testing.T) {
	cause := errors.New("disk full")
	e := &Error{Status: 500, Code: "internal_error", Message: "internal", Err: cause}
	if !errors.Is(e, cause) {
		t.Error("errors.Is does not reach the cause")
	}
	if got, want := e.Error(), "500 internal_error: internal: disk full"; got != want {
		t.Errorf("Error() = %q, want %q", got, want)
	}
	if got, want := TooLarge(1024).Message, "request body exceeds the limit of 1024 bytes"; got != want {
		t.Errorf("TooLarge message = %q, want %q", got, want)
	}
}

// TestEvery503SaysWhenToRetry: SetHeaders adds the front end's Retry-After
// to a 503 that has none and keeps one the error carries; other statuses
// get only their own headers.
func TestEvery503SaysWhenToRetry(t *testing.T) {
	for _, tc := range []struct {
		e    *Error
		want string
	}{
		{&Error{Status: 503}, "5"},
		{&Error{Status: 503, Header: map[string]string{"Retry-After": "1"}}, "1"},
		{&Error{Status: 429, Header: map[string]string{"Retry-After": "7"}}, "7"},
		{&Error{Status: 502}, ""},
	} {
		h := http.Header{}
		tc.e.SetHeaders(h, "5")
		if got := h.Get("Retry-After"); got != tc.want {
			t.Errorf("%d with %v: Retry-After %q, want %q", tc.e.Status, tc.e.Header, got, tc.want)
		}
	}
}

// invalidThing is a resource's own invalid-definition error, for
// TestResourceErrors.
type invalidThing struct{ problem string }

func (e *invalidThing) Error() string { return e.problem }

// TestResourceErrors: the errors of any admin resource map like the
// governance layer's: its invalid type shows its own message, the
// sentinels show the whole chain, anything else is not mapped.
func TestResourceErrors(t *testing.T) {
	notFound, readOnly, conflict := errors.New("thing not found"), errors.New("thing is read-only"), errors.New("thing exists")
	for _, tc := range []struct {
		err  error
		want *Error
	}{
		{fmt.Errorf("create: %w", &invalidThing{"name: required"}), Invalid("name: required")},
		{fmt.Errorf("%w: %q", notFound, "x"), NotFound(`thing not found: "x"`)},
		{readOnly, ReadOnly("thing is read-only")},
		{fmt.Errorf("%w: %q", conflict, "x"), Conflict(`thing exists: "x"`)},
		{errors.New("disk full"), nil},
	} {
		got, ok := Resource[*invalidThing](tc.err, notFound, readOnly, conflict)
		if tc.want == nil {
			if ok {
				t.Errorf("%v mapped to %+v", tc.err, got)
			}
			continue
		}
		if !ok || got.Status != tc.want.Status || got.Code != tc.want.Code || got.Type != tc.want.Type || got.Message != tc.want.Message {
			t.Errorf("%v: got %+v, want %+v", tc.err, got, tc.want)
		}
	}
}
