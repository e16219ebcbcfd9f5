package anthropic

import (
	"bytes"
	"io"
	"strings"
	"testing"

	"github.com/junctionhq/junction/internal/testkit"
	"github.com/junctionhq/junction/llm/chat"
	"github.com/junctionhq/junction/llm/provider/internal/providertest"
)

// benchRequest is a Claude Code-like request, decoded.
func benchRequest(b *testing.B) (*chat.Request, []byte) {
	b.Helper()
	raw := testkit.ReadFile(b, "testdata/decode/claude_code.json")
	req, err := DecodeMessagesRequest(raw)
	if err != nil {
		b.Fatal(err)
	}
	return req, raw
}

// BenchmarkAppendRequest encodes the request without its pass-through
// fields (one would cost the sort's key slice) and with them.
func BenchmarkAppendRequest(b *testing.B) {
	for _, extra := range []bool{false, true} {
		name := "no extra"
		if extra {
			name = "extra"
		}
		b.Run(name, func(b *testing.B) {
			req, _ := benchRequest(b)
			if !extra {
				req.Extra = nil
			}
			buf := appendRequest(nil, "claude-sonnet-4-5", req, true, 4096)
			b.SetBytes(int64(len(buf)))
			b.ReportAllocs()
			for b.Loop() {
				buf = appendRequest(buf[:0], "claude-sonnet-4-5", req, true, 4096)
			}
		})
	}
}

func BenchmarkDecodeMessagesRequest(b *testing.B) {
	_, raw := benchRequest(b)
	providertest.BenchInput(b, raw, func(raw []byte) error { _, err := DecodeMessagesRequest(raw); return err })
}

func BenchmarkAppendMessagesResponse(b *testing.B) {
	resp := &chat.Response{
		ID: "msg_01XYZ", Model: "gpt-4o", FinishReason: chat.FinishToolCalls,
		Message: chat.Message{Role: chat.RoleAssistant, Content: []chat.Part{{Type: chat.PartText, Text: strings.Repeat("Some reply text, \"quoted\".\n", 40)}},
			ToolCalls: []chat.ToolCall{{ID: "call_1", Name: "Read", Arguments: `{"file_path":"/repo/main.go","limit":200}`}}},
		Usage: chat.Usage{PromptTokens: 12000, CompletionTokens: 300, CachedTokens: 10000},
	}
	buf := AppendMessagesResponse(nil, resp, "claude-sonnet-4-5")
	b.SetBytes(int64(len(buf)))
	b.ReportAllocs()
	for b.Loop() {
		buf = AppendMessagesResponse(buf[:0], resp, "claude-sonnet-4-5")
	}
}

// BenchmarkStreamEncoder encodes a 100-chunk text stream and a tool call; the
// buffer is reused per event, as a handler flushing each event does.
func BenchmarkStreamEncoder(b *testing.B) {
	chunks := make([]chat.Chunk, 0, 110)
	chunks = append(chunks, chat.Chunk{ID: "chatcmpl-1", Role: chat.RoleAssistant})
	for range 100 {
		chunks = append(chunks, chat.Chunk{ID: "chatcmpl-1", Content: " word"})
	}
	chunks = append(chunks, parallelToolChunks()[3:]...)
	var buf []byte
	b.ReportAllocs()
	for b.Loop() {
		enc := NewStreamEncoder("claude-sonnet-4-5")
		for i := range chunks {
			buf = enc.Append(buf[:0], &chunks[i])
		}
		buf = enc.Finish(buf[:0], nil)
	}
}

// BenchmarkStreamParse parses an upstream stream of 100 text deltas.
func BenchmarkStreamParse(b *testing.B) {
	events := []string{evStart, evTextStart}
	for range 100 {
		events = append(events, evText)
	}
	events = append(events, `message_delta {"type":"message_delta","delta":{"stop_reason":"end_turn"},"usage":{"output_tokens":100}}`, evStop)
	raw := []byte(sseText(events...))
	providertest.BenchInput(b, raw, func(raw []byte) error {
		return providertest.Drain(newStream("b", io.NopCloser(bytes.NewReader(raw)), 0))
	})
}

func BenchmarkAppendString(b *testing.B) {
	s := strings.Repeat(`func main() { fmt.Println("héllo\tworld") }`+"\n", 50)
	buf := appendString(nil, s)
	b.SetBytes(int64(len(s)))
	b.ReportAllocs()
	for b.Loop() {
		buf = appendString(buf[:0], s)
	}
}
