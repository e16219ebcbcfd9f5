package llm

import (
	"bufio"
	"bytes"
	"errors"
	"io"
)

// maxEventBytes bounds one SSE event read from an upstream.
const maxEventBytes = 8 << 20

var errEventTooLarge = errors.New("llm: upstream stream event larger than 8 MiB")

// sseReader splits an upstream SSE stream into events, each returned with
// its lines and the blank line that ends it, byte for byte, so that a
// pass-through can forward exactly what the upstream sent.
type sseReader struct {
	r   *bufio.Reader
	buf []byte
}

func newSSEReader(r io.Reader) *sseReader {
	return &sseReader{r: bufio.NewReaderSize(r, 32<<10)}
}

// next returns the next event; the slice is valid until the following call.
// A stream that ends in the middle of an event returns io.ErrUnexpectedEOF;
// one that ends between events returns io.EOF.
func (s *sseReader) next() ([]byte, error) {
	s.buf = s.buf[:0]
	for {
		line, err := s.r.ReadSlice('\n')
		if errors.Is(err, bufio.ErrBufferFull) {
			s.buf = append(s.buf, line...)
			if len(s.buf) > maxEventBytes {
				return nil, errEventTooLarge
			}
			continue
		}
		if err != nil {
			if len(s.buf) == 0 && len(line) == 0 && errors.Is(err, io.EOF) {
				return nil, io.EOF
			}
			if errors.Is(err, io.EOF) {
				return nil, io.ErrUnexpectedEOF
			}
			return nil, err
		}
		blank := len(bytes.TrimRight(line, "\r\n")) == 0
		if blank && len(s.buf) == 0 {
			continue // stray blank lines between events
		}
		s.buf = append(s.buf, line...)
		if len(s.buf) > maxEventBytes {
			return nil, errEventTooLarge
		}
		if blank {
			return s.buf, nil
		}
	}
}

// isDone reports OpenAI's end-of-stream event.
func isDone(ev []byte) bool {
	return bytes.Equal(bytes.TrimSpace(sseData(ev)), []byte("[DONE]"))
}

// isComment reports an event made only of comment lines (": keep-alive").
func isComment(ev []byte) bool {
	for _, line := range bytes.Split(bytes.TrimRight(ev, "\r\n"), []byte("\n")) {
		if len(line) > 0 && line[0] != ':' {
			return false
		}
	}
	return true
}

// eventName is the event: field of an SSE event ("" when absent).
func eventName(ev []byte) []byte {
	if rest, ok := bytes.CutPrefix(ev, []byte("event:")); ok {
		if i := bytes.IndexByte(rest, '\n'); i >= 0 {
			rest = rest[:i]
		}
		return bytes.TrimSpace(rest)
	}
	return nil
}
