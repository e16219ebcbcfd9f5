package openai

import (
	"errors"

	"github.com/junctionhq/junction/llm/chat"
	"github.com/junctionhq/junction/llm/internal/jsonscan"
)

// AppendChatResponse appends resp as an OpenAI chat.completion object.
// model is the name to report, the one the client asked for (resp.Model
// when empty). The message content is a string, or null when the reply is
// only tool calls; an empty finish reason is reported as "stop".
func AppendChatResponse(dst []byte, resp *chat.Response, model string) []byte {
	if model == "" {
		model = resp.Model
	}
	dst = append(dst, `{"id":`...)
	dst = appendString(dst, resp.ID)
	dst = append(dst, `,"object":"chat.completion","created":`...)
	dst = appendInt(dst, resp.Created)
	dst = append(dst, `,"model":`...)
	dst = appendString(dst, model)
	dst = append(dst, `,"choices":[{"index":0,"message":{"role":"assistant","content":`...)
	msg := &resp.Message
	if len(msg.ToolCalls) > 0 && !hasText(msg) {
		dst = append(dst, "null"...)
	} else {
		dst = append(dst, '"')
		for i := range msg.Content {
			if msg.Content[i].Type == chat.PartText {
				dst = appendStringContent(dst, msg.Content[i].Text)
			}
		}
		dst = append(dst, '"')
	}
	if len(msg.ToolCalls) > 0 {
		dst = append(dst, `,"tool_calls":`...)
		dst = appendToolCalls(dst, msg.ToolCalls, false)
	}
	dst = append(dst, `},"logprobs":null,"finish_reason":`...)
	finish := resp.FinishReason
	if finish == "" {
		finish = chat.FinishStop
	}
	dst = appendString(dst, finish)
	dst = append(dst, `}],"usage":`...)
	dst = appendUsage(dst, &resp.Usage)
	dst = appendOptionalString(dst, `,"system_fingerprint":`, resp.SystemFingerprint)
	return append(dst, '}')
}

// hasText reports whether m has non-empty text.
func hasText(m *chat.Message) bool {
	for i := range m.Content {
		if m.Content[i].Type == chat.PartText && m.Content[i].Text != "" {
			return true
		}
	}
	return false
}

// appendUsage appends OpenAI's usage object.
func appendUsage(dst []byte, u *chat.Usage) []byte {
	dst = append(dst, `{"prompt_tokens":`...)
	dst = appendInt(dst, u.PromptTokens)
	dst = append(dst, `,"completion_tokens":`...)
	dst = appendInt(dst, u.CompletionTokens)
	dst = append(dst, `,"total_tokens":`...)
	dst = appendInt(dst, u.TotalTokens())
	dst = append(dst, `,"prompt_tokens_details":{"cached_tokens":`...)
	dst = appendInt(dst, u.CachedTokens)
	dst = append(dst, `},"completion_tokens_details":{"reasoning_tokens":`...)
	dst = appendInt(dst, u.ReasoningTokens)
	return append(dst, "}}"...)
}

// errNoChoices reports a completion without any choice.
var errNoChoices = errors.New("the response has no choices")

// DecodeChatResponse decodes a chat.completion: the upstream's answer, or
// a passed-through one the cache keeps. A body that is an error object (some
// OpenAI-compatible servers answer errors with 200) returns errInBody. A
// Lenient decoding reads the choice with index 0, a refusal as the text when
// there is none, and maps the finish reason (an absent one is stop, or
// tool_calls with calls); an Exact one refuses what it would drop
// (chat.ErrInexact) and leaves an absent finish reason empty.
func DecodeChatResponse(body []byte, d chat.Decoding) (*chat.Response, error) {
	start := jsonscan.SkipSpace(body, 0)
	it, err := jsonscan.IterObject(body, start, 0)
	if err != nil {
		return nil, err
	}
	resp := &chat.Response{}
	var choice []byte
	var sawChoices, sawError bool
	for it.Next() {
		v := it.Value()
		switch string(it.Key) {
		case "id":
			resp.ID, _ = jsonscan.DecodeString(v)
		case "model":
			resp.Model, _ = jsonscan.DecodeString(v)
		case "created":
			resp.Created, _ = jsonscan.DecodeInt(v)
		case "system_fingerprint":
			resp.SystemFingerprint, _ = jsonscan.DecodeString(v)
		case "usage":
			decodeUsage(v, &resp.Usage)
		case "error":
			sawError = sawError || !jsonscan.IsNull(v)
		case "choices":
			sawChoices = true
			choice = firstChoice(v)
			if d == chat.Exact {
				if err := exactChoices(v, false); err != nil {
					return nil, err
				}
			}
		}
	}
	if it.Err != nil {
		return nil, it.Err
	}
	if err := jsonscan.Trailing(body, it.End); err != nil {
		return nil, err
	}
	switch {
	case sawError && d == chat.Exact:
		return nil, chat.Inexact("an error body")
	case sawError && !sawChoices:
		return nil, errInBody
	case choice == nil && d == chat.Exact:
		return nil, chat.Inexact("no choice")
	case choice == nil:
		return nil, errNoChoices
	}
	for key, v := range jsonscan.Members(choice) {
		switch string(key) {
		case "message":
			decodeMessage(v, &resp.Message)
		case "finish_reason":
			f, _ := jsonscan.DecodeString(v)
			resp.FinishReason = finishReason(f)
		}
	}
	if resp.FinishReason == "" && d == chat.Lenient {
		resp.FinishReason = chat.FinishStop
		if len(resp.Message.ToolCalls) > 0 {
			resp.FinishReason = chat.FinishToolCalls
		}
	}
	return resp, nil
}

// errInBody reports an error object in a body that should hold a result.
var errInBody = errors.New("the upstream answered with an error object")

// firstChoice returns the choice with index 0 (or else the first) of a
// choices array; nil when there is none.
func firstChoice(v []byte) []byte {
	if len(v) == 0 || v[0] != '[' {
		return nil
	}
	var first []byte
	for _, c := range jsonscan.Elements(v) {
		if c[0] != '{' {
			continue
		}
		if first == nil {
			first = c
		}
		for key, v := range jsonscan.Members(c) {
			if string(key) == "index" {
				if n, ok := jsonscan.DecodeInt(v); ok && n == 0 {
					return c
				}
			}
		}
	}
	return first
}

// decodeMessage decodes a response message: content as a string, null or
// an array of text parts; a refusal stands in for absent content.
func decodeMessage(v []byte, m *chat.Message) {
	if v[0] != '{' {
		return
	}
	m.Role = chat.RoleAssistant
	var text, refusal string
	for key, fv := range jsonscan.Members(v) {
		switch string(key) {
		case "content":
			switch fv[0] {
			case '"':
				text, _ = jsonscan.DecodeString(fv)
			case '[':
				text = joinTextParts(fv)
			}
		case "refusal":
			refusal, _ = jsonscan.DecodeString(fv)
		case "tool_calls":
			if fv[0] != '[' {
				continue
			}
			for _, ev := range jsonscan.Elements(fv) {
				var c chat.ToolCall
				decodeResponseToolCall(ev, &c)
				m.ToolCalls = append(m.ToolCalls, c)
			}
		}
	}
	if text == "" {
		text = refusal
	}
	if text != "" {
		m.Content = []chat.Part{{Type: chat.PartText, Text: text}}
	}
}

// joinTextParts concatenates the text of an array of content parts.
func joinTextParts(v []byte) string {
	var b []byte
	for _, pv := range jsonscan.Elements(v) {
		if pv[0] != '{' {
			continue
		}
		for key, fv := range jsonscan.Members(pv) {
			if string(key) == "text" {
				if s, ok := jsonscan.DecodeString(fv); ok {
					b = append(b, s...)
				}
			}
		}
	}
	return string(b)
}

// decodeFunction reads the {"name", "arguments"} object of a tool call (whole
// or a streamed piece); name and args are kept where the object lacks them.
func decodeFunction(v []byte, name, args string) (string, string) {
	if v[0] != '{' {
		return name, args
	}
	for key, fv := range jsonscan.Members(v) {
		switch string(key) {
		case "name":
			name, _ = jsonscan.DecodeString(fv)
		case "arguments":
			args = decodeArguments(fv)
		}
	}
	return name, args
}

func decodeResponseToolCall(v []byte, c *chat.ToolCall) {
	if v[0] != '{' {
		return
	}
	for key, fv := range jsonscan.Members(v) {
		switch string(key) {
		case "id":
			c.ID, _ = jsonscan.DecodeString(fv)
		case "function":
			c.Name, c.Arguments = decodeFunction(fv, c.Name, c.Arguments)
		}
	}
}

// decodeArguments returns a tool call's arguments: a JSON text in a string,
// or an object some servers send as is.
func decodeArguments(v []byte) string {
	switch v[0] {
	case '"':
		s, _ := jsonscan.DecodeString(v)
		return s
	case '{', '[':
		return string(v)
	}
	return ""
}

// finishReason maps an upstream finish reason to the canonical ones.
func finishReason(f string) string {
	switch f {
	case "":
		return ""
	case chat.FinishStop, chat.FinishLength, chat.FinishToolCalls, chat.FinishContentFilter:
		return f
	case "function_call":
		return chat.FinishToolCalls
	case "max_tokens":
		return chat.FinishLength
	default:
		return chat.FinishStop
	}
}
