package anthropic

import (
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/junctionhq/junction/llm/chat"
)

// wireUsage is Anthropic's usage object. Each count tells absent from zero,
// for the cumulative updates of message_delta.
type wireUsage struct {
	InputTokens              optInt `json:"input_tokens"`
	OutputTokens             optInt `json:"output_tokens"`
	CacheCreationInputTokens optInt `json:"cache_creation_input_tokens"`
	CacheReadInputTokens     optInt `json:"cache_read_input_tokens"`
}

// optInt is an integer that may be absent (or null); decoding it does not
// allocate, unlike a *int64.
type optInt struct {
	n  int64
	ok bool
}

func (o *optInt) UnmarshalJSON(b []byte) error {
	if string(b) == "null" {
		*o = optInt{}
		return nil
	}
	n, err := strconv.ParseInt(string(b), 10, 64)
	if err != nil {
		// A float or an out-of-range count: keep what fits, as encoding/json
		// would reject it and fail the whole response for a counter.
		f, ferr := strconv.ParseFloat(string(b), 64)
		if ferr != nil {
			return fmt.Errorf("usage count %s: %w", b, err)
		}
		n = int64(max(min(f, math.MaxInt64), math.MinInt64))
	}
	*o = optInt{n: n, ok: true}
	return nil
}

// usageCounts holds the latest value of each of Anthropic's counts.
type usageCounts struct {
	input, output, cacheWrite, cacheRead int64
}

// present reports whether u carries any count.
func (u *wireUsage) present() bool {
	return u.InputTokens.ok || u.OutputTokens.ok || u.CacheCreationInputTokens.ok || u.CacheReadInputTokens.ok
}

// set replaces the counts that u carries: Anthropic's counts are cumulative.
func (c *usageCounts) set(u *wireUsage) {
	if u.InputTokens.ok {
		c.input = u.InputTokens.n
	}
	if u.OutputTokens.ok {
		c.output = u.OutputTokens.n
	}
	if u.CacheCreationInputTokens.ok {
		c.cacheWrite = u.CacheCreationInputTokens.n
	}
	if u.CacheReadInputTokens.ok {
		c.cacheRead = u.CacheReadInputTokens.n
	}
}

// canonical returns the counts as canonical usage: prompt tokens include the
// cached and cache-write tokens.
func (c *usageCounts) canonical() chat.Usage {
	return chat.Usage{
		PromptTokens:     c.input + c.cacheRead + c.cacheWrite,
		CompletionTokens: c.output,
		CachedTokens:     c.cacheRead,
		CacheWriteTokens: c.cacheWrite,
	}
}

// ResponseUsage reads the usage of a complete Messages response (a
// passed-through answer, for billing); zero when the body does not decode.
func ResponseUsage(body []byte) chat.Usage {
	var v struct {
		Usage wireUsage `json:"usage"`
	}
	if json.Unmarshal(body, &v) != nil {
		return chat.Usage{}
	}
	var c usageCounts
	c.set(&v.Usage)
	return c.canonical()
}

// EventUsage folds the usage that one stream event's data carries
// (message_start's message.usage, message_delta's usage) into u, the
// stream's usage so far. The counts are cumulative: each one the event
// carries replaces the one before.
func EventUsage(data []byte, u *chat.Usage) {
	var v struct {
		Usage   wireUsage `json:"usage"`
		Message struct {
			Usage wireUsage `json:"usage"`
		} `json:"message"`
	}
	if json.Unmarshal(data, &v) != nil {
		return
	}
	c := usageCounts{input: u.PromptTokens - u.CachedTokens - u.CacheWriteTokens, output: u.CompletionTokens,
		cacheRead: u.CachedTokens, cacheWrite: u.CacheWriteTokens}
	c.set(&v.Message.Usage)
	c.set(&v.Usage)
	reasoning := u.ReasoningTokens
	*u = c.canonical()
	u.ReasoningTokens = reasoning
}

// wireMessage is a Messages response.
type wireMessage struct {
	ID         string      `json:"id"`
	Type       string      `json:"type"`
	Model      string      `json:"model"`
	Content    []wireBlock `json:"content"`
	StopReason string      `json:"stop_reason"`
	Usage      wireUsage   `json:"usage"`
}

// wireBlock is a response content block; only text and tool_use are read.
type wireBlock struct {
	Type  string          `json:"type"`
	Text  string          `json:"text"`
	ID    string          `json:"id"`
	Name  string          `json:"name"`
	Input json.RawMessage `json:"input"`
}

// DecodeMessagesResponse decodes a Messages response: the upstream's
// answer, or a passed-through one the cache keeps. Text blocks are
// concatenated and tool_use blocks become tool calls with the input's JSON
// text as arguments. A Lenient decoding skips thinking and server-tool
// blocks and maps every stop reason; an Exact one refuses them
// (chat.ErrInexact), as it does a body that is not a message and a stop
// reason other than end_turn, stop_sequence, max_tokens and tool_use.
func DecodeMessagesResponse(body []byte, created int64, d chat.Decoding) (*chat.Response, error) {
	var w wireMessage
	if err := json.Unmarshal(body, &w); err != nil {
		return nil, err
	}
	if d == chat.Exact {
		if err := exactMessage(&w); err != nil {
			return nil, err
		}
	}
	resp := &chat.Response{
		ID:           w.ID,
		Model:        w.Model,
		Created:      created,
		Message:      chat.Message{Role: chat.RoleAssistant},
		FinishReason: finishReason(w.StopReason),
	}
	var text strings.Builder
	texts := 0
	for i := range w.Content {
		b := &w.Content[i]
		switch b.Type {
		case "text":
			texts++
			text.WriteString(b.Text)
		case "tool_use":
			args := "{}"
			if present(b.Input) {
				args = string(b.Input)
			}
			resp.Message.ToolCalls = append(resp.Message.ToolCalls, chat.ToolCall{ID: b.ID, Name: b.Name, Arguments: args})
		}
	}
	if texts > 0 {
		resp.Message.Content = []chat.Part{{Type: chat.PartText, Text: text.String()}}
	}
	var u usageCounts
	u.set(&w.Usage)
	resp.Usage = u.canonical()
	return resp, nil
}

// exactMessage checks, for an Exact decoding, that w is a complete message
// of text and tool_use blocks.
func exactMessage(w *wireMessage) error {
	if w.Type != "message" {
		return chat.Inexact("type %q", w.Type)
	}
	if !exactStop(w.StopReason) {
		return chat.Inexact("stop reason %q", w.StopReason)
	}
	for i := range w.Content {
		if t := w.Content[i].Type; t != "text" && t != "tool_use" {
			return chat.Inexact("content block %q", t)
		}
	}
	return nil
}

// exactStop reports the stop reasons that name a canonical finish reason as
// they are: a complete answer, one cut at max_tokens, tool calls.
func exactStop(reason string) bool {
	switch reason {
	case "end_turn", "stop_sequence", "max_tokens", "tool_use":
		return true
	}
	return false
}
