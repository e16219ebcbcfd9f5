package anthropic

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/junctionhq/junction/internal/testkit"
	"github.com/junctionhq/junction/llm/chat"
)

// Golden files: each testdata/<dir>/<case>.<ext> input has its expected
// translation next to it as <case>.golden.<ext>. Run with -update to rewrite
// them after a deliberate change, and review the diff.

// marshal encodes a canonical value for a golden file.
func marshal(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	return append(b, '\n')
}

func unmarshalFile(t *testing.T, path string, v any) {
	t.Helper()
	if err := json.Unmarshal(testkit.ReadFile(t, path), v); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}

// TestGoldenDecodeRequest: Anthropic request → canonical request, and that
// canonical request encoded back towards Anthropic (the client → Junction →
// Anthropic path).
func TestGoldenDecodeRequest(t *testing.T) {
	testkit.RunGoldenCases(t, "testdata/decode", ".json", func(t *testing.T, in string) {
		req, err := DecodeMessagesRequest(testkit.ReadFile(t, in))
		if err != nil {
			t.Fatal(err)
		}
		testkit.CheckGolden(t, testkit.GoldenPath(in, ".json"), marshal(t, req))
		body := appendRequest(nil, "claude-upstream", req, req.Stream, DefaultMaxTokens)
		testkit.CheckGolden(t, testkit.GoldenPath(in, ".upstream.json"), testkit.IndentJSON(t, body))
	})
}

// TestGoldenEncode: canonical request → Anthropic request, canonical
// response → Anthropic message.
func TestGoldenEncode(t *testing.T) {
	tests := []struct {
		dir    string
		encode func(t *testing.T, in string) []byte
	}{
		{"encode", func(t *testing.T, in string) []byte {
			var req chat.Request
			unmarshalFile(t, in, &req)
			return appendRequest(nil, "claude-sonnet-4-5", &req, false, 2048)
		}},
		{"response_encode", func(t *testing.T, in string) []byte {
			var resp chat.Response
			unmarshalFile(t, in, &resp)
			return AppendMessagesResponse(nil, &resp, "client-model")
		}},
	}
	for _, tt := range tests {
		t.Run(tt.dir, func(t *testing.T) {
			testkit.RunGoldenCases(t, "testdata/"+tt.dir, ".json", func(t *testing.T, in string) {
				testkit.CheckGolden(t, testkit.GoldenPath(in, ".json"), testkit.IndentJSON(t, tt.encode(t, in)))
			})
		})
	}
}

// TestGoldenDecodeResponse: Anthropic message → canonical response.
func TestGoldenDecodeResponse(t *testing.T) {
	testkit.RunGoldenCases(t, "testdata/response_decode", ".json", func(t *testing.T, in string) {
		resp, err := DecodeMessagesResponse(testkit.ReadFile(t, in), 1700000000, chat.Lenient)
		if err != nil {
			t.Fatal(err)
		}
		testkit.CheckGolden(t, testkit.GoldenPath(in, ".json"), marshal(t, resp))
	})
}

// streamEncodeCase is the input of a stream_encode golden case.
type streamEncodeCase struct {
	Model       string
	Chunks      []chat.Chunk
	FinishUsage *chat.Usage
}

// TestGoldenStreamEncode: canonical chunks → Anthropic events.
func TestGoldenStreamEncode(t *testing.T) {
	testkit.RunGoldenCases(t, "testdata/stream_encode", ".json", func(t *testing.T, in string) {
		var c streamEncodeCase
		unmarshalFile(t, in, &c)
		enc := NewStreamEncoder(c.Model)
		var out []byte
		for i := range c.Chunks {
			out = enc.Append(out, &c.Chunks[i])
		}
		out = enc.Finish(out, c.FinishUsage)
		checkEventsJSON(t, out)
		testkit.CheckGolden(t, testkit.GoldenPath(in, ".sse"), out)
	})
}

// streamDecodeResult is the golden output of a stream_decode case.
type streamDecodeResult struct {
	Chunks []*chat.Chunk
	// End is the error that ended the stream; absent when it ended with
	// message_stop (io.EOF).
	End *streamEnd `json:",omitempty"`
}

// streamEnd is the part of a *chat.UpstreamError a golden file checks.
type streamEnd struct {
	Status        int
	Type, Message string
	Err           string `json:",omitempty"`
}

// TestGoldenStreamDecode: Anthropic events → canonical chunks.
func TestGoldenStreamDecode(t *testing.T) {
	testkit.RunGoldenCases(t, "testdata/stream_decode", ".sse", func(t *testing.T, in string) {
		s := newStream("anthropic", io.NopCloser(bytes.NewReader(testkit.ReadFile(t, in))), 1700000000)
		var res streamDecodeResult
		for {
			c, err := s.Recv()
			if errors.Is(err, io.EOF) && !errors.Is(err, io.ErrUnexpectedEOF) {
				break
			}
			if err != nil {
				var ue *chat.UpstreamError
				if !errors.As(err, &ue) {
					t.Fatalf("error %T %v, want *chat.UpstreamError", err, err)
				}
				res.End = &streamEnd{Status: ue.Status, Type: ue.Type, Message: ue.Message}
				if ue.Err != nil {
					res.End.Err = ue.Err.Error()
				}
				break
			}
			res.Chunks = append(res.Chunks, c)
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		testkit.CheckGolden(t, testkit.GoldenPath(in, ".json"), marshal(t, res))
	})
}

// checkEventsJSON checks that every event of an encoded stream is well formed:
// "event: X" then "data: <JSON with type X>" then a blank line.
func checkEventsJSON(t *testing.T, out []byte) {
	t.Helper()
	for _, ev := range strings.Split(strings.TrimSuffix(string(out), "\n\n"), "\n\n") {
		name, data, ok := strings.Cut(ev, "\n")
		if !ok || !strings.HasPrefix(name, "event: ") || !strings.HasPrefix(data, "data: ") {
			t.Fatalf("malformed event %q", ev)
		}
		var v struct{ Type string }
		if err := json.Unmarshal([]byte(strings.TrimPrefix(data, "data: ")), &v); err != nil {
			t.Fatalf("event %q: %v", ev, err)
		}
		if v.Type != strings.TrimPrefix(name, "event: ") {
			t.Fatalf("event %q: type %q", ev, v.Type)
		}
	}
}
