package sse

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"
)

// maxEventBytes is the bound the tests read with (Anthropic's).
const maxEventBytes = 8 << 20

func newTestReader(r io.Reader) *Reader {
	return NewReader(r, Options{Buffer: 16 << 10, Max: maxEventBytes})
}

func TestSSEReader(t *testing.T) {
	in := ": comment\n" +
		"event: a\r\ndata: 1\r\n\r\n" + // CRLF
		"event: ignored-without-data\n\n" +
		"data:2\ndata: 3\n\n" + // no space after the colon; two data lines
		"id: 5\nretry: 10\nevent:b\ndata: x:y\n\n" +
		"data: last" // no final newline
	r := newTestReader(strings.NewReader(in))
	var got []string
	for {
		ev, data, err := r.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, string(ev)+"="+string(data))
	}
	want := []string{"a=1", "=2\n3", "b=x:y", "=last"}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("events %q, want %q", got, want)
	}
}

func TestSSEReaderLongLines(t *testing.T) {
	long := strings.Repeat("x", 100<<10)
	r := newTestReader(strings.NewReader("data: " + long + "\n\n"))
	_, data, err := r.Next()
	if err != nil || string(data) != long {
		t.Fatalf("long line: %v (%d bytes)", err, len(data))
	}
	huge := bytes.Repeat([]byte("y"), maxEventBytes+10)
	r = newTestReader(io.MultiReader(strings.NewReader("data: "), bytes.NewReader(huge)))
	if _, _, err := r.Next(); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("huge line: %v", err)
	}
	many := strings.Repeat("data: "+strings.Repeat("z", 1<<20)+"\n", 9)
	r = newTestReader(strings.NewReader(many + "\n"))
	if _, _, err := r.Next(); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("many data lines: %v", err)
	}
}

// A strict reader (OpenAI's) takes a last line without its line ending for a
// cut, but still returns an event whose blank line is missing.
func TestSSEReaderStrictEnd(t *testing.T) {
	r := NewReader(strings.NewReader("data: a\n\ndata: b\n"), Options{Strict: true})
	for _, want := range []string{"a", "b"} {
		if _, data, err := r.Next(); err != nil || string(data) != want {
			t.Fatalf("Next = %q, %v; want %q", data, err, want)
		}
	}
	if _, _, err := r.Next(); err != io.EOF {
		t.Fatalf("at the end: %v", err)
	}
	r = NewReader(strings.NewReader("data: a\n\ndata: {\"cho"), Options{Strict: true})
	if _, _, err := r.Next(); err != nil {
		t.Fatal(err)
	}
	if _, _, err := r.Next(); !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Fatalf("a line cut short: %v, want io.ErrUnexpectedEOF", err)
	}
}

// NextRaw returns the events byte for byte, comments included, and refuses
// a stream that ends inside an event.
func TestSSEReaderRaw(t *testing.T) {
	in := "\n: keep-alive\n\nevent: message_start\r\ndata: {\"a\":1}\r\n\r\ndata: [DONE]\n\n"
	r := NewReader(strings.NewReader(in), Options{Strict: true})
	var got []string
	for {
		ev, err := r.NextRaw()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, string(ev))
	}
	want := []string{": keep-alive\n\n", "event: message_start\r\ndata: {\"a\":1}\r\n\r\n", "data: [DONE]\n\n"}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("events %q, want %q", got, want)
	}
	for _, cut := range []string{"data: x\n", "data: x"} {
		r := NewReader(strings.NewReader(cut), Options{})
		if _, err := r.NextRaw(); !errors.Is(err, io.ErrUnexpectedEOF) {
			t.Errorf("%q: %v, want io.ErrUnexpectedEOF", cut, err)
		}
	}
	r = NewReader(strings.NewReader(strings.Repeat("data: x\n", 100)+"\n"), Options{Buffer: 16, Max: 64})
	if _, err := r.NextRaw(); !errors.Is(err, ErrTooLarge) {
		t.Errorf("an event over the bound: %v", err)
	}
}

func TestRawEventFields(t *testing.T) {
	cases := []struct {
		ev, name, data string
		comment        bool
	}{
		{"event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n", "message_stop", `{"type":"message_stop"}`, false},
		{"data: a\r\ndata:b\r\n\r\n", "", "a\nb", false},
		{": keep-alive\n\n", "", "", true},
		{": one\n:two\n\n", "", "", true},
		{"id: 1\n\n", "", "", false},
		{"event: ping\n\n", "ping", "", false},
	}
	for _, c := range cases {
		if got := string(Name([]byte(c.ev))); got != c.name {
			t.Errorf("Name(%q) = %q, want %q", c.ev, got, c.name)
		}
		if got := string(AppendData(nil, []byte(c.ev))); got != c.data {
			t.Errorf("AppendData(%q) = %q, want %q", c.ev, got, c.data)
		}
		if got := IsComment([]byte(c.ev)); got != c.comment {
			t.Errorf("IsComment(%q) = %v, want %v", c.ev, got, c.comment)
		}
	}
}

// FuzzReader checks that the two ways of reading a stream agree: on a
// stream that NextRaw reads to its end, the raw events with data are, name
// and data, the events Next returns.
func FuzzReader(f *testing.F) {
	for _, s := range []string{"data: a\n\n", "event: x\ndata: 1\ndata: 2\n\n: c\n\n", "data\n\n", "data: a\r\n\r\n", "event: a\n\ndata: b\n\n"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		var raw []string
		r := NewReader(bytes.NewReader(in), Options{Buffer: 16, Max: 1 << 10})
		for {
			ev, err := r.NextRaw()
			if err == io.EOF {
				break
			}
			if err != nil {
				return
			}
			hasData := false
			eachField(ev, func(name, _ []byte) { hasData = hasData || string(name) == "data" })
			if hasData {
				raw = append(raw, string(Name(ev))+"="+string(AppendData(nil, ev)))
			}
		}
		var parsed []string
		r = NewReader(bytes.NewReader(in), Options{Buffer: 16, Max: 1 << 10})
		for {
			name, data, err := r.Next()
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatalf("Next: %v after NextRaw read %q", err, in)
			}
			parsed = append(parsed, string(name)+"="+string(data))
		}
		if strings.Join(raw, "|") != strings.Join(parsed, "|") {
			t.Fatalf("raw %q, parsed %q for %q", raw, parsed, in)
		}
	})
}
