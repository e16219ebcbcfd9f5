package llm

import (
	"bytes"
	"io"

	"github.com/junctionhq/junction/llm/internal/sse"
)

// The pass-through reads upstream streams with the tree's one SSE reader
// (llm/internal/sse), event by event and byte for byte, and looks into the
// events only as far as it must: their name, their data, the end marker.

// maxEventBytes bounds one SSE event read from an upstream.
const maxEventBytes = 8 << 20

// sseReader splits an upstream SSE stream into raw events (sse.Reader's
// NextRaw): each comes with its lines and the blank line that ends it, so
// that a pass-through can forward exactly what the upstream sent.
type sseReader struct{ sse.Reader }

func newSSEReader(r io.Reader) *sseReader {
	s := new(sseReader)
	s.Reset(r, sse.Options{Max: maxEventBytes, Strict: true})
	return s
}

// next returns the next event; the slice is valid until the following call.
// A stream that ends in the middle of an event returns io.ErrUnexpectedEOF;
// one that ends between events returns io.EOF.
func (s *sseReader) next() ([]byte, error) { return s.NextRaw() }

// done is the data of OpenAI's end-of-stream event.
var done = []byte("[DONE]")

// isDone reports OpenAI's end-of-stream event.
func isDone(ev []byte) bool {
	if !bytes.Contains(ev, done) {
		return false
	}
	return bytes.Equal(bytes.TrimSpace(sseData(ev)), done)
}

// isComment reports an event made only of comment lines (": keep-alive").
func isComment(ev []byte) bool { return sse.IsComment(ev) }

// eventName is the event: field of an SSE event ("" when absent).
func eventName(ev []byte) []byte { return sse.Name(ev) }

// sseData returns the data of an SSE event (its data: lines joined), in a
// new slice.
func sseData(ev []byte) []byte { return sse.AppendData(nil, ev) }
