package llm

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/junctionhq/junction/llm/agent"
	"github.com/junctionhq/junction/llm/chat"
	"github.com/junctionhq/junction/llm/provider/openai"
	"github.com/junctionhq/junction/llm/router"
)

// A streamed loop is one stream in the client's format, built so that the
// official SDKs parse it as one ordinary completion:
//
//   - OpenAI: every turn's text and tool-call deltas are standard chunks
//     (tool-call indices continue across turns, one id, one role chunk);
//     only the last turn's finish_reason is sent, then the usage chunk
//     (when asked for), then "data: [DONE]". Junction's progress events
//     are SSE comment lines, ": junction.tool_result {json}" per tool
//     result and ": junction.done {json}" before [DONE]: the SDKs' SSE
//     decoders drop comment lines, whereas they hand named events to the
//     caller as items (openai-python casts them to chunks, openai-node
//     yields {event, data}), which would break chunk handling.
//   - Anthropic: one message (message_start ... message_stop) whose
//     content blocks are every turn's text and tool_use blocks, indices
//     continuing; "event: junction.tool_result" after each tool result
//     and "event: junction.done" before message_stop, their data typed
//     like Anthropic's own events ({"type": "junction.tool_result", ...}).
//     The SDKs' message accumulators ignore events of unknown types.

// agentStreamWriter renders the loop's stream in one client format.
type agentStreamWriter interface {
	// delta writes a piece of a turn: text or tool-call pieces (indices
	// across the whole loop), the role on the first.
	delta(dst []byte, c *chat.Chunk) []byte
	// toolResult writes Junction's event for one tool result.
	toolResult(dst []byte, ev *agentToolEvent) []byte
	// finish ends the stream.
	finish(dst []byte, reason string, limited bool, u chat.Usage, sum agent.Summary) []byte
	// fail ends the stream with an in-band error.
	fail(dst []byte, e *apiError) []byte
}

// agentToolEvent is the data of a junction.tool_result event. Type names
// the event inside its data too, as Anthropic's events do: the Anthropic
// TypeScript SDK hands unknown named events to raw stream iterators as
// items, which can then be told apart by type.
type agentToolEvent struct {
	Type string `json:"type"` // "junction.tool_result"
	agent.ToolRecord
	Content string `json:"content"`
}

// agentDoneEvent is the data of a junction.done event.
type agentDoneEvent struct {
	Type string `json:"type"` // "junction.done"
	agent.Summary
}

func newAgentStreamWriter(f clientFormat, model string, includeUsage bool) agentStreamWriter {
	if f.name() == chat.FormatAnthropic {
		return &anthropicAgentStream{f: f, model: model, open: -1, blocks: map[int]int{}}
	}
	return &openAIAgentStream{f: f, model: model, includeUsage: includeUsage}
}

type openAIAgentStream struct {
	f            clientFormat
	model        string
	includeUsage bool
	id           string
	created      int64
}

func (s *openAIAgentStream) delta(dst []byte, c *chat.Chunk) []byte {
	if s.id == "" {
		s.id, s.created = c.ID, c.Created
		if s.id == "" {
			s.id = "chatcmpl-junction"
		}
	}
	c.ID, c.Created = s.id, s.created
	return openai.AppendChunk(dst, c, s.model)
}

func appendComment(dst []byte, name string, v any) []byte {
	b, _ := json.Marshal(v)
	dst = append(dst, ": "...)
	dst = append(dst, name...)
	dst = append(dst, ' ')
	dst = append(dst, b...)
	return append(dst, "\n\n"...)
}

func (s *openAIAgentStream) toolResult(dst []byte, ev *agentToolEvent) []byte {
	return appendComment(dst, "junction.tool_result", ev)
}

func (s *openAIAgentStream) finish(dst []byte, reason string, _ bool, u chat.Usage, sum agent.Summary) []byte {
	dst = openai.AppendChunk(dst, &chat.Chunk{ID: s.id, Created: s.created, FinishReason: reason}, s.model)
	if s.includeUsage {
		dst = openai.AppendChunk(dst, &chat.Chunk{ID: s.id, Created: s.created, Usage: &u}, s.model)
	}
	dst = appendComment(dst, "junction.done", agentDoneEvent{Type: "junction.done", Summary: sum})
	return openai.AppendDone(dst)
}

func (s *openAIAgentStream) fail(dst []byte, e *apiError) []byte {
	return s.f.appendStreamError(dst, e)
}

// anthropicAgentStream writes Anthropic's named events.
type anthropicAgentStream struct {
	f        clientFormat
	model    string
	started  bool
	open     int         // the open block's index, -1 when none
	openText bool        // the open block is text
	next     int         // the next block's index
	blocks   map[int]int // tool-call index → block index
}

func appendEvent(dst []byte, name string, v any) []byte {
	b, _ := json.Marshal(v)
	dst = append(dst, "event: "...)
	dst = append(dst, name...)
	dst = append(dst, "\ndata: "...)
	dst = append(dst, b...)
	return append(dst, "\n\n"...)
}

type anthropicUsageOut struct {
	InputTokens              int64 `json:"input_tokens"`
	OutputTokens             int64 `json:"output_tokens"`
	CacheReadInputTokens     int64 `json:"cache_read_input_tokens"`
	CacheCreationInputTokens int64 `json:"cache_creation_input_tokens"`
}

func anthropicUsageOf(u chat.Usage) anthropicUsageOut {
	return anthropicUsageOut{InputTokens: u.PromptTokens - u.CachedTokens - u.CacheWriteTokens, OutputTokens: u.CompletionTokens,
		CacheReadInputTokens: u.CachedTokens, CacheCreationInputTokens: u.CacheWriteTokens}
}

func (s *anthropicAgentStream) start(dst []byte, id string) []byte {
	s.started = true
	if id == "" {
		id = "msg_junction"
	}
	return appendEvent(dst, "message_start", map[string]any{"type": "message_start", "message": map[string]any{
		"id": id, "type": "message", "role": "assistant", "model": s.model, "content": []any{},
		"stop_reason": nil, "stop_sequence": nil, "usage": anthropicUsageOf(chat.Usage{})}})
}

func (s *anthropicAgentStream) stopBlock(dst []byte) []byte {
	if s.open < 0 {
		return dst
	}
	dst = appendEvent(dst, "content_block_stop", map[string]any{"type": "content_block_stop", "index": s.open})
	s.open = -1
	return dst
}

func (s *anthropicAgentStream) startBlock(dst []byte, block any) []byte {
	dst = s.stopBlock(dst)
	s.open = s.next
	s.next++
	return appendEvent(dst, "content_block_start", map[string]any{"type": "content_block_start", "index": s.open, "content_block": block})
}

func (s *anthropicAgentStream) delta(dst []byte, c *chat.Chunk) []byte {
	if !s.started {
		dst = s.start(dst, c.ID)
	}
	if c.Content != "" {
		if s.open < 0 || !s.openText {
			dst = s.startBlock(dst, map[string]any{"type": "text", "text": ""})
			s.openText = true
		}
		dst = appendEvent(dst, "content_block_delta", map[string]any{"type": "content_block_delta", "index": s.open,
			"delta": map[string]any{"type": "text_delta", "text": c.Content}})
	}
	for _, d := range c.ToolCalls {
		block, ok := s.blocks[d.Index]
		if !ok {
			dst = s.startBlock(dst, map[string]any{"type": "tool_use", "id": d.ID, "name": d.Name, "input": map[string]any{}})
			s.openText = false
			block = s.open
			s.blocks[d.Index] = block
		}
		if d.Arguments != "" {
			dst = appendEvent(dst, "content_block_delta", map[string]any{"type": "content_block_delta", "index": block,
				"delta": map[string]any{"type": "input_json_delta", "partial_json": d.Arguments}})
		}
	}
	return dst
}

func (s *anthropicAgentStream) toolResult(dst []byte, ev *agentToolEvent) []byte {
	if !s.started {
		dst = s.start(dst, "")
	}
	dst = s.stopBlock(dst)
	return appendEvent(dst, "junction.tool_result", ev)
}

func (s *anthropicAgentStream) finish(dst []byte, reason string, limited bool, u chat.Usage, sum agent.Summary) []byte {
	if !s.started {
		dst = s.start(dst, "")
	}
	dst = s.stopBlock(dst)
	stop := "end_turn"
	switch reason {
	case chat.FinishToolCalls:
		stop = "tool_use"
	case chat.FinishLength:
		stop = "max_tokens"
		if limited {
			stop = "pause_turn"
		}
	case chat.FinishContentFilter:
		stop = "refusal"
	}
	dst = appendEvent(dst, "message_delta", map[string]any{"type": "message_delta",
		"delta": map[string]any{"stop_reason": stop, "stop_sequence": nil}, "usage": anthropicUsageOf(u)})
	dst = appendEvent(dst, "junction.done", agentDoneEvent{Type: "junction.done", Summary: sum})
	return append(dst, "event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n"...)
}

func (s *anthropicAgentStream) fail(dst []byte, e *apiError) []byte {
	return s.f.appendStreamError(dst, e)
}

// streamTurn is one streamed model call, open.
type streamTurn struct {
	st     chat.Stream
	first  *chat.Chunk
	cand   *router.Candidate
	cancel context.CancelFunc
	result router.Served
	ttft   time.Duration
}

// openedStream is what the attempt that opens a streamed model call
// returns: the stream, its first chunk and what ends it.
type openedStream struct {
	st     chat.Stream
	first  *chat.Chunk
	cancel context.CancelFunc
}

// agentStreamTurn is one streamed model call of the loop through the
// pipeline: the first event decides success, so a failing target can still
// be retried or failed over; relay (the loop's step 5) pumps it to the
// client, and pump reports how the stream ended.
type agentStreamTurn struct {
	noCache
	a     *agentRun
	start time.Time // of the first attempt
	relay func(p *modelCall, t *streamTurn) delivery
}

func (t *agentStreamTurn) attempt(ctx context.Context, c *router.Candidate) (openedStream, time.Duration, error) {
	t0 := time.Now()
	if t.start.IsZero() {
		t.start = t0
	}
	st, first, acancel, err := openChunkStream(ctx, c, t.a.forProvider(c), t.a.s.upstreamOf(c).Config.Timeouts.FirstByte)
	return openedStream{st: st, first: first, cancel: acancel}, time.Since(t0), err
}

func (t *agentStreamTurn) deliver(_ context.Context, p *modelCall, r router.Result[openedStream]) delivery {
	o := r.Value
	return t.relay(p, &streamTurn{st: o.st, first: o.first, cand: r.Candidate, cancel: o.cancel, result: r.Served,
		ttft: time.Since(t.start)})
}

func (t *agentStreamTurn) record(ctx context.Context, _ *modelCall, r router.Served, d delivery, cost float64) {
	t.a.record(ctx, r, d, cost)
}

// turnOutput is what one streamed turn produced.
type turnOutput struct {
	msg    chat.Message
	finish string
	usage  chat.Usage
	events int64
}

// pump relays one open turn to the client and collects it, and reports
// how the stream ended to the router (t.result.Finish). base is the
// index the turn's first tool call takes in the client's stream.
func (a *agentRun) pump(clientCtx context.Context, t *streamTurn, sw agentStreamWriter, cw *clientWriter, base int, roleSent *bool) (turnOutput, error) {
	up := a.s.upstreamOf(t.cand)
	wd := newWatchdog(clientCtx, up.Config.Timeouts.StreamIdle, a.s.cfg.Routing.DrainTimeout, t.cancel)
	defer wd.close()
	defer func() { _ = t.st.Close() }()
	// The stream's outcome goes to the router below; this only releases
	// the target should the relay panic.
	defer t.result.Finish(context.Canceled)
	var (
		out   turnOutput
		text  strings.Builder
		pos   = map[int]int{} // the upstream's call index → position in out.msg.ToolCalls
		buf   []byte
		chunk = t.first
	)
	for {
		if chunk.Usage != nil {
			out.usage = *chunk.Usage
		}
		if chunk.FinishReason != "" {
			out.finish = chunk.FinishReason
		}
		d := chat.Chunk{ID: chunk.ID, Created: chunk.Created, Content: chunk.Content}
		if !*roleSent {
			d.Role, *roleSent = chat.RoleAssistant, true
		}
		text.WriteString(chunk.Content)
		for _, td := range chunk.ToolCalls {
			p, ok := pos[td.Index]
			if !ok {
				p = len(out.msg.ToolCalls)
				pos[td.Index] = p
				out.msg.ToolCalls = append(out.msg.ToolCalls, chat.ToolCall{ID: td.ID, Name: td.Name})
			}
			call := &out.msg.ToolCalls[p]
			if call.ID == "" {
				call.ID = td.ID
			}
			if call.Name == "" {
				call.Name = td.Name
			}
			call.Arguments += td.Arguments
			d.ToolCalls = append(d.ToolCalls, chat.ToolCallDelta{Index: base + p, ID: td.ID, Name: td.Name, Arguments: td.Arguments})
		}
		if chunk.Content != "" || len(chunk.ToolCalls) > 0 {
			out.events++
		}
		if d.Role != "" || d.Content != "" || len(d.ToolCalls) > 0 {
			buf = sw.delta(buf[:0], &d)
			cw.write(buf)
		}
		next, err := t.st.Recv()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			out.msg = chat.TextMessage(chat.RoleAssistant, text.String())
			scrubKey(err, t.cand.Target.APIKey)
			err = wd.outcome(t.cand.Target.Provider, err)
			t.result.Finish(err)
			return out, err
		}
		wd.kick()
		chunk = next
	}
	calls := out.msg.ToolCalls
	out.msg = chat.TextMessage(chat.RoleAssistant, text.String())
	if text.Len() == 0 {
		out.msg.Content = nil
	}
	out.msg.ToolCalls = calls
	t.result.Finish(nil)
	return out, nil
}

// serveStream runs the loop for a streamed request.
func (a *agentRun) serveStream(ctx context.Context, w http.ResponseWriter, r *http.Request) {
	f := a.f
	includeUsage := a.c.head.StreamOptions != nil && a.c.head.StreamOptions.IncludeUsage
	sw := newAgentStreamWriter(f, a.c.head.Model, includeUsage)
	var cw *clientWriter
	var buf []byte
	begin := func() {
		h := w.Header()
		h.Set("Content-Type", "text/event-stream")
		h.Set("Cache-Control", "no-cache")
		h.Set("X-Accel-Buffering", "no")
		h.Set("Trailer", IterationsHeader+", "+StopReasonHeader+", "+ToolCallsHeader+", X-Junction-Target, X-Junction-Overhead-Ms")
		if a.firstRes != nil {
			setRateLimitHeaders(h, a.firstRes.RateLimits(), a.s.now())
		}
		w.WriteHeader(http.StatusOK)
		cw = &clientWriter{w: w, rc: http.NewResponseController(w)}
	}
	emit := func(outs []agent.Outcome) {
		for i := range outs {
			buf = sw.toolResult(buf[:0], &agentToolEvent{Type: "junction.tool_result", ToolRecord: outs[i].Record, Content: outs[i].Text})
			cw.write(buf)
		}
	}
	pending := a.runPending(ctx)
	base, roleSent := 0, false
	finish := ""
	for {
		a.box.Offer(ctx, a.iterations)
		a.req.Stream, a.req.IncludeUsage = true, true
		var (
			out     turnOutput
			pumpErr error
		)
		turn := &agentStreamTurn{a: a, relay: func(p *modelCall, t *streamTurn) delivery {
			a.answered(p)
			if cw == nil {
				begin()
				emit(pending)
			}
			pumped := time.Now()
			out, pumpErr = a.pump(r.Context(), t, sw, cw, base, &roleSent)
			a.upstream += time.Since(pumped)
			base += len(out.msg.ToolCalls)
			d := delivery{usage: out.usage, status: streamStatus(pumpErr, cw.gone), ttft: t.ttft}
			if pumpErr != nil && d.usage == (chat.Usage{}) {
				d.usage = chat.Usage{PromptTokens: estimateTokens(a.req.SizeHint()), CompletionTokens: out.events}
			}
			return d
		}}
		p := a.nextCall(true)
		if err := runModelCall[openedStream](ctx, &p, turn); err != nil {
			if p.res == nil && cw != nil { // not admitted
				a.stop = stopFor(err)
				break
			}
			if cw == nil {
				f.writeError(w, r, err)
				return
			}
			if ctx.Err() != nil && r.Context().Err() == nil {
				a.stop = agent.StopTimeout
				break
			}
			a.stop = agent.StopError
			cw.write(sw.fail(nil, classify(err)))
			return
		}
		if pumpErr != nil {
			a.stop = agent.StopError
			cw.write(sw.fail(nil, classify(pumpErr)))
			return
		}
		finish = out.finish
		calls := out.msg.ToolCalls
		if len(calls) == 0 {
			a.stop = agent.StopFinal
			break
		}
		if stop := a.box.ClientStop(calls); stop != "" {
			a.stop = stop
			finish = chat.FinishToolCalls
			break
		}
		if a.iterations >= a.maxIter {
			a.stop = agent.StopMaxIterations
			break
		}
		if cw.gone || r.Context().Err() != nil {
			a.stop = agent.StopCancelled
			return
		}
		outs := a.runTools(ctx, calls, false)
		a.appendTurn(out.msg, calls, outs)
		emit(outs)
		if ctx.Err() != nil {
			a.stop = agent.StopTimeout
			if r.Context().Err() != nil {
				a.stop = agent.StopCancelled
				return
			}
			break
		}
	}
	limited := agent.LimitedStop(a.stop)
	if limited {
		finish = chat.FinishLength
		buf = sw.delta(buf[:0], &chat.Chunk{Content: "\n\n" + agent.StopNote(a.stop, a.iterations)})
		cw.write(buf)
	}
	if finish == "" {
		finish = chat.FinishStop
	}
	cw.write(sw.finish(nil, finish, limited, a.usage, a.summary()))
	a.setHeaders(w.Header()) // the trailers
}
