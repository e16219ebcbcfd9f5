package openai

import (
	"encoding/json"
	"strconv"

	"github.com/junctionhq/junction/llm/chat"
)

// RequestError is a client request that cannot be accepted. Param names the
// field at fault in OpenAI's notation ("messages[2].content"), "" when the
// fault is the body as a whole; Error joins both, ready to show the client
// in an OpenAI error with param set to Param.
type RequestError struct {
	Param   string
	Message string
}

func (e *RequestError) Error() string {
	if e.Param == "" {
		return e.Message
	}
	return e.Param + ": " + e.Message
}

func requestError(param, message string) *RequestError {
	return &RequestError{Param: param, Message: message}
}

// indexed formats "messages[2]" or "messages[2].content".
func indexed(list string, i int, field string) string {
	p := list + "[" + strconv.Itoa(i) + "]"
	if field != "" {
		p += "." + field
	}
	return p
}

// rawArena copies raw values out of the request body in a few allocations,
// so that the decoded request never aliases the caller's buffer (which may
// be pooled) and the body can be dropped early.
type rawArena struct{ buf []byte }

func (a *rawArena) copy(v []byte) json.RawMessage {
	if len(v) > cap(a.buf)-len(a.buf) {
		a.buf = make([]byte, 0, max(2*cap(a.buf), len(v), 512))
	}
	a.buf = append(a.buf, v...)
	n := len(a.buf)
	return json.RawMessage(a.buf[n-len(v) : n : n])
}

// openObject starts walking body, which must be one JSON object.
func openObject(body []byte) (objectIter, error) {
	start := skipSpace(body, 0)
	if start >= len(body) {
		return objectIter{}, requestError("", "the request body is empty; expected a JSON object")
	}
	if body[start] != '{' {
		if _, _, err := documentEnd(body); err != nil {
			return objectIter{}, requestError("", "the request body is not valid JSON: "+err.Error())
		}
		return objectIter{}, requestError("", "the request body must be a JSON object, got "+jsonKind(body[start:]))
	}
	it, _ := iterObject(body, start, 0)
	return it, nil
}

// closeObject reports a syntax error met while walking the body, or bytes
// after the object.
func closeObject(it *objectIter, body []byte) error {
	if it.err != nil {
		return requestError("", "the request body is not valid JSON: "+it.err.Error())
	}
	if i := skipSpace(body, it.end); i != len(body) {
		return requestError("", "the request body is not valid JSON: "+
			errAt(i, "unexpected %s after the object", describe(body, i)).Error())
	}
	return nil
}

// DecodeChatRequest decodes an OpenAI chat completions request into the
// canonical request. Fields Junction does not model are kept in Extra, byte
// for byte; tool parameters and response_format are kept raw. The result
// does not alias body. Errors are *RequestError.
//
// Not accepted: the legacy functions and function_call fields (use tools),
// content parts other than text and image_url (refusal parts are dropped),
// and tools or tool choices of types other than function. Message fields
// other than role, content, name, tool_calls and tool_call_id are ignored,
// as are stream_options other than include_usage.
func DecodeChatRequest(body []byte) (*chat.Request, error) {
	it, err := openObject(body)
	if err != nil {
		return nil, err
	}
	d := requestDecoder{}
	req := &chat.Request{}
	var maxTokens, maxCompletionTokens int64
	for it.next() {
		v := it.value()
		var err error
		switch string(it.key) {
		case "model":
			req.Model, err = nullableString(v, "model")
		case "messages":
			req.Messages, err = d.messages(v)
		case "tools":
			req.Tools, err = d.tools(v)
		case "tool_choice":
			req.ToolChoice, err = decodeToolChoice(v)
		case "parallel_tool_calls":
			req.ParallelToolCalls, err = nullableBool(v, "parallel_tool_calls")
		case "max_tokens":
			maxTokens, err = tokenLimit(v, "max_tokens")
		case "max_completion_tokens":
			maxCompletionTokens, err = tokenLimit(v, "max_completion_tokens")
		case "temperature":
			req.Temperature, err = nullableFloat(v, "temperature")
		case "top_p":
			req.TopP, err = nullableFloat(v, "top_p")
		case "stop":
			req.Stop, err = decodeStop(v)
		case "stream":
			var b *bool
			b, err = nullableBool(v, "stream")
			req.Stream = b != nil && *b
		case "stream_options":
			req.IncludeUsage, err = decodeStreamOptions(v)
		case "user":
			req.User, err = nullableString(v, "user")
		case "response_format":
			switch {
			case isNull(v):
			case v[0] != '{':
				err = requestError("response_format", "must be an object, got "+jsonKind(v))
			default:
				req.ResponseFormat = d.raw.copy(v)
			}
		case "functions":
			err = requestError("functions", `the deprecated "functions" parameter is not supported; use "tools"`)
		case "function_call":
			err = requestError("function_call", `the deprecated "function_call" parameter is not supported; use "tool_choice"`)
		default:
			if req.Extra == nil {
				req.Extra = make(map[string]json.RawMessage)
			}
			req.Extra[string(it.key)] = d.raw.copy(v)
		}
		if err != nil {
			return nil, err
		}
	}
	if err := closeObject(&it, body); err != nil {
		return nil, err
	}
	if req.Model == "" {
		return nil, requestError("model", "missing required parameter")
	}
	if req.Messages == nil {
		return nil, requestError("messages", "missing required parameter")
	}
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

func nullableString(v []byte, param string) (string, error) {
	if isNull(v) {
		return "", nil
	}
	s, ok := decodeString(v)
	if !ok {
		return "", requestError(param, "must be a string, got "+jsonKind(v))
	}
	return s, nil
}

func nullableBool(v []byte, param string) (*bool, error) {
	if isNull(v) {
		return nil, nil
	}
	b, ok := decodeBool(v)
	if !ok {
		return nil, requestError(param, "must be a boolean, got "+jsonKind(v))
	}
	return &b, nil
}

func nullableFloat(v []byte, param string) (*float64, error) {
	if isNull(v) {
		return nil, nil
	}
	f, ok := decodeFloat(v)
	if !ok {
		return nil, requestError(param, "must be a number, got "+jsonKind(v))
	}
	return &f, nil
}

// tokenLimit decodes max_tokens or max_completion_tokens: null or an
// integer of at least 1.
func tokenLimit(v []byte, param string) (int64, error) {
	if isNull(v) {
		return 0, nil
	}
	n, ok := decodeInt(v)
	if !ok {
		return 0, requestError(param, "must be an integer, got "+jsonKind(v))
	}
	if n < 1 {
		return 0, requestError(param, "must be at least 1, got "+strconv.FormatInt(n, 10))
	}
	return n, nil
}

func decodeStop(v []byte) ([]string, error) {
	const param = "stop"
	switch {
	case isNull(v):
		return nil, nil
	case v[0] == '"':
		s, _ := decodeString(v)
		return []string{s}, nil
	case v[0] != '[':
		return nil, requestError(param, "must be a string or an array of strings, got "+jsonKind(v))
	}
	it, _ := iterArray(v, 0, 1)
	var stop []string
	for it.next() {
		s, ok := decodeString(it.value())
		if !ok {
			return nil, requestError(indexed(param, it.n-1, ""), "must be a string, got "+jsonKind(it.value()))
		}
		stop = append(stop, s)
	}
	return stop, nil
}

func decodeStreamOptions(v []byte) (includeUsage bool, err error) {
	const param = "stream_options"
	if isNull(v) {
		return false, nil
	}
	if v[0] != '{' {
		return false, requestError(param, "must be an object, got "+jsonKind(v))
	}
	it, _ := iterObject(v, 0, 1)
	for it.next() {
		if string(it.key) == "include_usage" {
			b, err := nullableBool(it.value(), param+".include_usage")
			if err != nil {
				return false, err
			}
			includeUsage = b != nil && *b
		}
	}
	return includeUsage, nil
}

func decodeToolChoice(v []byte) (*chat.ToolChoice, error) {
	const param = "tool_choice"
	switch {
	case isNull(v):
		return nil, nil
	case v[0] == '"':
		s, _ := decodeString(v)
		switch s {
		case chat.ToolChoiceAuto, chat.ToolChoiceNone, chat.ToolChoiceRequired:
			return &chat.ToolChoice{Mode: s}, nil
		}
		return nil, requestError(param, strconv.Quote(s)+` is not a tool choice; expected "auto", "none", "required" or {"type":"function","function":{"name":...}}`)
	case v[0] != '{':
		return nil, requestError(param, "must be a string or an object, got "+jsonKind(v))
	}
	var typ, name string
	var hasFunction bool
	it, _ := iterObject(v, 0, 1)
	for it.next() {
		var err error
		switch string(it.key) {
		case "type":
			typ, err = nullableString(it.value(), param+".type")
		case "function":
			fv := it.value()
			if fv[0] != '{' {
				return nil, requestError(param+".function", "must be an object, got "+jsonKind(fv))
			}
			hasFunction = true
			fit, _ := iterObject(fv, 0, 2)
			for fit.next() {
				if string(fit.key) == "name" {
					name, err = nullableString(fit.value(), param+".function.name")
				}
			}
		}
		if err != nil {
			return nil, err
		}
	}
	if typ != "function" && (typ != "" || !hasFunction) {
		return nil, requestError(param+".type", `unsupported tool choice type `+strconv.Quote(typ)+`; expected "function"`)
	}
	if name == "" {
		return nil, requestError(param+".function.name", "missing required parameter")
	}
	return &chat.ToolChoice{Mode: chat.ToolChoiceFunction, Name: name}, nil
}

func (d *requestDecoder) tools(v []byte) ([]chat.Tool, error) {
	const param = "tools"
	if isNull(v) {
		return nil, nil
	}
	if v[0] != '[' {
		return nil, requestError(param, "must be an array of tools, got "+jsonKind(v))
	}
	it, _ := iterArray(v, 0, 1)
	tools := make([]chat.Tool, 0, 4)
	for it.next() {
		i := it.n - 1
		tv := it.value()
		if tv[0] != '{' {
			return nil, requestError(indexed(param, i, ""), "must be an object, got "+jsonKind(tv))
		}
		var t chat.Tool
		var typ string
		var hasFunction bool
		tit, _ := iterObject(tv, 0, 2)
		for tit.next() {
			var err error
			switch string(tit.key) {
			case "type":
				typ, err = nullableString(tit.value(), indexed(param, i, "type"))
			case "function":
				hasFunction = true
				err = d.function(tit.value(), &t, i)
			case "cache_control":
				if !isNull(tit.value()) {
					t.CacheControl = d.raw.copy(tit.value())
				}
			}
			if err != nil {
				return nil, err
			}
		}
		if typ != "" && typ != "function" {
			return nil, requestError(indexed(param, i, "type"), "unsupported tool type "+strconv.Quote(typ)+`; only "function" tools are supported`)
		}
		if !hasFunction {
			return nil, requestError(indexed(param, i, "function"), "missing required parameter")
		}
		tools = append(tools, t)
	}
	return tools, nil
}

// function decodes tools[i].function into t.
func (d *requestDecoder) function(v []byte, t *chat.Tool, i int) error {
	prefix := func(field string) string { return indexed("tools", i, "function."+field) }
	if v[0] != '{' {
		return requestError(indexed("tools", i, "function"), "must be an object, got "+jsonKind(v))
	}
	it, _ := iterObject(v, 0, 3)
	for it.next() {
		fv := it.value()
		var err error
		switch string(it.key) {
		case "name":
			t.Name, err = nullableString(fv, prefix("name"))
		case "description":
			t.Description, err = nullableString(fv, prefix("description"))
		case "parameters":
			if !isNull(fv) {
				t.Parameters = d.raw.copy(fv)
			}
		case "strict":
			t.Strict, err = nullableBool(fv, prefix("strict"))
		}
		if err != nil {
			return err
		}
	}
	if t.Name == "" {
		return requestError(prefix("name"), "missing required parameter")
	}
	return nil
}

func (d *requestDecoder) messages(v []byte) ([]chat.Message, error) {
	const param = "messages"
	if isNull(v) {
		return nil, nil
	}
	if v[0] != '[' {
		return nil, requestError(param, "must be an array of messages, got "+jsonKind(v))
	}
	it, _ := iterArray(v, 0, 1)
	var msgs []chat.Message
	for it.next() {
		if msgs == nil {
			msgs = make([]chat.Message, 0, 8)
		}
		msgs = append(msgs, chat.Message{})
		if err := d.message(it.value(), &msgs[len(msgs)-1], it.n-1); err != nil {
			return nil, err
		}
	}
	if len(msgs) == 0 {
		return nil, requestError(param, "must not be empty")
	}
	return msgs, nil
}

func (d *requestDecoder) message(v []byte, m *chat.Message, i int) error {
	at := func(field string) string { return indexed("messages", i, field) }
	if v[0] != '{' {
		return requestError(at(""), "must be an object, got "+jsonKind(v))
	}
	var content []byte
	it, _ := iterObject(v, 0, 2)
	for it.next() {
		fv := it.value()
		var err error
		switch string(it.key) {
		case "role":
			m.Role, err = nullableString(fv, at("role"))
		case "content":
			content = fv
		case "name":
			m.Name, err = nullableString(fv, at("name"))
		case "tool_call_id":
			m.ToolCallID, err = nullableString(fv, at("tool_call_id"))
		case "tool_calls":
			m.ToolCalls, err = decodeToolCalls(fv, i)
		case "function_call":
			if !isNull(fv) {
				err = requestError(at("function_call"), `the deprecated "function_call" field is not supported; use "tool_calls"`)
			}
		}
		if err != nil {
			return err
		}
	}
	switch m.Role {
	case chat.RoleSystem, chat.RoleDeveloper, chat.RoleUser, chat.RoleAssistant:
	case chat.RoleTool:
		if m.ToolCallID == "" {
			return requestError(at("tool_call_id"), "missing required parameter for a tool message")
		}
	case "":
		return requestError(at("role"), "missing required parameter")
	case "function":
		return requestError(at("role"), `the deprecated "function" role is not supported; use "tool"`)
	default:
		return requestError(at("role"), "unknown role "+strconv.Quote(m.Role)+
			"; expected system, developer, user, assistant or tool")
	}
	var err error
	m.Content, err = d.content(content, m.Role, i)
	return err
}

// content decodes a message's content: a string, an array of parts, or (for
// assistant messages) null or absent.
func (d *requestDecoder) content(v []byte, role string, i int) ([]chat.Part, error) {
	param := indexed("messages", i, "content")
	switch {
	case v == nil || isNull(v):
		if role == chat.RoleAssistant {
			return nil, nil
		}
		got := "null"
		if v == nil {
			got = "nothing"
		}
		return nil, requestError(param, "must be a string or an array of content parts, got "+got)
	case v[0] == '"':
		s, _ := decodeString(v)
		if s == "" {
			return nil, nil
		}
		return []chat.Part{{Type: chat.PartText, Text: s}}, nil
	case v[0] != '[':
		return nil, requestError(param, "must be a string or an array of content parts, got "+jsonKind(v))
	}
	it, _ := iterArray(v, 0, 3)
	var parts []chat.Part
	for it.next() {
		j := it.n - 1
		pv := it.value()
		at := func(field string) string { return indexed(param, j, field) }
		if pv[0] != '{' {
			return nil, requestError(at(""), "must be an object, got "+jsonKind(pv))
		}
		var p chat.Part
		var typ string
		var text, imageURL []byte
		pit, _ := iterObject(pv, 0, 4)
		for pit.next() {
			var err error
			switch string(pit.key) {
			case "type":
				typ, err = nullableString(pit.value(), at("type"))
			case "text":
				text = pit.value()
			case "image_url":
				imageURL = pit.value()
			case "cache_control":
				if !isNull(pit.value()) {
					p.CacheControl = d.raw.copy(pit.value())
				}
			}
			if err != nil {
				return nil, err
			}
		}
		switch typ {
		case "text":
			s, ok := decodeString(text)
			if !ok {
				return nil, requestError(at("text"), "must be a string, got "+jsonKind(text))
			}
			p.Type, p.Text = chat.PartText, s
		case "image_url":
			if err := decodeImageURL(imageURL, &p, at("image_url")); err != nil {
				return nil, err
			}
		case "refusal":
			continue
		case "":
			return nil, requestError(at("type"), "missing required parameter")
		default:
			return nil, requestError(at("type"), "unsupported content part type "+strconv.Quote(typ)+
				`; expected "text" or "image_url"`)
		}
		parts = append(parts, p)
	}
	return parts, nil
}

// decodeImageURL decodes an image_url part's {"url","detail"} (or, as some
// clients send it, a bare URL string).
func decodeImageURL(v []byte, p *chat.Part, param string) error {
	p.Type = chat.PartImage
	switch {
	case v == nil || isNull(v):
		return requestError(param, "missing required parameter")
	case v[0] == '"':
		p.ImageURL, _ = decodeString(v)
	case v[0] == '{':
		it, _ := iterObject(v, 0, 5)
		for it.next() {
			var err error
			switch string(it.key) {
			case "url":
				p.ImageURL, err = nullableString(it.value(), param+".url")
			case "detail":
				p.Detail, err = nullableString(it.value(), param+".detail")
			}
			if err != nil {
				return err
			}
		}
	default:
		return requestError(param, "must be an object, got "+jsonKind(v))
	}
	if p.ImageURL == "" {
		return requestError(param+".url", "missing required parameter")
	}
	return nil
}

// decodeToolCalls decodes messages[i].tool_calls.
func decodeToolCalls(v []byte, i int) ([]chat.ToolCall, error) {
	param := indexed("messages", i, "tool_calls")
	if isNull(v) {
		return nil, nil
	}
	if v[0] != '[' {
		return nil, requestError(param, "must be an array of tool calls, got "+jsonKind(v))
	}
	var calls []chat.ToolCall
	it, _ := iterArray(v, 0, 3)
	for it.next() {
		j := it.n - 1
		at := func(field string) string { return indexed(param, j, field) }
		cv := it.value()
		if cv[0] != '{' {
			return nil, requestError(at(""), "must be an object, got "+jsonKind(cv))
		}
		var c chat.ToolCall
		var typ string
		cit, _ := iterObject(cv, 0, 4)
		for cit.next() {
			var err error
			switch string(cit.key) {
			case "id":
				c.ID, err = nullableString(cit.value(), at("id"))
			case "type":
				typ, err = nullableString(cit.value(), at("type"))
			case "function":
				err = decodeCallFunction(cit.value(), &c, at("function"))
			}
			if err != nil {
				return nil, err
			}
		}
		if typ != "" && typ != "function" {
			return nil, requestError(at("type"), "unsupported tool call type "+strconv.Quote(typ)+`; expected "function"`)
		}
		if c.ID == "" {
			return nil, requestError(at("id"), "missing required parameter")
		}
		if c.Name == "" {
			return nil, requestError(at("function.name"), "missing required parameter")
		}
		calls = append(calls, c)
	}
	return calls, nil
}

// decodeCallFunction decodes a tool call's {"name","arguments"}. Arguments
// are a JSON text in a string; an object sent as is (some clients do) is
// kept as its text.
func decodeCallFunction(v []byte, c *chat.ToolCall, param string) error {
	if v[0] != '{' {
		return requestError(param, "must be an object, got "+jsonKind(v))
	}
	it, _ := iterObject(v, 0, 5)
	for it.next() {
		fv := it.value()
		switch string(it.key) {
		case "name":
			var err error
			if c.Name, err = nullableString(fv, param+".name"); err != nil {
				return err
			}
		case "arguments":
			switch fv[0] {
			case '"':
				c.Arguments, _ = decodeString(fv)
			case '{', '[':
				c.Arguments = string(fv)
			case 'n':
			default:
				return requestError(param+".arguments", "must be a string, got "+jsonKind(fv))
			}
		}
	}
	return nil
}
