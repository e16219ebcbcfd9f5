// Package sse reads server-sent events (text/event-stream), the stream format
// of the OpenAI, Anthropic and Gemini APIs. It is the tree's one reader: the
// providers' stream decoders read events field by field ([Reader.Next]), the
// gateway's pass-through forwards them byte for byte ([Reader.NextRaw]) and
// looks into them with [Name], [AppendData] and [IsComment].
package sse

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
)

// ErrTooLarge reports an event, or a line, over the reader's bound, so that a
// misbehaving upstream cannot make the reader buffer without end.
var ErrTooLarge = errors.New("server-sent event too large")

// Defaults of [Options].
const (
	DefaultBuffer = 32 << 10
	DefaultMax    = 16 << 20
)

// Options tune a Reader to its caller.
type Options struct {
	// Buffer is the size of the read buffer; longer lines are assembled.
	// 0 means DefaultBuffer.
	Buffer int
	// Max bounds a line and an event's data (for NextRaw, the event's
	// bytes). 0 means DefaultMax.
	Max int
	// Strict makes a last line without a line ending a cut stream
	// (io.ErrUnexpectedEOF); otherwise it counts as a complete line.
	Strict bool
}

// Reader reads the events of one stream. The slices it returns are valid
// until its next call. It is for one goroutine.
type Reader struct {
	br     *bufio.Reader
	max    int
	strict bool
	long   []byte // a line longer than the buffer, being assembled
	name   []byte // the current event's name
	data   []byte // the current event's data lines, joined by \n
	raw    []byte // the current event as read (NextRaw)
}

// NewReader returns a Reader of src.
func NewReader(src io.Reader, opt Options) *Reader {
	r := new(Reader)
	r.Reset(src, opt)
	return r
}

// Reset makes r read src from its start, with opt; a zero Reader (one held
// by value in another struct) is ready for use once Reset.
func (r *Reader) Reset(src io.Reader, opt Options) {
	if opt.Buffer <= 0 {
		opt.Buffer = DefaultBuffer
	}
	if opt.Max <= 0 {
		opt.Max = DefaultMax
	}
	if r.br == nil || r.br.Size() != opt.Buffer {
		r.br = bufio.NewReaderSize(src, opt.Buffer)
	} else {
		r.br.Reset(src)
	}
	r.max, r.strict = opt.Max, opt.Strict
}

// tooLarge is ErrTooLarge with the reader's bound.
func (r *Reader) tooLarge() error {
	return fmt.Errorf("%w: over %d bytes", ErrTooLarge, r.max)
}

// Next returns the name (the event: field, empty when absent) and the data
// (the data: lines joined by \n) of the next event that has data. Comments,
// id, retry and unknown fields are ignored, and an event without data lines
// is not dispatched. At the end of the input an event without its closing
// blank line is still returned; then Next returns io.EOF, or the read error.
// With Options.Strict a last line without a line ending is
// io.ErrUnexpectedEOF.
func (r *Reader) Next() (name, data []byte, err error) {
	r.name, r.data = r.name[:0], r.data[:0]
	hasData := false
	for {
		line, err := r.readLine()
		if err != nil {
			if errors.Is(err, io.EOF) && hasData {
				return r.name, r.data, nil
			}
			return nil, nil, err
		}
		line, ended := trimEOL(line)
		if !ended && r.strict {
			return nil, nil, io.ErrUnexpectedEOF
		}
		if len(line) == 0 {
			if hasData {
				return r.name, r.data, nil
			}
			r.name = r.name[:0] // an event without data is not dispatched
			continue
		}
		field, value := Field(line)
		switch string(field) {
		case "event":
			r.name = append(r.name[:0], value...)
		case "data":
			if hasData {
				r.data = append(r.data, '\n')
			}
			if len(r.data)+len(value) > r.max {
				return nil, nil, r.tooLarge()
			}
			r.data = append(r.data, value...)
			hasData = true
		}
	}
}

// NextRaw returns the next event as read, byte for byte: its lines with
// their line endings and the blank line that ends it, so that a
// pass-through can forward exactly what the upstream sent. Events of
// comments only are returned too; blank lines between events are skipped.
// The input ending between events is io.EOF, inside one io.ErrUnexpectedEOF.
func (r *Reader) NextRaw() ([]byte, error) {
	r.raw = r.raw[:0]
	for {
		line, err := r.readLine()
		if err != nil {
			switch {
			case errors.Is(err, io.EOF) && len(r.raw) == 0:
				return nil, io.EOF
			case errors.Is(err, io.EOF):
				return nil, io.ErrUnexpectedEOF
			}
			return nil, err
		}
		trimmed, ended := trimEOL(line)
		if !ended {
			return nil, io.ErrUnexpectedEOF
		}
		blank := len(trimmed) == 0
		if blank && len(r.raw) == 0 {
			continue
		}
		r.raw = append(r.raw, line...)
		if len(r.raw) > r.max {
			return nil, r.tooLarge()
		}
		if blank {
			return r.raw, nil
		}
	}
}

// readLine returns the next line with its line ending; a last line without
// one is returned as it is, and io.EOF comes after it.
func (r *Reader) readLine() ([]byte, error) {
	line, err := r.br.ReadSlice('\n')
	if errors.Is(err, bufio.ErrBufferFull) {
		r.long = append(r.long[:0], line...)
		for errors.Is(err, bufio.ErrBufferFull) {
			if len(r.long) > r.max {
				return nil, r.tooLarge()
			}
			line, err = r.br.ReadSlice('\n')
			r.long = append(r.long, line...)
		}
		if line = r.long; len(line) > r.max {
			return nil, r.tooLarge()
		}
	}
	if err != nil && !(errors.Is(err, io.EOF) && len(line) > 0) {
		return nil, err
	}
	return line, nil
}

// trimEOL removes the line ending (LF or CRLF) and reports whether there
// was one.
func trimEOL(line []byte) ([]byte, bool) {
	n := len(line)
	if n == 0 || line[n-1] != '\n' {
		return bytes.TrimSuffix(line, []byte{'\r'}), false
	}
	line = line[:n-1]
	if n := len(line); n > 0 && line[n-1] == '\r' {
		line = line[:n-1]
	}
	return line, true
}

// Field splits a line (without its ending) into its field name and value:
// "data: x" is ("data", "x"), one space after the colon dropped; a line
// without a colon is a field with an empty value; a comment (": ping") has
// an empty name.
func Field(line []byte) (name, value []byte) {
	i := bytes.IndexByte(line, ':')
	if i < 0 {
		return line, nil
	}
	name, value = line[:i], line[i+1:]
	if len(value) > 0 && value[0] == ' ' {
		value = value[1:]
	}
	return name, value
}

// The functions below read a raw event, as NextRaw returns it.

// eachField calls fn with each field of the raw event ev, in order.
func eachField(ev []byte, fn func(name, value []byte)) {
	for len(ev) > 0 {
		line := ev
		if i := bytes.IndexByte(ev, '\n'); i >= 0 {
			line, ev = ev[:i+1], ev[i+1:]
		} else {
			ev = nil
		}
		if line, _ = trimEOL(line); len(line) > 0 {
			fn(Field(line))
		}
	}
}

// Name returns the event: field of a raw event (the last, should it have
// several); nil when it has none.
func Name(ev []byte) []byte {
	var out []byte
	eachField(ev, func(name, value []byte) {
		if string(name) == "event" {
			out = value
		}
	})
	return out
}

// AppendData appends the data of a raw event (its data: lines joined by \n)
// to dst.
func AppendData(dst, ev []byte) []byte {
	first := true
	eachField(ev, func(name, value []byte) {
		if string(name) != "data" {
			return
		}
		if !first {
			dst = append(dst, '\n')
		}
		first = false
		dst = append(dst, value...)
	})
	return dst
}

// IsComment reports a raw event made of comment lines only (": keep-alive").
func IsComment(ev []byte) bool {
	comment := true
	eachField(ev, func(name, _ []byte) {
		if len(name) > 0 {
			comment = false
		}
	})
	return comment
}
