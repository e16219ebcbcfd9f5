package anthropic

import (
	"encoding/json"
	"errors"
	"io"
	"sync"

	"github.com/junctionhq/junction/llm/chat"
	"github.com/junctionhq/junction/llm/internal/sse"
	"github.com/junctionhq/junction/llm/provider/internal/upstream"
)

// maxEventBytes bounds one server-sent event (its data lines together), so
// that a misbehaving upstream cannot make the reader buffer without end.
const maxEventBytes = 8 << 20

// stream is a chat.Stream over an Anthropic event stream. Recv is not safe
// for concurrent use; Close may be called at any time, from any goroutine.
type stream struct {
	provider string
	body     io.ReadCloser
	events   sse.Reader
	created  int64

	id, model string
	usage     usageCounts
	sawUsage  bool
	blocks    []toolBlock // Anthropic block index → tool-call ordinal
	calls     int         // tool calls started so far
	ev        wireEvent   // reused for decoding
	exact     bool        // refuse what the chunks cannot carry (chat.Exact)
	err       error       // sticky: io.EOF after message_stop, or the failure

	closeOnce sync.Once
	closeErr  error
}

var _ chat.Stream = (*stream)(nil)

func newStream(provider string, body io.ReadCloser, created int64) *stream {
	s := &stream{provider: provider, body: body, created: created}
	s.events.Reset(body, sse.Options{Buffer: 16 << 10, Max: maxEventBytes})
	return s
}

// DecodeStream reads a Messages event stream that is not a live upstream's
// (one the cache recorded), decoding it as d says: an Exact decoding ends
// with an error wrapping chat.ErrInexact at the first event it cannot carry
// as it is.
func DecodeStream(body io.Reader, d chat.Decoding) chat.Stream {
	s := newStream("", io.NopCloser(body), 0)
	s.exact = d == chat.Exact
	return s
}

// wireEvent is the union of the stream's event payloads. Its parts are
// values, not pointers, so that decoding an event allocates only its strings.
type wireEvent struct {
	Message struct {
		ID    string    `json:"id"`
		Model string    `json:"model"`
		Usage wireUsage `json:"usage"`
	} `json:"message"`
	Index        int `json:"index"`
	ContentBlock struct {
		Type string `json:"type"`
		ID   string `json:"id"`
		Name string `json:"name"`
		Text string `json:"text"`
	} `json:"content_block"`
	Delta struct {
		Type        string `json:"type"`
		Text        string `json:"text"`
		PartialJSON string `json:"partial_json"`
		StopReason  string `json:"stop_reason"`
	} `json:"delta"`
	Usage wireUsage `json:"usage"`
	Error struct {
		Type    string `json:"type"`
		Message string `json:"message"`
	} `json:"error"`
}

// Recv returns the next chunk: a role chunk for message_start, content and
// tool-call pieces for content blocks, the finish reason from message_delta
// and, on message_stop, a final chunk with the usage; then io.EOF. An error
// event, a malformed event or a stream cut before message_stop is a
// *chat.UpstreamError (Status 0 for the latter two).
func (s *stream) Recv() (*chat.Chunk, error) {
	return upstream.Recv(&s.err, s.step)
}

// step reads and handles one event.
func (s *stream) step() (*chat.Chunk, error) {
	name, data, err := s.events.Next()
	if err != nil {
		return nil, s.fail(err)
	}
	return s.handle(name, data)
}

// fail records a read failure: the stream ended before message_stop.
func (s *stream) fail(err error) error {
	msg := "stream interrupted before message_stop"
	if err == io.EOF {
		err = io.ErrUnexpectedEOF
		msg = "stream ended before message_stop"
	}
	s.err = &chat.UpstreamError{Provider: s.provider, Message: msg, Err: err}
	return s.err
}

// chunk returns a chunk carrying the message's id and model.
func (s *stream) chunk() *chat.Chunk {
	return &chat.Chunk{ID: s.id, Model: s.model, Created: s.created}
}

// handle turns one event into a chunk, or nil when it yields none.
func (s *stream) handle(name, data []byte) (*chat.Chunk, error) {
	kind := string(name)
	if kind == "" {
		// No event field: fall back to the payload's type, which Anthropic
		// always sends as well.
		var t struct {
			Type string `json:"type"`
		}
		_ = json.Unmarshal(data, &t) // not JSON: ignored like an unknown event
		kind = t.Type
	}
	switch kind {
	case "message_start", "content_block_start", "content_block_delta", "message_delta", "error":
	case "message_stop":
		s.err = io.EOF
		if !s.sawUsage {
			return nil, io.EOF
		}
		c := s.chunk()
		u := s.usage.canonical()
		c.Usage = &u
		return c, nil
	default:
		return nil, nil // ping, content_block_stop and events added later
	}
	s.ev = wireEvent{}
	if err := json.Unmarshal(data, &s.ev); err != nil {
		return nil, &chat.UpstreamError{Provider: s.provider, Message: "malformed " + kind + " event", Body: upstream.Bounded(append([]byte(nil), data...)), Err: err}
	}
	ev := &s.ev
	if s.exact {
		if err := s.exactEvent(kind, ev); err != nil {
			return nil, err
		}
	}
	switch kind {
	case "message_start":
		s.id, s.model = ev.Message.ID, ev.Message.Model
		s.usage.set(&ev.Message.Usage)
		s.sawUsage = true
		c := s.chunk()
		c.Role = chat.RoleAssistant
		return c, nil
	case "content_block_start":
		b := &ev.ContentBlock
		switch {
		case b.Type == "tool_use":
			call := s.calls
			s.calls++
			s.blocks = append(s.blocks, toolBlock{call: call, block: ev.Index})
			c := s.chunk()
			c.ToolCalls = []chat.ToolCallDelta{{Index: call, ID: b.ID, Name: b.Name}}
			return c, nil
		case b.Type == "text" && b.Text != "":
			c := s.chunk()
			c.Content = b.Text
			return c, nil
		}
		return nil, nil // thinking, server tools, empty text
	case "content_block_delta":
		d := &ev.Delta
		switch {
		case d.Type == "text_delta" && d.Text != "":
			c := s.chunk()
			c.Content = d.Text
			return c, nil
		case d.Type == "input_json_delta" && d.PartialJSON != "":
			call, ok := s.toolCall(ev.Index)
			if !ok {
				return nil, nil
			}
			c := s.chunk()
			c.ToolCalls = []chat.ToolCallDelta{{Index: call, Arguments: d.PartialJSON}}
			return c, nil
		}
		return nil, nil // thinking_delta, signature_delta, citations_delta
	case "message_delta":
		if ev.Usage.present() {
			s.usage.set(&ev.Usage) // cumulative: replaces, never adds
			s.sawUsage = true
		}
		if ev.Delta.StopReason == "" {
			return nil, nil
		}
		c := s.chunk()
		c.FinishReason = finishReason(ev.Delta.StopReason)
		return c, nil
	}
	// error
	e := &chat.UpstreamError{Provider: s.provider, Status: statusOf(ev.Error.Type), Type: ev.Error.Type,
		Message: ev.Error.Message, Body: upstream.Bounded(append([]byte(nil), data...))}
	if e.Message == "" {
		e.Message = "stream error"
	}
	return nil, e
}

// exactEvent checks, for an Exact decoding, that an event holds only what
// the chunks carry: text and tool_use blocks and their deltas, and a stop
// reason that names a canonical finish reason as it is.
func (s *stream) exactEvent(kind string, ev *wireEvent) error {
	switch kind {
	case "content_block_start":
		if t := ev.ContentBlock.Type; t != "text" && t != "tool_use" {
			return chat.Inexact("content block %q", t)
		}
	case "content_block_delta":
		switch ev.Delta.Type {
		case "text_delta":
		case "input_json_delta":
			if _, ok := s.toolCall(ev.Index); !ok {
				return chat.Inexact("a tool input delta outside a tool block")
			}
		default:
			return chat.Inexact("delta %q", ev.Delta.Type)
		}
	case "message_delta":
		if r := ev.Delta.StopReason; r != "" && !exactStop(r) {
			return chat.Inexact("stop reason %q", r)
		}
	}
	return nil
}

// toolCall returns the tool-call ordinal of an Anthropic block index.
func (s *stream) toolCall(block int) (int, bool) {
	for _, b := range s.blocks {
		if b.block == block {
			return b.call, true
		}
	}
	return 0, false
}

// Close releases the connection. It does not drain the body: that could
// block on an upstream that keeps the response open after message_stop.
// (HTTP/2 connections survive an early close; HTTP/1 ones are reused when the
// end of the body was read with the last event, the usual case.) It is
// idempotent.
func (s *stream) Close() error {
	s.closeOnce.Do(func() { s.closeErr = s.body.Close() })
	if errors.Is(s.closeErr, io.EOF) {
		return nil
	}
	return s.closeErr
}
