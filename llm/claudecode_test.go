package llm

import (
	"encoding/json"
	"net/http"
	"testing"

	"github.com/junctionhq/junction/policy"
)

// TestMessagesSystemEntryToOpenAIProvider: a role "system" entry inside
// messages[] (Claude Code sends them) reaches an OpenAI-format provider as a
// system message at its place.
func TestMessagesSystemEntryToOpenAIProvider(t *testing.T) {
	e := newTestEnv(t, nil)
	body := `{"model":"mock/gpt-4o-mini","max_tokens":16,"system":"top","messages":[` +
		`{"role":"user","content":"hello"},{"role":"system","content":[{"type":"text","text":"be terse"}]},` +
		`{"role":"user","content":"again"}]}`
	rec := e.post(policy.AdminIdentity(), "/v1/messages", body)
	if rec.Code != http.StatusOK {
		t.Fatalf("status %d: %s", rec.Code, rec.Body)
	}
	last, ok := e.up.LastRequest()
	if !ok {
		t.Fatal("the provider got no request")
	}
	var sent struct {
		Messages []struct {
			Role    string `json:"role"`
			Content string `json:"content"`
		} `json:"messages"`
	}
	if err := json.Unmarshal(last.Body, &sent); err != nil {
		t.Fatalf("%v: %s", err, last.Body)
	}
	var got []string
	for _, m := range sent.Messages {
		got = append(got, m.Role+":"+m.Content)
	}
	want := []string{"system:top", "user:hello", "system:be terse", "user:again"}
	if len(got) != len(want) {
		t.Fatalf("upstream messages %q, want %q", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("upstream messages %q, want %q", got, want)
			break
		}
	}
}
