package gemini

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"sync"

	"github.com/junctionhq/junction/llm/chat"
	"github.com/junctionhq/junction/llm/internal/sse"
	"github.com/junctionhq/junction/llm/provider/internal/upstream"
)

// ChatStream sends req to streamGenerateContent?alt=sse. It returns once the
// response headers are in, without reading the first event, so that the
// caller can peek at it before committing to this upstream; a non-2xx answer
// is an *chat.UpstreamError with the body read.
func (p *Provider) ChatStream(ctx context.Context, t chat.Target, req *chat.Request) (chat.Stream, error) {
	body, err := encodeRequest(req)
	if err != nil {
		return nil, p.requestError(err)
	}
	hreq, err := p.newRequest(ctx, http.MethodPost, p.modelURL(t.Model, "streamGenerateContent")+"?alt=sse", t, body)
	if err != nil {
		return nil, err
	}
	hreq.Header.Set("Accept", "text/event-stream")
	resp, err := p.do(hreq)
	if err != nil {
		return nil, err
	}
	return newStream(p.name, resp.Body, t.Model, p.now().Unix()), nil
}

// maxEventBytes bounds one event's data.
const maxEventBytes = 16 << 20

// stream turns Gemini's server-sent events, each a GenerateContentResponse,
// into chunks: one per event that carries text, function calls or the finish
// reason (the first with the assistant role), then, after the last event, a
// usage chunk with the last usageMetadata seen (Gemini's counts are
// cumulative). Each functionCall part becomes one complete ToolCallDelta
// (Gemini does not split calls), indexed across the stream. The stream has no
// terminator: it ends at EOF, and an EOF before any finish reason is a cut.
type stream struct {
	provider string
	body     io.ReadCloser
	events   sse.Reader
	id       string // the first event's responseId
	model    string // the first event's modelVersion, else the requested model
	created  int64

	closeOnce sync.Once

	decoded  bool        // an event was decoded (id and model are set)
	started  bool        // the role was sent
	finished bool        // a finish reason was seen
	calls    int         // function calls so far
	usage    *chat.Usage // the last usageMetadata, sent at the end
	err      error       // sticky: returned by every later Recv
}

func newStream(provider string, body io.ReadCloser, model string, created int64) *stream {
	s := &stream{provider: provider, body: body, model: model, created: created}
	s.events.Reset(body, sse.Options{Max: maxEventBytes})
	return s
}

// Close releases the connection; it is safe to call at any time and more
// than once.
func (s *stream) Close() error {
	s.closeOnce.Do(func() { _ = s.body.Close() })
	return nil
}

// Recv returns the next chunk, io.EOF after the usage chunk, or an
// *chat.UpstreamError: status 0 when the stream broke off or was malformed,
// the error's code when Gemini sent an error event.
func (s *stream) Recv() (*chat.Chunk, error) {
	return upstream.Recv(&s.err, s.step)
}

// step reads and decodes one event.
func (s *stream) step() (*chat.Chunk, error) {
	_, data, err := s.events.Next()
	if err != nil {
		return s.end(err)
	}
	return s.decode(data)
}

// end finishes the stream on a read error (io.EOF at a clean end). After the
// finish reason the answer is complete, so a connection that breaks off
// rather than closing loses nothing.
func (s *stream) end(err error) (*chat.Chunk, error) {
	if !s.finished {
		if errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF
		}
		s.err = &chat.UpstreamError{Provider: s.provider, Message: "stream ended before the finish reason", Err: err}
		return nil, s.err
	}
	s.err = io.EOF
	if s.usage == nil {
		return nil, io.EOF
	}
	return &chat.Chunk{ID: s.id, Model: s.model, Created: s.created, Usage: s.usage}, nil
}

// decode turns one event into a chunk; nil when it carries nothing to send
// (only usage, or an empty text).
func (s *stream) decode(data []byte) (*chat.Chunk, error) {
	if string(data) == "[DONE]" { // not Gemini's, but some proxies add it
		return nil, nil
	}
	var r generateResponse
	if err := json.Unmarshal(data, &r); err != nil {
		return nil, &chat.UpstreamError{Provider: s.provider, Message: "decode stream event", Err: err,
			Body: bytes.Clone(data[:min(len(data), 64<<10)])}
	}
	if e := r.Error; e != nil {
		msg := e.Message
		if msg == "" {
			msg = "error event"
		}
		return nil, &chat.UpstreamError{Provider: s.provider, Status: e.Code, Type: e.Status, Message: msg,
			Body: bytes.Clone(data[:min(len(data), 64<<10)])}
	}
	if !s.decoded { // every chunk carries the first event's id and model
		s.decoded = true
		s.id = r.ResponseID
		if r.ModelVersion != "" {
			s.model = r.ModelVersion
		}
	}
	if r.UsageMetadata != nil {
		u := r.UsageMetadata.usage()
		s.usage = &u
	}
	c := &chat.Chunk{ID: s.id, Model: s.model, Created: s.created}
	reason := ""
	if len(r.Candidates) > 0 {
		cand := &r.Candidates[0]
		var calls []chat.ToolCall
		c.Content, calls = splitParts(cand.Content.Parts, s.calls)
		for _, call := range calls { // Gemini does not split calls: each delta is whole
			c.ToolCalls = append(c.ToolCalls, chat.ToolCallDelta{Index: s.calls, ID: call.ID, Name: call.Name, Arguments: call.Arguments})
			s.calls++
		}
		reason = cand.FinishReason
	} else if r.PromptFeedback != nil && r.PromptFeedback.BlockReason != "" {
		reason = "SAFETY" // the prompt was blocked: no candidate will come
	}
	c.FinishReason = finishReason(reason, s.calls > 0)
	if c.Content == "" && len(c.ToolCalls) == 0 && c.FinishReason == "" {
		return nil, nil
	}
	if c.FinishReason != "" {
		s.finished = true
	}
	if !s.started {
		s.started = true
		c.Role = chat.RoleAssistant
	}
	return c, nil
}
