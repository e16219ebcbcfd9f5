package llm

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"sort"
	"strings"

	"github.com/junctionhq/junction/llm/chat"
)

// The cache keys of a chat request are computed from its canonical form
// (chat.Request, as the client format's decoder produced it), never from the
// client's bytes, so that key order, JSON whitespace and the wire format do
// not matter:
//
//   - Exact is the SHA-256 (hex) of a canonical encoding of everything that
//     can change the answer: model, messages (role, name, text and image
//     parts, tool calls with canonical arguments, tool results), tools,
//     tool_choice, parallel_tool_calls, temperature, top_p, stop,
//     max_tokens, response_format and every remaining Extra field (seed, n,
//     top_k, ...) as canonical JSON. Left out, since they do not change the
//     answer: user, stream, stream_options, metadata, store, Junction's
//     fallbacks (dropped by chatCall.canonical) and Anthropic's
//     cache_control hints.
//   - Tools is the SHA-256 of the tool definitions, sorted by name ("" when
//     none): it scopes entries so that an answer made with one tool set is
//     never served to a request offering another.
//   - Prompt is the text of the last message when it is a user message with
//     text parts only ("" otherwise, which skips the semantic tier).
//   - Context is the SHA-256 of the earlier turns (system prompt included)
//     and of the fields that shape the answer (tool_choice, max_tokens,
//     stop, response_format, Extra); sampling parameters (temperature,
//     top_p) are left out, since semantic hits ignore them by design.
//
// Because the key is computed from the canonical request, the same question
// through /v1/chat/completions and /v1/messages hashes equal when the two
// decode to the same canonical request: same model name, system prompt,
// messages, max_tokens and sampling parameters, and no format-specific
// extra fields (Anthropic's top_k or thinking, OpenAI's seed). The stored
// value is format-neutral, so such a hit is rendered in the caller's format.

// cacheKeyVersion starts every hashed encoding; bump it when the encoding
// changes so that old entries stop matching.
const cacheKeyVersion = "junction-cache-key-v1\n"

// ignoredExtra are Extra fields that do not change the answer.
var ignoredExtra = map[string]bool{
	"user": true, "stream": true, "stream_options": true, "metadata": true, "store": true, "fallbacks": true,
}

// cacheKeys are what a request is cached under.
type cacheKeys struct {
	Exact   string
	Tools   string
	Prompt  string
	Context string
}

// canonicalMessage is one turn in the canonical encoding.
type canonicalMessage struct {
	Role       string              `json:"role"`
	Name       string              `json:"name,omitempty"`
	Content    []canonicalPart     `json:"content,omitempty"`
	ToolCalls  []canonicalToolCall `json:"tool_calls,omitempty"`
	ToolCallID string              `json:"tool_call_id,omitempty"`
	IsError    bool                `json:"is_error,omitempty"`
}

type canonicalPart struct {
	Type     string `json:"type"`
	Text     string `json:"text,omitempty"`
	ImageURL string `json:"image_url,omitempty"`
	Detail   string `json:"detail,omitempty"`
}

type canonicalToolCall struct {
	ID        string          `json:"id"`
	Name      string          `json:"name"`
	Arguments json.RawMessage `json:"arguments"`
}

type canonicalTool struct {
	Name        string          `json:"name"`
	Description string          `json:"description,omitempty"`
	Parameters  json.RawMessage `json:"parameters,omitempty"`
	Strict      *bool           `json:"strict,omitempty"`
}

// canonicalShape is what, besides the turns, shapes an answer.
type canonicalShape struct {
	ToolChoice        *chat.ToolChoice           `json:"tool_choice,omitempty"`
	ParallelToolCalls *bool                      `json:"parallel_tool_calls,omitempty"`
	MaxTokens         int64                      `json:"max_tokens,omitempty"`
	Stop              []string                   `json:"stop,omitempty"`
	ResponseFormat    json.RawMessage            `json:"response_format,omitempty"`
	Extra             map[string]json.RawMessage `json:"extra,omitempty"`
}

// canonicalRequest is the exact tier's encoding.
type canonicalRequest struct {
	Model       string             `json:"model"`
	Messages    []canonicalMessage `json:"messages"`
	Tools       string             `json:"tools,omitempty"`
	Temperature *float64           `json:"temperature,omitempty"`
	TopP        *float64           `json:"top_p,omitempty"`
	Shape       canonicalShape     `json:"shape"`
}

// canonicalContext is the semantic tier's context encoding.
type canonicalContext struct {
	Earlier []canonicalMessage `json:"earlier"`
	Shape   canonicalShape     `json:"shape"`
}

// requestCacheKeys computes the cache keys of req. It never fails: values
// that are not valid JSON (which the decoders do not let through) are
// hashed as their trimmed bytes.
func requestCacheKeys(req *chat.Request) cacheKeys {
	msgs := make([]canonicalMessage, len(req.Messages))
	for i := range req.Messages {
		msgs[i] = canonicalMsg(&req.Messages[i])
	}
	shape := canonicalShape{
		ParallelToolCalls: req.ParallelToolCalls,
		MaxTokens:         req.MaxTokens,
		Stop:              req.Stop,
		ResponseFormat:    canonicalJSON(req.ResponseFormat),
	}
	if req.ToolChoice != nil {
		tc := chat.ToolChoice{Mode: normalise(req.ToolChoice.Mode), Name: req.ToolChoice.Name}
		shape.ToolChoice = &tc
	}
	for k, v := range req.Extra {
		if ignoredExtra[k] {
			continue
		}
		if shape.Extra == nil {
			shape.Extra = make(map[string]json.RawMessage, len(req.Extra))
		}
		shape.Extra[k] = canonicalJSON(v)
	}
	keys := cacheKeys{Tools: toolsHash(req.Tools)}
	keys.Exact = hashJSON(canonicalRequest{Model: strings.TrimSpace(req.Model), Messages: msgs, Tools: keys.Tools,
		Temperature: req.Temperature, TopP: req.TopP, Shape: shape})
	if n := len(req.Messages); n > 0 {
		last := &req.Messages[n-1]
		if normalise(last.Role) == chat.RoleUser && textOnly(last) {
			keys.Prompt = last.Text()
			keys.Context = hashJSON(canonicalContext{Earlier: msgs[:n-1], Shape: shape})
		}
	}
	return keys
}

// toolsHash is the hash of the tool definitions, in name order; "" when
// there are none.
func toolsHash(tools []chat.Tool) string {
	if len(tools) == 0 {
		return ""
	}
	out := make([]canonicalTool, len(tools))
	for i := range tools {
		t := &tools[i]
		out[i] = canonicalTool{Name: t.Name, Description: t.Description, Parameters: canonicalJSON(t.Parameters), Strict: t.Strict}
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return hashJSON(out)
}

func canonicalMsg(m *chat.Message) canonicalMessage {
	out := canonicalMessage{Role: normalise(m.Role), Name: strings.TrimSpace(m.Name), ToolCallID: m.ToolCallID, IsError: m.IsError}
	// The developer role is the system role under another name.
	if out.Role == chat.RoleDeveloper {
		out.Role = chat.RoleSystem
	}
	for _, p := range m.Content {
		cp := canonicalPart{Type: normalise(p.Type), Text: p.Text, ImageURL: p.ImageURL, Detail: normalise(p.Detail)}
		// Consecutive text parts are one text: "a" + "b" equals "ab".
		if n := len(out.Content); n > 0 && cp.Type == chat.PartText && out.Content[n-1].Type == chat.PartText {
			out.Content[n-1].Text += cp.Text
			continue
		}
		out.Content = append(out.Content, cp)
	}
	for _, tc := range m.ToolCalls {
		out.ToolCalls = append(out.ToolCalls, canonicalToolCall{ID: tc.ID, Name: tc.Name, Arguments: canonicalArguments(tc.Arguments)})
	}
	return out
}

// textOnly reports whether m has text and no other parts.
func textOnly(m *chat.Message) bool {
	if len(m.Content) == 0 {
		return false
	}
	for _, p := range m.Content {
		if p.Type != chat.PartText {
			return false
		}
	}
	return true
}

func normalise(s string) string { return strings.ToLower(strings.TrimSpace(s)) }

// canonicalArguments is a tool call's argument text as canonical JSON, or
// as a JSON string when it is not JSON.
func canonicalArguments(args string) json.RawMessage {
	if c := canonicalJSON(json.RawMessage(args)); c != nil && json.Valid(c) {
		return c
	}
	b, _ := json.Marshal(args)
	return b
}

// canonicalJSON re-encodes raw with sorted object keys, no insignificant
// whitespace and numbers as written. nil and empty stay nil; text that is
// not JSON is returned trimmed, as a JSON string.
func canonicalJSON(raw json.RawMessage) json.RawMessage {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 {
		return nil
	}
	d := json.NewDecoder(bytes.NewReader(raw))
	d.UseNumber()
	var v any
	if err := d.Decode(&v); err != nil || d.More() {
		b, _ := json.Marshal(string(raw))
		return b
	}
	// encoding/json writes map keys sorted and json.Number as written.
	b, err := json.Marshal(v)
	if err != nil {
		b, _ = json.Marshal(string(raw))
	}
	return b
}

// hashJSON is the hex SHA-256 of the versioned JSON encoding of v.
func hashJSON(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		// Only invalid RawMessage values can fail, and canonicalJSON never
		// produces those; hash the error so the key is still deterministic.
		b = []byte(err.Error())
	}
	h := sha256.New()
	h.Write([]byte(cacheKeyVersion))
	h.Write(b)
	return hex.EncodeToString(h.Sum(nil))
}
