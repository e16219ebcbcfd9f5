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

// decodeResponse decodes a Messages response: text blocks are concatenated,
// tool_use blocks become tool calls with the input's JSON text as arguments,
// thinking and server-tool blocks are skipped.
func decodeResponse(body []byte, created int64) (*chat.Response, error) {
	var w wireMessage
	if err := json.Unmarshal(body, &w); err != nil {
		return nil, err
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
