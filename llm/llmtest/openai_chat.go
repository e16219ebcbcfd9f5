package llmtest

import (
	"encoding/json"
	"net/http"
)

// OpenAI POST /v1/chat/completions.

// openAIChatRequest holds the fields of a chat completion request the mock reads;
// every other field is ignored, as the real API ignores what a model does not use.
type openAIChatRequest struct {
	Model               string               `json:"model"`
	Messages            []openAIMessage      `json:"messages"`
	Stream              bool                 `json:"stream"`
	StreamOptions       *openAIStreamOptions `json:"stream_options"`
	MaxTokens           *int                 `json:"max_tokens"`
	MaxCompletionTokens *int                 `json:"max_completion_tokens"`
}

type openAIStreamOptions struct {
	IncludeUsage bool `json:"include_usage"`
}

type openAIMessage struct {
	Role       string           `json:"role"`
	Content    json.RawMessage  `json:"content"` // string, array of parts or null
	ToolCalls  []openAIToolCall `json:"tool_calls"`
	ToolCallID string           `json:"tool_call_id"`
}

type openAIToolCall struct {
	Function struct {
		Name      string `json:"name"`
		Arguments string `json:"arguments"`
	} `json:"function"`
}

type openAIContentPart struct {
	Type string `json:"type"`
	Text string `json:"text"`
}

// serveChatCompletions answers POST /v1/chat/completions.
func (m *Mock) serveChatCompletions(x *exchange) {
	var req openAIChatRequest
	if err := json.Unmarshal(x.body, &req); err != nil {
		x.fail(decodeError(err))
		return
	}
	pr, apiErr := req.prompt(x.profile.needsLastUserText())
	m.answerChat(x, pr, apiErr, openAIModelNotFound, x.streamChatCompletion, x.appendChatCompletion)
}

// openAIModelNotFound is OpenAI's answer for a model the key cannot use.
func openAIModelNotFound(model string) *apiError {
	return newAPIError(http.StatusNotFound,
		"The model `%s` does not exist or you do not have access to it.", model).withParam("", "model_not_found")
}

// prompt validates the request as the real API does and summarises it.
func (req *openAIChatRequest) prompt(wantLastUser bool) (prompt, *apiError) {
	if req.Model == "" {
		return prompt{}, newAPIError(http.StatusBadRequest, "you must provide a model parameter")
	}
	if req.Messages == nil {
		return prompt{}, newAPIError(http.StatusBadRequest, "Missing required parameter: 'messages'.").
			withParam("messages", "missing_required_parameter")
	}
	if len(req.Messages) == 0 {
		return prompt{}, newAPIError(http.StatusBadRequest,
			"Invalid 'messages': empty array. Expected an array with minimum length 1, but got an empty array instead.").
			withParam("messages", "empty_array")
	}
	pr := prompt{model: req.Model, stream: req.Stream}
	if req.StreamOptions != nil {
		if !req.Stream {
			return prompt{}, newAPIError(http.StatusBadRequest,
				"The 'stream_options' parameter is only allowed when 'stream' is enabled.").
				withParam("stream_options", "invalid_value")
		}
		pr.includeUsage = req.StreamOptions.IncludeUsage
	}
	for _, limit := range []struct {
		name  string
		value *int
	}{{"max_tokens", req.MaxTokens}, {"max_completion_tokens", req.MaxCompletionTokens}} {
		if limit.value == nil {
			continue
		}
		if *limit.value < 1 {
			return prompt{}, newAPIError(http.StatusBadRequest,
				"Invalid '%s': integer below minimum value. Expected a value >= 1, but got %d instead.",
				limit.name, *limit.value).withParam(limit.name, "integer_below_min_value")
		}
		pr.maxTokens = *limit.value // max_completion_tokens, listed last, wins
	}

	lastUser := -1
	inToolRun := false
	for i := range req.Messages {
		msg := &req.Messages[i]
		tokens, isNull, apiErr := openAIContentTokens(msg.Content, i)
		if apiErr != nil {
			return prompt{}, apiErr
		}
		pr.inputTokens += tokens
		isToolResult := false
		switch msg.Role {
		case "system", "developer", "user":
			if isNull {
				return prompt{}, nullContentError(i)
			}
			if msg.Role == "user" {
				lastUser = i
			}
		case "assistant":
			if isNull && len(msg.ToolCalls) == 0 {
				return prompt{}, nullContentError(i)
			}
			for _, call := range msg.ToolCalls {
				pr.inputTokens += countTokens(call.Function.Name) + countTokens(call.Function.Arguments)
			}
		case "tool":
			if msg.ToolCallID == "" {
				return prompt{}, newAPIError(http.StatusBadRequest,
					"Missing parameter 'tool_call_id': messages with role 'tool' must have a 'tool_call_id'.").
					withParam(indexedParam("messages", i, "tool_call_id"), "missing_required_parameter")
			}
			if isNull {
				return prompt{}, nullContentError(i)
			}
			isToolResult = true
		case "function": // deprecated, still accepted by the API
			isToolResult = true
		case "":
			return prompt{}, newAPIError(http.StatusBadRequest, "Missing required parameter: '%s'.",
				indexedParam("messages", i, "role")).withParam(indexedParam("messages", i, "role"), "missing_required_parameter")
		default:
			return prompt{}, newAPIError(http.StatusBadRequest,
				"Invalid value: '%s'. Supported values are: 'system', 'assistant', 'user', 'tool', and 'function'.",
				msg.Role).withParam(indexedParam("messages", i, "role"), "invalid_value")
		}
		if isToolResult && !inToolRun {
			pr.toolRounds++
		}
		inToolRun = isToolResult
	}
	if wantLastUser && lastUser >= 0 {
		pr.lastUserText = contentText(req.Messages[lastUser].Content)
	}
	return pr, nil
}

// indexedParam formats "messages[3].role".
func indexedParam(list string, i int, field string) string {
	return list + "[" + string(appendInt(nil, i)) + "]." + field
}

func nullContentError(i int) *apiError {
	return newAPIError(http.StatusBadRequest, "Invalid value for 'content': expected a string, got null.").
		withParam(indexedParam("messages", i, "content"), "invalid_value")
}

// openAIContentTokens counts the tokens of a message's content: a string, an array of
// parts (text parts count; images and audio do not), or null.
func openAIContentTokens(raw json.RawMessage, i int) (tokens int, isNull bool, _ *apiError) {
	if len(raw) == 0 || string(raw) == "null" {
		return 0, true, nil
	}
	switch raw[0] {
	case '"':
		return countJSONStringTokens(raw), false, nil
	case '[':
		var parts []openAIContentPart
		if err := json.Unmarshal(raw, &parts); err != nil {
			return 0, false, contentTypeError(i)
		}
		for _, p := range parts {
			if p.Type == "text" {
				tokens += countTokens(p.Text)
			}
		}
		return tokens, false, nil
	default:
		return 0, false, contentTypeError(i)
	}
}

func contentTypeError(i int) *apiError {
	param := indexedParam("messages", i, "content")
	return newAPIError(http.StatusBadRequest,
		"Invalid type for '%s': expected one of a string or array of objects.", param).withParam(param, "invalid_type")
}

// openAIFinishReason maps a finish reason to OpenAI's vocabulary.
func openAIFinishReason(f finishReason) string {
	switch f {
	case finishLength:
		return "length"
	case finishToolCalls:
		return "tool_calls"
	default:
		return "stop"
	}
}

// systemFingerprint is reported in every completion.
const systemFingerprint = "fp_llmtest"

// appendCallID appends the id of the i-th call of the reply.
func (x *exchange) appendCallID(dst []byte, prefix string, c *ToolCall, i int) []byte {
	if c.ID != "" {
		return appendJSONString(dst, c.ID)
	}
	dst = append(dst, '"')
	dst = appendID(dst, prefix, x.m.cfg.seed, x.seq, i+1)
	return append(dst, '"')
}

// appendChatCompletion appends the non-streaming chat.completion object.
func (x *exchange) appendChatCompletion(dst []byte, pr *prompt, r *reply) []byte {
	dst = append(dst, `{"id":"`...)
	dst = appendID(dst, "chatcmpl-", x.m.cfg.seed, x.seq, 0)
	dst = append(dst, `","object":"chat.completion","created":`...)
	dst = appendInt(dst, int(x.m.cfg.now().Unix()))
	dst = append(dst, `,"model":`...)
	dst = appendJSONString(dst, pr.model)
	dst = append(dst, `,"choices":[{"index":0,"message":{"role":"assistant","content":`...)
	if r.text == "" && len(r.calls) > 0 {
		dst = append(dst, "null"...)
	} else {
		dst = appendJSONString(dst, r.text)
	}
	if len(r.calls) > 0 {
		dst = append(dst, `,"tool_calls":[`...)
		for i := range r.calls {
			c := &r.calls[i]
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = append(dst, `{"id":`...)
			dst = x.appendCallID(dst, "call_", c, i)
			dst = append(dst, `,"type":"function","function":{"name":`...)
			dst = appendJSONString(dst, c.Name)
			dst = append(dst, `,"arguments":`...)
			dst = appendJSONString(dst, c.arguments())
			dst = append(dst, "}}"...)
		}
		dst = append(dst, ']')
	}
	dst = append(dst, `,"refusal":null,"annotations":[]},"logprobs":null,"finish_reason":"`...)
	dst = append(dst, openAIFinishReason(r.finish)...)
	dst = append(dst, `"}],"usage":`...)
	dst = appendOpenAIUsage(dst, pr.inputTokens, r.outputTokens)
	dst = append(dst, `,"service_tier":"default","system_fingerprint":"`+systemFingerprint+`"}`...)
	return dst
}

// appendOpenAIUsage appends a chat usage object.
func appendOpenAIUsage(dst []byte, promptTokens, completionTokens int) []byte {
	dst = append(dst, `{"prompt_tokens":`...)
	dst = appendInt(dst, promptTokens)
	dst = append(dst, `,"completion_tokens":`...)
	dst = appendInt(dst, completionTokens)
	dst = append(dst, `,"total_tokens":`...)
	dst = appendInt(dst, promptTokens+completionTokens)
	return append(dst, `,"prompt_tokens_details":{"cached_tokens":0,"audio_tokens":0},`+
		`"completion_tokens_details":{"reasoning_tokens":0,"audio_tokens":0,`+
		`"accepted_prediction_tokens":0,"rejected_prediction_tokens":0}}`...)
}

// Fragments of streamed choices.
const (
	chunkChoiceEnd = `},"logprobs":null,"finish_reason":null}`
)

// streamChatCompletion streams the reply as chat.completion.chunk events: a role
// delta, content deltas one word each, tool-call deltas (the first of a call carries
// id, type and name; the arguments follow in pieces), a final chunk with the finish
// reason, the usage chunk when asked for, and [DONE].
func (x *exchange) streamChatCompletion(pr *prompt, r *reply) {
	prefixBuf := getBuffer()
	defer putBuffer(prefixBuf)
	prefix := append((*prefixBuf)[:0], `data: {"id":"`...)
	prefix = appendID(prefix, "chatcmpl-", x.m.cfg.seed, x.seq, 0)
	prefix = append(prefix, `","object":"chat.completion.chunk","created":`...)
	prefix = appendInt(prefix, int(x.m.cfg.now().Unix()))
	prefix = append(prefix, `,"model":`...)
	prefix = appendJSONString(prefix, pr.model)
	prefix = append(prefix, `,"system_fingerprint":"`+systemFingerprint+`","choices":[`...)
	*prefixBuf = prefix
	suffix := "]}\n\n"
	if pr.includeUsage {
		suffix = `],"usage":null}` + "\n\n"
	}

	s := x.beginStream()
	// The role delta opens the message.
	x.out = append(x.out[:0], prefix...)
	if r.text == "" && len(r.calls) > 0 {
		x.out = append(x.out, `{"index":0,"delta":{"role":"assistant","content":null,"refusal":null`...)
	} else {
		x.out = append(x.out, `{"index":0,"delta":{"role":"assistant","content":"","refusal":null`...)
	}
	x.out = append(x.out, chunkChoiceEnd...)
	x.out = append(x.out, suffix...)
	if !s.send(x.out) {
		return
	}
	for rest := r.text; rest != ""; {
		var piece string
		piece, rest = nextWordPiece(rest)
		x.out = append(x.out[:0], prefix...)
		x.out = append(x.out, `{"index":0,"delta":{"content":`...)
		x.out = appendJSONString(x.out, piece)
		x.out = append(x.out, chunkChoiceEnd...)
		x.out = append(x.out, suffix...)
		if !s.send(x.out) {
			return
		}
	}
	for i := range r.calls {
		c := &r.calls[i]
		x.out = append(x.out[:0], prefix...)
		x.out = append(x.out, `{"index":0,"delta":{"tool_calls":[{"index":`...)
		x.out = appendInt(x.out, i)
		x.out = append(x.out, `,"id":`...)
		x.out = x.appendCallID(x.out, "call_", c, i)
		x.out = append(x.out, `,"type":"function","function":{"name":`...)
		x.out = appendJSONString(x.out, c.Name)
		x.out = append(x.out, `,"arguments":""}}]`...)
		x.out = append(x.out, chunkChoiceEnd...)
		x.out = append(x.out, suffix...)
		if !s.send(x.out) {
			return
		}
		for rest := c.arguments(); rest != ""; {
			var piece string
			piece, rest = nextArgumentPiece(rest)
			x.out = append(x.out[:0], prefix...)
			x.out = append(x.out, `{"index":0,"delta":{"tool_calls":[{"index":`...)
			x.out = appendInt(x.out, i)
			x.out = append(x.out, `,"function":{"arguments":`...)
			x.out = appendJSONString(x.out, piece)
			x.out = append(x.out, `}}]`...)
			x.out = append(x.out, chunkChoiceEnd...)
			x.out = append(x.out, suffix...)
			if !s.send(x.out) {
				return
			}
		}
	}
	x.out = append(x.out[:0], prefix...)
	x.out = append(x.out, `{"index":0,"delta":{},"logprobs":null,"finish_reason":"`...)
	x.out = append(x.out, openAIFinishReason(r.finish)...)
	x.out = append(x.out, `"}`...)
	x.out = append(x.out, suffix...)
	if !s.send(x.out) {
		return
	}
	if pr.includeUsage {
		x.out = append(x.out[:0], prefix...)
		x.out = append(x.out, `],"usage":`...)
		x.out = appendOpenAIUsage(x.out, pr.inputTokens, r.outputTokens)
		x.out = append(x.out, "}\n\n"...)
		if !s.send(x.out) {
			return
		}
	}
	x.out = append(x.out[:0], "data: [DONE]\n\n"...)
	s.send(x.out)
}
