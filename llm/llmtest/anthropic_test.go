package llmtest

import (
	"net/http"
	"slices"
	"strings"
	"testing"
)

func TestAnthropicMessage(t *testing.T) {
	srv := StartServer(t)
	body := `{"model":"claude-haiku-4-5","max_tokens":100,"system":[{"type":"text","text":"be very brief"}],` +
		`"messages":[{"role":"user","content":[{"type":"text","text":"hello there"}]}],"metadata":{"user_id":"u"}}`
	status, header, raw := do(t, newRequest(t.Context(), anthropic, srv.URL, "", testKey, body))
	if status != http.StatusOK {
		t.Fatalf("status %d: %s", status, raw)
	}
	if id := header.Get("Request-Id"); !strings.HasPrefix(id, "req_") {
		t.Errorf("request-id %q", id)
	}
	var msg anMessage
	decodeJSON(t, raw, &msg)
	if !strings.HasPrefix(msg.ID, "msg_") || msg.Type != "message" || msg.Role != "assistant" || msg.Model != "claude-haiku-4-5" {
		t.Errorf("message %+v", msg)
	}
	if len(msg.Content) != 1 || msg.Content[0].Type != "text" || msg.Content[0].Text != "Echo: hello there" {
		t.Errorf("content %+v", msg.Content)
	}
	if msg.StopReason != "end_turn" || msg.Usage != (anUsage{InputTokens: 5, OutputTokens: 3}) {
		t.Errorf("stop %q usage %+v", msg.StopReason, msg.Usage)
	}
	if !strings.Contains(string(raw), `"stop_sequence":null`) {
		t.Errorf("stop_sequence missing: %s", raw)
	}
}

func TestAnthropicStreamEvents(t *testing.T) {
	srv := StartServer(t)
	resp := openStream(t, newRequest(t.Context(), anthropic, srv.URL, "", testKey, chatBody(anthropic, "one two", `,"stream":true`)))
	s, err := readAnthropicStream(resp.Body)
	if err != nil {
		t.Fatalf("stream: %v (so far %+v)", err, s)
	}
	want := []string{
		"message_start", "content_block_start", "ping",
		"content_block_delta", "content_block_delta", "content_block_delta",
		"content_block_stop", "message_delta", "message_stop",
	}
	if !slices.Equal(s.Events, want) {
		t.Errorf("events %v, want %v", s.Events, want)
	}
	if !strings.HasPrefix(s.Message.ID, "msg_") || s.Message.Content[0].Text != "Echo: one two" || s.Message.StopReason != "end_turn" {
		t.Errorf("message %+v", s.Message)
	}
	if s.Message.Usage != (anUsage{InputTokens: 2, OutputTokens: 3}) {
		t.Errorf("usage %+v", s.Message.Usage)
	}
}

func TestAnthropicValidation(t *testing.T) {
	srv := StartServer(t, WithModels("claude-haiku-4-5"))
	const msgs = `"messages":[{"role":"user","content":"hi"}]`
	tests := []struct {
		name      string
		noVersion bool
		key       string
		body      string
		status    int
		errType   string
		inMessage string
	}{
		{name: "missing version", noVersion: true, body: `{"model":"claude-haiku-4-5","max_tokens":5,` + msgs + `}`, status: 400, errType: "invalid_request_error", inMessage: "anthropic-version"},
		{name: "missing key", key: "-", body: `{"model":"claude-haiku-4-5","max_tokens":5,` + msgs + `}`, status: 401, errType: "authentication_error"},
		{name: "invalid json", body: `{"model"`, status: 400, errType: "invalid_request_error"},
		{name: "missing model", body: `{"max_tokens":5,` + msgs + `}`, status: 400, errType: "invalid_request_error", inMessage: "model: Field required"},
		{name: "missing max_tokens", body: `{"model":"claude-haiku-4-5",` + msgs + `}`, status: 400, errType: "invalid_request_error", inMessage: "max_tokens: Field required"},
		{name: "zero max_tokens", body: `{"model":"claude-haiku-4-5","max_tokens":0,` + msgs + `}`, status: 400, errType: "invalid_request_error", inMessage: "max_tokens"},
		{name: "missing messages", body: `{"model":"claude-haiku-4-5","max_tokens":5}`, status: 400, errType: "invalid_request_error", inMessage: "messages: Field required"},
		{name: "empty messages", body: `{"model":"claude-haiku-4-5","max_tokens":5,"messages":[]}`, status: 400, errType: "invalid_request_error", inMessage: "messages"},
		{name: "system role", body: `{"model":"claude-haiku-4-5","max_tokens":5,"messages":[{"role":"system","content":"x"}]}`, status: 400, errType: "invalid_request_error", inMessage: "messages.0.role"},
		{name: "missing content", body: `{"model":"claude-haiku-4-5","max_tokens":5,"messages":[{"role":"user"}]}`, status: 400, errType: "invalid_request_error", inMessage: "messages.0.content"},
		{name: "block without type", body: `{"model":"claude-haiku-4-5","max_tokens":5,"messages":[{"role":"user","content":[{"text":"x"}]}]}`, status: 400, errType: "invalid_request_error", inMessage: "messages.0.content"},
		{name: "bad system", body: `{"model":"claude-haiku-4-5","max_tokens":5,"system":7,` + msgs + `}`, status: 400, errType: "invalid_request_error", inMessage: "system"},
		{name: "unknown model", body: `{"model":"claude-9","max_tokens":5,` + msgs + `}`, status: 404, errType: "not_found_error", inMessage: "claude-9"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			key := testKey
			if tt.key == "-" {
				key = ""
			}
			req := newRequest(t.Context(), anthropic, srv.URL, "", key, tt.body)
			if tt.noVersion {
				req.Header.Del("anthropic-version")
			}
			status, _, raw := do(t, req)
			if status != tt.status {
				t.Fatalf("status %d, want %d: %s", status, tt.status, raw)
			}
			var e anError
			decodeJSON(t, raw, &e)
			if e.Type != "error" || e.Error == nil || e.Error.Type != tt.errType {
				t.Fatalf("error %s, want type %q", raw, tt.errType)
			}
			if !strings.Contains(e.Error.Message, tt.inMessage) {
				t.Errorf("message %q lacks %q", e.Error.Message, tt.inMessage)
			}
		})
	}
}

func TestAnthropicBearerAuth(t *testing.T) {
	m := New(WithAPIKeys(testKey))
	t.Cleanup(m.Close)
	req := newRequest(t.Context(), anthropic, "", "", "", chatBody(anthropic, "hi", ""))
	req.Header.Set("Authorization", "Bearer "+testKey)
	if rec := serve(m, req); rec.Code != http.StatusOK {
		t.Fatalf("status %d: %s", rec.Code, rec.Body)
	}
}

// TestAnthropicCountTokens: count_tokens counts a Messages body (no
// max_tokens needed) as /v1/messages counts its input, and refuses what
// /v1/messages refuses.
func TestAnthropicCountTokens(t *testing.T) {
	srv := StartServer(t)
	path := string(EndpointCountTokens)
	body := `{"model":"claude-haiku-4-5","system":[{"type":"text","text":"be very brief"}],` +
		`"messages":[{"role":"user","content":[{"type":"text","text":"hello there"}]}]}`
	status, _, raw := do(t, newRequest(t.Context(), anthropic, srv.URL, path, testKey, body))
	if status != http.StatusOK || string(raw) != `{"input_tokens":5}` {
		t.Fatalf("status %d: %s", status, raw)
	}
	if n := srv.Stats().ByEndpoint[EndpointCountTokens]; n != 1 {
		t.Errorf("%d count_tokens requests counted", n)
	}
	for _, tt := range []struct {
		name, body string
		status     int
	}{
		{"no messages", `{"model":"claude-haiku-4-5"}`, http.StatusBadRequest},
		{"not JSON", `{`, http.StatusBadRequest},
	} {
		if status, _, raw := do(t, newRequest(t.Context(), anthropic, srv.URL, path, testKey, tt.body)); status != tt.status {
			t.Errorf("%s: status %d, want %d: %s", tt.name, status, tt.status, raw)
		}
	}
	req := newRequest(t.Context(), anthropic, srv.URL, path, testKey, body)
	req.Header.Del("anthropic-version")
	if status, _, raw := do(t, req); status != http.StatusBadRequest {
		t.Errorf("without anthropic-version: status %d: %s", status, raw)
	}
}
