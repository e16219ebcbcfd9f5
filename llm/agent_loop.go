package llm

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/junctionhq/junction/llm/agent"
	"github.com/junctionhq/junction/llm/chat"
	"github.com/junctionhq/junction/llm/router"
	"github.com/junctionhq/junction/mcp"
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
	hub       agent.Hub
	picker    *agent.Selector
	req       *chat.Request // the conversation so far
	sels      []agent.Selection
	maxIter   int
	maxTokens int64
	// reach is every model the loop's calls may reach, checked and
	// pricing each call's admission.
	reach *reach

	clientTools map[string]bool
	baseTools   []chat.Tool // the client's function tools
	tools       []*agent.Tool
	byName      map[string]*agent.Tool
	catalog     []mcp.ToolInfo // permitted, in list order, for search
	offered     map[string]bool
	withSearch  bool
	searchName  string // the search tool's name when withSearch
	// callable are the public names of every tool the key may call, named
	// by the request or not.
	callable map[string]bool

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
	a := &agentRun{s: s, c: c, f: f, id: id, hub: hub, picker: s.toolSelector(), req: req, maxIter: s.agent.MaxIterations,
		sels: sels, maxTokens: c.head.MaxTokens, offered: map[string]bool{}, clientTools: map[string]bool{}, reach: rc}
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
	if err := a.prepareTools(); err != nil {
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

// prepareTools resolves the permitted MCP tools and checks that they do
// not clash with the client's own function tools.
func (a *agentRun) prepareTools() error {
	a.baseTools = a.req.Tools
	for _, t := range a.baseTools {
		a.clientTools[t.Name] = true
	}
	var unmatched []string
	a.tools, a.byName, unmatched = agent.Permitted(func(toolset string) []mcp.ToolInfo { return a.hub.Tools(a.id, toolset) }, a.sels)
	if len(unmatched) > 0 {
		return &apiError{Status: http.StatusBadRequest, Type: "invalid_request_error", Code: "no_mcp_tools", Param: "tools",
			Message: fmt.Sprintf("MCP tools %q: no server or toolset of that name has tools this key may call (check the name, the allowed tools and the key's tool access; a server that is down lists no tools)", unmatched)}
	}
	a.callable = map[string]bool{}
	for _, t := range a.hub.Tools(a.id, "") {
		a.callable[t.Name] = true
	}
	for _, t := range a.tools {
		if a.clientTools[t.Info.Name] {
			return badRequest("tools", fmt.Sprintf("tools: the function tool %q has the name of an MCP tool the request names; rename it", t.Info.Name))
		}
		a.catalog = append(a.catalog, t.Info)
	}
	if len(a.catalog) > a.s.agent.MaxTools {
		a.searchName = a.picker.SearchName(a.catalog)
		if a.clientTools[a.searchName] {
			return badRequest("tools", fmt.Sprintf("tools: the function tool name %q is reserved when more than %d MCP tools are named", a.searchName, a.s.agent.MaxTools))
		}
	}
	return nil
}

// offerTools sets the request's tools for the next model call: the client's
// function tools, then the offered MCP tools (all of them, or the picker's
// choice plus the search tool), then the tools found by search and called
// since.
func (a *agentRun) offerTools(ctx context.Context) {
	tools := append([]chat.Tool(nil), a.baseTools...)
	// A tool_choice that forces a call holds for the first model call only,
	// or every turn would call a tool until max_iterations.
	if tc := a.req.ToolChoice; a.iterations > 0 && tc != nil && (tc.Mode == chat.ToolChoiceRequired || tc.Mode == chat.ToolChoiceFunction) {
		a.req.ToolChoice = &chat.ToolChoice{Mode: chat.ToolChoiceAuto}
	}
	if a.iterations == 0 {
		offered, withSearch, err := a.picker.Select(ctx, a.catalog, conversationText(a.req), a.s.agent.MaxTools)
		if err != nil { // only when ctx is done: the model call fails next
			offered, withSearch = a.catalog[:min(len(a.catalog), max(0, a.s.agent.MaxTools-1))], true
		}
		for _, t := range offered {
			a.offered[t.Name] = true
		}
		a.withSearch = withSearch
	}
	for _, t := range a.tools {
		if a.offered[t.Info.Name] {
			tools = append(tools, chat.Tool{Name: t.Info.Name, Description: t.Info.Description, Parameters: schemaOrEmpty(t.Info.InputSchema)})
		}
	}
	if a.withSearch {
		search := agent.SearchTool()
		search.Name = a.searchName
		tools = append(tools, search)
	}
	a.req.Tools = tools
}

func schemaOrEmpty(s json.RawMessage) json.RawMessage {
	if len(s) == 0 {
		return json.RawMessage(`{"type":"object","properties":{}}`)
	}
	return s
}

// conversationText is what the picker ranks tools against: the system and
// user texts, latest last, bounded.
func conversationText(req *chat.Request) string {
	var b strings.Builder
	for i := range req.Messages {
		m := &req.Messages[i]
		if m.Role == chat.RoleUser || m.Role == chat.RoleSystem || m.Role == chat.RoleDeveloper {
			b.WriteString(m.Text())
			b.WriteByte('\n')
		}
	}
	s := b.String()
	if len(s) > 8<<10 {
		s = s[len(s)-8<<10:]
	}
	return s
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
	if a.s.upstreamOf(c).format == a.f.name() || len(a.req.Extra) == 0 {
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
	actx, cancel := context.WithTimeout(ctx, t.a.s.upstreamOf(c).cfg.Timeouts.FirstByte)
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
func (a *agentRun) appendTurn(msg chat.Message, calls []chat.ToolCall, outs []toolOutcome) {
	msg.Role = chat.RoleAssistant
	a.req.Messages = append(a.req.Messages, msg)
	a.appendResults(calls, outs)
}

func (a *agentRun) appendResults(calls []chat.ToolCall, outs []toolOutcome) {
	for i := range calls {
		m := chat.TextMessage(chat.RoleTool, outs[i].text)
		m.ToolCallID, m.IsError = calls[i].ID, outs[i].record.IsError
		a.req.Messages = append(a.req.Messages, m)
	}
}

// pendingCalls are the MCP calls of the conversation's last assistant
// message that the client sent back without results: approved calls (or
// calls left for Junction next to the client's own function calls). They
// run before the first model call.
func (a *agentRun) pendingCalls() []chat.ToolCall {
	msgs := a.req.Messages
	i := len(msgs) - 1
	for i >= 0 && msgs[i].Role == chat.RoleTool {
		i--
	}
	if i < 0 || msgs[i].Role != chat.RoleAssistant || len(msgs[i].ToolCalls) == 0 {
		return nil
	}
	answered := map[string]bool{}
	for _, m := range msgs[i+1:] {
		answered[m.ToolCallID] = true
	}
	var out []chat.ToolCall
	for _, call := range msgs[i].ToolCalls {
		if !answered[call.ID] && a.byName[call.Name] != nil {
			out = append(out, call)
		}
	}
	return out
}

// fillDropped gives the MCP calls of earlier assistant turns that the
// client sent back without results (a client that accumulated a streamed
// loop into one message keeps its tool calls but not Junction's results) a
// placeholder result, so that the conversation stays valid for providers.
// The calls are not run again.
func (a *agentRun) fillDropped() {
	msgs := a.req.Messages
	var out []chat.Message
	for i := 0; i < len(msgs); i++ {
		out = append(out, msgs[i])
		if msgs[i].Role != chat.RoleAssistant || len(msgs[i].ToolCalls) == 0 {
			continue
		}
		j := i + 1
		answered := map[string]bool{}
		for ; j < len(msgs) && msgs[j].Role == chat.RoleTool; j++ {
			answered[msgs[j].ToolCallID] = true
		}
		if j == len(msgs) {
			continue // the last turn: pendingCalls deals with it
		}
		out = append(out, msgs[i+1:j]...)
		for _, call := range msgs[i].ToolCalls {
			if !answered[call.ID] && (a.byName[call.Name] != nil || a.callable[call.Name]) {
				m := chat.TextMessage(chat.RoleTool, "(Junction ran this call earlier; its result is not part of the conversation sent back.)")
				m.ToolCallID = call.ID
				out = append(out, m)
			}
		}
		i = j - 1
	}
	if len(out) != len(msgs) {
		a.req.Messages = out
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
func (a *agentRun) runPending(ctx context.Context) []toolOutcome {
	a.fillDropped()
	calls := a.pendingCalls()
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
		a.offerTools(ctx)
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
		if stop := a.clientStop(calls); stop != "" {
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
