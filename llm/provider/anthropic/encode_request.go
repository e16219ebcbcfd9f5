package anthropic

import (
	"bytes"
	"encoding/json"
	"strings"

	"github.com/junctionhq/junction/llm/chat"
)

// appendRequest appends req as a Messages request for model. maxTokens is
// used when the request sets none (Anthropic requires max_tokens).
func appendRequest(dst []byte, model string, req *chat.Request, stream bool, maxTokens int64) []byte {
	dst = append(dst, `{"model":`...)
	dst = appendString(dst, model)
	dst = append(dst, `,"max_tokens":`...)
	dst = appendInt(dst, requestMaxTokens(req, maxTokens))
	dst = appendSystem(dst, req.Messages)
	dst = append(dst, `,"messages":[`...)
	dst = appendMessages(dst, req.Messages)
	dst = append(dst, ']')
	if len(req.Tools) > 0 {
		dst = appendTools(dst, req.Tools)
		dst = appendToolChoice(dst, req.ToolChoice, req.ParallelToolCalls)
	}
	if t := req.Temperature; t != nil && finite(*t) {
		dst = append(dst, `,"temperature":`...)
		dst = appendFloat(dst, min(max(*t, 0), 1)) // Anthropic's range is [0, 1]
	}
	if p := req.TopP; p != nil && finite(*p) {
		dst = append(dst, `,"top_p":`...)
		dst = appendFloat(dst, *p)
	}
	if len(req.Stop) > 0 {
		dst = append(dst, `,"stop_sequences":`...)
		dst = chat.AppendJSONStrings(dst, req.Stop)
	}
	if stream {
		dst = append(dst, `,"stream":true`...)
	}
	if req.User != "" {
		dst = append(dst, `,"metadata":{"user_id":`...)
		dst = appendString(dst, req.User)
		dst = append(dst, '}')
	}
	dst = appendExtra(dst, req.Extra)
	return append(dst, '}')
}

// requestMaxTokens is the request's MaxTokens, else an OpenAI client's
// max_completion_tokens kept in Extra, else def.
func requestMaxTokens(req *chat.Request, def int64) int64 {
	if req.MaxTokens > 0 {
		return req.MaxTokens
	}
	if raw, ok := req.Extra["max_completion_tokens"]; ok {
		var n int64
		if json.Unmarshal(raw, &n) == nil && n > 0 {
			return n
		}
	}
	return def
}

// isSystem reports whether m belongs in the top-level system prompt.
func isSystem(m *chat.Message) bool {
	return m.Role == chat.RoleSystem || m.Role == chat.RoleDeveloper
}

// appendSystem appends the system prompt made of every system and developer
// message: a plain string when it is one text without cache_control, else a
// list of text blocks keeping each part's cache_control.
func appendSystem(dst []byte, msgs []chat.Message) []byte {
	var n int
	var only *chat.Part
	for i := range msgs {
		if !isSystem(&msgs[i]) {
			continue
		}
		for j := range msgs[i].Content {
			if p := &msgs[i].Content[j]; systemPart(p) {
				n++
				only = p
			}
		}
	}
	switch {
	case n == 0:
		return dst
	case n == 1 && only.CacheControl == nil:
		dst = append(dst, `,"system":`...)
		return appendString(dst, only.Text)
	}
	dst = append(dst, `,"system":[`...)
	first := true
	for i := range msgs {
		if !isSystem(&msgs[i]) {
			continue
		}
		for j := range msgs[i].Content {
			p := &msgs[i].Content[j]
			if !systemPart(p) {
				continue
			}
			if !first {
				dst = append(dst, ',')
			}
			first = false
			dst = appendTextBlock(dst, p)
		}
	}
	return append(dst, ']')
}

// systemPart reports whether p goes into the system prompt: text that is not
// empty (Anthropic rejects empty text blocks) or carries a cache breakpoint.
func systemPart(p *chat.Part) bool {
	return p.Type == chat.PartText && (p.Text != "" || p.CacheControl != nil)
}

// appendMessages appends the conversation without its system messages. A
// run of consecutive tool messages becomes one user message of tool_result
// blocks, joined by the user message that directly follows it (as Anthropic
// clients send them); assistant messages with nothing to say are left out.
func appendMessages(dst []byte, msgs []chat.Message) []byte {
	first := true
	open := false      // a user message's content list is open
	toolsOnly := false // the open message holds only tool_result blocks so far
	closeOpen := func() {
		if open {
			dst = append(dst, "]}"...)
			open = false
		}
	}
	sep := func() {
		if !first {
			dst = append(dst, ',')
		}
		first = false
	}
	for i := range msgs {
		m := &msgs[i]
		switch {
		case isSystem(m):
			continue
		case m.Role == chat.RoleTool:
			if open && toolsOnly {
				dst = append(dst, ',')
			} else {
				closeOpen()
				sep()
				dst = append(dst, `{"role":"user","content":[`...)
				open, toolsOnly = true, true
			}
			dst = appendToolResult(dst, m)
		case m.Role == chat.RoleAssistant:
			closeOpen()
			if !hasAssistantContent(m) {
				continue
			}
			sep()
			dst = appendAssistant(dst, m)
		case open && toolsOnly:
			for j := range m.Content {
				if blockPart(&m.Content[j]) {
					dst = append(dst, ',')
					dst = appendPart(dst, &m.Content[j])
				}
			}
			toolsOnly = false
		default:
			closeOpen()
			sep()
			dst = append(dst, `{"role":"user","content":`...)
			dst = appendContent(dst, m.Content)
			dst = append(dst, '}')
		}
	}
	closeOpen()
	return dst
}

// plainText reports whether parts can be written as a plain string content:
// one text part without cache_control.
func plainText(parts []chat.Part) bool {
	return len(parts) == 1 && parts[0].Type == chat.PartText && parts[0].CacheControl == nil
}

// blockPart reports whether p becomes a content block.
func blockPart(p *chat.Part) bool {
	switch p.Type {
	case chat.PartText:
		return p.Text != "" || p.CacheControl != nil
	case chat.PartImage:
		return p.ImageURL != ""
	}
	return false
}

// appendContent appends a user message's content: a string, or a list of text
// and image blocks.
func appendContent(dst []byte, parts []chat.Part) []byte {
	if plainText(parts) {
		return appendString(dst, parts[0].Text)
	}
	dst = append(dst, '[')
	n := 0
	for i := range parts {
		if !blockPart(&parts[i]) {
			continue
		}
		if n > 0 {
			dst = append(dst, ',')
		}
		n++
		dst = appendPart(dst, &parts[i])
	}
	if n == 0 { // nothing but empty text: keep the turn, as an empty string
		return append(dst[:len(dst)-1], `""`...)
	}
	return append(dst, ']')
}

// appendPart appends a text or image part as a block.
func appendPart(dst []byte, p *chat.Part) []byte {
	if p.Type == chat.PartImage {
		return appendImageBlock(dst, p)
	}
	return appendTextBlock(dst, p)
}

// appendTextBlock appends {"type":"text","text":...} with the part's
// cache_control.
func appendTextBlock(dst []byte, p *chat.Part) []byte {
	dst = append(dst, `{"type":"text","text":`...)
	dst = appendString(dst, p.Text)
	return appendCacheControl(dst, p.CacheControl)
}

// appendCacheControl appends ,"cache_control":<raw> when set, and closes the
// block.
func appendCacheControl(dst []byte, cc json.RawMessage) []byte {
	if present(cc) {
		dst = append(dst, `,"cache_control":`...)
		dst = append(dst, cc...)
	}
	return append(dst, '}')
}

// appendImageBlock appends an image block: a data: URL becomes a base64
// source, any other URL a url source.
func appendImageBlock(dst []byte, p *chat.Part) []byte {
	dst = append(dst, `{"type":"image","source":`...)
	if mediaType, data, ok := parseDataURL(p.ImageURL); ok {
		dst = append(dst, `{"type":"base64","media_type":`...)
		dst = appendString(dst, mediaType)
		dst = append(dst, `,"data":`...)
		dst = appendString(dst, data)
	} else {
		dst = append(dst, `{"type":"url","url":`...)
		dst = appendString(dst, p.ImageURL)
	}
	dst = append(dst, '}')
	return appendCacheControl(dst, p.CacheControl)
}

// parseDataURL splits "data:<media type>[;params];base64,<data>".
func parseDataURL(url string) (mediaType, data string, ok bool) {
	rest, found := strings.CutPrefix(url, "data:")
	if !found {
		return "", "", false
	}
	head, data, found := strings.Cut(rest, ",")
	if !found || !strings.HasSuffix(head, ";base64") {
		return "", "", false
	}
	mediaType, _, _ = strings.Cut(head, ";")
	return mediaType, data, mediaType != ""
}

// hasAssistantContent reports whether m has a block to write.
func hasAssistantContent(m *chat.Message) bool {
	if len(m.ToolCalls) > 0 {
		return true
	}
	for i := range m.Content {
		if blockPart(&m.Content[i]) {
			return true
		}
	}
	return false
}

// appendAssistant appends an assistant message: text (and image) blocks, then
// a tool_use block per call with the parsed arguments as input.
func appendAssistant(dst []byte, m *chat.Message) []byte {
	dst = append(dst, `{"role":"assistant","content":`...)
	if len(m.ToolCalls) == 0 && plainText(m.Content) {
		dst = appendString(dst, m.Content[0].Text)
		return append(dst, '}')
	}
	dst = append(dst, '[')
	n := 0
	for i := range m.Content {
		if !blockPart(&m.Content[i]) {
			continue
		}
		if n > 0 {
			dst = append(dst, ',')
		}
		n++
		dst = appendPart(dst, &m.Content[i])
	}
	for i := range m.ToolCalls {
		c := &m.ToolCalls[i]
		if n > 0 {
			dst = append(dst, ',')
		}
		n++
		dst = append(dst, `{"type":"tool_use","id":`...)
		dst = appendToolID(dst, c.ID)
		dst = append(dst, `,"name":`...)
		dst = appendString(dst, c.Name)
		dst = append(dst, `,"input":`...)
		dst = appendToolInput(dst, c.Arguments)
		dst = append(dst, '}')
	}
	return append(dst, "]}"...)
}

// appendToolResult appends a tool message as a tool_result block.
func appendToolResult(dst []byte, m *chat.Message) []byte {
	dst = append(dst, `{"type":"tool_result","tool_use_id":`...)
	dst = appendToolID(dst, m.ToolCallID)
	if len(m.Content) > 0 {
		dst = append(dst, `,"content":`...)
		dst = appendContent(dst, m.Content)
	}
	if m.IsError {
		dst = append(dst, `,"is_error":true`...)
	}
	return append(dst, '}')
}

// appendToolID appends a tool call id. Anthropic accepts only
// [A-Za-z0-9_-] in ids, and other providers' ids may hold more: any other
// byte is written as '_', the same way in tool_use and tool_result blocks so
// that they still pair up.
func appendToolID(dst []byte, id string) []byte {
	dst = append(dst, '"')
	for i := 0; i < len(id); i++ {
		c := id[i]
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-' {
			dst = append(dst, c)
		} else {
			dst = append(dst, '_')
		}
	}
	return append(dst, '"')
}

// appendTools appends the tool definitions. A missing or empty schema becomes
// the empty object schema Anthropic requires; any other schema is copied byte
// for byte.
func appendTools(dst []byte, tools []chat.Tool) []byte {
	dst = append(dst, `,"tools":`...)
	return chat.AppendJSONArray(dst, tools, appendTool)
}

// appendTool appends one tool definition (see appendTools).
func appendTool(dst []byte, t *chat.Tool) []byte {
	dst = append(dst, `{"name":`...)
	dst = appendString(dst, t.Name)
	if t.Description != "" {
		dst = append(dst, `,"description":`...)
		dst = appendString(dst, t.Description)
	}
	dst = append(dst, `,"input_schema":`...)
	if schema := bytes.TrimSpace(t.Parameters); present(schema) && string(schema) != "{}" {
		dst = append(dst, t.Parameters...)
	} else {
		dst = append(dst, `{"type":"object","properties":{}}`...)
	}
	return appendCacheControl(dst, t.CacheControl)
}

// appendToolChoice appends tool_choice for a request with tools: auto→auto,
// required→any, function→tool, none→none, with disable_parallel_tool_use
// when parallel calls are turned off.
func appendToolChoice(dst []byte, tc *chat.ToolChoice, parallel *bool) []byte {
	disable := parallel != nil && !*parallel
	mode := chat.ToolChoiceAuto
	if tc != nil {
		mode = tc.Mode
	} else if !disable {
		return dst
	}
	switch mode {
	case chat.ToolChoiceNone:
		return append(dst, `,"tool_choice":{"type":"none"}`...)
	case chat.ToolChoiceRequired:
		dst = append(dst, `,"tool_choice":{"type":"any"`...)
	case chat.ToolChoiceFunction:
		dst = append(dst, `,"tool_choice":{"type":"tool","name":`...)
		dst = appendString(dst, tc.Name)
	default:
		dst = append(dst, `,"tool_choice":{"type":"auto"`...)
	}
	if disable {
		dst = append(dst, `,"disable_parallel_tool_use":true`...)
	}
	return append(dst, '}')
}

// skipExtra lists request fields never passed through from Extra: the ones
// appendRequest writes itself, and OpenAI parameters that Anthropic rejects
// (a request from an OpenAI client routed here carries them).
var skipExtra = map[string]bool{
	"model": true, "max_tokens": true, "system": true, "messages": true, "tools": true,
	"tool_choice": true, "temperature": true, "top_p": true, "stop_sequences": true,
	"stream": true, "metadata": true,

	"max_completion_tokens": true, "frequency_penalty": true, "presence_penalty": true,
	"logit_bias": true, "logprobs": true, "top_logprobs": true, "n": true, "seed": true,
	"stream_options": true, "modalities": true, "audio": true, "prediction": true,
	"store": true, "reasoning_effort": true, "functions": true, "function_call": true,
	"web_search_options": true, "verbosity": true, "prompt_cache_key": true,
	"prompt_cache_retention": true, "safety_identifier": true, "user": true,
	"parallel_tool_calls": true, "response_format": true, "stop": true,
}

// appendExtra appends the pass-through fields, sorted by name so that the
// body is deterministic. OpenAI's service_tier values other than Anthropic's
// (auto, standard_only) are dropped.
func appendExtra(dst []byte, extra map[string]json.RawMessage) []byte {
	return chat.AppendJSONMembers(dst, extra, func(k string, v json.RawMessage) bool {
		if skipExtra[k] || !present(v) {
			return false
		}
		return k != "service_tier" || string(v) == `"auto"` || string(v) == `"standard_only"`
	}, func(dst []byte, v json.RawMessage) []byte { return append(dst, v...) })
}
