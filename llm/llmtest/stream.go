package llmtest

import (
	"errors"
	"net/http"
)

// sseStream writes one server-sent-events answer, pacing events as the behaviour
// says (TimeToFirstChunk before the first, ChunkDelay between the others), flushing
// each one, and cutting the connection after CloseAfterChunks events.
type sseStream struct {
	x      *exchange
	rc     *http.ResponseController
	events int
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
	return true
}

// flush pushes buffered bytes to the client; false when the client is gone.
func (s *sseStream) flush() bool {
	if err := s.rc.Flush(); err != nil && !errors.Is(err, http.ErrNotSupported) {
		s.x.abandon()
		return false
	}
	return true
}
