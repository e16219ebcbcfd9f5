package llm

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/junctionhq/junction/llm/llmtest"
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

const countTokensPath = "/v1/messages/count_tokens"

// countBody is a count_tokens request for model.
func countBody(model string) string {
	return `{"model":"` + model + `","system":"be brief","messages":[{"role":"user","content":"hello there"}]}`
}

// inputTokens reads count_tokens' answer.
func inputTokens(t *testing.T, body []byte) int64 {
	t.Helper()
	var got struct {
		InputTokens *int64 `json:"input_tokens"`
	}
	if err := json.Unmarshal(body, &got); err != nil || got.InputTokens == nil {
		t.Fatalf("answer %s: %v", body, err)
	}
	return *got.InputTokens
}

// TestCountTokensPassedToAnthropicUpstream: an Anthropic-format target
// counts the tokens itself, sent the client's body with the target's model,
// and authenticated as the provider.
func TestCountTokensPassedToAnthropicUpstream(t *testing.T) {
	e := newTestEnv(t, nil)
	rec := e.post(policy.AdminIdentity(), countTokensPath, countBody("claude/claude-haiku-4-5"),
		"anthropic-version", "2023-06-01", "anthropic-beta", "token-counting-2024-11-01")
	if rec.Code != http.StatusOK {
		t.Fatalf("status %d: %s", rec.Code, rec.Body)
	}
	if n := inputTokens(t, rec.Body.Bytes()); n < 1 {
		t.Errorf("input_tokens %d", n)
	}
	last, ok := e.up.LastRequest()
	if !ok || last.Path != countTokensPath || last.Method != http.MethodPost {
		t.Fatalf("upstream request %+v", last)
	}
	if last.Key != "sk-ant-0123456789abcd" || last.Header.Get("Anthropic-Version") == "" ||
		last.Header.Get("Anthropic-Beta") != "token-counting-2024-11-01" {
		t.Errorf("upstream headers %v, key %q", last.Header, last.Key)
	}
	var sent struct {
		Model string `json:"model"`
	}
	if err := json.Unmarshal(last.Body, &sent); err != nil || sent.Model != "claude-haiku-4-5" {
		t.Errorf("upstream body %s", last.Body)
	}
	if got := e.up.Stats().ByEndpoint[llmtest.EndpointMessages]; got != 0 {
		t.Errorf("%d calls to /v1/messages", got)
	}
	// Junction's fallbacks stay behind.
	body := `{"model":"claude/claude-haiku-4-5","fallbacks":["mock/gpt-4o-mini"],"messages":[{"role":"user","content":"hi"}]}`
	if rec := e.post(policy.AdminIdentity(), countTokensPath, body); rec.Code != http.StatusOK {
		t.Fatalf("with fallbacks: status %d: %s", rec.Code, rec.Body)
	}
	if last, _ := e.up.LastRequest(); last.Path != countTokensPath || strings.Contains(string(last.Body), "fallbacks") ||
		!strings.Contains(string(last.Body), `"model":"claude-haiku-4-5"`) {
		t.Errorf("with fallbacks, upstream got %s %s", last.Path, last.Body)
	}
}

// TestCountTokensEstimatedForOtherFormats: a target of another format gets
// no call; the count is Junction's estimate.
func TestCountTokensEstimatedForOtherFormats(t *testing.T) {
	e := newTestEnv(t, nil)
	body := countBody("mock/gpt-4o-mini")
	rec := e.post(policy.AdminIdentity(), countTokensPath, body)
	if rec.Code != http.StatusOK {
		t.Fatalf("status %d: %s", rec.Code, rec.Body)
	}
	if n := inputTokens(t, rec.Body.Bytes()); n != estimateTokens(len(body)) {
		t.Errorf("input_tokens %d, want the estimate %d", n, estimateTokens(len(body)))
	}
	if n := e.up.Stats().Requests; n != 0 {
		t.Errorf("%d upstream requests", n)
	}
}

// TestCountTokensRefusals: an unknown model is a 404, a model the key may
// not use a 403, a bad body a 400, all in Anthropic's error shape and none
// reaching a provider.
func TestCountTokensRefusals(t *testing.T) {
	e := newTestEnv(t, nil)
	limited := e.key(t, policy.KeyInput{Name: "limited", Models: []string{"fast"}})
	admin := policy.AdminIdentity()
	tests := []struct {
		name   string
		id     *policy.Identity
		body   string
		status int
		typ    string
	}{
		{"unknown model", admin, countBody("no-such-model"), http.StatusNotFound, "not_found_error"},
		{"model not allowed", limited, countBody("claude/claude-haiku-4-5"), http.StatusForbidden, "permission_error"},
		{"not JSON", admin, `{"model":`, http.StatusBadRequest, "invalid_request_error"},
		{"no model", admin, `{"messages":[{"role":"user","content":"x"}]}`, http.StatusBadRequest, "invalid_request_error"},
		{"no messages", admin, `{"model":"claude/claude-haiku-4-5"}`, http.StatusBadRequest, "invalid_request_error"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := e.post(tt.id, countTokensPath, tt.body)
			if rec.Code != tt.status {
				t.Fatalf("status %d, want %d: %s", rec.Code, tt.status, rec.Body)
			}
			if er := readErr(t, rec); er.Type != "error" || er.Error.Type != tt.typ {
				t.Errorf("error %s, want Anthropic's %s", rec.Body, tt.typ)
			}
		})
	}
	if n := e.up.Stats().Requests; n != 0 {
		t.Errorf("%d upstream requests", n)
	}
}

// TestCountTokensUnderTheKeysRateLimit: count_tokens is admitted like any
// model call, so a key's requests-per-minute limit bounds how often it can
// make Junction ask an upstream; it costs nothing.
func TestCountTokensUnderTheKeysRateLimit(t *testing.T) {
	e := newTestEnv(t, nil)
	id := e.key(t, policy.KeyInput{Name: "counted", Limits: policy.Limits{RPM: 2}})
	for i := range 2 {
		if rec := e.post(id, countTokensPath, countBody("claude/claude-haiku-4-5")); rec.Code != http.StatusOK {
			t.Fatalf("call %d: status %d: %s", i+1, rec.Code, rec.Body)
		}
	}
	rec := e.post(id, countTokensPath, countBody("claude/claude-haiku-4-5"))
	if rec.Code != http.StatusTooManyRequests {
		t.Fatalf("third call in the minute: status %d, want 429: %s", rec.Code, rec.Body)
	}
	if er := readErr(t, rec); er.Type != "error" || er.Error.Type != "rate_limit_error" {
		t.Errorf("error %s, want Anthropic's rate_limit_error", rec.Body)
	}
	if n := e.up.Stats().ByEndpoint[countTokensPath]; n != 2 {
		t.Errorf("%d count_tokens calls reached the upstream, want 2", n)
	}
}

// TestAnthropicHeadersReachAnthropicUpstreams: on /v1/messages, whole and
// streamed, passed through and translated, an Anthropic client's
// anthropic-version and anthropic-beta reach an Anthropic upstream; without
// them the provider's default version goes and no beta; an OpenAI-format
// upstream never gets them.
func TestAnthropicHeadersReachAnthropicUpstreams(t *testing.T) {
	e := newTestEnv(t, nil)
	const version, beta = "2024-01-01", "interleaved-thinking-2025-05-14"
	body := func(model, extra string, stream bool) string {
		s := `{"model":"` + model + `",` + extra + `"max_tokens":16,"messages":[{"role":"user","content":"hi"}]`
		if stream {
			s += `,"stream":true`
		}
		return s + "}"
	}
	for _, c := range []struct {
		name, extra string
		stream      bool
	}{
		{"pass-through", "", false},
		{"pass-through stream", "", true},
		{"translated", `"fallbacks":["mock/gpt-4o-mini"],`, false},
		{"translated stream", `"fallbacks":["mock/gpt-4o-mini"],`, true},
	} {
		b := body("claude/claude-haiku-4-5", c.extra, c.stream)
		if rec := e.post(policy.AdminIdentity(), "/v1/messages", b, "anthropic-version", version, "anthropic-beta", beta); rec.Code != http.StatusOK {
			t.Fatalf("%s: status %d: %s", c.name, rec.Code, rec.Body)
		}
		last, _ := e.up.LastRequest()
		if last.Path != "/v1/messages" || last.Header.Get("Anthropic-Version") != version || last.Header.Get("Anthropic-Beta") != beta {
			t.Errorf("%s: upstream %s headers %v", c.name, last.Path, last.Header)
		}
		if rec := e.post(policy.AdminIdentity(), "/v1/messages", b); rec.Code != http.StatusOK {
			t.Fatalf("%s without headers: status %d: %s", c.name, rec.Code, rec.Body)
		}
		last, _ = e.up.LastRequest()
		if last.Header.Get("Anthropic-Version") != "2023-06-01" || last.Header.Values("Anthropic-Beta") != nil {
			t.Errorf("%s without headers: upstream headers %v", c.name, last.Header)
		}
		b = body("mock/gpt-4o-mini", "", c.stream)
		if rec := e.post(policy.AdminIdentity(), "/v1/messages", b, "anthropic-version", version, "anthropic-beta", beta); rec.Code != http.StatusOK {
			t.Fatalf("%s to OpenAI: status %d: %s", c.name, rec.Code, rec.Body)
		}
		last, _ = e.up.LastRequest()
		if last.Path != "/v1/chat/completions" || last.Header.Values("Anthropic-Version") != nil || last.Header.Values("Anthropic-Beta") != nil {
			t.Errorf("%s to OpenAI: upstream %s headers %v", c.name, last.Path, last.Header)
		}
	}
}
