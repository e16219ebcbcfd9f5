package openai

import (
	"encoding/json"

	"github.com/junctionhq/junction/llm/chat"
)

// modeledFields are the request fields the encoder writes itself; an Extra
// member of the same name is dropped rather than written twice.
var modeledFields = map[string]bool{
	"model": true, "messages": true, "tools": true, "tool_choice": true, "parallel_tool_calls": true,
	"max_tokens": true, "max_completion_tokens": true, "temperature": true, "top_p": true, "stop": true,
	"stream": true, "stream_options": true, "user": true, "response_format": true,
	"functions": true, "function_call": true,
}

// appendRequest appends req as an OpenAI chat completions body asking for
// model. A streamed request always asks for the usage chunk. Extra members
// follow the modeled fields in key order, so the output is deterministic.
//
// The completion cap is sent as max_completion_tokens, the name current
// OpenAI models require (reasoning models reject max_tokens).
func appendRequest(dst []byte, req *chat.Request, model string, stream bool) []byte {
	dst = append(dst, `{"model":`...)
	dst = appendString(dst, model)
	dst = append(dst, `,"messages":`...)
	dst = chat.AppendJSONArray(dst, req.Messages, appendMessage)
	if len(req.Tools) > 0 {
		dst = append(dst, `,"tools":`...)
		dst = chat.AppendJSONArray(dst, req.Tools, appendTool)
	}
	if tc := req.ToolChoice; tc != nil {
		dst = append(dst, `,"tool_choice":`...)
		if tc.Mode == chat.ToolChoiceFunction {
			dst = append(dst, `{"type":"function","function":{"name":`...)
			dst = appendString(dst, tc.Name)
			dst = append(dst, "}}"...)
		} else {
			dst = appendString(dst, tc.Mode)
		}
	}
	if req.ParallelToolCalls != nil {
		dst = append(dst, `,"parallel_tool_calls":`...)
		dst = appendBool(dst, *req.ParallelToolCalls)
	}
	if req.MaxTokens > 0 {
		dst = append(dst, `,"max_completion_tokens":`...)
		dst = appendInt(dst, req.MaxTokens)
	}
	if req.Temperature != nil {
		dst = append(dst, `,"temperature":`...)
		dst = appendFloat(dst, *req.Temperature, 64)
	}
	if req.TopP != nil {
		dst = append(dst, `,"top_p":`...)
		dst = appendFloat(dst, *req.TopP, 64)
	}
	if len(req.Stop) > 0 {
		dst = append(dst, `,"stop":`...)
		dst = chat.AppendJSONStrings(dst, req.Stop)
	}
	if stream {
		dst = append(dst, `,"stream":true,"stream_options":{"include_usage":true}`...)
	}
	dst = appendOptionalString(dst, `,"user":`, req.User)
	dst = appendOptionalRaw(dst, `,"response_format":`, req.ResponseFormat)
	dst = appendExtra(dst, req.Extra, modeledFields)
	return append(dst, '}')
}

// appendExtra appends the members of extra not in skip, in key order, each
// preceded by a comma.
func appendExtra(dst []byte, extra map[string]json.RawMessage, skip map[string]bool) []byte {
	return chat.AppendJSONMembers(dst, extra, func(k string, _ json.RawMessage) bool { return !skip[k] }, appendRaw)
}

// appendToolCalls appends calls as an OpenAI tool_calls array. With
// emptyAsObject a call without arguments sends "{}", which upstreams parse,
// rather than "".
func appendToolCalls(dst []byte, calls []chat.ToolCall, emptyAsObject bool) []byte {
	return chat.AppendJSONArray(dst, calls, func(dst []byte, c *chat.ToolCall) []byte {
		dst = append(dst, `{"id":`...)
		dst = appendString(dst, c.ID)
		dst = append(dst, `,"type":"function","function":{"name":`...)
		dst = appendString(dst, c.Name)
		dst = append(dst, `,"arguments":`...)
		if c.Arguments == "" && emptyAsObject {
			dst = append(dst, `"{}"`...)
		} else {
			dst = appendString(dst, c.Arguments)
		}
		return append(dst, "}}"...)
	})
}

// appendMessage appends one message. Content with a single text part is a
// string; system and developer messages made only of text are joined into
// one string (several OpenAI-compatible servers accept nothing else there);
// other content is an array of parts. An assistant message with tool calls
// and no content has "content":null.
func appendMessage(dst []byte, m *chat.Message) []byte {
	dst = append(dst, `{"role":`...)
	dst = appendString(dst, m.Role)
	dst = append(dst, `,"content":`...)
	dst = appendContent(dst, m)
	dst = appendOptionalString(dst, `,"name":`, m.Name)
	if len(m.ToolCalls) > 0 {
		dst = append(dst, `,"tool_calls":`...)
		dst = appendToolCalls(dst, m.ToolCalls, true)
	}
	dst = appendOptionalString(dst, `,"tool_call_id":`, m.ToolCallID)
	return append(dst, '}')
}

func appendContent(dst []byte, m *chat.Message) []byte {
	parts := m.Content
	textOnly := true
	for i := range parts {
		if parts[i].Type != chat.PartText {
			textOnly = false
			break
		}
	}
	switch {
	case len(parts) == 0 && m.Role == chat.RoleAssistant && len(m.ToolCalls) > 0:
		return append(dst, "null"...)
	case len(parts) == 0:
		return append(dst, `""`...)
	case len(parts) == 1 && textOnly:
		return appendString(dst, parts[0].Text)
	case textOnly && (m.Role == chat.RoleSystem || m.Role == chat.RoleDeveloper):
		dst = append(dst, '"')
		for i := range parts {
			if i > 0 {
				dst = append(dst, `\n`...)
			}
			dst = appendStringContent(dst, parts[i].Text)
		}
		return append(dst, '"')
	}
	dst = append(dst, '[')
	for i := range parts {
		p := &parts[i]
		if i > 0 {
			dst = append(dst, ',')
		}
		if p.Type == chat.PartImage {
			dst = append(dst, `{"type":"image_url","image_url":{"url":`...)
			dst = appendString(dst, p.ImageURL)
			dst = appendOptionalString(dst, `,"detail":`, p.Detail)
			dst = append(dst, "}}"...)
			continue
		}
		dst = append(dst, `{"type":"text","text":`...)
		dst = appendString(dst, p.Text)
		dst = append(dst, '}')
	}
	return append(dst, ']')
}

func appendTool(dst []byte, t *chat.Tool) []byte {
	dst = append(dst, `{"type":"function","function":{"name":`...)
	dst = appendString(dst, t.Name)
	dst = appendOptionalString(dst, `,"description":`, t.Description)
	dst = appendOptionalRaw(dst, `,"parameters":`, t.Parameters)
	if t.Strict != nil {
		dst = append(dst, `,"strict":`...)
		dst = appendBool(dst, *t.Strict)
	}
	return append(dst, "}}"...)
}
