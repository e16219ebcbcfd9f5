package openai

import (
	"strconv"

	"github.com/junctionhq/junction/llm/chat"
	"github.com/junctionhq/junction/llm/internal/jsonscan"
)

// DecodeChatRequest decodes an OpenAI chat completions request into the
// canonical request. Fields Junction does not model are kept in Extra, byte
// for byte; tool parameters and response_format are kept raw. The result
// does not alias body. Errors are *RequestError.
//
// Not accepted: the legacy functions and function_call fields (use tools),
// content parts other than text and image_url (refusal parts are dropped),
// and tools or tool choices of types other than function. Message fields
// other than role, content, name, tool_calls and tool_call_id are ignored,
// as are stream_options other than include_usage (IncludeUsage is set only
// for streams).
func DecodeChatRequest(body []byte) (*chat.Request, error) {
	d := requestDecoder{}
	req := &chat.Request{}
	var maxTokens, maxCompletionTokens int64
	err := walkRequest(body, func(key, v []byte) error {
		var err error
		switch string(key) {
		case "model":
			req.Model, err = nullableString(v)
		case "messages":
			req.Messages, err = d.messages(v)
		case "tools":
			req.Tools, err = d.tools(v)
		case "tool_choice":
			req.ToolChoice, err = decodeToolChoice(v)
		case "parallel_tool_calls":
			req.ParallelToolCalls, err = nullableBool(v)
		case "max_tokens":
			maxTokens, err = tokenLimit(v)
		case "max_completion_tokens":
			maxCompletionTokens, err = tokenLimit(v)
		case "temperature":
			req.Temperature, err = nullableFloat(v)
		case "top_p":
			req.TopP, err = nullableFloat(v)
		case "stop":
			req.Stop, err = decodeStop(v)
		case "stream":
			var b *bool
			b, err = nullableBool(v)
			req.Stream = b != nil && *b
		case "stream_options":
			req.IncludeUsage, err = decodeStreamOptions(v)
		case "user":
			req.User, err = nullableString(v)
		case "response_format":
			switch {
			case jsonscan.IsNull(v):
			case v[0] != '{':
				err = requestError("", "must be an object, got "+jsonscan.Kind(v))
			default:
				req.ResponseFormat = d.raw.copy(v)
			}
		case "functions":
			err = requestError("", `the deprecated "functions" parameter is not supported; use "tools"`)
		case "function_call":
			err = requestError("", `the deprecated "function_call" parameter is not supported; use "tool_choice"`)
		default:
			d.raw.keep(&req.Extra, key, v)
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	if req.Model == "" {
		return nil, requestError("model", "missing required parameter")
	}
	if req.Messages == nil {
		return nil, requestError("messages", "missing required parameter")
	}
	req.IncludeUsage = req.IncludeUsage && req.Stream // usage chunks exist only in streams
	req.MaxTokens = maxTokens
	if maxCompletionTokens > 0 {
		req.MaxTokens = maxCompletionTokens
	}
	return req, nil
}

// requestDecoder holds what decoding one request shares.
type requestDecoder struct {
	raw rawArena
}

// nullable decodes v with decode unless it is null (set is false then);
// kind names what decode reads ("a string") for the error.
func nullable[T any](v []byte, kind string, decode func([]byte) (T, bool)) (val T, set bool, err error) {
	if jsonscan.IsNull(v) {
		return val, false, nil
	}
	val, ok := decode(v)
	if !ok {
		return val, false, requestError("", "must be "+kind+", got "+jsonscan.Kind(v))
	}
	return val, true, nil
}

// container reports whether v, which must be null or open with open ('['
// or '{'), is not null; what names the value for the error ("an array of
// tools").
func container(v []byte, open byte, what string) (bool, error) {
	if jsonscan.IsNull(v) {
		return false, nil
	}
	if v[0] != open {
		return false, requestError("", "must be "+what+", got "+jsonscan.Kind(v))
	}
	return true, nil
}

func nullableString(v []byte) (string, error) {
	s, _, err := nullable(v, "a string", jsonscan.DecodeString)
	return s, err
}

// nullableKeyword is nullableString for values that are one of a few words
// (types, roles): it returns the bytes without copying when it can.
func nullableKeyword(v []byte) ([]byte, error) {
	b, _, err := nullable(v, "a string", jsonscan.StringBytes)
	return b, err
}

func nullableBool(v []byte) (*bool, error) {
	b, set, err := nullable(v, "a boolean", jsonscan.DecodeBool)
	if !set {
		return nil, err
	}
	return &b, nil
}

func nullableFloat(v []byte) (*float64, error) {
	f, set, err := nullable(v, "a number", jsonscan.DecodeFloat)
	if !set {
		return nil, err
	}
	return &f, nil
}

// tokenLimit decodes max_tokens or max_completion_tokens: null or an
// integer of at least 1.
func tokenLimit(v []byte) (int64, error) {
	n, set, err := nullable(v, "an integer", jsonscan.DecodeInt)
	if !set {
		return 0, err
	}
	if n < 1 {
		return 0, requestError("", "must be at least 1, got "+strconv.FormatInt(n, 10))
	}
	return n, nil
}

func decodeStop(v []byte) ([]string, error) {
	switch {
	case jsonscan.IsNull(v):
		return nil, nil
	case v[0] == '"':
		s, _ := jsonscan.DecodeString(v)
		return []string{s}, nil
	case v[0] != '[':
		return nil, requestError("", "must be a string or an array of strings, got "+jsonscan.Kind(v))
	}
	var stop []string
	for i, ev := range jsonscan.Elements(v) {
		s, ok := jsonscan.DecodeString(ev)
		if !ok {
			return nil, underIndex(requestError("", "must be a string, got "+jsonscan.Kind(ev)), i)
		}
		stop = append(stop, s)
	}
	return stop, nil
}

func decodeStreamOptions(v []byte) (includeUsage bool, err error) {
	if ok, err := container(v, '{', "an object"); !ok {
		return false, err
	}
	for key, fv := range jsonscan.Members(v) {
		if string(key) == "include_usage" {
			b, err := nullableBool(fv)
			if err != nil {
				return false, under(err, "include_usage")
			}
			includeUsage = b != nil && *b
		}
	}
	return includeUsage, nil
}

func decodeToolChoice(v []byte) (*chat.ToolChoice, error) {
	switch {
	case jsonscan.IsNull(v):
		return nil, nil
	case v[0] == '"':
		s, _ := jsonscan.StringBytes(v)
		switch string(s) {
		case chat.ToolChoiceAuto:
			return &chat.ToolChoice{Mode: chat.ToolChoiceAuto}, nil
		case chat.ToolChoiceNone:
			return &chat.ToolChoice{Mode: chat.ToolChoiceNone}, nil
		case chat.ToolChoiceRequired:
			return &chat.ToolChoice{Mode: chat.ToolChoiceRequired}, nil
		}
		return nil, requestError("", strconv.Quote(string(s))+
			` is not a tool choice; expected "auto", "none", "required" or {"type":"function","function":{"name":...}}`)
	case v[0] != '{':
		return nil, requestError("", "must be a string or an object, got "+jsonscan.Kind(v))
	}
	var typ []byte
	var name string
	var hasFunction bool
	err := memberOf(v, func(key, fv []byte) error {
		var err error
		switch string(key) {
		case "type":
			typ, err = nullableKeyword(fv)
		case "function":
			if fv[0] != '{' {
				return requestError("", "must be an object, got "+jsonscan.Kind(fv))
			}
			hasFunction = true
			for key, nv := range jsonscan.Members(fv) {
				if string(key) == "name" {
					if name, err = nullableString(nv); err != nil {
						err = under(err, "name")
					}
				}
			}
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	if string(typ) != "function" && (typ != nil || !hasFunction) {
		return nil, requestError("type", "unsupported tool choice type "+strconv.Quote(string(typ))+`; expected "function"`)
	}
	if name == "" {
		return nil, requestError("function.name", "missing required parameter")
	}
	return &chat.ToolChoice{Mode: chat.ToolChoiceFunction, Name: name}, nil
}

func (d *requestDecoder) tools(v []byte) ([]chat.Tool, error) {
	if ok, err := container(v, '[', "an array of tools"); !ok {
		return nil, err
	}
	tools := make([]chat.Tool, 0, 4)
	for i, ev := range jsonscan.Elements(v) {
		tools = append(tools, chat.Tool{})
		if err := d.tool(ev, &tools[len(tools)-1]); err != nil {
			return nil, underIndex(err, i)
		}
	}
	return tools, nil
}

func (d *requestDecoder) tool(v []byte, t *chat.Tool) error {
	var typ []byte
	var hasFunction bool
	err := memberOf(v, func(key, fv []byte) error {
		var err error
		switch string(key) {
		case "type":
			typ, err = nullableKeyword(fv)
		case "function":
			hasFunction = true
			err = d.function(fv, t)
		case "cache_control":
			if !jsonscan.IsNull(fv) {
				t.CacheControl = d.raw.copy(fv)
			}
		}
		return err
	})
	if err != nil {
		return err
	}
	if typ != nil && string(typ) != "function" {
		return requestError("type", "unsupported tool type "+strconv.Quote(string(typ))+`; only "function" tools are supported`)
	}
	if !hasFunction {
		return requestError("function", "missing required parameter")
	}
	return nil
}

// function decodes a tool's function into t.
func (d *requestDecoder) function(v []byte, t *chat.Tool) error {
	err := memberOf(v, func(key, fv []byte) error {
		var err error
		switch string(key) {
		case "name":
			t.Name, err = nullableString(fv)
		case "description":
			t.Description, err = nullableString(fv)
		case "parameters":
			if !jsonscan.IsNull(fv) {
				t.Parameters = d.raw.copy(fv)
			}
		case "strict":
			t.Strict, err = nullableBool(fv)
		}
		return err
	})
	if err != nil {
		return err
	}
	if t.Name == "" {
		return requestError("name", "missing required parameter")
	}
	return nil
}

func (d *requestDecoder) messages(v []byte) ([]chat.Message, error) {
	if ok, err := container(v, '[', "an array of messages"); !ok {
		return nil, err
	}
	var msgs []chat.Message
	for i, ev := range jsonscan.Elements(v) {
		if msgs == nil {
			msgs = make([]chat.Message, 0, 8)
		}
		msgs = append(msgs, chat.Message{})
		if err := d.message(ev, &msgs[len(msgs)-1]); err != nil {
			return nil, underIndex(err, i)
		}
	}
	if len(msgs) == 0 {
		return nil, requestError("", "must not be empty")
	}
	return msgs, nil
}

// roleOf returns the canonical role constant for b, so that the common
// roles cost no allocation.
func roleOf(b []byte) string {
	switch string(b) {
	case chat.RoleSystem:
		return chat.RoleSystem
	case chat.RoleDeveloper:
		return chat.RoleDeveloper
	case chat.RoleUser:
		return chat.RoleUser
	case chat.RoleAssistant:
		return chat.RoleAssistant
	case chat.RoleTool:
		return chat.RoleTool
	}
	return string(b)
}

func (d *requestDecoder) message(v []byte, m *chat.Message) error {
	var content []byte
	err := memberOf(v, func(key, fv []byte) error {
		var err error
		switch string(key) {
		case "role":
			var b []byte
			b, err = nullableKeyword(fv)
			m.Role = roleOf(b)
		case "content":
			content = fv
		case "name":
			m.Name, err = nullableString(fv)
		case "tool_call_id":
			m.ToolCallID, err = nullableString(fv)
		case "tool_calls":
			m.ToolCalls, err = decodeToolCalls(fv)
		case "function_call":
			if !jsonscan.IsNull(fv) {
				err = requestError("", `the deprecated "function_call" field is not supported; use "tool_calls"`)
			}
		}
		return err
	})
	if err != nil {
		return err
	}
	switch m.Role {
	case chat.RoleSystem, chat.RoleDeveloper, chat.RoleUser, chat.RoleAssistant:
	case chat.RoleTool:
		if m.ToolCallID == "" {
			return requestError("tool_call_id", "missing required parameter for a tool message")
		}
	case "":
		return requestError("role", "missing required parameter")
	case "function":
		return requestError("role", `the deprecated "function" role is not supported; use "tool"`)
	default:
		return requestError("role", "unknown role "+strconv.Quote(m.Role)+
			"; expected system, developer, user, assistant or tool")
	}
	if m.Content, err = d.content(content, m.Role); err != nil {
		return under(err, "content")
	}
	return nil
}

// content decodes a message's content: a string, an array of parts, or (for
// assistant messages) null or absent.
func (d *requestDecoder) content(v []byte, role string) ([]chat.Part, error) {
	switch {
	case v == nil || jsonscan.IsNull(v):
		if role == chat.RoleAssistant {
			return nil, nil
		}
		got := "null"
		if v == nil {
			got = "nothing"
		}
		return nil, requestError("", "must be a string or an array of content parts, got "+got)
	case v[0] == '"':
		s, _ := jsonscan.DecodeString(v)
		if s == "" {
			return nil, nil
		}
		return []chat.Part{{Type: chat.PartText, Text: s}}, nil
	case v[0] != '[':
		return nil, requestError("", "must be a string or an array of content parts, got "+jsonscan.Kind(v))
	}
	var parts []chat.Part
	for i, ev := range jsonscan.Elements(v) {
		p, keep, err := d.part(ev)
		if err != nil {
			return nil, underIndex(err, i)
		}
		if keep {
			parts = append(parts, p)
		}
	}
	return parts, nil
}

// part decodes one content part; keep is false for parts that are dropped.
func (d *requestDecoder) part(v []byte) (p chat.Part, keep bool, err error) {
	if v[0] != '{' {
		return p, false, requestError("", "must be an object, got "+jsonscan.Kind(v))
	}
	var typ, text, imageURL []byte
	for key, fv := range jsonscan.Members(v) {
		switch string(key) {
		case "type":
			if typ, err = nullableKeyword(fv); err != nil {
				return p, false, under(err, "type")
			}
		case "text":
			text = fv
		case "image_url":
			imageURL = fv
		case "cache_control":
			if !jsonscan.IsNull(fv) {
				p.CacheControl = d.raw.copy(fv)
			}
		}
	}
	switch string(typ) {
	case "text":
		s, ok := jsonscan.DecodeString(text)
		if !ok {
			return p, false, requestError("text", "must be a string, got "+jsonscan.Kind(text))
		}
		p.Type, p.Text = chat.PartText, s
	case "image_url":
		if err := decodeImageURL(imageURL, &p); err != nil {
			return p, false, under(err, "image_url")
		}
	case "refusal":
		return p, false, nil
	case "":
		return p, false, requestError("type", "missing required parameter")
	default:
		return p, false, requestError("type", "unsupported content part type "+strconv.Quote(string(typ))+
			`; expected "text" or "image_url"`)
	}
	return p, true, nil
}

// decodeImageURL decodes an image_url part's {"url","detail"} (or, as some
// clients send it, a bare URL string).
func decodeImageURL(v []byte, p *chat.Part) error {
	p.Type = chat.PartImage
	switch {
	case v == nil || jsonscan.IsNull(v):
		return requestError("", "missing required parameter")
	case v[0] == '"':
		p.ImageURL, _ = jsonscan.DecodeString(v)
	case v[0] == '{':
		err := memberOf(v, func(key, fv []byte) error {
			var err error
			switch string(key) {
			case "url":
				p.ImageURL, err = nullableString(fv)
			case "detail":
				p.Detail, err = nullableString(fv)
			}
			return err
		})
		if err != nil {
			return err
		}
	default:
		return requestError("", "must be an object, got "+jsonscan.Kind(v))
	}
	if p.ImageURL == "" {
		return requestError("url", "missing required parameter")
	}
	return nil
}

// decodeToolCalls decodes a message's tool_calls.
func decodeToolCalls(v []byte) ([]chat.ToolCall, error) {
	if ok, err := container(v, '[', "an array of tool calls"); !ok {
		return nil, err
	}
	var calls []chat.ToolCall
	for i, ev := range jsonscan.Elements(v) {
		calls = append(calls, chat.ToolCall{})
		if err := decodeToolCall(ev, &calls[len(calls)-1]); err != nil {
			return nil, underIndex(err, i)
		}
	}
	return calls, nil
}

func decodeToolCall(v []byte, c *chat.ToolCall) error {
	var typ []byte
	err := memberOf(v, func(key, fv []byte) error {
		var err error
		switch string(key) {
		case "id":
			c.ID, err = nullableString(fv)
		case "type":
			typ, err = nullableKeyword(fv)
		case "function":
			err = decodeCallFunction(fv, c)
		}
		return err
	})
	if err != nil {
		return err
	}
	if typ != nil && string(typ) != "function" {
		return requestError("type", "unsupported tool call type "+strconv.Quote(string(typ))+`; expected "function"`)
	}
	if c.ID == "" {
		return requestError("id", "missing required parameter")
	}
	if c.Name == "" {
		return requestError("function.name", "missing required parameter")
	}
	return nil
}

// decodeCallFunction decodes a tool call's {"name","arguments"}. Arguments
// are a JSON text in a string; an object sent as is (some clients do) is
// kept as its text.
func decodeCallFunction(v []byte, c *chat.ToolCall) error {
	if v[0] != '{' {
		return requestError("", "must be an object, got "+jsonscan.Kind(v))
	}
	for key, fv := range jsonscan.Members(v) {
		switch string(key) {
		case "name":
			var err error
			if c.Name, err = nullableString(fv); err != nil {
				return under(err, "name")
			}
		case "arguments":
			switch fv[0] {
			case '"':
				c.Arguments, _ = jsonscan.DecodeString(fv)
			case '{', '[':
				c.Arguments = string(fv)
			case 'n':
			default:
				return requestError("arguments", "must be a string, got "+jsonscan.Kind(fv))
			}
		}
	}
	return nil
}
