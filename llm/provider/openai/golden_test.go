package openai

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"testing"

	"github.com/junctionhq/junction/internal/testkit"
	"github.com/junctionhq/junction/llm/chat"
)

// checkGolden compares got with the golden file at path (rewriting it with -update).
// JSON is stored indented for reading; json.Indent changes only whitespace
// between tokens, so key order, escapes and numbers are still checked byte
// for byte.
func checkGolden(t *testing.T, path string, got []byte) {
	t.Helper()
	if strings.HasSuffix(path, ".json") {
		got = testkit.IndentJSON(t, got)
	}
	testkit.CheckGolden(t, path, got)
}

// readTestdata returns testdata/path.
func readTestdata(t *testing.T, path string) []byte {
	t.Helper()
	return testkit.ReadFile(t, filepath.Join("testdata", path))
}

// TestGoldenRequestTranslation decodes client bodies and encodes them as
// upstream requests for "upstream-model".
func TestGoldenRequestTranslation(t *testing.T) {
	testkit.RunGoldenCases(t, "testdata/request", ".json", func(t *testing.T, in string) {
		req, err := DecodeChatRequest(testkit.ReadFile(t, in))
		if err != nil {
			t.Fatal(err)
		}
		out := appendRequest(nil, req, "upstream-model", req.Stream)
		checkGolden(t, testkit.GoldenPath(in, ".json"), out)
	})
}

// TestGoldenCanonicalRequest encodes a canonical request of the kind the
// Anthropic decoder produces: system blocks, cache control, tool results.
func TestGoldenCanonicalRequest(t *testing.T) {
	req := &chat.Request{
		Model: "claude-alias",
		Messages: []chat.Message{
			{Role: chat.RoleSystem, Content: []chat.Part{
				{Type: chat.PartText, Text: "You are Claude Code."},
				{Type: chat.PartText, Text: "Project rules:\n- be brief", CacheControl: json.RawMessage(`{"type":"ephemeral"}`)},
			}},
			chat.TextMessage(chat.RoleUser, "List files."),
			{Role: chat.RoleAssistant, Content: []chat.Part{{Type: chat.PartText, Text: "Listing."}},
				ToolCalls: []chat.ToolCall{{ID: "toolu_1", Name: "ls", Arguments: `{"path":"."}`}, {ID: "toolu_2", Name: "pwd"}}},
			{Role: chat.RoleTool, ToolCallID: "toolu_1", Content: []chat.Part{{Type: chat.PartText, Text: "a.go\nb.go"}}},
			{Role: chat.RoleTool, ToolCallID: "toolu_2", IsError: true, Content: []chat.Part{{Type: chat.PartText, Text: "denied"}}},
		},
		Tools: []chat.Tool{{Name: "ls", Description: "List a directory.", Parameters: json.RawMessage(`{"type":"object","properties":{"path":{"type":"string"}}}`),
			CacheControl: json.RawMessage(`{"type":"ephemeral"}`)}},
		ToolChoice:  &chat.ToolChoice{Mode: chat.ToolChoiceRequired},
		MaxTokens:   4096,
		Temperature: ptr(1.0),
		Stop:        []string{"</done>"},
		Stream:      true,
	}
	checkGolden(t, "testdata/request/canonical_anthropic.golden.json", appendRequest(nil, req, "gpt-4.1", true))
}

// TestGoldenResponseTranslation decodes upstream completions and encodes
// them for a client that asked for "my-alias".
func TestGoldenResponseTranslation(t *testing.T) {
	testkit.RunGoldenCases(t, "testdata/response", ".json", func(t *testing.T, in string) {
		resp, err := DecodeChatResponse(testkit.ReadFile(t, in), chat.Lenient)
		if err != nil {
			t.Fatal(err)
		}
		checkGolden(t, testkit.GoldenPath(in, ".json"), AppendChatResponse(nil, resp, "my-alias"))
	})
}

// TestGoldenStreamTranslation parses upstream event streams and re-encodes
// every chunk for a client that asked for "my-alias".
func TestGoldenStreamTranslation(t *testing.T) {
	testkit.RunGoldenCases(t, "testdata/stream", ".sse", func(t *testing.T, in string) {
		s := streamOf(testkit.ReadFile(t, in))
		var out []byte
		for {
			c, err := s.Recv()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				t.Fatalf("Recv: %v", err)
			}
			out = AppendChunk(out, c, "my-alias")
		}
		out = AppendDone(out)
		checkGolden(t, testkit.GoldenPath(in, ".sse"), out)
	})
}

func TestGoldenEncoders(t *testing.T) {
	emb := &chat.EmbeddingResponse{
		Model:   "text-embedding-3-small",
		Vectors: [][]float32{{0.1, -0.25, 1e-8, 3}, {0, 1, -1, 0.333333}},
		Usage:   chat.Usage{PromptTokens: 7},
	}
	checkGolden(t, "testdata/embeddings_float.golden.json", AppendEmbeddingResponse(nil, emb, "embed-alias", "float"))
	checkGolden(t, "testdata/embeddings_base64.golden.json", AppendEmbeddingResponse(nil, emb, "embed-alias", "base64"))
	checkGolden(t, "testdata/models.golden.json", AppendModels(nil, []string{"openai/gpt-4o", "anthropic/claude-sonnet-4-5", "fast"}, 1741570000))
	var errs []byte
	errs = append(AppendError(errs, http.StatusBadRequest, "", "", "messages[2].content", "messages[2].content: must be a string"), '\n')
	errs = append(AppendError(errs, http.StatusTooManyRequests, "", "rate_limit_exceeded", "", "Budget exhausted for team \"search\"."), '\n')
	errs = append(AppendError(errs, http.StatusBadGateway, "upstream_error", "", "", "all providers failed"), '\n')
	errs = append(AppendError(errs, http.StatusUnauthorized, "", "invalid_api_key", "", "bad key"), '\n')
	checkGolden(t, "testdata/errors.golden.jsonl", errs)
}

// streamOf returns a stream reading an SSE body.
func streamOf(body []byte) *stream {
	return newStream("test", &http.Response{
		Header: http.Header{"Content-Type": {"text/event-stream"}},
		Body:   io.NopCloser(bytes.NewReader(body)),
	})
}
