package gemini

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/junctionhq/junction/internal/testkit"
	"github.com/junctionhq/junction/llm/chat"
)

// streamEvent is one Recv result in a stream golden file.
type streamEvent struct {
	Chunk  *chat.Chunk `json:",omitempty"`
	EOF    bool        `json:",omitempty"`
	Error  string      `json:",omitempty"`
	Status int         `json:",omitempty"`
}

// drain receives until an error, at most limit times.
func drain(s chat.Stream, limit int) []streamEvent {
	var out []streamEvent
	for range limit {
		c, err := s.Recv()
		switch {
		case err == nil:
			out = append(out, streamEvent{Chunk: c})
			continue
		case errors.Is(err, io.EOF) && !errors.Is(err, io.ErrUnexpectedEOF):
			out = append(out, streamEvent{EOF: true})
		default:
			ev := streamEvent{Error: err.Error()}
			var ue *chat.UpstreamError
			if errors.As(err, &ue) {
				ev.Status = ue.Status
			}
			out = append(out, ev)
		}
		return out
	}
	return append(out, streamEvent{Error: "too many chunks"})
}

func TestStreamGolden(t *testing.T) {
	testkit.RunGoldenCases(t, "testdata/stream", ".sse", func(t *testing.T, in string) {
		raw := testkit.ReadFile(t, in)
		// One byte at a time, to exercise reads that split lines.
		s := newStream("gemini", io.NopCloser(iotest.OneByteReader(bytes.NewReader(raw))), "requested-model", testCreated)
		defer s.Close()
		events := drain(s, 100)
		// Errors are sticky.
		if last := events[len(events)-1]; !last.EOF {
			if _, err := s.Recv(); err == nil || err.Error() != last.Error {
				t.Errorf("after %q, Recv returned %v", last.Error, err)
			}
		}
		checkGolden(t, testkit.GoldenPath(in, ".json"), mustJSON(t, events))
	})
}

func TestStreamLongLine(t *testing.T) {
	long := strings.Repeat("x", 100<<10)
	body := "data: {\"candidates\":[{\"content\":{\"parts\":[{\"text\":\"" + long + "\"}]},\"finishReason\":\"STOP\"}]}\n\n"
	s := newStream("gemini", io.NopCloser(strings.NewReader(body)), "m", 0)
	c, err := s.Recv()
	if err != nil || c.Content != long || c.FinishReason != chat.FinishStop {
		t.Fatalf("Recv: %v", err)
	}
	if _, err := s.Recv(); err != io.EOF {
		t.Errorf("second Recv: %v, want EOF", err)
	}
}

// FuzzStream feeds arbitrary bodies to the stream parser: it must not panic,
// must stop, and must end with io.EOF or an *chat.UpstreamError.
func FuzzStream(f *testing.F) {
	testkit.AddSeeds(f, "testdata/stream", ".sse")
	f.Add([]byte("data: [DONE]\n\n"))
	f.Add([]byte("data: {\"error\":{}}\r\n\r\n"))
	f.Fuzz(func(t *testing.T, raw []byte) {
		s := newStream("gemini", io.NopCloser(bytes.NewReader(raw)), "m", 0)
		defer s.Close()
		for range len(raw) + 2 {
			c, err := s.Recv()
			if err == nil {
				if c.Usage == nil && c.Content == "" && len(c.ToolCalls) == 0 && c.FinishReason == "" {
					t.Fatalf("empty chunk %+v", c)
				}
				continue
			}
			var ue *chat.UpstreamError
			if err != io.EOF && !errors.As(err, &ue) {
				t.Fatalf("error %T %v", err, err)
			}
			return
		}
		t.Fatal("the stream did not end")
	})
}
