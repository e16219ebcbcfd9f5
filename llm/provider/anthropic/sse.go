package anthropic

import (
	"bufio"
	"bytes"
	"errors"
	"io"
)

// maxEventBytes bounds one server-sent event (its data lines together), so
// that a misbehaving upstream cannot make the reader buffer without end.
const maxEventBytes = 8 << 20

var errEventTooLarge = errors.New("server-sent event larger than 8 MiB")

// sseReader reads server-sent events: "event:" and "data:" fields, events
// ended by a blank line, comments and other fields ignored. The slices it
// returns are valid until the next call.
type sseReader struct {
	r     *bufio.Reader
	event []byte // the current event's name
	data  []byte // the current event's data lines, joined by \n
	long  []byte // a line longer than the bufio buffer, being assembled
	dataN int    // data lines in the current event
}

func newSSEReader(r io.Reader) *sseReader {
	return &sseReader{r: bufio.NewReaderSize(r, 16<<10)}
}

// next returns the next event's name and data. At the end of the input an
// event not closed by a blank line is still returned if it has data; then
// next returns io.EOF, or the read error.
func (s *sseReader) next() (event, data []byte, err error) {
	s.event, s.data, s.dataN = s.event[:0], s.data[:0], 0
	for {
		line, err := s.readLine()
		if err != nil {
			if err == io.EOF && s.dataN > 0 {
				return s.event, s.data, nil
			}
			return nil, nil, err
		}
		if len(line) == 0 {
			if s.dataN > 0 {
				return s.event, s.data, nil
			}
			s.event = s.event[:0] // an event without data is not dispatched
			continue
		}
		field, value := line, []byte(nil)
		if i := bytes.IndexByte(line, ':'); i >= 0 {
			field, value = line[:i], line[i+1:]
			if len(value) > 0 && value[0] == ' ' {
				value = value[1:]
			}
		}
		switch string(field) {
		case "event":
			s.event = append(s.event[:0], value...)
		case "data":
			if len(s.data)+len(value)+1 > maxEventBytes {
				return nil, nil, errEventTooLarge
			}
			if s.dataN > 0 {
				s.data = append(s.data, '\n')
			}
			s.data = append(s.data, value...)
			s.dataN++
		}
		// "" (a comment), "id", "retry" and unknown fields are ignored.
	}
}

// readLine returns the next line without its \n or \r\n. The final line of
// the input is returned without error even if it has no newline; io.EOF comes
// after it.
func (s *sseReader) readLine() ([]byte, error) {
	line, err := s.r.ReadSlice('\n')
	if err == bufio.ErrBufferFull {
		s.long = append(s.long[:0], line...)
		for err == bufio.ErrBufferFull {
			if len(s.long) > maxEventBytes {
				return nil, errEventTooLarge
			}
			line, err = s.r.ReadSlice('\n')
			s.long = append(s.long, line...)
		}
		line = s.long
	}
	if err != nil && (err != io.EOF || len(line) == 0) {
		return nil, err
	}
	line = bytes.TrimSuffix(line, []byte{'\n'})
	line = bytes.TrimSuffix(line, []byte{'\r'})
	return line, nil
}
