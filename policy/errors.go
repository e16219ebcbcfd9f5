package policy

import (
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/junctionhq/junction/store/resource"
)

// The request paths render these errors in their own protocol (OpenAI or
// Anthropic error JSON on /v1, JSON-RPC or tool errors on /mcp). Each says
// why, in words safe to show the caller; none carries a secret.

// AuthError rejects a caller that presented no key, an unknown key, or a key
// that may not be used now. It maps to HTTP 401.
type AuthError struct {
	Reason AuthReason
}

// AuthReason says why authentication failed.
type AuthReason string

// The reasons authentication fails.
const (
	AuthMissing  AuthReason = "missing_api_key"
	AuthInvalid  AuthReason = "invalid_api_key"
	AuthExpired  AuthReason = "expired_api_key"
	AuthDisabled AuthReason = "disabled_api_key"
)

func (e *AuthError) Error() string {
	switch e.Reason {
	case AuthMissing:
		return "missing API key: send a Junction virtual key as Authorization: Bearer, x-api-key or api-key"
	case AuthExpired:
		return "API key has expired"
	case AuthDisabled:
		return "API key is disabled"
	}
	return "invalid API key"
}

// Code is the machine-readable code for the error body.
func (e *AuthError) Code() string { return string(e.Reason) }

// AccessError rejects an action the caller's policies do not allow (or
// explicitly deny). It maps to HTTP 403.
type AccessError struct {
	Object string // e.g. "model:openai/gpt-4o"
	Action string // use, list or call
}

func (e *AccessError) Error() string {
	return fmt.Sprintf("not allowed: this key may not %s %s", e.Action, e.Object)
}

// Code is the machine-readable code for the error body.
func (e *AccessError) Code() string { return "access_denied" }

// Scope says whose limit or budget was hit.
type Scope string

// The scopes limits and budgets apply at.
const (
	ScopeKey  Scope = "key"
	ScopeTeam Scope = "team"
)

// Dimension names a rate-limited quantity, as used in x-ratelimit-* headers.
type Dimension string

// The rate-limited quantities.
const (
	DimRequests  Dimension = "requests"
	DimTokens    Dimension = "tokens"
	DimToolCalls Dimension = "tool-calls"
)

// RateLimitError rejects a request over a per-minute limit. It maps to HTTP
// 429 with retry-after and the x-ratelimit-* headers built from its fields.
type RateLimitError struct {
	Scope     Scope
	Dimension Dimension
	Limit     int64
	Remaining int64
	// Reset is when the current window ends and the limit refills.
	Reset time.Time
	// RetryAfter is how long to wait before trying again.
	RetryAfter time.Duration
	// Requested, when set, is what the request alone needs, more than Limit:
	// it can never be admitted, however long the caller waits, so the error
	// says so and carries no Retry-After (and no Remaining or Reset).
	Requested int64
}

func (e *RateLimitError) Error() string {
	if e.Requested > 0 {
		return fmt.Sprintf("request too large: it needs an estimated %d %s but the %s's limit is %d %s per minute, "+
			"so it can never be admitted; send a shorter prompt or a smaller max_tokens, or ask for a higher limit",
			e.Requested, e.Dimension, e.Scope, e.Limit, e.Dimension)
	}
	return fmt.Sprintf("rate limit reached: %s limit of %d %s per minute; retry in %s",
		e.Scope, e.Limit, e.Dimension, e.RetryAfter.Round(time.Second))
}

// Code is the machine-readable code for the error body.
func (e *RateLimitError) Code() string { return "rate_limit_exceeded" }

// Headers are the HTTP response headers of the rejection, in OpenAI's
// naming: retry-after (whole seconds, rounded up) and
// x-ratelimit-{limit,remaining,reset}-<dimension>, plus the scope that was
// hit. A request too large for the limit gets only the limit and the scope.
func (e *RateLimitError) Headers() map[string]string {
	dim := string(e.Dimension)
	if e.Requested > 0 {
		return map[string]string{
			"X-Ratelimit-Limit-" + dim:   strconv.FormatInt(e.Limit, 10),
			"X-Junction-Ratelimit-Scope": string(e.Scope),
		}
	}
	secs := int64((e.RetryAfter + time.Second - 1) / time.Second)
	return map[string]string{
		"Retry-After":                  strconv.FormatInt(secs, 10),
		"X-Ratelimit-Limit-" + dim:     strconv.FormatInt(e.Limit, 10),
		"X-Ratelimit-Remaining-" + dim: strconv.FormatInt(e.Remaining, 10),
		"X-Ratelimit-Reset-" + dim:     strconv.FormatInt(secs, 10) + "s",
		"X-Junction-Ratelimit-Scope":   string(e.Scope),
	}
}

// BudgetError rejects work the remaining budget cannot cover. It maps to
// HTTP 402 with the code budget_exceeded.
type BudgetError struct {
	Scope Scope
	// LimitUSD is the budget, SpentUSD what is spent or reserved in the
	// current period, CostUSD what this request would have reserved.
	LimitUSD, SpentUSD, CostUSD float64
	Period                      Period
	// Reset is when the period ends (zero for budgets that never reset).
	Reset time.Time
}

func (e *BudgetError) Error() string {
	msg := fmt.Sprintf("budget exceeded: the %s budget of %s", e.Scope, formatUSD(e.LimitUSD))
	if e.Period != PeriodNone {
		msg += " per " + string(e.Period)
	}
	msg += fmt.Sprintf(" has %s left and this request may cost up to %s", formatUSD(max(0, e.LimitUSD-e.SpentUSD)), formatUSD(e.CostUSD))
	if !e.Reset.IsZero() {
		msg += "; it resets at " + e.Reset.UTC().Format(time.RFC3339)
	}
	return msg
}

// Code is the machine-readable code for the error body.
func (e *BudgetError) Code() string { return "budget_exceeded" }

// ErrUnavailable wraps failures of the counters or the policy snapshot: the
// meter could not decide, so it denied (fail closed). It maps to HTTP 503.
var ErrUnavailable = errors.New("policy: governance unavailable")

// ErrReadOnly is returned when an API change targets an entry that the
// configuration file manages.
var ErrReadOnly = errors.New("this entry is managed by the configuration file and is read-only through the API")

// ErrNotFound is returned for an unknown key, team, policy or price.
var ErrNotFound = errors.New("not found")

// ErrConflict is returned when a name is already taken or an entry is still in use.
var ErrConflict = errors.New("conflict")

// InvalidError reports bad input to an admin operation, naming the field.
type InvalidError struct {
	Problems []string
}

func (e *InvalidError) Error() string { return resource.Problems(e.Problems).String() }

func invalid(errs []error) error {
	if len(errs) == 0 {
		return nil
	}
	return &InvalidError{Problems: resource.ProblemsOf(errs)}
}
