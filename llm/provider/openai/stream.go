package openai

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"net/http"
	"sync"

	"github.com/junctionhq/junction/llm/chat"
)

// maxEventBytes bounds one server-sent event; a larger one ends the stream
// with an error rather than growing a buffer without limit.
const maxEventBytes = 16 << 20

// Causes of a failed stream, wrapped in *chat.UpstreamError with Status 0.
var (
	errNoDone        = errors.New("the stream ended before [DONE]")
	errEventTooLarge = errors.New("stream event larger than 16 MiB")
	errBadToolIndex  = errors.New("tool call index out of range")
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
	r        *bufio.Reader

	line  []byte        // a line longer than the reader's buffer, assembled
	data  []byte        // the data of the event being read
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
	return &stream{
		provider: provider,
		header:   resp.Header,
		body:     resp.Body,
		r:        bufio.NewReaderSize(resp.Body, 32<<10),
	}
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
// servers omit the last blank line.
func (s *stream) nextEvent() ([]byte, error) {
	s.data = s.data[:0]
	hasData := false
	for {
		line, err := s.readLine()
		if err != nil {
			switch {
			case errors.Is(err, io.EOF) && hasData:
				return s.data, nil
			case errors.Is(err, io.EOF):
				return nil, s.cutError("stream cut before [DONE]", errNoDone)
			case errors.Is(err, io.ErrUnexpectedEOF):
				return nil, s.cutError("stream cut before [DONE]", err)
			}
			if errors.Is(err, errEventTooLarge) {
				return nil, s.cutError("stream event too large", err)
			}
			return nil, s.cutError("stream interrupted", err)
		}
		if len(line) == 0 {
			if hasData {
				return s.data, nil
			}
			continue
		}
		if line[0] == ':' { // a comment, or a keep-alive
			continue
		}
		field, value := line, []byte(nil)
		if i := bytes.IndexByte(line, ':'); i >= 0 {
			field, value = line[:i], line[i+1:]
			if len(value) > 0 && value[0] == ' ' {
				value = value[1:]
			}
		}
		if string(field) != "data" { // event, id, retry and unknown fields
			continue
		}
		if hasData {
			s.data = append(s.data, '\n')
		}
		if len(s.data)+len(value) > maxEventBytes {
			return nil, s.cutError("stream event too large", errEventTooLarge)
		}
		s.data = append(s.data, value...)
		hasData = true
	}
}

// readLine returns the next line without its line ending, valid until the
// next call. A last line without a line ending is a cut (io.EOF).
func (s *stream) readLine() ([]byte, error) {
	line, err := s.r.ReadSlice('\n')
	if errors.Is(err, bufio.ErrBufferFull) {
		s.line = append(s.line[:0], line...)
		for errors.Is(err, bufio.ErrBufferFull) {
			if len(s.line) > maxEventBytes {
				return nil, errEventTooLarge
			}
			line, err = s.r.ReadSlice('\n')
			s.line = append(s.line, line...)
		}
		line = s.line
	}
	if err != nil {
		if errors.Is(err, io.EOF) && len(line) > 0 {
			return nil, io.ErrUnexpectedEOF
		}
		return nil, err
	}
	line = line[:len(line)-1]
	if n := len(line); n > 0 && line[n-1] == '\r' {
		line = line[:n-1]
	}
	return line, nil
}

// chunk turns an event's data into a chunk; nil for an event that carries
// nothing (Azure's prompt_filter_results, empty keep-alive chunks).
func (s *stream) chunk(data []byte) (*chat.Chunk, error) {
	u := &s.dec
	if err := decodeChunk(data, u); err != nil {
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
