package llmtest

import (
	"encoding/json"
	"net/http"
	"strconv"
	"time"

	"github.com/junctionhq/junction/llm/internal/jsonenc"
)

// Anthropic POST /v1/messages.

// anthropicWire is the Anthropic API's wire format: x-api-key authentication and
// {"type":"error","error":{"type","message"}} errors.
type anthropicWire struct{}

var _ wire = anthropicWire{}

// apiKey reads x-api-key, or a Bearer token (OAuth-style clients send one instead).
func (anthropicWire) apiKey(r *http.Request) string {
	if key := r.Header.Get("X-Api-Key"); key != "" {
		return key
	}
	return bearerToken(r.Header)
}

func (anthropicWire) requestIDHeader() string { return "Request-Id" }

func (anthropicWire) requestIDPrefix() string { return "req_" }

func (anthropicWire) authError(key string) *apiError {
	if key == "" {
		return &apiError{status: http.StatusUnauthorized, message: "x-api-key header is required"}
	}
	return &apiError{status: http.StatusUnauthorized, message: "invalid x-api-key"}
}

// anthropicErrorType is the error type Anthropic reports for a status.
func anthropicErrorType(status int) string {
	switch status {
	case http.StatusUnauthorized:
		return "authentication_error"
	case http.StatusPaymentRequired:
		return "billing_error"
	case http.StatusForbidden:
		return "permission_error"
	case http.StatusNotFound:
		return "not_found_error"
	case http.StatusRequestEntityTooLarge:
		return "request_too_large"
	case http.StatusTooManyRequests:
		return "rate_limit_error"
	case http.StatusGatewayTimeout:
		return "timeout_error"
	case 529:
		return "overloaded_error"
	}
	if status >= 500 {
		return "api_error"
	}
	return "invalid_request_error"
}

func (anthropicWire) appendError(dst []byte, e *apiError) []byte {
	dst = append(dst, `{"type":"error","error":{"type":`...)
	dst = appendJSONString(dst, anthropicErrorType(e.status))
	dst = append(dst, `,"message":`...)
	dst = appendJSONString(dst, e.message)
	return append(dst, "}}"...)
}

// anthropicRequest holds the fields of a Messages request the mock reads; every other
// field (tools, temperature, metadata, ...) is ignored.
type anthropicRequest struct {
	Model     string             `json:"model"`
	MaxTokens *int               `json:"max_tokens"`
	Messages  []anthropicMessage `json:"messages"`
	System    json.RawMessage    `json:"system"` // string or array of text blocks
	Stream    bool               `json:"stream"`
}

type anthropicMessage struct {
	Role    string          `json:"role"`
	Content json.RawMessage `json:"content"` // string or array of blocks
}

// anthropicBlock is a content block; only the fields the mock counts are decoded.
type anthropicBlock struct {
	Type    string          `json:"type"`
	Text    string          `json:"text"`    // text
	Name    string          `json:"name"`    // tool_use
	Input   json.RawMessage `json:"input"`   // tool_use
	Content json.RawMessage `json:"content"` // tool_result: string or blocks
}

// serveMessages answers POST /v1/messages.
func (m *Mock) serveMessages(x *exchange) {
	var req anthropicRequest
	if !decodeAnthropicRequest(x, &req) {
		return
	}
	pr, apiErr := req.prompt(x.profile.needsLastUserText())
	m.answerChat(x, pr, apiErr, func(model string) *apiError { return newAPIError(http.StatusNotFound, "model: %s", model) },
		x.streamMessage, x.appendMessage)
}

// decodeAnthropicRequest checks the anthropic-version header and decodes
// the body into req; on failure it answers the error and returns false.
func decodeAnthropicRequest(x *exchange, req *anthropicRequest) bool {
	if x.r.Header.Get("Anthropic-Version") == "" {
		x.fail(newAPIError(http.StatusBadRequest, "anthropic-version: header is required"))
		return false
	}
	if err := json.Unmarshal(x.body, req); err != nil {
		x.fail(decodeError(err))
		return false
	}
	return true
}

// serveCountTokens answers POST /v1/messages/count_tokens: the request is
// validated as for /v1/messages (without max_tokens) and its input tokens
// counted as the mock counts them; no reply is planned.
func (m *Mock) serveCountTokens(x *exchange) {
	var req anthropicRequest
	if !decodeAnthropicRequest(x, &req) {
		return
	}
	if req.MaxTokens == nil {
		one := 1
		req.MaxTokens = &one
	}
	pr, apiErr := req.prompt(false)
	if !m.admitModel(x, apiErr, pr.model, func(model string) *apiError { return newAPIError(http.StatusNotFound, "model: %s", model) }) {
		return
	}
	x.out = append(x.out[:0], `{"input_tokens":`...)
	x.out = strconv.AppendInt(x.out, int64(pr.inputTokens), 10)
	x.out = append(x.out, '}')
	x.writeJSON(http.StatusOK, x.out)
}

// prompt validates the request as the real API does and summarises it.
func (req *anthropicRequest) prompt(wantLastUser bool) (prompt, *apiError) {
	switch {
	case req.Model == "":
		return prompt{}, newAPIError(http.StatusBadRequest, "model: Field required")
	case req.MaxTokens == nil:
		return prompt{}, newAPIError(http.StatusBadRequest, "max_tokens: Field required")
	case *req.MaxTokens < 1:
		return prompt{}, newAPIError(http.StatusBadRequest, "max_tokens: Input should be greater than or equal to 1")
	case req.Messages == nil:
		return prompt{}, newAPIError(http.StatusBadRequest, "messages: Field required")
	case len(req.Messages) == 0:
		return prompt{}, newAPIError(http.StatusBadRequest, "messages: at least one message is required")
	}
	pr := prompt{model: req.Model, stream: req.Stream, maxTokens: *req.MaxTokens}
	if len(req.System) > 0 && string(req.System) != "null" {
		tokens, _, ok := anthropicContent(req.System)
		if !ok {
			return prompt{}, newAPIError(http.StatusBadRequest, "system: Input should be a valid string or list of text blocks")
		}
		pr.inputTokens += tokens
	}
	lastUser := -1
	for i := range req.Messages {
		msg := &req.Messages[i]
		if msg.Role != "user" && msg.Role != "assistant" {
			return prompt{}, newAPIError(http.StatusBadRequest, "messages.%d.role: Input should be 'user' or 'assistant'", i)
		}
		if len(msg.Content) == 0 || string(msg.Content) == "null" {
			return prompt{}, newAPIError(http.StatusBadRequest, "messages.%d.content: Field required", i)
		}
		tokens, toolResults, ok := anthropicContent(msg.Content)
		if !ok {
			return prompt{}, newAPIError(http.StatusBadRequest,
				"messages.%d.content: Input should be a valid string or list of content blocks", i)
		}
		pr.inputTokens += tokens
		if msg.Role == "user" {
			lastUser = i
			if toolResults {
				pr.toolRounds++
			}
		}
	}
	if wantLastUser && lastUser >= 0 {
		pr.lastUserText = contentText(req.Messages[lastUser].Content)
	}
	return pr, nil
}

// anthropicContent counts the tokens of a content value (a string or a list of blocks)
// and reports whether it holds tool results; ok is false when it is neither.
func anthropicContent(raw json.RawMessage) (tokens int, toolResults, ok bool) {
	switch {
	case len(raw) == 0:
		return 0, false, false
	case raw[0] == '"':
		return countJSONStringTokens(raw), false, true
	case raw[0] != '[':
		return 0, false, false
	}
	var blocks []anthropicBlock
	if err := json.Unmarshal(raw, &blocks); err != nil {
		return 0, false, false
	}
	for i := range blocks {
		b := &blocks[i]
		switch b.Type {
		case "text":
			tokens += countTokens(b.Text)
		case "tool_use":
			tokens += countTokens(b.Name) + countTokens(string(b.Input))
		case "tool_result":
			toolResults = true
			if len(b.Content) > 0 && string(b.Content) != "null" {
				n, _, ok := anthropicContent(b.Content)
				if !ok {
					return 0, false, false
				}
				tokens += n
			}
		case "":
			return 0, false, false
		}
	}
	return tokens, toolResults, true
}

// anthropicStopReason maps a finish reason to Anthropic's vocabulary.
func anthropicStopReason(f finishReason) string {
	switch f {
	case finishLength:
		return "max_tokens"
	case finishToolCalls:
		return "tool_use"
	default:
		return "end_turn"
	}
}

// hasTextBlock reports whether the reply carries a text block: always, unless it is
// made of tool calls only.
func (r *reply) hasTextBlock() bool { return r.text != "" || len(r.calls) == 0 }

// appendAnthropicUsage appends a usage object.
func appendAnthropicUsage(dst []byte, inputTokens, outputTokens int) []byte {
	dst = append(dst, `{"input_tokens":`...)
	dst = appendInt(dst, inputTokens)
	dst = append(dst, `,"cache_creation_input_tokens":0,"cache_read_input_tokens":0,"output_tokens":`...)
	dst = appendInt(dst, outputTokens)
	return append(dst, '}')
}

// appendMessageHead appends the message object up to its content list, included.
func (x *exchange) appendMessageHead(dst []byte, pr *prompt) []byte {
	dst = append(dst, `{"id":"`...)
	dst = appendID(dst, "msg_", x.m.cfg.seed, x.seq, 0)
	dst = append(dst, `","type":"message","role":"assistant","model":`...)
	dst = appendJSONString(dst, pr.model)
	return append(dst, `,"content":[`...)
}

// appendMessage appends the non-streaming message object.
func (x *exchange) appendMessage(dst []byte, pr *prompt, r *reply) []byte {
	dst = x.appendMessageHead(dst, pr)
	if r.hasTextBlock() {
		dst = append(dst, `{"type":"text","text":`...)
		dst = appendJSONString(dst, r.text)
		dst = append(dst, '}')
	}
	for i := range r.calls {
		c := &r.calls[i]
		if i > 0 || r.hasTextBlock() {
			dst = append(dst, ',')
		}
		dst = append(dst, `{"type":"tool_use","id":`...)
		dst = x.appendCallID(dst, "toolu_", c, i)
		dst = append(dst, `,"name":`...)
		dst = appendJSONString(dst, c.Name)
		dst = append(dst, `,"input":`...)
		dst = append(dst, c.arguments()...) // validated JSON object
		dst = append(dst, '}')
	}
	dst = append(dst, `],"stop_reason":"`...)
	dst = append(dst, anthropicStopReason(r.finish)...)
	dst = append(dst, `","stop_sequence":null,"usage":`...)
	dst = appendAnthropicUsage(dst, pr.inputTokens, r.outputTokens)
	return append(dst, '}')
}

// appendEventHead appends "event: <name>\ndata: ".
func appendEventHead(dst []byte, name string) []byte {
	dst = append(dst, "event: "...)
	dst = append(dst, name...)
	return append(dst, "\ndata: "...)
}

// streamMessage streams the reply as named events: message_start; for each content
// block content_block_start, deltas (text_delta one word each, input_json_delta in
// pieces) and content_block_stop, with a ping after the first block start;
// message_delta with the stop reason and cumulative usage; message_stop.
func (x *exchange) streamMessage(pr *prompt, r *reply) {
	s := x.beginStream()
	x.out = appendEventHead(x.out[:0], "message_start")
	x.out = append(x.out, `{"type":"message_start","message":`...)
	x.out = x.appendMessageHead(x.out, pr)
	x.out = append(x.out, `],"stop_reason":null,"stop_sequence":null,"usage":`...)
	x.out = appendAnthropicUsage(x.out, pr.inputTokens, 1)
	x.out = append(x.out, "}}\n\n"...)
	if !s.send(x.out) {
		return
	}
	index := 0
	pinged := false
	// sendBlockStart ends and sends the content_block_start event in x.out (begun by
	// appendStartHead and the block), then the ping that follows the first one.
	sendBlockStart := func() bool {
		x.out = append(x.out, "}\n\n"...)
		if !s.send(x.out) {
			return false
		}
		if !pinged {
			pinged = true
			x.out = appendEventHead(x.out[:0], "ping")
			x.out = append(x.out, `{"type":"ping"}`+"\n\n"...)
			return s.send(x.out)
		}
		return true
	}
	sendBlockStop := func() bool {
		x.out = appendEventHead(x.out[:0], "content_block_stop")
		x.out = append(x.out, `{"type":"content_block_stop","index":`...)
		x.out = appendInt(x.out, index)
		x.out = append(x.out, "}\n\n"...)
		index++
		return s.send(x.out)
	}
	// sendDeltas sends rest as the block's deltas of kind, cut into pieces
	// by next, then the block's content_block_stop.
	sendDeltas := func(rest string, next func(string) (string, string), kind string) bool {
		for rest != "" {
			var piece string
			piece, rest = next(rest)
			x.out = appendEventHead(x.out[:0], "content_block_delta")
			x.out = append(x.out, `{"type":"content_block_delta","index":`...)
			x.out = appendInt(x.out, index)
			x.out = append(x.out, `,"delta":{"type":"`...)
			x.out = append(x.out, kind...)
			x.out = appendJSONString(x.out, piece)
			x.out = append(x.out, "}}\n\n"...)
			if !s.send(x.out) {
				return false
			}
		}
		return sendBlockStop()
	}
	appendStartHead := func() {
		x.out = appendEventHead(x.out[:0], "content_block_start")
		x.out = append(x.out, `{"type":"content_block_start","index":`...)
		x.out = appendInt(x.out, index)
		x.out = append(x.out, `,"content_block":`...)
	}

	if r.hasTextBlock() {
		appendStartHead()
		x.out = append(x.out, `{"type":"text","text":""}`...)
		if !sendBlockStart() {
			return
		}
		if !sendDeltas(r.text, nextWordPiece, `text_delta","text":`) {
			return
		}
	}
	for i := range r.calls {
		c := &r.calls[i]
		appendStartHead()
		x.out = append(x.out, `{"type":"tool_use","id":`...)
		x.out = x.appendCallID(x.out, "toolu_", c, i)
		x.out = append(x.out, `,"name":`...)
		x.out = appendJSONString(x.out, c.Name)
		x.out = append(x.out, `,"input":{}}`...)
		if !sendBlockStart() {
			return
		}
		if !sendDeltas(c.arguments(), nextArgumentPiece, `input_json_delta","partial_json":`) {
			return
		}
	}
	x.out = appendEventHead(x.out[:0], "message_delta")
	x.out = append(x.out, `{"type":"message_delta","delta":{"stop_reason":"`...)
	x.out = append(x.out, anthropicStopReason(r.finish)...)
	x.out = append(x.out, `","stop_sequence":null},"usage":`...)
	x.out = appendAnthropicUsage(x.out, pr.inputTokens, r.outputTokens)
	x.out = append(x.out, "}\n\n"...)
	if !s.send(x.out) {
		return
	}
	x.out = appendEventHead(x.out[:0], "message_stop")
	x.out = append(x.out, `{"type":"message_stop"}`+"\n\n"...)
	s.send(x.out)
}

// appendAnthropicModels appends the Anthropic model list
// {"data":[{"type":"model","id","display_name","created_at"}],"has_more","first_id","last_id"}.
func appendAnthropicModels(dst []byte, ids []string, created time.Time) []byte {
	return jsonenc.AppendAnthropicModelList(dst, ids, created, false)
}
