package llm

import (
	"context"
	"errors"
	"math"
	"net/http"
	"strconv"
	"time"

	"github.com/junctionhq/junction/llm/agent"
	"github.com/junctionhq/junction/llm/chat"
	"github.com/junctionhq/junction/llm/router"
	"github.com/junctionhq/junction/policy"
	"github.com/junctionhq/junction/telemetry"
)

// Response headers of the loop.
const (
	IterationsHeader = "X-Junction-Iterations"
	StopReasonHeader = "X-Junction-Stop-Reason"
	ToolCallsHeader  = "X-Junction-Tool-Calls"
)

// agentRun is one request through the agent loop. Its fields are used by
// the request's goroutine only, except where noted.
type agentRun struct {
	s         *Service
	c         *chatCall // the client's head, body and labels
	f         clientFormat
	id        *policy.Identity
	req       *chat.Request // the conversation so far
	maxIter   int
	maxTokens int64
	// reach is every model the loop's calls may reach, checked and
	// pricing each call's admission.
	reach *reach

	box *agent.Toolbox // the MCP tools

	iterations int
	usage      chat.Usage
	costMicros int64 // the model calls' cost, in µ$ as the usage records hold it
	calls      []agent.ToolRecord
	last       *chat.Response // the last model answer
	cand       *router.Candidate
	firstRes   *policy.Reservation
	stop       string
	// upstream is the time spent waiting for models and tools, for the
	// overhead header.
	upstream time.Duration
}

func (a *agentRun) summary() agent.Summary {
	calls := a.calls
	if calls == nil {
		calls = []agent.ToolRecord{}
	}
	return agent.Summary{Iterations: a.iterations, StopReason: a.stop, CostUSD: float64(a.costMicros) / 1e6, ToolCalls: calls}
}

// serveAgent answers a chat request that names MCP tools by running the
// tool-call loop, and reports false (having written nothing) when the
// request names none after all, for the plain path to serve it. It never
// consults the response cache: every model call of a loop goes to a
// provider.
func (s *Service) serveAgent(w http.ResponseWriter, r *http.Request, c *chatCall, rc *reach) bool {
	f := c.format
	ctx := r.Context()
	id := policy.IdentityFrom(ctx)
	sels, body, err := agent.SplitRequest(c.body)
	if err != nil {
		f.writeError(w, r, err)
		return true
	}
	if hv := r.Header.Get(ToolsHeader); hv != "" {
		hs, err := agent.ParseToolsHeader(hv)
		if err != nil {
			f.writeError(w, r, err)
			return true
		}
		sels = append(sels, hs...)
	}
	if len(sels) == 0 {
		return false // "mcp appears in the body, but not as a tool entry
	}
	hub := s.tools
	if hub == nil {
		f.writeError(w, r, &apiError{Status: http.StatusNotImplemented, Type: "invalid_request_error", Code: "agent_unavailable",
			Message: "this gateway has no MCP tool hub, so it cannot run tool loops; remove the MCP tools from the request"})
		return true
	}
	if body == nil {
		body = c.body
	}
	req, err := f.decode(body)
	if err != nil {
		f.writeError(w, r, err)
		return true
	}
	delete(req.Extra, "fallbacks")
	a := &agentRun{s: s, c: c, f: f, id: id, req: req, maxIter: s.agent.MaxIterations, maxTokens: c.head.MaxTokens, reach: rc}
	if c.head.MaxCompletionTokens > 0 {
		a.maxTokens = c.head.MaxCompletionTokens
	}
	if v := r.Header.Get(MaxIterationsHeader); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			f.writeError(w, r, badRequest("", MaxIterationsHeader+": must be a positive integer"))
			return true
		}
		a.maxIter = min(a.maxIter, n)
	}
	if a.box, err = agent.NewToolbox(hub, id, s.toolSelector(), s.agent, sels, req); err != nil {
		f.writeError(w, r, err)
		return true
	}
	if f.name() == chat.FormatAnthropic {
		ctx = chat.WithClientHeaders(ctx, r.Header)
	}
	ctx, cancel := context.WithTimeout(ctx, s.agent.Timeout)
	defer cancel()
	if c.head.Stream {
		a.serveStream(ctx, w, r)
	} else {
		a.serveComplete(ctx, w, r)
	}
	if a.iterations > 0 {
		s.agentMetrics.loops.WithLabelValues(a.stop).Inc()
		s.agentMetrics.iterations.Observe(float64(a.iterations))
		s.log.Info().Str("request_id", telemetry.RequestID(ctx)).Str("model", c.head.Model).Int("iterations", a.iterations).
			Str("stop_reason", a.stop).Int("tool_calls", len(a.calls)).Float64("cost_usd", float64(a.costMicros)/1e6).
			Int64("prompt_tokens", a.usage.PromptTokens).Int64("completion_tokens", a.usage.CompletionTokens).
			Dur("duration", time.Since(c.start)).Msg("llm: agent loop")
	}
	return true
}

// nextCall is the loop's next model call through the pipeline
// (pipeline.go). Each call checks the access to every model it may reach
// again and is priced at the most expensive target of them (reach.go); the
// first with the client's body size, later ones with the conversation's.
func (a *agentRun) nextCall(stream bool) modelCall {
	size := len(a.c.body)
	if a.iterations > 0 {
		size = a.req.SizeHint()
	}
	return modelCall{s: a.s, id: a.id, model: a.c.head.Model, team: a.c.call.team, key: a.c.call.key, stream: stream,
		promptTokens: estimateTokens(size), maxTokens: a.maxTokens, rc: a.reach, recheck: true}
}

// admit runs the first two steps of the pipeline for the next model call:
// its access again, and its reservation.
func (a *agentRun) admit(ctx context.Context) (*policy.Reservation, error) {
	p := a.nextCall(false)
	if err := p.resolve(); err != nil {
		return nil, err
	}
	err := p.admit(ctx)
	return p.res, err
}

// stopFor maps a refused admission after the first to the loop's stop.
func stopFor(err error) string {
	var (
		be *policy.BudgetError
		re *policy.RateLimitError
	)
	switch {
	case errors.As(err, &be):
		return agent.StopBudget
	case errors.As(err, &re):
		return agent.StopRateLimit
	}
	return agent.StopUnavailable
}

// forProvider is req as a candidate of another wire format takes it:
// without the client format's unmodelled fields.
func (a *agentRun) forProvider(c *router.Candidate) *chat.Request {
	if a.s.upstreamOf(c).Format == a.f.name() || len(a.req.Extra) == 0 {
		return a.req
	}
	cp := *a.req
	cp.Extra = nil
	return &cp
}

// agentTurn is one non-streamed model call of the loop through the
// pipeline.
type agentTurn struct {
	noCache
	a    *agentRun
	resp *chat.Response // the answer, once delivered
}

func (t *agentTurn) attempt(ctx context.Context, c *router.Candidate) (*chat.Response, time.Duration, error) {
	actx, cancel := context.WithTimeout(ctx, t.a.s.upstreamOf(c).Config.Timeouts.FirstByte)
	defer cancel()
	t0 := time.Now()
	out, err := c.Provider.Chat(actx, c.Target, t.a.forProvider(c))
	return out, time.Since(t0), err
}

// deliver takes the answer for the loop.
func (t *agentTurn) deliver(_ context.Context, p *modelCall, r router.Result[*chat.Response]) delivery {
	t.a.answered(p)
	t.resp = r.Value
	return delivery{usage: r.Value.Usage, status: "ok"}
}

func (t *agentTurn) record(ctx context.Context, _ *modelCall, r router.Served, d delivery, cost float64) {
	t.a.record(ctx, r, d, cost)
}

// answered counts a model call that got its answer; the first admission's
// rate limits go in the response headers.
func (a *agentRun) answered(p *modelCall) {
	if a.firstRes == nil {
		a.firstRes = p.res
	}
	a.iterations++
}

// record adds a settled model call to the loop's sums and logs it with the
// request id that links the steps.
func (a *agentRun) record(ctx context.Context, r router.Served, d delivery, cost float64) {
	u := d.usage
	a.usage.PromptTokens += u.PromptTokens
	a.usage.CompletionTokens += u.CompletionTokens
	a.usage.CachedTokens += u.CachedTokens
	a.usage.CacheWriteTokens += u.CacheWriteTokens
	a.usage.ReasoningTokens += u.ReasoningTokens
	a.costMicros += int64(math.Round(cost * 1e6))
	a.upstream += r.UpstreamTime
	a.cand = r.Candidate
	a.s.log.Info().Str("request_id", telemetry.RequestID(ctx)).Int("iteration", a.iterations).
		Str("target", a.cand.Target.Provider+"/"+a.cand.Target.Model).
		Int64("prompt_tokens", u.PromptTokens).Int64("completion_tokens", u.CompletionTokens).Float64("cost_usd", cost).
		Str("status", d.status).Msg("llm: agent model call")
}

// appendResults adds the assistant turn and its tool results to the
// conversation.
func (a *agentRun) appendTurn(msg chat.Message, calls []chat.ToolCall, outs []agent.Outcome) {
	msg.Role = chat.RoleAssistant
	a.req.Messages = append(a.req.Messages, msg)
	a.appendResults(calls, outs)
}

func (a *agentRun) appendResults(calls []chat.ToolCall, outs []agent.Outcome) {
	for i := range calls {
		m := chat.TextMessage(chat.RoleTool, outs[i].Text)
		m.ToolCallID, m.IsError = calls[i].ID, outs[i].Record.IsError
		a.req.Messages = append(a.req.Messages, m)
	}
}

// setHeaders writes the loop's response headers.
func (a *agentRun) setHeaders(h http.Header) {
	h.Set(IterationsHeader, strconv.Itoa(a.iterations))
	h.Set(StopReasonHeader, a.stop)
	h.Set(ToolCallsHeader, strconv.Itoa(len(a.calls)))
	if a.cand != nil {
		h.Set("X-Junction-Target", a.cand.Target.Provider+"/"+a.cand.Target.Model)
	}
	h.Set("X-Junction-Overhead-Ms", strconv.FormatFloat(float64((time.Since(a.c.start)-a.upstream).Microseconds())/1000, 'f', 3, 64))
}

// runPending runs the calls the client sent back unanswered; they count as
// approved.
func (a *agentRun) runPending(ctx context.Context) []agent.Outcome {
	a.box.FillDropped()
	calls := a.box.Pending()
	if len(calls) == 0 {
		return nil
	}
	outs := a.runTools(ctx, calls, true)
	a.appendResults(calls, outs)
	return outs
}

// serveComplete runs the loop for a non-streamed request.
func (a *agentRun) serveComplete(ctx context.Context, w http.ResponseWriter, r *http.Request) {
	f := a.f
	a.runPending(ctx)
	for {
		a.box.Offer(ctx, a.iterations)
		a.req.Stream, a.req.IncludeUsage = false, false
		turn := &agentTurn{a: a}
		p := a.nextCall(false)
		if err := runModelCall[*chat.Response](ctx, &p, turn); err != nil {
			if p.res == nil { // not admitted
				if a.iterations == 0 {
					f.writeError(w, r, err)
					return
				}
				a.stop = stopFor(err)
				break
			}
			if a.iterations > 0 && ctx.Err() != nil && r.Context().Err() == nil {
				a.stop = agent.StopTimeout
				break
			}
			f.writeError(w, r, err)
			return
		}
		resp := turn.resp
		a.last = resp
		calls := resp.Message.ToolCalls
		if len(calls) == 0 {
			a.stop = agent.StopFinal
			break
		}
		if stop := a.box.ClientStop(calls); stop != "" {
			a.stop = stop
			break
		}
		if a.iterations >= a.maxIter {
			a.stop = agent.StopMaxIterations
			break
		}
		outs := a.runTools(ctx, calls, false)
		a.appendTurn(resp.Message, calls, outs)
		if ctx.Err() != nil {
			a.stop = agent.StopTimeout
			if r.Context().Err() != nil {
				a.stop = agent.StopCancelled
			}
			break
		}
	}
	final := *a.last
	final.Usage = a.usage
	if agent.LimitedStop(a.stop) {
		text := a.last.Message.Text()
		if text != "" {
			text += "\n\n"
		}
		final.Message = chat.TextMessage(chat.RoleAssistant, text+agent.StopNote(a.stop, a.iterations))
		final.FinishReason = chat.FinishLength
	}
	body := f.appendResponse(nil, &final, a.c.head.Model)
	if agent.LimitedStop(a.stop) && f.name() == chat.FormatAnthropic {
		body = agent.PauseTurn(body)
	}
	body = agent.AppendJunction(body, a.summary())
	h := w.Header()
	a.setHeaders(h)
	if a.firstRes != nil {
		setRateLimitHeaders(h, a.firstRes.RateLimits(), a.s.now())
	}
	h.Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(body)
}
