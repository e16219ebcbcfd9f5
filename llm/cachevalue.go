package llm

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"

	"github.com/junctionhq/junction/llm/chat"
)

// A cached answer is stored as a small, format-neutral JSON document (the
// cache treats it as opaque bytes), so that a hit can be rendered in the
// caller's format, whichever format the answer was first produced in.

// cachedValueVersion is the version of the stored encoding; values of
// another version are treated as misses.
const cachedValueVersion = 1

// cachedValue is the stored encoding of a complete chat.Response.
type cachedValue struct {
	V                 int              `json:"v"`
	Model             string           `json:"model,omitempty"` // the upstream model that answered
	Text              string           `json:"text,omitempty"`
	ToolCalls         []cachedToolCall `json:"tool_calls,omitempty"`
	FinishReason      string           `json:"finish_reason"`
	SystemFingerprint string           `json:"system_fingerprint,omitempty"`
	Usage             cachedUsage      `json:"usage"`
}

type cachedToolCall struct {
	ID        string `json:"id"`
	Name      string `json:"name"`
	Arguments string `json:"arguments"`
}

// cachedUsage is what the original answer consumed (for the saved-tokens
// metric; a hit reports and bills zero usage).
type cachedUsage struct {
	PromptTokens     int64 `json:"prompt_tokens"`
	CompletionTokens int64 `json:"completion_tokens"`
}

// Reasons an answer is not stored.
var (
	errNotCacheable = errors.New("llm: answer not cacheable")
)

// encodeCachedValue encodes resp for the cache.
func encodeCachedValue(resp *chat.Response) ([]byte, error) {
	v := cachedValue{V: cachedValueVersion, Model: resp.Model, Text: resp.Message.Text(), FinishReason: resp.FinishReason,
		SystemFingerprint: resp.SystemFingerprint,
		Usage:             cachedUsage{PromptTokens: resp.Usage.PromptTokens, CompletionTokens: resp.Usage.CompletionTokens}}
	for _, tc := range resp.Message.ToolCalls {
		v.ToolCalls = append(v.ToolCalls, cachedToolCall(tc))
	}
	return json.Marshal(v)
}

// decodeCachedValue decodes a stored answer.
func decodeCachedValue(b []byte) (*chat.Response, error) {
	var v cachedValue
	if err := json.Unmarshal(b, &v); err != nil {
		return nil, fmt.Errorf("llm: cached value: %w", err)
	}
	if v.V != cachedValueVersion {
		return nil, fmt.Errorf("llm: cached value: version %d, want %d", v.V, cachedValueVersion)
	}
	resp := &chat.Response{Model: v.Model, FinishReason: v.FinishReason, SystemFingerprint: v.SystemFingerprint,
		Message: chat.Message{Role: chat.RoleAssistant}}
	if v.Text != "" || len(v.ToolCalls) == 0 {
		resp.Message.Content = []chat.Part{{Type: chat.PartText, Text: v.Text}}
	}
	for _, tc := range v.ToolCalls {
		resp.Message.ToolCalls = append(resp.Message.ToolCalls, chat.ToolCall(tc))
	}
	resp.Usage = chat.Usage{PromptTokens: v.Usage.PromptTokens, CompletionTokens: v.Usage.CompletionTokens}
	return resp, nil
}

// cacheableFinish reports whether an answer that ended for reason may be
// stored: a complete answer (stop), one cut at max_tokens (which is part of
// the key), and tool calls. Filtered and unknown endings are not.
func cacheableFinish(reason string) bool {
	switch reason {
	case "", chat.FinishStop, chat.FinishLength, chat.FinishToolCalls:
		return true
	}
	return false
}

// decodeClientResponse reads a complete non-streamed answer in the client's
// format (format is chat.FormatOpenAI or chat.FormatAnthropic). Answers
// Junction cannot reproduce faithfully (several choices, thinking blocks,
// content it does not model) are errNotCacheable.
func decodeClientResponse(format string, body []byte) (*chat.Response, error) {
	if format == chat.FormatAnthropic {
		return decodeAnthropicMessage(body)
	}
	return decodeOpenAICompletion(body)
}

type openAICompletionWire struct {
	ID                string          `json:"id"`
	Model             string          `json:"model"`
	Created           int64           `json:"created"`
	SystemFingerprint string          `json:"system_fingerprint"`
	Choices           []openAIChoice  `json:"choices"`
	Usage             *openAIUsage    `json:"usage"`
	Error             json.RawMessage `json:"error"`
}

type openAIChoice struct {
	Index   int `json:"index"`
	Message struct {
		Content   json.RawMessage `json:"content"`
		Refusal   *string         `json:"refusal"`
		ToolCalls []struct {
			ID       string `json:"id"`
			Function struct {
				Name      string `json:"name"`
				Arguments string `json:"arguments"`
			} `json:"function"`
		} `json:"tool_calls"`
	} `json:"message"`
	FinishReason string          `json:"finish_reason"`
	Logprobs     json.RawMessage `json:"logprobs"`
}

func decodeOpenAICompletion(body []byte) (*chat.Response, error) {
	var w openAICompletionWire
	if err := json.Unmarshal(body, &w); err != nil {
		return nil, fmt.Errorf("llm: decode the answer: %w", err)
	}
	if len(w.Error) > 0 && string(w.Error) != "null" {
		return nil, fmt.Errorf("%w: an error body", errNotCacheable)
	}
	if len(w.Choices) != 1 {
		return nil, fmt.Errorf("%w: %d choices", errNotCacheable, len(w.Choices))
	}
	ch := &w.Choices[0]
	if ch.Message.Refusal != nil && *ch.Message.Refusal != "" {
		return nil, fmt.Errorf("%w: a refusal", errNotCacheable)
	}
	if len(ch.Logprobs) > 0 && string(ch.Logprobs) != "null" {
		return nil, fmt.Errorf("%w: logprobs", errNotCacheable)
	}
	text, err := openAIContentText(ch.Message.Content)
	if err != nil {
		return nil, err
	}
	resp := &chat.Response{ID: w.ID, Model: w.Model, Created: w.Created, FinishReason: ch.FinishReason,
		SystemFingerprint: w.SystemFingerprint, Message: chat.TextMessage(chat.RoleAssistant, text)}
	for _, tc := range ch.Message.ToolCalls {
		resp.Message.ToolCalls = append(resp.Message.ToolCalls,
			chat.ToolCall{ID: tc.ID, Name: tc.Function.Name, Arguments: tc.Function.Arguments})
	}
	if w.Usage != nil {
		resp.Usage = w.Usage.canonical()
	}
	return resp, nil
}

// openAIContentText is a message content: a string, null, or text parts.
func openAIContentText(raw json.RawMessage) (string, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || string(raw) == "null" {
		return "", nil
	}
	if raw[0] == '"' {
		var s string
		err := json.Unmarshal(raw, &s)
		return s, err
	}
	var parts []struct {
		Type string `json:"type"`
		Text string `json:"text"`
	}
	if err := json.Unmarshal(raw, &parts); err != nil {
		return "", fmt.Errorf("llm: decode the answer's content: %w", err)
	}
	var b strings.Builder
	for _, p := range parts {
		if p.Type != "text" {
			return "", fmt.Errorf("%w: content part %q", errNotCacheable, p.Type)
		}
		b.WriteString(p.Text)
	}
	return b.String(), nil
}

type anthropicBlockWire struct {
	Type  string          `json:"type"`
	Text  string          `json:"text"`
	ID    string          `json:"id"`
	Name  string          `json:"name"`
	Input json.RawMessage `json:"input"`
}

type anthropicMessageWire struct {
	ID         string               `json:"id"`
	Type       string               `json:"type"`
	Model      string               `json:"model"`
	Content    []anthropicBlockWire `json:"content"`
	StopReason string               `json:"stop_reason"`
	Usage      *anthropicUsage      `json:"usage"`
}

func decodeAnthropicMessage(body []byte) (*chat.Response, error) {
	var w anthropicMessageWire
	if err := json.Unmarshal(body, &w); err != nil {
		return nil, fmt.Errorf("llm: decode the answer: %w", err)
	}
	if w.Type != "message" {
		return nil, fmt.Errorf("%w: type %q", errNotCacheable, w.Type)
	}
	finish, err := anthropicFinish(w.StopReason)
	if err != nil {
		return nil, err
	}
	resp := &chat.Response{ID: w.ID, Model: w.Model, FinishReason: finish, Message: chat.Message{Role: chat.RoleAssistant}}
	var text strings.Builder
	for _, b := range w.Content {
		switch b.Type {
		case "text":
			text.WriteString(b.Text)
		case "tool_use":
			args := "{}"
			if in := bytes.TrimSpace(b.Input); len(in) > 0 {
				args = string(in)
			}
			resp.Message.ToolCalls = append(resp.Message.ToolCalls, chat.ToolCall{ID: b.ID, Name: b.Name, Arguments: args})
		default:
			return nil, fmt.Errorf("%w: content block %q", errNotCacheable, b.Type)
		}
	}
	resp.Message.Content = []chat.Part{{Type: chat.PartText, Text: text.String()}}
	if w.Usage != nil {
		var in [3]int64
		w.Usage.merge(&resp.Usage, &in)
	}
	return resp, nil
}

// anthropicFinish maps a stop reason to the canonical finish reason;
// reasons that are not a complete answer (pause_turn, refusal) are not
// cacheable.
func anthropicFinish(reason string) (string, error) {
	switch reason {
	case "end_turn", "stop_sequence":
		return chat.FinishStop, nil
	case "max_tokens":
		return chat.FinishLength, nil
	case "tool_use":
		return chat.FinishToolCalls, nil
	}
	return "", fmt.Errorf("%w: stop reason %q", errNotCacheable, reason)
}

// maxRecordedStream bounds the bytes of one streamed answer kept for the
// cache; longer answers are not stored.
const maxRecordedStream = 4 << 20

// streamRecorder gathers a streamed answer for the cache while it is
// relayed: the raw events of a pass-through stream (decoded after the
// stream has ended, off the relay loop) or the canonical chunks.
type streamRecorder struct {
	events   []byte // pass-through: the events, back to back
	chunks   chunkAccumulator
	overflow bool
}

// recordEvent keeps a copy of a passed-through event.
func (sr *streamRecorder) recordEvent(ev []byte) {
	if sr.overflow {
		return
	}
	if len(sr.events)+len(ev) > maxRecordedStream {
		sr.overflow, sr.events = true, nil
		return
	}
	sr.events = append(sr.events, ev...)
}

// recordChunk adds a canonical chunk.
func (sr *streamRecorder) recordChunk(c *chat.Chunk) {
	if sr.overflow {
		return
	}
	sr.chunks.add(c)
	if sr.chunks.size > maxRecordedStream {
		sr.overflow = true
	}
}

// response is the complete answer the stream carried.
func (sr *streamRecorder) response(format string) (*chat.Response, error) {
	if sr.overflow {
		return nil, fmt.Errorf("%w: the stream is larger than %d bytes", errNotCacheable, maxRecordedStream)
	}
	if sr.events == nil {
		return sr.chunks.response()
	}
	if format == chat.FormatAnthropic {
		return decodeAnthropicEvents(sr.events)
	}
	return decodeOpenAIEvents(sr.events)
}

// chunkAccumulator joins canonical chunks into a response.
type chunkAccumulator struct {
	id, model    string
	created      int64
	text         strings.Builder
	calls        map[int]*chat.ToolCall
	finish       string
	usage        chat.Usage
	size         int
	sawAnyChunks bool
}

func (a *chunkAccumulator) add(c *chat.Chunk) {
	a.sawAnyChunks = true
	if a.id == "" {
		a.id = c.ID
	}
	if a.model == "" {
		a.model = c.Model
	}
	if a.created == 0 {
		a.created = c.Created
	}
	a.text.WriteString(c.Content)
	a.size += len(c.Content)
	for _, d := range c.ToolCalls {
		a.toolPiece(d.Index, d.ID, d.Name, d.Arguments)
	}
	if c.FinishReason != "" {
		a.finish = c.FinishReason
	}
	if c.Usage != nil {
		a.usage = *c.Usage
	}
}

func (a *chunkAccumulator) toolPiece(index int, id, name, args string) {
	if a.calls == nil {
		a.calls = map[int]*chat.ToolCall{}
	}
	tc := a.calls[index]
	if tc == nil {
		tc = &chat.ToolCall{}
		a.calls[index] = tc
	}
	if id != "" {
		tc.ID = id
	}
	if name != "" {
		tc.Name = name
	}
	tc.Arguments += args
	a.size += len(id) + len(name) + len(args)
}

func (a *chunkAccumulator) response() (*chat.Response, error) {
	if !a.sawAnyChunks {
		return nil, fmt.Errorf("%w: an empty stream", errNotCacheable)
	}
	resp := &chat.Response{ID: a.id, Model: a.model, Created: a.created, FinishReason: a.finish, Usage: a.usage,
		Message: chat.TextMessage(chat.RoleAssistant, a.text.String())}
	idx := make([]int, 0, len(a.calls))
	for i := range a.calls {
		idx = append(idx, i)
	}
	sort.Ints(idx)
	for _, i := range idx {
		tc := a.calls[i]
		if tc.Arguments == "" {
			tc.Arguments = "{}"
		}
		resp.Message.ToolCalls = append(resp.Message.ToolCalls, *tc)
	}
	return resp, nil
}

// eachEvent calls fn with the data of each event of an SSE byte stream.
func eachEvent(events []byte, fn func(name string, data []byte) error) error {
	rd := newSSEReader(bytes.NewReader(events))
	for {
		ev, err := rd.next()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("llm: recorded stream: %w", err)
		}
		if isComment(ev) {
			continue
		}
		if err := fn(string(eventName(ev)), sseData(ev)); err != nil {
			return err
		}
	}
}

// decodeOpenAIEvents joins OpenAI chat.completion.chunk events. The stream
// must have ended with data: [DONE].
func decodeOpenAIEvents(events []byte) (*chat.Response, error) {
	var a chunkAccumulator
	done := false
	err := eachEvent(events, func(_ string, data []byte) error {
		if bytes.Equal(bytes.TrimSpace(data), []byte("[DONE]")) {
			done = true
			return nil
		}
		var c struct {
			ID                string `json:"id"`
			Model             string `json:"model"`
			Created           int64  `json:"created"`
			SystemFingerprint string `json:"system_fingerprint"`
			Choices           []struct {
				Index int `json:"index"`
				Delta struct {
					Content   *string `json:"content"`
					Refusal   *string `json:"refusal"`
					ToolCalls []struct {
						Index    int    `json:"index"`
						ID       string `json:"id"`
						Function struct {
							Name      string `json:"name"`
							Arguments string `json:"arguments"`
						} `json:"function"`
					} `json:"tool_calls"`
				} `json:"delta"`
				FinishReason *string         `json:"finish_reason"`
				Logprobs     json.RawMessage `json:"logprobs"`
			} `json:"choices"`
			Usage *openAIUsage    `json:"usage"`
			Error json.RawMessage `json:"error"`
		}
		if err := json.Unmarshal(data, &c); err != nil {
			return fmt.Errorf("llm: recorded chunk: %w", err)
		}
		if len(c.Error) > 0 && string(c.Error) != "null" {
			return fmt.Errorf("%w: an in-band error", errNotCacheable)
		}
		chunk := chat.Chunk{ID: c.ID, Model: c.Model, Created: c.Created}
		for _, ch := range c.Choices {
			if ch.Index != 0 {
				return fmt.Errorf("%w: several choices", errNotCacheable)
			}
			if ch.Delta.Refusal != nil && *ch.Delta.Refusal != "" {
				return fmt.Errorf("%w: a refusal", errNotCacheable)
			}
			if len(ch.Logprobs) > 0 && string(ch.Logprobs) != "null" {
				return fmt.Errorf("%w: logprobs", errNotCacheable)
			}
			if ch.Delta.Content != nil {
				chunk.Content = *ch.Delta.Content
			}
			for _, tc := range ch.Delta.ToolCalls {
				chunk.ToolCalls = append(chunk.ToolCalls, chat.ToolCallDelta{Index: tc.Index, ID: tc.ID,
					Name: tc.Function.Name, Arguments: tc.Function.Arguments})
			}
			if ch.FinishReason != nil {
				chunk.FinishReason = *ch.FinishReason
			}
		}
		if c.Usage != nil {
			u := c.Usage.canonical()
			chunk.Usage = &u
		}
		a.add(&chunk)
		return nil
	})
	if err != nil {
		return nil, err
	}
	if !done {
		return nil, fmt.Errorf("%w: the stream did not end with [DONE]", errNotCacheable)
	}
	return a.response()
}

// decodeAnthropicEvents joins Anthropic's named stream events. The stream
// must have ended with message_stop.
func decodeAnthropicEvents(events []byte) (*chat.Response, error) {
	var (
		a       chunkAccumulator
		stopped bool
		finish  string
		usage   chat.Usage
		in      [3]int64
		// tool blocks by content block index → call index
		tools = map[int]int{}
	)
	err := eachEvent(events, func(name string, data []byte) error {
		var ev struct {
			Type    string `json:"type"`
			Index   int    `json:"index"`
			Message *struct {
				ID    string          `json:"id"`
				Model string          `json:"model"`
				Usage *anthropicUsage `json:"usage"`
			} `json:"message"`
			ContentBlock *anthropicBlockWire `json:"content_block"`
			Delta        *struct {
				Type        string `json:"type"`
				Text        string `json:"text"`
				PartialJSON string `json:"partial_json"`
				StopReason  string `json:"stop_reason"`
			} `json:"delta"`
			Usage *anthropicUsage `json:"usage"`
		}
		if err := json.Unmarshal(data, &ev); err != nil {
			return fmt.Errorf("llm: recorded event: %w", err)
		}
		if ev.Type == "" {
			ev.Type = name
		}
		switch ev.Type {
		case "message_start":
			if ev.Message != nil {
				a.add(&chat.Chunk{ID: ev.Message.ID, Model: ev.Message.Model})
				if ev.Message.Usage != nil {
					ev.Message.Usage.merge(&usage, &in)
				}
			}
		case "content_block_start":
			if ev.ContentBlock == nil {
				return nil
			}
			switch ev.ContentBlock.Type {
			case "text":
				a.add(&chat.Chunk{Content: ev.ContentBlock.Text})
			case "tool_use":
				call := len(tools)
				tools[ev.Index] = call
				args := ""
				if in := bytes.TrimSpace(ev.ContentBlock.Input); len(in) > 0 && string(in) != "{}" {
					args = string(in)
				}
				a.toolPiece(call, ev.ContentBlock.ID, ev.ContentBlock.Name, args)
			default:
				return fmt.Errorf("%w: content block %q", errNotCacheable, ev.ContentBlock.Type)
			}
		case "content_block_delta":
			if ev.Delta == nil {
				return nil
			}
			switch ev.Delta.Type {
			case "text_delta":
				a.add(&chat.Chunk{Content: ev.Delta.Text})
			case "input_json_delta":
				call, ok := tools[ev.Index]
				if !ok {
					return fmt.Errorf("%w: a tool input delta outside a tool block", errNotCacheable)
				}
				a.toolPiece(call, "", "", ev.Delta.PartialJSON)
			default:
				return fmt.Errorf("%w: delta %q", errNotCacheable, ev.Delta.Type)
			}
		case "message_delta":
			if ev.Delta != nil && ev.Delta.StopReason != "" {
				f, err := anthropicFinish(ev.Delta.StopReason)
				if err != nil {
					return err
				}
				finish = f
			}
			if ev.Usage != nil {
				ev.Usage.merge(&usage, &in)
			}
		case "message_stop":
			stopped = true
		case "error":
			return fmt.Errorf("%w: an in-band error", errNotCacheable)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	if !stopped {
		return nil, fmt.Errorf("%w: the stream did not end with message_stop", errNotCacheable)
	}
	a.finish, a.usage = finish, usage
	return a.response()
}
