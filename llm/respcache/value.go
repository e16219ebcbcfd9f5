package respcache

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"

	"github.com/junctionhq/junction/llm/chat"
	"github.com/junctionhq/junction/llm/internal/jsonscan"
	"github.com/junctionhq/junction/llm/provider/anthropic"
	"github.com/junctionhq/junction/llm/provider/openai"
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

// ErrNotCacheable is why an answer is not stored: Junction could not
// replay it faithfully, or it did not end normally.
var ErrNotCacheable = errors.New("respcache: answer not cacheable")

// EncodeValue encodes resp as the value stored in the cache.
func EncodeValue(resp *chat.Response) ([]byte, error) {
	v := cachedValue{V: cachedValueVersion, Model: resp.Model, Text: resp.Message.Text(), FinishReason: resp.FinishReason,
		SystemFingerprint: resp.SystemFingerprint,
		Usage:             cachedUsage{PromptTokens: resp.Usage.PromptTokens, CompletionTokens: resp.Usage.CompletionTokens}}
	for _, tc := range resp.Message.ToolCalls {
		v.ToolCalls = append(v.ToolCalls, cachedToolCall(tc))
	}
	return json.Marshal(v)
}

// DecodeValue decodes a stored answer; a value of another version is an
// error.
func DecodeValue(b []byte) (*chat.Response, error) {
	var v cachedValue
	if err := json.Unmarshal(b, &v); err != nil {
		return nil, fmt.Errorf("respcache: cached value: %w", err)
	}
	if v.V != cachedValueVersion {
		return nil, fmt.Errorf("respcache: cached value: version %d, want %d", v.V, cachedValueVersion)
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

// DecodeResponse reads a complete non-streamed answer in the client's
// format (chat.FormatOpenAI or chat.FormatAnthropic) with the provider's
// decoder, exactly: answers Junction cannot reproduce faithfully (several
// choices, thinking blocks, content it does not model) are
// ErrNotCacheable.
func DecodeResponse(format string, body []byte) (*chat.Response, error) {
	var (
		resp *chat.Response
		err  error
	)
	if format == chat.FormatAnthropic {
		resp, err = anthropic.DecodeMessagesResponse(body, 0, chat.Exact)
	} else {
		resp, err = openai.DecodeChatResponse(body, chat.Exact)
	}
	if err != nil {
		return nil, decodeError(err)
	}
	return resp, nil
}

// decodeRecorded joins the events of a recorded pass-through stream, read
// with the provider's stream decoder, exactly. The stream must have run to
// its end ([DONE], message_stop).
func decodeRecorded(format string, events []byte) (*chat.Response, error) {
	var st chat.Stream
	if format == chat.FormatAnthropic {
		st = anthropic.DecodeStream(bytes.NewReader(events), chat.Exact)
	} else {
		st = openai.DecodeStream(bytes.NewReader(events), chat.Exact)
	}
	var a chunkAccumulator
	for {
		c, err := st.Recv()
		if errors.Is(err, io.EOF) {
			return a.response()
		}
		if err != nil {
			return nil, decodeError(err)
		}
		a.add(c)
	}
}

// decodeError sorts out why an answer yields nothing to store: one that
// does not parse is a decoding failure; one the decoder cannot carry
// exactly, a stream cut short or ended by an error event is not cacheable.
func decodeError(err error) error {
	var (
		scan   *jsonscan.SyntaxError
		syntax *json.SyntaxError
		typ    *json.UnmarshalTypeError
	)
	if errors.As(err, &scan) || errors.As(err, &syntax) || errors.As(err, &typ) {
		return fmt.Errorf("respcache: decode the answer: %w", err)
	}
	return fmt.Errorf("%w: %w", ErrNotCacheable, err)
}

// maxRecordedStream bounds the bytes of one streamed answer kept for the
// cache; longer answers are not stored.
const maxRecordedStream = 4 << 20

// Recorder gathers a streamed answer for the cache while it is relayed:
// the raw events of a pass-through stream (decoded after the stream has
// ended, off the relay loop) or the canonical chunks. The zero Recorder is
// ready to use.
type Recorder struct {
	events   []byte // pass-through: the events, back to back
	chunks   chunkAccumulator
	overflow bool
}

// RecordEvent keeps a copy of a passed-through event (the bytes of one
// or more SSE events as the client received them).
func (sr *Recorder) RecordEvent(ev []byte) {
	if sr.overflow {
		return
	}
	if len(sr.events)+len(ev) > maxRecordedStream {
		sr.overflow, sr.events = true, nil
		return
	}
	sr.events = append(sr.events, ev...)
}

// RecordChunk adds a canonical chunk of a translated stream.
func (sr *Recorder) RecordChunk(c *chat.Chunk) {
	if sr.overflow {
		return
	}
	sr.chunks.add(c)
	if sr.chunks.size > maxRecordedStream {
		sr.overflow = true
	}
}

// Response is the complete answer the stream carried; format
// (chat.FormatOpenAI or chat.FormatAnthropic) reads recorded events.
func (sr *Recorder) Response(format string) (*chat.Response, error) {
	if sr.overflow {
		return nil, fmt.Errorf("%w: the stream is larger than %d bytes", ErrNotCacheable, maxRecordedStream)
	}
	if sr.events == nil {
		return sr.chunks.response()
	}
	return decodeRecorded(format, sr.events)
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
		return nil, fmt.Errorf("%w: an empty stream", ErrNotCacheable)
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
