package openai

import (
	"bytes"
	"errors"
	"io"
	"net/http"
	"sync"

	"github.com/junctionhq/junction/llm/chat"
	"github.com/junctionhq/junction/llm/internal/sse"
)

// maxEventBytes bounds one server-sent event; a larger one ends the stream
// with an error rather than growing a buffer without limit.
const maxEventBytes = 16 << 20

// eventOptions read the stream: a last line cut short is a cut.
var eventOptions = sse.Options{Max: maxEventBytes, Strict: true}

// Causes of a failed stream, wrapped in *chat.UpstreamError with Status 0.
var (
	errNoDone       = errors.New("the stream ended before [DONE]")
	errBadToolIndex = errors.New("tool call index out of range")
)

// stream reads an OpenAI chat completion event stream: "data:" lines, events
// ended by a blank line, comments (":") and other fields ignored, "[DONE]"
// last. It normalises what OpenAI-compatible servers vary on: usage sent
// together with a delta becomes a chunk of its own, tool-call pieces
// without an index get one, and the id and name of a call are reported on
// its first piece only.
//
// Recv is for one goroutine; Close may be called from any, at any time.
type stream struct {
	provider string
	header   http.Header // of the response, for errors
	body     io.ReadCloser
	events   sse.Reader

	dec   upstreamChunk // reused by each decode
	calls []openCall    // tool calls seen, by index
	queue []*chat.Chunk // chunks to return before reading more
	eof   bool          // the body is exhausted: return io.EOF once queue is empty
	err   error         // the terminal error (io.EOF after [DONE]), returned again

	closeOnce sync.Once
}

// openCall is what the stream remembers of a tool call: whether its first
// piece has been seen, and the id that piece carried.
type openCall struct {
	opened bool
	id     string
}

func newStream(provider string, resp *http.Response) *stream {
	s := &stream{provider: provider, header: resp.Header, body: resp.Body}
	s.events.Reset(s.body, eventOptions)
	return s
}

// DecodeStream reads a chat completion event stream that is not a live
// upstream's (one the cache recorded), decoding its chunks as d says: an
// Exact decoding ends with an error wrapping chat.ErrInexact at the first
// chunk it cannot carry as it is.
func DecodeStream(body io.Reader, d chat.Decoding) chat.Stream {
	s := newStream("", &http.Response{Body: io.NopCloser(body)})
	s.dec.exact = d == chat.Exact
	return s
}

// Recv returns the next chunk; io.EOF after [DONE]; an *chat.UpstreamError
// for an error event, malformed JSON or a stream cut before [DONE].
func (s *stream) Recv() (*chat.Chunk, error) {
	for {
		if len(s.queue) > 0 {
			c := s.queue[0]
			s.queue[0] = nil
			s.queue = s.queue[1:]
			return c, nil
		}
		if s.err != nil {
			return nil, s.err
		}
		if s.eof {
			s.err = io.EOF
			return nil, s.err
		}
		data, err := s.nextEvent()
		if err != nil {
			s.err = err
			return nil, err
		}
		if string(bytes.TrimSpace(data)) == "[DONE]" {
			s.err = io.EOF
			return nil, s.err
		}
		c, err := s.chunk(data)
		if err != nil {
			s.err = err
			return nil, err
		}
		if c != nil {
			return c, nil
		}
	}
}

// Close releases the connection. It is idempotent and safe to call while
// Recv blocks (which then fails).
func (s *stream) Close() error {
	s.closeOnce.Do(func() {
		if s.body != nil {
			_ = s.body.Close() // nothing to do about a failed close
		}
	})
	return nil
}

// cutError is a stream that ended or broke before [DONE].
func (s *stream) cutError(message string, err error) error {
	return &chat.UpstreamError{Provider: s.provider, Message: message, Header: s.header, Err: err}
}

// nextEvent returns the data of the next event with data. An event still
// open when the body ends (its last line complete) is returned, as some
// servers omit the last blank line; a last line cut short is a cut.
func (s *stream) nextEvent() ([]byte, error) {
	_, data, err := s.events.Next()
	switch {
	case err == nil:
		return data, nil
	case errors.Is(err, io.EOF):
		return nil, s.cutError("stream cut before [DONE]", errNoDone)
	case errors.Is(err, io.ErrUnexpectedEOF):
		return nil, s.cutError("stream cut before [DONE]", err)
	case errors.Is(err, sse.ErrTooLarge):
		return nil, s.cutError("stream event too large", err)
	}
	return nil, s.cutError("stream interrupted", err)
}

// chunk turns an event's data into a chunk; nil for an event that carries
// nothing (Azure's prompt_filter_results, empty keep-alive chunks).
func (s *stream) chunk(data []byte) (*chat.Chunk, error) {
	u := &s.dec
	if err := decodeChunk(data, u); err != nil {
		if errors.Is(err, chat.ErrInexact) {
			return nil, err
		}
		return nil, s.cutError("malformed stream event", err)
	}
	if u.errValue != nil {
		return nil, streamEventError(s.provider, s.header, data)
	}
	if u.badIndex || !s.normaliseToolCalls(u) {
		return nil, s.cutError("malformed stream event", errBadToolIndex)
	}
	var usage *chat.Chunk
	if u.usage != nil {
		usage = &chat.Chunk{ID: u.chunk.ID, Model: u.chunk.Model, Created: u.chunk.Created, Usage: u.usage}
	}
	if !u.hasDelta {
		return usage, nil
	}
	c := new(chat.Chunk)
	*c = u.chunk
	if usage != nil {
		s.queue = append(s.queue, usage)
	}
	return c, nil
}

// normaliseToolCalls gives pieces without an index the index of the call
// they continue (or a new one when they bring a new id), and removes the id
// and name from pieces of calls already opened. It reports false when that
// makes more than maxToolCalls calls.
func (s *stream) normaliseToolCalls(u *upstreamChunk) bool {
	for k := range u.chunk.ToolCalls {
		d := &u.chunk.ToolCalls[k]
		if u.missingIndex[k] {
			last := len(s.calls) - 1
			switch {
			case last < 0:
				d.Index = 0
			case d.ID != "" && d.ID != s.calls[last].id:
				d.Index = last + 1
			default:
				d.Index = last
			}
			if d.Index >= maxToolCalls {
				return false
			}
		}
		if d.Index < len(s.calls) && s.calls[d.Index].opened {
			d.ID, d.Name = "", ""
			continue
		}
		for len(s.calls) <= d.Index {
			s.calls = append(s.calls, openCall{})
		}
		s.calls[d.Index] = openCall{opened: true, id: d.ID}
	}
	return true
}

// jsonStream serves a stream request that the upstream answered with one
// JSON completion (some OpenAI-compatible servers ignore "stream"): the
// completion as chunks, then usage, then io.EOF.
func jsonStream(resp *chat.Response) *stream {
	c := &chat.Chunk{
		ID: resp.ID, Model: resp.Model, Created: resp.Created,
		Role:         chat.RoleAssistant,
		Content:      resp.Message.Text(),
		FinishReason: resp.FinishReason,
	}
	for i, call := range resp.Message.ToolCalls {
		c.ToolCalls = append(c.ToolCalls, chat.ToolCallDelta{Index: i, ID: call.ID, Name: call.Name, Arguments: call.Arguments})
	}
	usage := resp.Usage
	return &stream{
		queue: []*chat.Chunk{c, {ID: resp.ID, Model: resp.Model, Created: resp.Created, Usage: &usage}},
		eof:   true,
	}
}
