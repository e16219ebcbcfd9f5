package chat

import (
	"encoding/json"
)

// Roles of a message.
const (
	RoleSystem    = "system"
	RoleDeveloper = "developer"
	RoleUser      = "user"
	RoleAssistant = "assistant"
	RoleTool      = "tool"
)

// Finish reasons, in OpenAI's words.
const (
	FinishStop          = "stop"
	FinishLength        = "length"
	FinishToolCalls     = "tool_calls"
	FinishContentFilter = "content_filter"
)

// Request is a chat completion request.
type Request struct {
	// Model is the model as the client named it (an alias or
	// provider/model); a provider receives the upstream model name in
	// Target.Model instead.
	Model    string
	Messages []Message
	Tools    []Tool
	// ToolChoice is nil when the client did not set it.
	ToolChoice *ToolChoice
	// ParallelToolCalls is nil when unset.
	ParallelToolCalls *bool
	// MaxTokens caps the completion; 0 when unset.
	MaxTokens   int64
	Temperature *float64
	TopP        *float64
	Stop        []string
	// Stream asks for a stream of chunks; IncludeUsage records whether the
	// client asked for the usage chunk (providers always ask upstream).
	Stream       bool
	IncludeUsage bool
	// User identifies the end user to the upstream.
	User string
	// ResponseFormat is OpenAI's response_format, passed through as is.
	ResponseFormat json.RawMessage
	// Extra holds request fields Junction does not model, by JSON name, so
	// that OpenAI-compatible upstreams receive them unchanged.
	Extra map[string]json.RawMessage
}

// Message is one turn of the conversation.
type Message struct {
	Role string
	// Content is the message's parts; a plain string content is one text part.
	Content []Part
	// Name is the participant name (OpenAI's name field).
	Name string
	// ToolCalls are the calls an assistant message makes.
	ToolCalls []ToolCall
	// ToolCallID links a tool message to the call it answers.
	ToolCallID string
	// IsError marks a tool result that reports a failure (Anthropic's is_error).
	IsError bool
}

// Part types.
const (
	PartText  = "text"
	PartImage = "image"
)

// Part is one piece of message content.
type Part struct {
	Type string // PartText or PartImage
	Text string
	// ImageURL is an http(s) URL or a data: URL for PartImage.
	ImageURL string
	// Detail is OpenAI's image detail hint ("auto", "low", "high").
	Detail string
	// CacheControl is Anthropic's cache_control on this block, passed through.
	CacheControl json.RawMessage
}

// Text returns the concatenated text parts of m.
func (m *Message) Text() string {
	if len(m.Content) == 1 && m.Content[0].Type == PartText {
		return m.Content[0].Text
	}
	var n int
	for _, p := range m.Content {
		n += len(p.Text)
	}
	b := make([]byte, 0, n)
	for _, p := range m.Content {
		if p.Type == PartText {
			b = append(b, p.Text...)
		}
	}
	return string(b)
}

// TextMessage is a message with one text part.
func TextMessage(role, text string) Message {
	return Message{Role: role, Content: []Part{{Type: PartText, Text: text}}}
}

// Tool is a function the model may call.
type Tool struct {
	Name        string
	Description string
	// Parameters is the JSON Schema of the arguments, byte for byte as the
	// client sent it (nil when absent).
	Parameters json.RawMessage
	// Strict is OpenAI's strict flag; nil when unset.
	Strict *bool
	// CacheControl is Anthropic's cache_control on the tool, passed through.
	CacheControl json.RawMessage
}

// ToolChoice modes.
const (
	ToolChoiceAuto     = "auto"
	ToolChoiceNone     = "none"
	ToolChoiceRequired = "required"
	ToolChoiceFunction = "function" // Name says which
)

// ToolChoice says whether and which tools the model must call.
type ToolChoice struct {
	Mode string
	Name string // for ToolChoiceFunction
}

// ToolCall is a call the model made.
type ToolCall struct {
	ID   string
	Name string
	// Arguments is the JSON text of the arguments, as the model produced it.
	Arguments string
}

// Response is a complete (non-streamed) chat completion.
type Response struct {
	ID      string
	Model   string // the upstream's model name
	Created int64  // unix seconds
	Message Message
	// FinishReason is one of the Finish* constants.
	FinishReason string
	Usage        Usage
	// SystemFingerprint is OpenAI's system_fingerprint, when the upstream sent one.
	SystemFingerprint string
}

// Usage is what one model call consumed. PromptTokens includes the cached
// and cache-write tokens, OpenAI's convention; for Anthropic it is
// input_tokens + cache_read_input_tokens + cache_creation_input_tokens.
type Usage struct {
	PromptTokens     int64
	CompletionTokens int64
	CachedTokens     int64
	CacheWriteTokens int64
	ReasoningTokens  int64
}

// TotalTokens is prompt plus completion tokens.
func (u Usage) TotalTokens() int64 { return u.PromptTokens + u.CompletionTokens }

// Chunk is one event of a streamed chat completion, in OpenAI's chunk
// model: a delta of the single choice, a finish reason, or the usage.
type Chunk struct {
	ID      string
	Model   string
	Created int64
	// Role is set on the first delta.
	Role    string
	Content string
	// ToolCalls are argument pieces keyed by Index; only the first piece of
	// a call carries its ID and Name.
	ToolCalls []ToolCallDelta
	// FinishReason is set on the chunk that ends the choice.
	FinishReason string
	// Usage is set on the usage chunk (the last one, with no delta).
	Usage *Usage
}

// ToolCallDelta is a piece of a streamed tool call.
type ToolCallDelta struct {
	Index     int
	ID        string
	Name      string
	Arguments string
}

// EmbeddingRequest asks for vectors of one or more texts.
type EmbeddingRequest struct {
	Model string
	Input []string
	// Dimensions asks for shorter vectors (0: the model's default).
	Dimensions int
	// EncodingFormat is "float" (default) or "base64", as the client asked.
	EncodingFormat string
	User           string
	Extra          map[string]json.RawMessage
}

// EmbeddingResponse holds one vector per input, in input order.
type EmbeddingResponse struct {
	Model   string
	Vectors [][]float32
	Usage   Usage
}

// SizeHint estimates the encoded size of r in any provider's wire format,
// so that an encoder can allocate its body once.
func (r *Request) SizeHint() int {
	n := 256
	for i := range r.Messages {
		m := &r.Messages[i]
		n += 64
		for j := range m.Content {
			n += len(m.Content[j].Text) + len(m.Content[j].ImageURL) + 48
		}
		for j := range m.ToolCalls {
			n += len(m.ToolCalls[j].Arguments) + len(m.ToolCalls[j].Name) + 96
		}
	}
	for i := range r.Tools {
		n += len(r.Tools[i].Parameters) + len(r.Tools[i].Description) + 96
	}
	for _, v := range r.Extra {
		n += len(v) + 32
	}
	return n + n/8 // escapes
}
