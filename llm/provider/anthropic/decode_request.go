package anthropic

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/junctionhq/junction/llm/chat"
)

// RequestError is a Messages request that cannot be accepted: malformed JSON,
// a missing required field, a value of the wrong shape or content Junction
// cannot translate. Message names the field the way Anthropic does
// ("messages.1.content.0.tool_use_id: Field required") and is meant for the
// client, as an invalid_request_error with status 400.
type RequestError struct {
	Message string
}

func (e *RequestError) Error() string { return "anthropic: invalid request: " + e.Message }

func requestErrorf(format string, args ...any) *RequestError {
	return &RequestError{Message: fmt.Sprintf(format, args...)}
}

// DecodeMessagesRequest decodes the body of a POST /v1/messages into a
// canonical request. model, max_tokens (at least 1) and a non-empty messages
// list are required. The system prompt becomes a leading system message;
// tool_result blocks become tool messages, one per result, in place; tool_use
// blocks become the assistant message's ToolCalls with the input object's JSON
// text as Arguments; thinking blocks of earlier turns are dropped; fields that
// have no canonical counterpart (thinking, top_k, service_tier, ...) are kept
// in Extra as raw JSON. A streamed request also sets IncludeUsage, since
// Anthropic streams always carry usage. Errors are *RequestError.
func DecodeMessagesRequest(body []byte) (*chat.Request, error) {
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(body, &fields); err != nil {
		var syntax *json.SyntaxError
		if errors.As(err, &syntax) {
			return nil, requestErrorf("body: invalid JSON: %v", err)
		}
		return nil, requestErrorf("body: Input should be a valid dictionary")
	}
	if fields == nil {
		return nil, requestErrorf("body: Input should be a valid dictionary")
	}
	req := &chat.Request{}
	take := func(key string) json.RawMessage {
		raw, ok := fields[key]
		if !ok {
			return nil
		}
		delete(fields, key)
		if !present(raw) {
			return nil
		}
		return raw
	}

	// Required fields first, then the optional ones, in a fixed order so that
	// the first problem reported does not depend on map iteration.
	raw := take("model")
	if raw == nil {
		return nil, requestErrorf("model: Field required")
	}
	if err := json.Unmarshal(raw, &req.Model); err != nil {
		return nil, requestErrorf("model: Input should be a valid string")
	}
	if req.Model == "" {
		return nil, requestErrorf("model: String should have at least 1 character")
	}

	if raw = take("max_tokens"); raw == nil {
		return nil, requestErrorf("max_tokens: Field required")
	}
	if err := json.Unmarshal(raw, &req.MaxTokens); err != nil {
		return nil, requestErrorf("max_tokens: Input should be a valid integer")
	}
	if req.MaxTokens < 1 {
		return nil, requestErrorf("max_tokens: Input should be greater than or equal to 1")
	}

	if raw = take("system"); raw != nil {
		sys, err := decodeSystem(raw)
		if err != nil {
			return nil, err
		}
		if len(sys.Content) > 0 {
			req.Messages = append(req.Messages, sys)
		}
	}

	if raw = take("messages"); raw == nil {
		return nil, requestErrorf("messages: Field required")
	}
	var err error
	if req.Messages, err = decodeMessages(req.Messages, raw); err != nil {
		return nil, err
	}

	if raw = take("tools"); raw != nil {
		if req.Tools, err = decodeTools(raw); err != nil {
			return nil, err
		}
	}
	if raw = take("tool_choice"); raw != nil {
		if err := decodeToolChoice(req, raw); err != nil {
			return nil, err
		}
	}
	if raw = take("temperature"); raw != nil {
		var f float64
		if err := json.Unmarshal(raw, &f); err != nil {
			return nil, requestErrorf("temperature: Input should be a valid number")
		}
		req.Temperature = &f
	}
	if raw = take("top_p"); raw != nil {
		var f float64
		if err := json.Unmarshal(raw, &f); err != nil {
			return nil, requestErrorf("top_p: Input should be a valid number")
		}
		req.TopP = &f
	}
	if raw = take("stop_sequences"); raw != nil {
		if err := json.Unmarshal(raw, &req.Stop); err != nil {
			return nil, requestErrorf("stop_sequences: Input should be a valid list of strings")
		}
	}
	if raw = take("stream"); raw != nil {
		if err := json.Unmarshal(raw, &req.Stream); err != nil {
			return nil, requestErrorf("stream: Input should be a valid boolean")
		}
		// Anthropic streams always carry usage.
		req.IncludeUsage = req.Stream
	}
	if raw = take("metadata"); raw != nil {
		var md struct {
			UserID *string `json:"user_id"`
		}
		if err := json.Unmarshal(raw, &md); err != nil {
			return nil, decodeError("metadata", err)
		}
		if md.UserID != nil {
			req.User = *md.UserID
		}
	}
	if len(fields) > 0 {
		req.Extra = fields
	}
	return req, nil
}

// decodeError turns an encoding/json error while decoding the value at path
// into a RequestError naming the innermost field.
func decodeError(path string, err error) *RequestError {
	var typeErr *json.UnmarshalTypeError
	if errors.As(err, &typeErr) {
		if typeErr.Field != "" {
			path += "." + typeErr.Field
		}
		return requestErrorf("%s: Input should be a valid %s", path, jsonKind(typeErr.Type.String()))
	}
	return requestErrorf("%s: %v", path, err)
}

// decodeList decodes raw, the list at path, into a slice of T; a value that
// is not a list is "Input should be a valid " + what, and an element that
// does not decode is listError's.
func decodeList[T any](path, what string, raw json.RawMessage) ([]T, error) {
	var in []T
	if err := json.Unmarshal(raw, &in); err != nil {
		var typeErr *json.UnmarshalTypeError
		if errors.As(err, &typeErr) && typeErr.Field == "" {
			return nil, requestErrorf("%s: Input should be a valid %s", path, what)
		}
		return nil, listError[T](path, raw, err)
	}
	return in, nil
}

// listError names the element of the list raw that failed to decode as a T
// (encoding/json reports the field but not the index).
func listError[T any](path string, raw json.RawMessage, err error) *RequestError {
	var elems []json.RawMessage
	if json.Unmarshal(raw, &elems) == nil {
		for i, e := range elems {
			var v T
			if err := json.Unmarshal(e, &v); err != nil {
				return decodeError(fmt.Sprintf("%s.%d", path, i), err)
			}
		}
	}
	return decodeError(path, err)
}

// jsonKind names a Go type in JSON's words, for error messages.
func jsonKind(goType string) string {
	switch {
	case goType == "string", goType == "*string":
		return "string"
	case goType == "bool", goType == "*bool":
		return "boolean"
	case strings.HasPrefix(goType, "int"), strings.HasPrefix(goType, "*int"):
		return "integer"
	case strings.HasPrefix(goType, "float"), strings.HasPrefix(goType, "*float"):
		return "number"
	case strings.HasPrefix(goType, "[]"):
		return "list"
	}
	return "dictionary"
}

// inBlock is a content block of a request; only the fields of the types
// Junction translates are decoded.
type inBlock struct {
	Type         string          `json:"type"`
	Text         *string         `json:"text"`          // text
	Source       *inSource       `json:"source"`        // image
	ID           string          `json:"id"`            // tool_use
	Name         string          `json:"name"`          // tool_use
	Input        json.RawMessage `json:"input"`         // tool_use
	ToolUseID    string          `json:"tool_use_id"`   // tool_result
	Content      json.RawMessage `json:"content"`       // tool_result: string or blocks
	IsError      bool            `json:"is_error"`      // tool_result
	CacheControl json.RawMessage `json:"cache_control"` // any
}

// inSource is an image block's source.
type inSource struct {
	Type      string `json:"type"` // base64 or url
	MediaType string `json:"media_type"`
	Data      string `json:"data"`
	URL       string `json:"url"`
}

// decodeContent decodes a content value, a string or a list of blocks; a
// string is returned as one text block.
func decodeContent(path string, raw json.RawMessage) ([]inBlock, error) {
	raw = bytes.TrimLeft(raw, " \t\r\n")
	if len(raw) > 0 && raw[0] == '"' {
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return nil, decodeError(path, err)
		}
		return []inBlock{{Type: "text", Text: &s}}, nil
	}
	if len(raw) == 0 || raw[0] != '[' {
		return nil, requestErrorf("%s: Input should be a valid string or list of content blocks", path)
	}
	blocks, err := decodeList[inBlock](path, "list of content blocks", raw)
	if err != nil {
		return nil, err
	}
	for i := range blocks {
		if blocks[i].Type == "" {
			return nil, requestErrorf("%s.%d.type: Field required", path, i)
		}
		if !present(blocks[i].CacheControl) {
			blocks[i].CacheControl = nil
		}
	}
	return blocks, nil
}

// decodeSystem decodes the system prompt into a system message; an empty
// prompt yields a message without content.
func decodeSystem(raw json.RawMessage) (chat.Message, error) {
	blocks, err := decodeContent("system", raw)
	if err != nil {
		if t := bytes.TrimLeft(raw, " \t\r\n"); len(t) > 0 && t[0] != '"' && t[0] != '[' {
			return chat.Message{}, requestErrorf("system: Input should be a valid string or list of text blocks")
		}
		return chat.Message{}, err
	}
	return systemMessage("system", blocks)
}

// systemMessage builds a system message from the text blocks found at path
// (the top-level system prompt, or a system entry inside messages); empty
// blocks without cache_control are dropped.
func systemMessage(path string, blocks []inBlock) (chat.Message, error) {
	m := chat.Message{Role: chat.RoleSystem}
	for i := range blocks {
		b := &blocks[i]
		if b.Type != "text" {
			return chat.Message{}, requestErrorf("%s.%d.type: Input should be 'text'", path, i)
		}
		if b.Text == nil {
			return chat.Message{}, requestErrorf("%s.%d.text: Field required", path, i)
		}
		if *b.Text == "" && b.CacheControl == nil {
			continue
		}
		m.Content = append(m.Content, chat.Part{Type: chat.PartText, Text: *b.Text, CacheControl: b.CacheControl})
	}
	return m, nil
}

// inMessage is one message of a request.
type inMessage struct {
	Role    string          `json:"role"`
	Content json.RawMessage `json:"content"`
}

// decodeMessages appends the canonical messages of raw (the messages list) to
// msgs.
func decodeMessages(msgs []chat.Message, raw json.RawMessage) ([]chat.Message, error) {
	in, err := decodeList[inMessage]("messages", "list", raw)
	if err != nil {
		return nil, err
	}
	if len(in) == 0 {
		return nil, requestErrorf("messages: at least one message is required")
	}
	for i := range in {
		m := &in[i]
		if !present(m.Content) {
			return nil, requestErrorf("messages.%d.content: Field required", i)
		}
		path := fmt.Sprintf("messages.%d.content", i)
		blocks, err := decodeContent(path, m.Content)
		if err != nil {
			return nil, err
		}
		switch m.Role {
		case chat.RoleUser:
			msgs, err = appendUserMessages(msgs, path, blocks)
		case chat.RoleAssistant:
			msgs, err = appendAssistantMessage(msgs, path, blocks)
		case chat.RoleSystem:
			// Not in Anthropic's schema, but Claude Code sends it: a system
			// message at its place, for the providers that have one.
			var sys chat.Message
			if sys, err = systemMessage(path, blocks); err == nil && len(sys.Content) > 0 {
				msgs = append(msgs, sys)
			}
		case "":
			err = requestErrorf("messages.%d.role: Field required", i)
		default:
			err = requestErrorf("messages.%d.role: Input should be 'user', 'assistant' or 'system'", i)
		}
		if err != nil {
			return nil, err
		}
	}
	return msgs, nil
}

// appendUserMessages appends a user turn: its text and images as user
// messages and each tool_result as a tool message, in the order given.
func appendUserMessages(msgs []chat.Message, path string, blocks []inBlock) ([]chat.Message, error) {
	var parts []chat.Part
	flush := func() {
		if len(parts) > 0 {
			msgs = append(msgs, chat.Message{Role: chat.RoleUser, Content: parts})
			parts = nil
		}
	}
	for j := range blocks {
		b := &blocks[j]
		switch b.Type {
		case "tool_result":
			flush()
			m, err := toolResultMessage(fmt.Sprintf("%s.%d", path, j), b)
			if err != nil {
				return nil, err
			}
			msgs = append(msgs, m)
		case "thinking", "redacted_thinking":
		default:
			p, err := contentPart(path, j, b)
			if err != nil {
				return nil, err
			}
			parts = append(parts, p)
		}
	}
	flush()
	return msgs, nil
}

// appendAssistantMessage appends an assistant turn: text parts and tool
// calls; thinking blocks are dropped. A turn left empty is not appended.
func appendAssistantMessage(msgs []chat.Message, path string, blocks []inBlock) ([]chat.Message, error) {
	m := chat.Message{Role: chat.RoleAssistant}
	for j := range blocks {
		b := &blocks[j]
		switch b.Type {
		case "tool_use":
			call, err := toolCall(path, j, b)
			if err != nil {
				return nil, err
			}
			m.ToolCalls = append(m.ToolCalls, call)
		case "thinking", "redacted_thinking":
		case "tool_result":
			return nil, requestErrorf("%s.%d.type: tool_result blocks are only allowed in user messages", path, j)
		default:
			p, err := contentPart(path, j, b)
			if err != nil {
				return nil, err
			}
			m.Content = append(m.Content, p)
		}
	}
	if len(m.Content) == 0 && len(m.ToolCalls) == 0 {
		return msgs, nil
	}
	return append(msgs, m), nil
}

// contentPart translates a text or image block.
func contentPart(path string, j int, b *inBlock) (chat.Part, error) {
	switch b.Type {
	case "text":
		if b.Text == nil {
			return chat.Part{}, requestErrorf("%s.%d.text: Field required", path, j)
		}
		return chat.Part{Type: chat.PartText, Text: *b.Text, CacheControl: b.CacheControl}, nil
	case "image":
		url, err := imageURL(path, j, b.Source)
		if err != nil {
			return chat.Part{}, err
		}
		return chat.Part{Type: chat.PartImage, ImageURL: url, CacheControl: b.CacheControl}, nil
	}
	return chat.Part{}, requestErrorf("%s.%d.type: %q blocks are not supported by this gateway", path, j, b.Type)
}

// imageURL returns an image source as a URL: a data: URL for base64 data.
func imageURL(path string, j int, src *inSource) (string, error) {
	if src == nil {
		return "", requestErrorf("%s.%d.source: Field required", path, j)
	}
	switch src.Type {
	case "base64":
		if src.MediaType == "" {
			return "", requestErrorf("%s.%d.source.media_type: Field required", path, j)
		}
		return "data:" + src.MediaType + ";base64," + src.Data, nil
	case "url":
		if src.URL == "" {
			return "", requestErrorf("%s.%d.source.url: Field required", path, j)
		}
		return src.URL, nil
	case "":
		return "", requestErrorf("%s.%d.source.type: Field required", path, j)
	}
	return "", requestErrorf("%s.%d.source.type: %q image sources are not supported by this gateway", path, j, src.Type)
}

// toolCall translates a tool_use block.
func toolCall(path string, j int, b *inBlock) (chat.ToolCall, error) {
	switch {
	case b.ID == "":
		return chat.ToolCall{}, requestErrorf("%s.%d.id: Field required", path, j)
	case b.Name == "":
		return chat.ToolCall{}, requestErrorf("%s.%d.name: Field required", path, j)
	}
	args := "{}"
	if present(b.Input) {
		in := bytes.TrimSpace(b.Input)
		if len(in) == 0 || in[0] != '{' {
			return chat.ToolCall{}, requestErrorf("%s.%d.input: Input should be a valid dictionary", path, j)
		}
		args = string(in)
	}
	return chat.ToolCall{ID: b.ID, Name: b.Name, Arguments: args}, nil
}

// toolResultMessage translates a tool_result block into a tool message. A
// cache_control on the block moves to its last content part.
func toolResultMessage(path string, b *inBlock) (chat.Message, error) {
	if b.ToolUseID == "" {
		return chat.Message{}, requestErrorf("%s.tool_use_id: Field required", path)
	}
	m := chat.Message{Role: chat.RoleTool, ToolCallID: b.ToolUseID, IsError: b.IsError}
	if present(b.Content) {
		blocks, err := decodeContent(path+".content", b.Content)
		if err != nil {
			return chat.Message{}, err
		}
		m.Content = make([]chat.Part, 0, len(blocks))
		for k := range blocks {
			p, err := contentPart(path+".content", k, &blocks[k])
			if err != nil {
				return chat.Message{}, err
			}
			m.Content = append(m.Content, p)
		}
	}
	if b.CacheControl != nil && len(m.Content) > 0 && m.Content[len(m.Content)-1].CacheControl == nil {
		m.Content[len(m.Content)-1].CacheControl = b.CacheControl
	}
	return m, nil
}

// inTool is a tool definition of a request.
type inTool struct {
	Type         string          `json:"type"`
	Name         string          `json:"name"`
	Description  string          `json:"description"`
	InputSchema  json.RawMessage `json:"input_schema"`
	CacheControl json.RawMessage `json:"cache_control"`
}

// decodeTools translates client tools; Anthropic's server tools
// (web_search_..., bash_..., ...) cannot be run elsewhere and are rejected.
func decodeTools(raw json.RawMessage) ([]chat.Tool, error) {
	in, err := decodeList[inTool]("tools", "list", raw)
	if err != nil {
		return nil, err
	}
	tools := make([]chat.Tool, 0, len(in))
	for i := range in {
		t := &in[i]
		if t.Type != "" && t.Type != "custom" {
			return nil, requestErrorf("tools.%d.type: server tool %q is not supported by this gateway", i, t.Type)
		}
		if t.Name == "" {
			return nil, requestErrorf("tools.%d.name: Field required", i)
		}
		tool := chat.Tool{Name: t.Name, Description: t.Description}
		if present(t.InputSchema) {
			tool.Parameters = t.InputSchema
		}
		if present(t.CacheControl) {
			tool.CacheControl = t.CacheControl
		}
		tools = append(tools, tool)
	}
	return tools, nil
}

// decodeToolChoice sets the request's ToolChoice and ParallelToolCalls.
func decodeToolChoice(req *chat.Request, raw json.RawMessage) error {
	var tc struct {
		Type                   string `json:"type"`
		Name                   string `json:"name"`
		DisableParallelToolUse *bool  `json:"disable_parallel_tool_use"`
	}
	if err := json.Unmarshal(raw, &tc); err != nil {
		return decodeError("tool_choice", err)
	}
	switch tc.Type {
	case "auto":
		req.ToolChoice = &chat.ToolChoice{Mode: chat.ToolChoiceAuto}
	case "any":
		req.ToolChoice = &chat.ToolChoice{Mode: chat.ToolChoiceRequired}
	case "none":
		req.ToolChoice = &chat.ToolChoice{Mode: chat.ToolChoiceNone}
	case "tool":
		if tc.Name == "" {
			return requestErrorf("tool_choice.name: Field required")
		}
		req.ToolChoice = &chat.ToolChoice{Mode: chat.ToolChoiceFunction, Name: tc.Name}
	case "":
		return requestErrorf("tool_choice.type: Field required")
	default:
		return requestErrorf("tool_choice.type: Input should be 'auto', 'any', 'tool' or 'none'")
	}
	if tc.DisableParallelToolUse != nil {
		parallel := !*tc.DisableParallelToolUse
		req.ParallelToolCalls = &parallel
	}
	return nil
}
