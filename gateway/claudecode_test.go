package gateway

import (
	"encoding/json"
	"net/http"
	"testing"
)

// TestClaudeCodeRequests: what Claude Code sends beyond plain Messages calls
// works through the gateway: count_tokens, passed to an Anthropic upstream
// or estimated for another format, refused in Anthropic's shape without a
// valid key; and a role "system" entry inside messages[] reaching an
// OpenAI-format provider.
func TestClaudeCodeRequests(t *testing.T) {
	s := startLLM(t, nil)
	const count = "/v1/messages/count_tokens"
	body := func(model string) string {
		return `{"model":"` + model + `","system":"be brief","messages":[{"role":"user","content":"hello"}]}`
	}
	for _, model := range []string{"claude/claude-haiku-4-5", "fast"} {
		resp, raw := s.post(t, count, body(model))
		var got struct {
			InputTokens int64 `json:"input_tokens"`
		}
		if resp.StatusCode != http.StatusOK || json.Unmarshal(raw, &got) != nil || got.InputTokens < 1 {
			t.Errorf("%s: count_tokens %d %s", model, resp.StatusCode, raw)
		}
	}
	if n := s.mock.Stats().ByEndpoint["/v1/messages/count_tokens"]; n != 1 {
		t.Errorf("%d count_tokens calls reached the mock, want 1 (claude only)", n)
	}
	resp, raw := s.postAs(t, "jk-wrong", count, body("fast"))
	var anth struct {
		Type  string `json:"type"`
		Error struct{ Type string }
	}
	if resp.StatusCode != http.StatusUnauthorized || json.Unmarshal(raw, &anth) != nil || anth.Type != "error" ||
		anth.Error.Type != "authentication_error" {
		t.Errorf("wrong key: %d %s", resp.StatusCode, raw)
	}

	resp, raw = s.post(t, "/v1/messages", `{"model":"fast","max_tokens":16,"messages":[{"role":"user","content":"hello"},`+
		`{"role":"system","content":"be brief"},{"role":"user","content":"again"}]}`)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("system entry in messages: %d %s", resp.StatusCode, raw)
	}
	last, _ := s.mock.LastRequest()
	if last.Path != "/v1/chat/completions" || !json.Valid(last.Body) ||
		!containsJSON(last.Body, `{"role":"system","content":"be brief"}`) {
		t.Errorf("upstream got %s %s", last.Path, last.Body)
	}
}

// containsJSON reports whether the messages of a chat request hold want.
func containsJSON(body []byte, want string) bool {
	var req struct {
		Messages []json.RawMessage `json:"messages"`
	}
	if json.Unmarshal(body, &req) != nil {
		return false
	}
	var w any
	_ = json.Unmarshal([]byte(want), &w)
	for _, m := range req.Messages {
		var got any
		if json.Unmarshal(m, &got) == nil && equalJSON(got, w) {
			return true
		}
	}
	return false
}

func equalJSON(a, b any) bool {
	x, _ := json.Marshal(a)
	y, _ := json.Marshal(b)
	return string(x) == string(y)
}
