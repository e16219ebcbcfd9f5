package llmtest

import (
	"errors"
	"net/http"
)

// sseStream writes one server-sent-events answer, pacing events as the behaviour
// says (TimeToFirstChunk before the first, ChunkDelay between the others), flushing
// each one, cutting the connection after CloseAfterChunks events and ending the
// stream with an error event after ErrorAfterChunks.
type sseStream struct {
	x      *exchange
	rc     *http.ResponseController
	events int
	// array: the events are the elements of one JSON array (Gemini without
	// alt=sse), not SSE events.
	array bool
}

// beginStream writes the 200 headers of an event stream and flushes them.
func (x *exchange) beginStream() *sseStream {
	s := &sseStream{x: x, rc: http.NewResponseController(x.w)}
	x.w.Header()["Cache-Control"] = noCache
	x.writeHead(http.StatusOK, sseContentType)
	s.flush()
	return s
}

// send paces, writes and flushes one complete event (its bytes, "data: ...\n\n" or
// "event: ...\ndata: ...\n\n"). It reports whether the stream may go on; when not, the
// request has been dealt with (client gone, mock closed or connection cut).
func (s *sseStream) send(event []byte) bool {
	x := s.x
	b := &x.profile.behavior
	delay := b.ChunkDelay
	if s.events == 0 {
		delay = b.TimeToFirstChunk
	}
	if err := x.m.sleep(x.ctx, delay); err != nil {
		x.interrupted(err)
		return false
	}
	if _, err := x.w.Write(event); err != nil {
		x.abandon()
		return false
	}
	if !s.flush() {
		return false
	}
	s.events++
	if b.CloseAfterChunks > 0 && s.events >= b.CloseAfterChunks {
		x.cut()
		return false
	}
	if b.ErrorAfterChunks > 0 && s.events >= b.ErrorAfterChunks {
		s.fail(injectedFailure(b.failStatus()))
		return false
	}
	return true
}

// fail ends the stream with e as an in-band error event in the wire's shape.
func (s *sseStream) fail(e *apiError) {
	x := s.x
	x.m.stats.streamErrors.Add(1)
	switch {
	case s.array:
		x.out = append(x.out[:0], ",\r\n"...)
	case x.wire == anthropicWire{}:
		x.out = append(x.out[:0], "event: error\ndata: "...)
	default:
		x.out = append(x.out[:0], "data: "...)
	}
	x.out = x.wire.appendError(x.out, e)
	if s.array {
		x.out = append(x.out, ']')
	} else {
		x.out = append(x.out, "\n\n"...)
	}
	if _, err := x.w.Write(x.out); err != nil {
		x.abandon()
		return
	}
	s.flush()
}

// flush pushes buffered bytes to the client; false when the client is gone.
func (s *sseStream) flush() bool {
	if err := s.rc.Flush(); err != nil && !errors.Is(err, http.ErrNotSupported) {
		s.x.abandon()
		return false
	}
	return true
}
