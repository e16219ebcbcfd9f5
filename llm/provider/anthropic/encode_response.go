package anthropic

import (
	"encoding/json"
	"math/rand/v2"
	"strings"

	"github.com/junctionhq/junction/llm/chat"
)

// AppendMessagesResponse appends resp as an Anthropic message object, the body
// of a non-streamed POST /v1/messages answer: its id (resp.ID, msg_-prefixed
// unless it already is; generated when empty), model (model, or resp.Model
// when model is empty), a text block per non-empty text part, a tool_use block
// per tool call (input is the parsed arguments; arguments that are not a JSON
// object are wrapped as {"_raw": "..."}), the stop reason and the usage with
// input_tokens excluding cached and cache-write tokens.
func AppendMessagesResponse(dst []byte, resp *chat.Response, model string) []byte {
	if model == "" {
		model = resp.Model
	}
	dst = append(dst, `{"id":`...)
	dst = appendMessageID(dst, resp.ID)
	dst = append(dst, `,"type":"message","role":"assistant","model":`...)
	dst = appendString(dst, model)
	dst = append(dst, `,"content":[`...)
	n := 0
	for i := range resp.Message.Content {
		p := &resp.Message.Content[i]
		if p.Type != chat.PartText || p.Text == "" {
			continue
		}
		if n > 0 {
			dst = append(dst, ',')
		}
		n++
		dst = append(dst, `{"type":"text","text":`...)
		dst = appendString(dst, p.Text)
		dst = append(dst, '}')
	}
	for i := range resp.Message.ToolCalls {
		c := &resp.Message.ToolCalls[i]
		if n > 0 {
			dst = append(dst, ',')
		}
		n++
		dst = append(dst, `{"type":"tool_use","id":`...)
		dst = appendToolUseID(dst, c.ID, i)
		dst = append(dst, `,"name":`...)
		dst = appendString(dst, c.Name)
		dst = append(dst, `,"input":`...)
		dst = appendToolInput(dst, c.Arguments)
		dst = append(dst, '}')
	}
	dst = append(dst, `],"stop_reason":"`...)
	dst = append(dst, stopReason(resp.FinishReason, len(resp.Message.ToolCalls) > 0)...)
	dst = append(dst, `","stop_sequence":null,"usage":`...)
	dst = appendUsage(dst, &resp.Usage)
	return append(dst, '}')
}

// stopReason maps a canonical finish reason to Anthropic's stop_reason. A
// message that calls tools ends with tool_use unless it was cut short
// (length, content_filter): Anthropic clients run tools on tool_use, and some
// upstreams report a plain stop with calls. A missing or unknown reason is
// end_turn.
func stopReason(finish string, toolCalls bool) string {
	switch finish {
	case chat.FinishLength:
		return "max_tokens"
	case chat.FinishContentFilter:
		return "refusal"
	case chat.FinishToolCalls:
		return "tool_use"
	}
	if toolCalls {
		return "tool_use"
	}
	return "end_turn"
}

// finishReason maps Anthropic's stop_reason to a canonical finish reason.
func finishReason(stop string) string {
	switch stop {
	case "max_tokens", "model_context_window_exceeded":
		return chat.FinishLength
	case "tool_use":
		return chat.FinishToolCalls
	case "refusal":
		return chat.FinishContentFilter
	}
	return chat.FinishStop // end_turn, stop_sequence, pause_turn and newer reasons
}

// appendUsage appends an Anthropic usage object. Anthropic's input_tokens
// excludes the cached and cache-write tokens that canonical PromptTokens
// includes.
func appendUsage(dst []byte, u *chat.Usage) []byte {
	dst = append(dst, `{"input_tokens":`...)
	dst = appendInt(dst, max(u.PromptTokens-u.CachedTokens-u.CacheWriteTokens, 0))
	dst = append(dst, `,"cache_creation_input_tokens":`...)
	dst = appendInt(dst, u.CacheWriteTokens)
	dst = append(dst, `,"cache_read_input_tokens":`...)
	dst = appendInt(dst, u.CachedTokens)
	dst = append(dst, `,"output_tokens":`...)
	dst = appendInt(dst, u.CompletionTokens)
	return append(dst, '}')
}

// appendMessageID appends id as a message id string, msg_-prefixed.
func appendMessageID(dst []byte, id string) []byte {
	switch {
	case id == "":
		dst = append(dst, `"msg_`...)
		dst = appendRandomID(dst)
		return append(dst, '"')
	case strings.HasPrefix(id, "msg_"):
		return appendString(dst, id)
	}
	return appendString(dst, "msg_"+id)
}

// appendToolUseID appends a tool call's id, or a generated toolu_ id when the
// upstream gave none (i is the call's position, for uniqueness within the
// message).
func appendToolUseID(dst []byte, id string, i int) []byte {
	if id != "" {
		return appendString(dst, id)
	}
	dst = append(dst, `"toolu_`...)
	dst = appendRandomID(dst)
	dst = append(dst, '_')
	dst = appendInt(dst, int64(i))
	return append(dst, '"')
}

const idAlphabet = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"

// appendRandomID appends 24 random characters of [0-9A-Za-z], the length of
// Anthropic's ids.
func appendRandomID(dst []byte) []byte {
	for range 3 {
		h := rand.Uint64()
		for range 8 {
			dst = append(dst, idAlphabet[h%uint64(len(idAlphabet))])
			h /= uint64(len(idAlphabet))
		}
	}
	return dst
}

// appendToolInput appends tool-call arguments as a tool_use input, which must
// be a JSON object: "" is {}, a JSON object is copied as is, anything else is
// wrapped as {"_raw": "<arguments>"} so that nothing the model produced is
// lost.
func appendToolInput(dst []byte, args string) []byte {
	s := strings.TrimSpace(args)
	switch {
	case s == "":
		return append(dst, "{}"...)
	case s[0] == '{' && json.Valid([]byte(s)):
		return append(dst, s...)
	}
	dst = append(dst, `{"_raw":`...)
	dst = appendString(dst, args)
	return append(dst, '}')
}
