package agent

import (
	"bytes"
	"context"
	"errors"
	"math"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"

	"github.com/junctionhq/junction/apierror"
	"github.com/junctionhq/junction/llm/chat"
	"github.com/junctionhq/junction/policy"
	"github.com/junctionhq/junction/telemetry"
)

// Headers of the loop: MaxIterationsHeader lowers agent.max_iterations for
// one request; the others are the loop's response headers (trailers of a
// stream).
const (
	MaxIterationsHeader = "X-Junction-Max-Iterations"
	IterationsHeader    = "X-Junction-Iterations"
	StopReasonHeader    = "X-Junction-Stop-Reason"
	ToolCallsHeader     = "X-Junction-Tool-Calls"
)

// Options configure a Loop.
type Options struct {
	// Config tunes the loop; its defaults are applied and it is valid.
	Config Config
	// Hub calls the MCP tools; nil: requests naming MCP tools are refused.
	Hub Hub
	// Embedder returns the embedder that ranks tools for the selector
	// (nil: Lexical), asked when the selector is built, on first use.
	Embedder func() Embedder
	// Lexical is the built-in lexical embedder, the selector's fallback.
	Lexical Embedder
	// Registerer receives the loop's metrics. Optional.
	Registerer prometheus.Registerer
	// Logger receives a line per loop and per model call of a loop.
	Logger zerolog.Logger
}

// Loop answers the chat requests that name MCP tools (entries of type "mcp"
// in tools, Anthropic-style mcp_servers, or the X-Junction-Tools header) by
// running the whole tool-call loop: model call, tool calls, model call...
// until the model answers or a limit ends it. Its model calls go through
// the request's ModelCaller, its tool calls through the Hub.
type Loop struct {
	cfg Config
	hub Hub
	log zerolog.Logger
	// selector picks the tools offered from large catalogs; built on
	// first use, when the embedder is set up.
	selectorOnce sync.Once
	selector     *Selector
	embedder     func() Embedder
	lexical      Embedder
	// loops and iterations count loops; their model and tool calls are
	// counted by the LLM and MCP metrics like any other.
	loops      *prometheus.CounterVec // stop_reason
	iterations prometheus.Histogram
}

// NewLoop returns a loop with opts.
func NewLoop(opts Options) *Loop {
	l := &Loop{cfg: opts.Config, hub: opts.Hub, log: opts.Logger, embedder: opts.Embedder, lexical: opts.Lexical,
		loops: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "junction", Subsystem: "llm", Name: "agent_loops_total",
			Help: "Agent-loop requests by why the loop ended (final, client_tools, approval, max_iterations, timeout, budget, ...)."},
			[]string{"stop_reason"}),
		iterations: prometheus.NewHistogram(prometheus.HistogramOpts{Namespace: "junction", Subsystem: "llm", Name: "agent_iterations",
			Help: "Model calls per agent-loop request.", Buckets: []float64{1, 2, 3, 4, 5, 6, 8, 10, 15, 20, 50}}),
	}
	if opts.Registerer != nil {
		opts.Registerer.MustRegister(l.loops, l.iterations)
	}
	return l
}

// toolSelector returns the loop's tool selector, built on first use.
func (l *Loop) toolSelector() *Selector {
	l.selectorOnce.Do(func() {
		var emb Embedder
		if l.embedder != nil {
			emb = l.embedder()
		}
		l.selector = NewSelector(emb, l.lexical)
	})
	return l.selector
}

// Request is one chat request for the loop, as its front end read it.
type Request struct {
	// Body is the client's body, naming the model as Model.
	Body  []byte
	Model string
	// Stream and IncludeUsage are the body's stream and
	// stream_options.include_usage.
	Stream, IncludeUsage bool
	// Start is when the request arrived, for the overhead header.
	Start time.Time
	// Format is the client's API; Models makes the model calls.
	Format Format
	Models ModelCaller
}

// marker is what a body must contain before it is parsed for MCP tool
// entries: the check on every chat request is one byte search.
var marker = []byte(`"mcp`)

// Wants reports whether a chat request may name MCP tools, for the front
// end to hand it to Serve (which has the last word).
func Wants(r *http.Request, body []byte) bool {
	return r.Header.Get(ToolsHeader) != "" || bytes.Contains(body, marker)
}

// run is one request through the loop. Its fields are used by the
// request's goroutine only.
type run struct {
	l       *Loop
	in      Request
	w       http.ResponseWriter
	r       *http.Request
	req     *chat.Request // the conversation so far
	maxIter int
	box     *Toolbox // the MCP tools

	iterations int
	usage      chat.Usage
	costMicros int64 // the model calls' cost, in µ$ as the usage records hold it
	calls      []ToolRecord
	last       *chat.Response // the last model answer
	target     string         // the provider/model of the last answer
	stop       string
	// upstream is the time spent waiting for models and tools, for the
	// overhead header.
	upstream time.Duration
}

// Serve answers a chat request that names MCP tools by running the loop,
// and reports false (having written nothing) when the request names none
// after all, for the plain path to serve it. It never consults the
// response cache: every model call of a loop goes to a provider.
func (l *Loop) Serve(w http.ResponseWriter, r *http.Request, in Request) bool {
	f := in.Format
	ctx := r.Context()
	sels, body, err := SplitRequest(in.Body)
	if err != nil {
		f.WriteError(w, r, err)
		return true
	}
	if hv := r.Header.Get(ToolsHeader); hv != "" {
		hs, err := ParseToolsHeader(hv)
		if err != nil {
			f.WriteError(w, r, err)
			return true
		}
		sels = append(sels, hs...)
	}
	if len(sels) == 0 {
		return false // "mcp appears in the body, but not as a tool entry
	}
	if l.hub == nil {
		f.WriteError(w, r, &apierror.Error{Status: http.StatusNotImplemented, Type: "invalid_request_error", Code: "agent_unavailable",
			Message: "this gateway has no MCP tool hub, so it cannot run tool loops; remove the MCP tools from the request"})
		return true
	}
	if body == nil {
		body = in.Body
	}
	req, err := f.Decode(body)
	if err != nil {
		f.WriteError(w, r, err)
		return true
	}
	delete(req.Extra, "fallbacks")
	a := &run{l: l, in: in, w: w, r: r, req: req, maxIter: l.cfg.MaxIterations}
	if v := r.Header.Get(MaxIterationsHeader); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			f.WriteError(w, r, apierror.BadRequest("invalid_request", "", MaxIterationsHeader+": must be a positive integer"))
			return true
		}
		a.maxIter = min(a.maxIter, n)
	}
	if a.box, err = NewToolbox(l.hub, policy.IdentityFrom(ctx), l.toolSelector(), l.cfg, sels, req); err != nil {
		f.WriteError(w, r, err)
		return true
	}
	ctx, cancel := context.WithTimeout(ctx, l.cfg.Timeout)
	defer cancel()
	if in.Stream {
		a.serveStream(ctx)
	} else {
		a.serveComplete(ctx)
	}
	if a.iterations > 0 {
		l.loops.WithLabelValues(a.stop).Inc()
		l.iterations.Observe(float64(a.iterations))
		l.log.Info().Str("request_id", telemetry.RequestID(ctx)).Str("model", in.Model).Int("iterations", a.iterations).
			Str("stop_reason", a.stop).Int("tool_calls", len(a.calls)).Float64("cost_usd", float64(a.costMicros)/1e6).
			Int64("prompt_tokens", a.usage.PromptTokens).Int64("completion_tokens", a.usage.CompletionTokens).
			Dur("duration", time.Since(in.Start)).Msg("llm: agent loop")
	}
	return true
}

func (a *run) summary() Summary {
	calls := a.calls
	if calls == nil {
		calls = []ToolRecord{}
	}
	return Summary{Iterations: a.iterations, StopReason: a.stop, CostUSD: float64(a.costMicros) / 1e6, ToolCalls: calls}
}

// refusal is why a model call was not admitted, nil for a call that
// failed after its admission.
func refusal(err error) error {
	if re, ok := errors.AsType[*RefusedError](err); ok {
		return re.Err
	}
	return nil
}

// stopFor maps a refused admission after the first to the loop's stop.
func stopFor(err error) string {
	if _, ok := errors.AsType[*policy.BudgetError](err); ok {
		return StopBudget
	}
	if _, ok := errors.AsType[*policy.RateLimitError](err); ok {
		return StopRateLimit
	}
	return StopUnavailable
}

// stopAfter is why the loop ends after an answer that called calls, or ""
// when it runs them and goes on.
func (a *run) stopAfter(calls []chat.ToolCall) string {
	if len(calls) == 0 {
		return StopFinal
	}
	if stop := a.box.ClientStop(calls); stop != "" {
		return stop
	}
	if a.iterations >= a.maxIter {
		return StopMaxIterations
	}
	return ""
}

// record adds an answered model call to the loop's sums and logs it with
// the request id that links the steps.
func (a *run) record(ctx context.Context, sp Spent) {
	u := sp.Usage
	a.usage.PromptTokens += u.PromptTokens
	a.usage.CompletionTokens += u.CompletionTokens
	a.usage.CachedTokens += u.CachedTokens
	a.usage.CacheWriteTokens += u.CacheWriteTokens
	a.usage.ReasoningTokens += u.ReasoningTokens
	a.costMicros += int64(math.Round(sp.CostUSD * 1e6))
	a.upstream += sp.Upstream
	a.target = sp.Target
	a.l.log.Info().Str("request_id", telemetry.RequestID(ctx)).Int("iteration", a.iterations).Str("target", sp.Target).
		Int64("prompt_tokens", u.PromptTokens).Int64("completion_tokens", u.CompletionTokens).Float64("cost_usd", sp.CostUSD).
		Str("status", sp.Status).Msg("llm: agent model call")
}

// runTools runs the calls of one turn through the request's toolbox and
// records them, and the time spent, in the loop's sums.
func (a *run) runTools(ctx context.Context, calls []chat.ToolCall, approved bool) []Outcome {
	start := time.Now()
	defer func() { a.upstream += time.Since(start) }()
	outs := a.box.Run(ctx, calls, approved, a.iterations)
	for i := range outs {
		a.calls = append(a.calls, outs[i].Record)
	}
	return outs
}

// runPending runs the calls the client sent back unanswered; they count as
// approved.
func (a *run) runPending(ctx context.Context) []Outcome {
	a.box.FillDropped()
	calls := a.box.Pending()
	if len(calls) == 0 {
		return nil
	}
	outs := a.runTools(ctx, calls, true)
	a.appendResults(calls, outs)
	return outs
}

// appendTurn adds the assistant turn and its tool results to the
// conversation.
func (a *run) appendTurn(msg chat.Message, calls []chat.ToolCall, outs []Outcome) {
	msg.Role = chat.RoleAssistant
	a.req.Messages = append(a.req.Messages, msg)
	a.appendResults(calls, outs)
}

func (a *run) appendResults(calls []chat.ToolCall, outs []Outcome) {
	for i := range calls {
		m := chat.TextMessage(chat.RoleTool, outs[i].Text)
		m.ToolCallID, m.IsError = calls[i].ID, outs[i].Record.IsError
		a.req.Messages = append(a.req.Messages, m)
	}
}

// setHeaders writes the loop's response headers.
func (a *run) setHeaders(h http.Header) {
	h.Set(IterationsHeader, strconv.Itoa(a.iterations))
	h.Set(StopReasonHeader, a.stop)
	h.Set(ToolCallsHeader, strconv.Itoa(len(a.calls)))
	if a.target != "" {
		h.Set("X-Junction-Target", a.target)
	}
	h.Set("X-Junction-Overhead-Ms", strconv.FormatFloat(float64((time.Since(a.in.Start)-a.upstream).Microseconds())/1000, 'f', 3, 64))
}

// serveComplete runs the loop for a non-streamed request.
func (a *run) serveComplete(ctx context.Context) {
	f, w, r := a.in.Format, a.w, a.r
	a.runPending(ctx)
	for {
		a.box.Offer(ctx, a.iterations)
		a.req.Stream, a.req.IncludeUsage = false, false
		resp, spent, err := a.in.Models.Complete(ctx, a.req)
		if err != nil {
			if cause := refusal(err); cause != nil {
				if a.iterations == 0 {
					f.WriteError(w, r, cause)
					return
				}
				a.stop = stopFor(cause)
				break
			}
			if a.iterations > 0 && ctx.Err() != nil && r.Context().Err() == nil {
				a.stop = StopTimeout
				break
			}
			f.WriteError(w, r, err)
			return
		}
		a.iterations++
		a.record(ctx, spent)
		a.last = resp
		calls := resp.Message.ToolCalls
		if a.stop = a.stopAfter(calls); a.stop != "" {
			break
		}
		outs := a.runTools(ctx, calls, false)
		a.appendTurn(resp.Message, calls, outs)
		if ctx.Err() != nil {
			a.stop = StopTimeout
			if r.Context().Err() != nil {
				a.stop = StopCancelled
			}
			break
		}
	}
	final := *a.last
	final.Usage = a.usage
	limited := LimitedStop(a.stop)
	if limited {
		text := a.last.Message.Text()
		if text != "" {
			text += "\n\n"
		}
		final.Message = chat.TextMessage(chat.RoleAssistant, text+StopNote(a.stop, a.iterations))
		final.FinishReason = chat.FinishLength
	}
	body := AppendJunction(f.AppendResponse(nil, &final, a.in.Model, limited), a.summary())
	h := w.Header()
	a.setHeaders(h)
	a.in.Models.SetHeaders(h)
	h.Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(body)
}
