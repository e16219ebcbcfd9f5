package llm

import (
	"bytes"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/rs/zerolog"

	"github.com/junctionhq/junction/llm/llmtest"
	"github.com/junctionhq/junction/policy"
)

// liveKey is Junction's provider key in these tests; the upstream refuses it.
const liveKey = "sk-live-secret-key-1234"

// newKeyedService is a Service whose providers oai, az, ant and gem (one
// per wire format) point at url with apiKey.
func newKeyedService(t *testing.T, url, apiKey string) *Service {
	t.Helper()
	engine := testPolicy(t, t.TempDir())
	key := []ProviderKeyConfig{{Name: "k", Value: apiKey}}
	s, err := New(Options{Policy: engine, Config: Config{Providers: []ProviderConfig{
		{Name: "oai", Type: TypeOpenAI, BaseURL: url + "/v1", Keys: key},
		{Name: "az", Type: TypeAzure, BaseURL: url, Keys: key},
		{Name: "ant", Type: TypeAnthropic, BaseURL: url, Keys: key},
		{Name: "gem", Type: TypeGemini, BaseURL: url + "/v1beta", Keys: key},
	}}})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// serveLogged serves body on path as the admin, with a logger capturing
// what the gateway logs for the request.
func serveLogged(s *Service, path, body string) (*httptest.ResponseRecorder, string) {
	var logs bytes.Buffer
	logger := zerolog.New(&logs)
	req := httptest.NewRequest(http.MethodPost, path, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req = req.WithContext(logger.WithContext(req.Context()))
	rec := httptest.NewRecorder()
	serveAs(s, policy.AdminIdentity(), rec, req)
	return rec, logs.String()
}

// providerCases are requests reaching each wire format, streamed or not.
func providerCases() []struct{ name, path, body, provider string } {
	chatReq := func(model string, stream bool) string {
		return fmt.Sprintf(`{"model":%q,"stream":%v,"max_tokens":16,"messages":[{"role":"user","content":"hello"}]}`, model, stream)
	}
	return []struct{ name, path, body, provider string }{
		{"openai", chatPath, chatReq("oai/gpt-4o", false), "oai"},
		{"openai stream", chatPath, chatReq("oai/gpt-4o", true), "oai"},
		{"openai embeddings", "/v1/embeddings", `{"model":"oai/text-embedding-3-small","input":"hi"}`, "oai"},
		{"azure", chatPath, chatReq("az/gpt-4o", false), "az"},
		{"azure stream", chatPath, chatReq("az/gpt-4o", true), "az"},
		{"anthropic", "/v1/messages", chatReq("ant/claude-haiku-4-5", false), "ant"},
		{"anthropic stream", "/v1/messages", chatReq("ant/claude-haiku-4-5", true), "ant"},
		{"anthropic from chat", chatPath, chatReq("ant/claude-haiku-4-5", true), "ant"},
		{"gemini", chatPath, chatReq("gem/gemini-2.0-flash", false), "gem"},
		{"gemini stream", "/v1/messages", chatReq("gem/gemini-2.0-flash", true), "gem"},
	}
}

// TestProviderAuthFailureIsA502WithoutKeyMaterial: when a provider refuses
// Junction's key (llmtest answering 401 "Incorrect API key provided:
// sk-****1234", Anthropic's 401, Azure's 401, Gemini's 400
// API_KEY_INVALID), the client gets a 502 saying the provider rejected
// Junction's credentials, never a 401 nor any part of the key; the
// upstream's words are logged at warn.
func TestProviderAuthFailureIsA502WithoutKeyMaterial(t *testing.T) {
	up := llmtest.NewServer(llmtest.WithAPIKeys("sk-the-only-valid-key-0000"))
	t.Cleanup(up.Close)
	s := newKeyedService(t, up.URL, liveKey)
	for _, c := range providerCases() {
		t.Run(c.name, func(t *testing.T) {
			rec, logs := serveLogged(s, c.path, c.body)
			body := rec.Body.String()
			if rec.Code != http.StatusBadGateway {
				t.Fatalf("status %d, want 502: %s", rec.Code, body)
			}
			if !strings.Contains(body, "rejected Junction's credentials for "+c.provider) {
				t.Errorf("message: %s", body)
			}
			if c.path != "/v1/messages" && !strings.Contains(body, `"code":"provider_auth_failed"`) {
				t.Errorf("code: %s", body)
			}
			for _, leak := range []string{"sk-", "1234", "****", "invalid_api_key", "Incorrect API key", "invalid x-api-key", "API key not valid", "Access denied"} {
				if strings.Contains(body, leak) {
					t.Errorf("the client sees %q: %s", leak, body)
				}
			}
			if !strings.Contains(logs, `"level":"warn"`) || !strings.Contains(logs, c.provider+": upstream returned") {
				t.Errorf("the upstream detail is not logged at warn: %s", logs)
			}
			if strings.Contains(logs, liveKey) {
				t.Errorf("the log holds the key: %s", logs)
			}
		})
	}
}

// TestProviderErrorMessagesAreScrubbed: what a provider says in an error
// that reaches the client (a 400, an error event at the start of a
// stream) loses the configured key, whatever it looks like, and anything
// key-like.
func TestProviderErrorMessagesAreScrubbed(t *testing.T) {
	const plainKey = "local-llm-key-7f3a9c"
	upstream := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		quoted := "bad request with " + strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ") +
			" (also sk-proj-AbCdEf0123456789, AIzaSyA1234567890abcdefghijklmn, Bearer abc.def.ghi, " +
			"0123456789abcdef0123456789abcdef, key=hunter2-secret)"
		if strings.Contains(r.URL.Path, "stream") || strings.Contains(readAll(r), `"stream":true`) {
			w.Header().Set("Content-Type", "text/event-stream")
			fmt.Fprintf(w, "data: {\"error\":{\"message\":%q,\"type\":\"server_error\"}}\n\n", quoted)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusBadRequest)
		fmt.Fprintf(w, `{"error":{"message":%q,"type":"invalid_request_error"}}`, quoted)
	}))
	t.Cleanup(upstream.Close)
	s := newKeyedService(t, upstream.URL, plainKey)
	for _, stream := range []bool{false, true} {
		body := fmt.Sprintf(`{"model":"oai/gpt-4o","stream":%v,"messages":[{"role":"user","content":"hi"}]}`, stream)
		rec, logs := serveLogged(s, chatPath, body)
		if strings.Contains(logs, plainKey) {
			t.Errorf("stream %v: the log holds the key: %s", stream, logs)
		}
		got := rec.Body.String()
		if !strings.Contains(got, "bad request with") {
			t.Errorf("stream %v: the upstream's message is gone altogether: %d %s", stream, rec.Code, got)
		}
		for _, leak := range []string{plainKey, "sk-proj", "AIza", "abc.def", "0123456789abcdef0123456789abcdef", "hunter2"} {
			if strings.Contains(got, leak) {
				t.Errorf("stream %v: the client sees %q: %s", stream, leak, got)
			}
		}
	}
}

func readAll(r *http.Request) string {
	var b bytes.Buffer
	_, _ = b.ReadFrom(r.Body)
	return b.String()
}

func TestRedactSecrets(t *testing.T) {
	cases := map[string]string{
		"Incorrect API key provided: sk-****1234.":      "Incorrect API key provided: [redacted].",
		"model gpt-4o-mini does not exist":              "model gpt-4o-mini does not exist",
		"risk-free task-123 is fine":                    "risk-free task-123 is fine",
		"use sk-ant-api03-AbC_dEf-123 please":           "use [redacted] please",
		"key AIzaSyA1234567890abcdefghijk is wrong":     "key [redacted] is wrong",
		"Authorization: Bearer eyJhbGciOi.eyJzdWIi.sig": "Authorization: [redacted]",
		"https://x/v1?key=abc123&alt=sse":               "https://x/v1?[redacted]&alt=sse",
		"subscription 0123456789abcdef0123456789abcdef": "subscription [redacted]",
		"masked abc****wxyz":                            "masked [redacted]",
	}
	for in, want := range cases {
		if got := redactSecrets(in); got != want {
			t.Errorf("redactSecrets(%q) = %q, want %q", in, got, want)
		}
	}
}
