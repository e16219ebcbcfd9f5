package mcp

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/junctionhq/junction/apierror"
	"github.com/junctionhq/junction/policy"
	"github.com/junctionhq/junction/registry"
	"github.com/junctionhq/junction/telemetry"
)

// UnknownToolError rejects a call to a public name that is not in the
// merged catalog (never was, or its upstream went away).
type UnknownToolError struct {
	Name string
}

func (e *UnknownToolError) Error() string {
	return fmt.Sprintf("unknown tool %q: it is not in the catalog (list the tools again)", e.Name)
}

// UpstreamError is a tool call that the upstream could not complete: it
// failed, timed out, or the caller cancelled it. Error() carries the
// upstream's detail, for logs; Message() is safe to show the caller.
type UpstreamError struct {
	Server, Tool string
	// Outcome is OutcomeError, OutcomeTimeout or OutcomeCancelled.
	Outcome string
	Err     error
}

func (e *UpstreamError) Error() string {
	return fmt.Sprintf("mcp: call %s/%s: %v", e.Server, e.Tool, e.Err)
}

func (e *UpstreamError) Unwrap() error { return e.Err }

// Message says what went wrong without the upstream's internal detail.
func (e *UpstreamError) Message() string {
	if errors.Is(e.Err, registry.ErrCallerSessionsBusy) {
		return fmt.Sprintf("upstream server %q is busy serving other callers' sessions; try again shortly", e.Server)
	}
	switch e.Outcome {
	case OutcomeTimeout:
		return fmt.Sprintf("tool %q on upstream server %q timed out", e.Tool, e.Server)
	case OutcomeCancelled:
		return fmt.Sprintf("tool call %q on upstream server %q was cancelled", e.Tool, e.Server)
	}
	return fmt.Sprintf("tool %q on upstream server %q failed; the gateway log has the details", e.Tool, e.Server)
}

// CallTool is the one way a tool is called, by /mcp and by the agent loop:
// it runs the chain
//
//	authenticate → policy → meter → call → settle → audit (+ metrics)
//
// for the public tool name. It returns the upstream's CallToolResult as the
// upstream sent it (a result with isError true is returned, not an error,
// and is settled and counted as "error"). Rejections are typed:
// *policy.AuthError (no identity), *UnknownToolError, *policy.AccessError,
// *policy.RateLimitError, *policy.BudgetError, an error wrapping
// policy.ErrUnavailable, and *UpstreamError for a failed call.
func (h *Hub) CallTool(ctx context.Context, id *policy.Identity, publicName string, args json.RawMessage) (json.RawMessage, error) {
	return h.callTool(ctx, id, publicName, args, registry.CallOptions{})
}

// CallOptions tune one call of CallToolWith.
type CallOptions struct {
	// Timeout bounds the upstream call; 0 means the server's configured
	// timeout.
	Timeout time.Duration
}

// CallToolWith is CallTool with opts (the admin API's calls).
func (h *Hub) CallToolWith(ctx context.Context, id *policy.Identity, publicName string, args json.RawMessage, opts CallOptions) (json.RawMessage, error) {
	return h.callTool(ctx, id, publicName, args, registry.CallOptions{Timeout: opts.Timeout})
}

// callTool runs the chain with the registry's call options: /mcp passes
// its client's hooks (progress, logs, sampling, elicitation, roots) and
// the input_required relay through them.
func (h *Hub) callTool(ctx context.Context, id *policy.Identity, publicName string, args json.RawMessage, opts registry.CallOptions) (json.RawMessage, error) {
	c := toolCall{h: h, id: id, public: publicName, args: len(args), start: time.Now(),
		requestID: telemetry.RequestID(ctx), server: unknownLabel, tool: unknownLabel}
	out, err := c.run(ctx, args, opts)
	c.finish(err, len(out))
	return out, err
}

// toolCall is one pass through the chain, for its audit line and metrics.
type toolCall struct {
	h            *Hub
	id           *policy.Identity
	public       string
	server, tool string
	args         int
	start        time.Time
	called       time.Time // when the upstream call started; zero if never
	requestID    string
	outcome      string
	costUSD      float64
}

func (c *toolCall) run(ctx context.Context, args json.RawMessage, opts registry.CallOptions) (json.RawMessage, error) {
	h := c.h
	// 1. authenticate: the gateway's middleware put the identity there.
	if c.id == nil {
		c.outcome = OutcomeUnauthenticated
		return nil, &policy.AuthError{Reason: policy.AuthMissing}
	}
	e := h.cur.Load().toolsByName[c.public]
	if e == nil {
		c.outcome = OutcomeUnknownTool
		return nil, &UnknownToolError{Name: c.public}
	}
	c.server, c.tool = e.tool.Server, e.tool.Name
	// 2. policy: access to the upstream tool, by its upstream name.
	if !h.pol.AllowedTool(c.id, c.server, c.tool, policy.ActionCall) {
		c.outcome = OutcomeDenied
		return nil, &policy.AccessError{Object: "tool:" + c.server + "/" + c.tool, Action: policy.ActionCall}
	}
	// 3. meter: rate limits and budgets (access is checked above).
	res, err := h.pol.Admit(ctx, c.id, policy.Work{Kind: policy.KindTool, Server: c.server, Tool: c.tool,
		SkipAccess: true, RequestID: c.requestID})
	if err != nil {
		c.outcome = admitOutcome(err)
		return nil, err
	}
	// 4. call the upstream.
	if len(args) == 0 {
		args = json.RawMessage(`{}`)
	}
	c.called = time.Now()
	out, err := h.up.CallTool(ctx, c.server, c.tool, args, opts)
	// 5. settle, also when the call failed or the caller went away.
	c.outcome = callOutcome(ctx, out, err)
	c.costUSD = res.Settle(ctx, policy.Outcome{Status: c.outcome})
	if err != nil {
		return nil, &UpstreamError{Server: c.server, Tool: c.tool, Outcome: c.outcome, Err: err}
	}
	return out, nil
}

// finish writes the audit line and the metrics: 6. audit. Arguments are
// never logged, only their size.
func (c *toolCall) finish(err error, resultBytes int) {
	h := c.h
	d := time.Since(c.start)
	h.metrics.calls.WithLabelValues(c.server, c.tool, c.outcome).Inc()
	if !c.called.IsZero() {
		h.metrics.seconds.WithLabelValues(c.server).Observe(time.Since(c.called).Seconds())
	}
	ev := h.log.Info()
	if c.outcome != OutcomeOK {
		ev = h.log.Warn()
	}
	ev = ev.Str("request_id", c.requestID).Str("tool", c.public)
	if c.id != nil {
		ev = ev.Str("key", c.id.Name()).Str("key_id", c.id.KeyID()).Str("team", c.id.TeamName())
	}
	if c.server != unknownLabel {
		ev = ev.Str("server", c.server).Str("upstream_tool", c.tool)
	}
	ev = ev.Dur("duration", d).Str("outcome", c.outcome).Int("args_bytes", c.args).Int("result_bytes", resultBytes)
	if c.costUSD > 0 {
		ev = ev.Float64("cost_usd", c.costUSD)
	}
	if err != nil {
		ev = ev.AnErr("error", err)
	}
	ev.Msg("mcp tool call")
}

// admitOutcome labels a refused admission by the status apierror gives its
// error: denied, rate limited, over budget, unauthenticated, or (counters
// unreachable, anything else) unavailable.
func admitOutcome(err error) string {
	e, _ := apierror.Admission(err)
	if e == nil {
		return OutcomeUnavailable
	}
	switch e.Status {
	case http.StatusForbidden:
		return OutcomeDenied
	case http.StatusTooManyRequests:
		return OutcomeRateLimited
	case http.StatusPaymentRequired:
		return OutcomeBudgetExceeded
	case http.StatusUnauthorized:
		return OutcomeUnauthenticated
	}
	return OutcomeUnavailable
}

// callOutcome classifies a finished upstream call.
func callOutcome(ctx context.Context, out json.RawMessage, err error) string {
	switch {
	case err == nil:
		var probe struct {
			IsError bool `json:"isError"`
		}
		if json.Unmarshal(out, &probe) == nil && probe.IsError {
			return OutcomeError
		}
		return OutcomeOK
	case errors.Is(err, context.DeadlineExceeded):
		return OutcomeTimeout
	case errors.Is(err, context.Canceled) || ctx.Err() != nil:
		return OutcomeCancelled
	}
	return OutcomeError
}
