package agent

import (
	"encoding/json"
	"net/http"

	"github.com/junctionhq/junction/llm/chat"
	"github.com/junctionhq/junction/llm/provider/openai"
)

// Format is the client's API as the loop answers in it. The loop is
// written once over it: a new API is a new Format (and its StreamWriter).
type Format interface {
	// Decode reads the client's body.
	Decode(body []byte) (*chat.Request, error)
	// WriteError answers the request with err, before anything else was
	// written.
	WriteError(w http.ResponseWriter, r *http.Request, err error)
	// AppendResponse appends the loop's whole answer; limited says the loop
	// ended it before the model's final answer (see LimitedStop).
	AppendResponse(dst []byte, resp *chat.Response, model string, limited bool) []byte
	// NewStream starts the writer of a streamed loop.
	NewStream(model string, includeUsage bool) StreamWriter
	// AppendStreamError appends an in-band error, after the 200 was sent.
	AppendStreamError(dst []byte, err error) []byte
}

// StreamWriter renders a streamed loop in one client format. A streamed
// loop is one stream, built so that the official SDKs parse it as one
// ordinary completion (see NewOpenAIStream, NewAnthropicStream).
type StreamWriter interface {
	// Delta appends a piece of a turn: text or tool-call pieces (indices
	// across the whole loop), the role on the first.
	Delta(dst []byte, c *chat.Chunk) []byte
	// ToolResult appends Junction's event for one tool result.
	ToolResult(dst []byte, ev *ToolEvent) []byte
	// Finish appends the stream's end: reason is the finish reason, limited
	// as for Format.AppendResponse, u the loop's usage.
	Finish(dst []byte, reason string, limited bool, u chat.Usage, sum Summary) []byte
}

// ToolEvent is the data of a junction.tool_result event. Type names the
// event inside its data too, as Anthropic's events do: the Anthropic
// TypeScript SDK hands unknown named events to raw stream iterators as
// items, which can then be told apart by type.
type ToolEvent struct {
	Type string `json:"type"` // "junction.tool_result"
	ToolRecord
	Content string `json:"content"`
}

// doneEvent is the data of a junction.done event.
type doneEvent struct {
	Type string `json:"type"` // "junction.done"
	Summary
}

// openAIStream writes the loop as OpenAI chat completion chunks: every
// turn's text and tool-call deltas are standard chunks (tool-call indices
// continue across turns, one id, one role chunk); only the last turn's
// finish_reason is sent, then the usage chunk (when asked for), then
// "data: [DONE]". Junction's progress events are SSE comment lines,
// ": junction.tool_result {json}" per tool result and ": junction.done
// {json}" before [DONE]: the SDKs' SSE decoders drop comment lines, whereas
// they hand named events to the caller as items (openai-python casts them
// to chunks, openai-node yields {event, data}), which would break chunk
// handling.
type openAIStream struct {
	model        string
	includeUsage bool
	id           string
	created      int64
}

// NewOpenAIStream is the stream writer of OpenAI's chat completions.
func NewOpenAIStream(model string, includeUsage bool) StreamWriter {
	return &openAIStream{model: model, includeUsage: includeUsage}
}

func (s *openAIStream) Delta(dst []byte, c *chat.Chunk) []byte {
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

func (s *openAIStream) ToolResult(dst []byte, ev *ToolEvent) []byte {
	return appendComment(dst, "junction.tool_result", ev)
}

func (s *openAIStream) Finish(dst []byte, reason string, _ bool, u chat.Usage, sum Summary) []byte {
	dst = openai.AppendChunk(dst, &chat.Chunk{ID: s.id, Created: s.created, FinishReason: reason}, s.model)
	if s.includeUsage {
		dst = openai.AppendChunk(dst, &chat.Chunk{ID: s.id, Created: s.created, Usage: &u}, s.model)
	}
	dst = appendComment(dst, "junction.done", doneEvent{Type: "junction.done", Summary: sum})
	return openai.AppendDone(dst)
}

// anthropicStream writes the loop as one Anthropic message (message_start
// ... message_stop) whose content blocks are every turn's text and tool_use
// blocks, indices continuing; "event: junction.tool_result" after each tool
// result and "event: junction.done" before message_stop, their data typed
// like Anthropic's own events ({"type": "junction.tool_result", ...}). The
// SDKs' message accumulators ignore events of unknown types.
type anthropicStream struct {
	model    string
	started  bool
	open     int         // the open block's index, -1 when none
	openText bool        // the open block is text
	next     int         // the next block's index
	blocks   map[int]int // tool-call index → block index
}

// NewAnthropicStream is the stream writer of Anthropic's messages.
func NewAnthropicStream(model string) StreamWriter {
	return &anthropicStream{model: model, open: -1, blocks: map[int]int{}}
}

func appendEvent(dst []byte, name string, v any) []byte {
	b, _ := json.Marshal(v)
	dst = append(dst, "event: "...)
	dst = append(dst, name...)
	dst = append(dst, "\ndata: "...)
	dst = append(dst, b...)
	return append(dst, "\n\n"...)
}

type anthropicUsage struct {
	InputTokens              int64 `json:"input_tokens"`
	OutputTokens             int64 `json:"output_tokens"`
	CacheReadInputTokens     int64 `json:"cache_read_input_tokens"`
	CacheCreationInputTokens int64 `json:"cache_creation_input_tokens"`
}

func anthropicUsageOf(u chat.Usage) anthropicUsage {
	return anthropicUsage{InputTokens: u.PromptTokens - u.CachedTokens - u.CacheWriteTokens, OutputTokens: u.CompletionTokens,
		CacheReadInputTokens: u.CachedTokens, CacheCreationInputTokens: u.CacheWriteTokens}
}

func (s *anthropicStream) start(dst []byte, id string) []byte {
	s.started = true
	if id == "" {
		id = "msg_junction"
	}
	return appendEvent(dst, "message_start", map[string]any{"type": "message_start", "message": map[string]any{
		"id": id, "type": "message", "role": "assistant", "model": s.model, "content": []any{},
		"stop_reason": nil, "stop_sequence": nil, "usage": anthropicUsageOf(chat.Usage{})}})
}

func (s *anthropicStream) stopBlock(dst []byte) []byte {
	if s.open < 0 {
		return dst
	}
	dst = appendEvent(dst, "content_block_stop", map[string]any{"type": "content_block_stop", "index": s.open})
	s.open = -1
	return dst
}

func (s *anthropicStream) startBlock(dst []byte, block any) []byte {
	dst = s.stopBlock(dst)
	s.open = s.next
	s.next++
	return appendEvent(dst, "content_block_start", map[string]any{"type": "content_block_start", "index": s.open, "content_block": block})
}

func (s *anthropicStream) Delta(dst []byte, c *chat.Chunk) []byte {
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

func (s *anthropicStream) ToolResult(dst []byte, ev *ToolEvent) []byte {
	if !s.started {
		dst = s.start(dst, "")
	}
	dst = s.stopBlock(dst)
	return appendEvent(dst, "junction.tool_result", ev)
}

func (s *anthropicStream) Finish(dst []byte, reason string, limited bool, u chat.Usage, sum Summary) []byte {
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
	dst = appendEvent(dst, "junction.done", doneEvent{Type: "junction.done", Summary: sum})
	return append(dst, "event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n"...)
}
