package gemini

import (
	"encoding/json"
	"testing"

	"github.com/junctionhq/junction/internal/testkit"
	"github.com/junctionhq/junction/llm/chat"
)

// testCreated stamps the translated responses of the golden tests.
const testCreated = 1767225600

func TestDecodeResponseGolden(t *testing.T) {
	testkit.RunGoldenCases(t, "testdata/response", ".json", func(t *testing.T, in string) {
		resp, err := decodeResponse(testkit.ReadFile(t, in), "requested-model", testCreated)
		if err != nil {
			t.Fatal(err)
		}
		checkGolden(t, testkit.GoldenPath(in, ".json"), mustJSON(t, resp))
	})
}

func TestDecodeResponseErrors(t *testing.T) {
	for _, in := range []string{``, `[]`, `{"candidates":{}}`, `{"usageMetadata":{"promptTokenCount":"x"}}`} {
		if _, err := decodeResponse([]byte(in), "m", 0); err == nil {
			t.Errorf("decodeResponse(%q): no error", in)
		}
	}
}

func TestFinishReason(t *testing.T) {
	tests := []struct {
		reason string
		calls  bool
		want   string
	}{
		{"", false, ""},
		{"STOP", false, chat.FinishStop},
		{"STOP", true, chat.FinishToolCalls},
		{"MAX_TOKENS", true, chat.FinishLength},
		{"SAFETY", false, chat.FinishContentFilter},
		{"RECITATION", false, chat.FinishContentFilter},
		{"BLOCKLIST", false, chat.FinishContentFilter},
		{"PROHIBITED_CONTENT", false, chat.FinishContentFilter},
		{"SPII", false, chat.FinishContentFilter},
		{"IMAGE_SAFETY", false, chat.FinishContentFilter},
		{"OTHER", false, chat.FinishStop},
		{"MALFORMED_FUNCTION_CALL", false, chat.FinishStop},
		{"FINISH_REASON_UNSPECIFIED", false, chat.FinishStop},
	}
	for _, tt := range tests {
		if got := finishReason(tt.reason, tt.calls); got != tt.want {
			t.Errorf("finishReason(%q, %v) = %q, want %q", tt.reason, tt.calls, got, tt.want)
		}
	}
}

func TestUsage(t *testing.T) {
	u := (&usageMetadata{PromptTokenCount: 100, CandidatesTokenCount: 10, CachedContentTokenCount: 60,
		ThoughtsTokenCount: 30, ToolUsePromptTokenCount: 5}).usage()
	want := chat.Usage{PromptTokens: 105, CompletionTokens: 40, CachedTokens: 60, ReasoningTokens: 30}
	if u != want {
		t.Errorf("usage %+v, want %+v", u, want)
	}
}

// FuzzDecodeResponse checks that any body decodes without panicking and,
// when it decodes, into a usable response.
func FuzzDecodeResponse(f *testing.F) {
	testkit.AddSeeds(f, "testdata/response", ".json")
	f.Add([]byte(`{"candidates":[{"content":{"parts":[{"functionCall":{"name":"f","args":null}},{"functionCall":{}}]}}]}`))
	f.Fuzz(func(t *testing.T, raw []byte) {
		resp, err := decodeResponse(raw, "m", 1)
		if err != nil {
			return
		}
		if resp.FinishReason == "" || resp.Message.Role != chat.RoleAssistant || resp.Model == "" {
			t.Fatalf("response %+v", resp)
		}
		for i, c := range resp.Message.ToolCalls {
			if c.ID == "" || !json.Valid([]byte(c.Arguments)) {
				t.Fatalf("tool call %d: %+v", i, c)
			}
		}
	})
}
