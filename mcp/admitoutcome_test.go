package mcp

import (
	"errors"
	"fmt"
	"testing"

	"github.com/junctionhq/junction/policy"
)

// TestAdmitOutcomeLabelsEveryPolicyRefusal: a refused tool call is
// counted and logged under the outcome of the governance error that
// refused it, wrapped or not; anything else is "unavailable".
func TestAdmitOutcomeLabelsEveryPolicyRefusal(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		err  error
		want string
	}{
		{&policy.AccessError{Object: "tool:s/t", Action: policy.ActionCall}, OutcomeDenied},
		{&policy.RateLimitError{Scope: policy.ScopeKey, Dimension: policy.DimToolCalls, Limit: 1}, OutcomeRateLimited},
		{&policy.BudgetError{Scope: policy.ScopeTeam, LimitUSD: 1, SpentUSD: 1}, OutcomeBudgetExceeded},
		{&policy.AuthError{Reason: policy.AuthMissing}, OutcomeUnauthenticated},
		{policy.ErrUnavailable, OutcomeUnavailable},
		{errors.New("something else"), OutcomeUnavailable},
	} {
		if got := admitOutcome(fmt.Errorf("admit: %w", tc.err)); got != tc.want {
			t.Errorf("admitOutcome(%v) = %q, want %q", tc.err, got, tc.want)
		}
	}
}
