package llmtest

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"
)

func TestOpenAIChatCompletion(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	srv := StartServer(t, WithNow(func() time.Time { return now }))
	body := `{"model":"gpt-4o-mini","messages":[` +
		`{"role":"system","content":"be brief"},` +
		`{"role":"user","content":[{"type":"text","text":"what is the time"},{"type":"image_url","image_url":{"url":"x"}}]}` +
		`],"temperature":0.2,"unknown_field":{"a":1}}`
	status, header, raw := do(t, newRequest(t.Context(), openAI, srv.URL, "", testKey, body))
	checkJSONReply(t, status, header, raw)
	var c oaCompletion
	decodeJSON(t, raw, &c)
	if !strings.HasPrefix(c.ID, "chatcmpl-") || len(c.ID) != len("chatcmpl-")+idLength {
		t.Errorf("id %q", c.ID)
	}
	if c.Object != "chat.completion" || c.Model != "gpt-4o-mini" || c.Created != now.Unix() {
		t.Errorf("object %q model %q created %d", c.Object, c.Model, c.Created)
	}
	if len(c.Choices) != 1 {
		t.Fatalf("%d choices", len(c.Choices))
	}
	ch := c.Choices[0]
	if ch.Message.Role != "assistant" || ch.Message.Content == nil || *ch.Message.Content != "Echo: what is the time" {
		t.Errorf("message %+v", ch.Message)
	}
	if ch.FinishReason != "stop" {
		t.Errorf("finish_reason %q", ch.FinishReason)
	}
	// prompt: "be brief" (2) + "what is the time" (4); completion: "Echo: what is the time" (5)
	if c.Usage == nil || *c.Usage != (oaUsage{PromptTokens: 6, CompletionTokens: 5, TotalTokens: 11}) {
		t.Errorf("usage %+v", c.Usage)
	}
}

func TestOpenAIChatStream(t *testing.T) {
	srv := StartServer(t)
	for _, includeUsage := range []bool{false, true} {
		name := "without usage"
		extra := `,"stream":true`
		if includeUsage {
			name = "with usage"
			extra += `,"stream_options":{"include_usage":true}`
		}
		t.Run(name, func(t *testing.T) {
			resp := openStream(t, newRequest(t.Context(), openAI, srv.URL, "", testKey, chatBody(openAI, "tell me a story please", extra)))
			s, err := readOpenAIStream(resp.Body)
			if err != nil {
				t.Fatalf("stream: %v (so far %+v)", err, s)
			}
			if !s.Done || s.Role != "assistant" || s.Content != "Echo: tell me a story please" || s.FinishReason != "stop" {
				t.Errorf("stream %+v", s)
			}
			// role + 6 words + finish (+ usage)
			wantEvents := 8
			if includeUsage {
				wantEvents++
			}
			if s.Events != wantEvents {
				t.Errorf("%d events, want %d", s.Events, wantEvents)
			}
			if includeUsage {
				if !s.UsageLast || s.Usage == nil || *s.Usage != (oaUsage{PromptTokens: 5, CompletionTokens: 6, TotalTokens: 11}) {
					t.Errorf("usage %+v last=%v", s.Usage, s.UsageLast)
				}
			} else if s.Usage != nil {
				t.Errorf("usage sent without include_usage: %+v", s.Usage)
			}
		})
	}
}

func TestOpenAIValidation(t *testing.T) {
	srv := StartServer(t, WithModels("gpt-4o-mini"), WithAPIKeys(testKey))
	tests := []struct {
		name      string
		method    string
		path      string
		key       string
		body      string
		status    int
		errType   string
		code      string
		param     string
		inMessage string
	}{
		{name: "invalid json", body: `{"model":`, status: 400, errType: "invalid_request_error", inMessage: "parse the JSON body"},
		{name: "not an object", body: `[1,2]`, status: 400, errType: "invalid_request_error"},
		{name: "wrong type", body: `{"model":5,"messages":[]}`, status: 400, errType: "invalid_request_error", code: "invalid_type", param: "model"},
		{name: "missing model", body: `{"messages":[{"role":"user","content":"hi"}]}`, status: 400, errType: "invalid_request_error", inMessage: "model parameter"},
		{name: "missing messages", body: `{"model":"gpt-4o-mini"}`, status: 400, errType: "invalid_request_error", code: "missing_required_parameter", param: "messages"},
		{name: "empty messages", body: `{"model":"gpt-4o-mini","messages":[]}`, status: 400, errType: "invalid_request_error", code: "empty_array", param: "messages"},
		{name: "missing role", body: `{"model":"gpt-4o-mini","messages":[{"content":"hi"}]}`, status: 400, errType: "invalid_request_error", code: "missing_required_parameter", param: "messages[0].role"},
		{name: "bad role", body: `{"model":"gpt-4o-mini","messages":[{"role":"robot","content":"hi"}]}`, status: 400, errType: "invalid_request_error", code: "invalid_value", param: "messages[0].role"},
		{name: "null user content", body: `{"model":"gpt-4o-mini","messages":[{"role":"user","content":null}]}`, status: 400, errType: "invalid_request_error", param: "messages[0].content"},
		{name: "numeric content", body: `{"model":"gpt-4o-mini","messages":[{"role":"user","content":5}]}`, status: 400, errType: "invalid_request_error", code: "invalid_type"},
		{name: "tool without id", body: `{"model":"gpt-4o-mini","messages":[{"role":"user","content":"a"},{"role":"tool","content":"r"}]}`, status: 400, errType: "invalid_request_error", param: "messages[1].tool_call_id"},
		{name: "max_tokens zero", body: `{"model":"gpt-4o-mini","max_tokens":0,"messages":[{"role":"user","content":"a"}]}`, status: 400, errType: "invalid_request_error", code: "integer_below_min_value", param: "max_tokens"},
		{name: "stream_options without stream", body: `{"model":"gpt-4o-mini","stream_options":{"include_usage":true},"messages":[{"role":"user","content":"a"}]}`, status: 400, errType: "invalid_request_error", param: "stream_options"},
		{name: "unknown model", body: `{"model":"gpt-9","messages":[{"role":"user","content":"a"}]}`, status: 404, errType: "invalid_request_error", code: "model_not_found"},
		{name: "missing key", key: "-", body: chatBody(openAI, "a", ""), status: 401, errType: "invalid_request_error"},
		{name: "wrong key", key: otherKey, body: chatBody(openAI, "a", ""), status: 401, errType: "invalid_request_error", code: "invalid_api_key"},
		{name: "wrong method", method: http.MethodGet, status: 405, errType: "invalid_request_error"},
		{name: "unknown path", path: "/v1/completions", body: `{}`, status: 404, errType: "invalid_request_error"},
		{name: "assistant tool calls without content", body: `{"model":"gpt-4o-mini","messages":[{"role":"user","content":"a"},` +
			`{"role":"assistant","content":null,"tool_calls":[{"id":"c","type":"function","function":{"name":"f","arguments":"{}"}}]},` +
			`{"role":"tool","tool_call_id":"c","content":"r"}]}`, status: 200},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			key := testKey
			switch tt.key {
			case "-":
				key = ""
			case "":
			default:
				key = tt.key
			}
			req := newRequest(t.Context(), openAI, srv.URL, tt.path, key, tt.body)
			if tt.method != "" {
				req.Method = tt.method
			}
			status, header, raw := do(t, req)
			if status != tt.status {
				t.Fatalf("status %d, want %d: %s", status, tt.status, raw)
			}
			if status == http.StatusOK {
				return
			}
			if ct := header.Get("Content-Type"); ct != "application/json" {
				t.Errorf("content-type %q", ct)
			}
			var e oaError
			decodeJSON(t, raw, &e)
			if e.Error == nil || e.Error.Message == "" {
				t.Fatalf("not an OpenAI error: %s", raw)
			}
			if e.Error.Type != tt.errType {
				t.Errorf("type %q, want %q", e.Error.Type, tt.errType)
			}
			if tt.code != "" && (e.Error.Code == nil || *e.Error.Code != tt.code) {
				t.Errorf("code %v, want %q", e.Error.Code, tt.code)
			}
			if tt.param != "" && (e.Error.Param == nil || *e.Error.Param != tt.param) {
				t.Errorf("param %v, want %q", e.Error.Param, tt.param)
			}
			if !strings.Contains(e.Error.Message, tt.inMessage) {
				t.Errorf("message %q lacks %q", e.Error.Message, tt.inMessage)
			}
			if !strings.Contains(string(raw), `"param":`) || !strings.Contains(string(raw), `"code":`) {
				t.Errorf("error lacks param or code keys: %s", raw)
			}
		})
	}
}

func TestReplyKnobs(t *testing.T) {
	tests := []struct {
		name       string
		behavior   Behavior
		user       string
		extra      string // OpenAI request fields
		maxTokens  int    // Anthropic max_tokens
		wantText   string
		wantTokens int
		wantFinish [2]string // OpenAI, Anthropic
	}{
		{name: "echo", user: "  hello   world ", wantText: "Echo: hello   world", wantTokens: 3, wantFinish: [2]string{"stop", "end_turn"}},
		{name: "echo of nothing", user: " ", wantText: "Hello from llmtest.", wantTokens: 3, wantFinish: [2]string{"stop", "end_turn"}},
		{name: "fixed reply", behavior: Behavior{Reply: "The answer is 42."}, user: "q", wantText: "The answer is 42.", wantTokens: 4, wantFinish: [2]string{"stop", "end_turn"}},
		{name: "reply tokens", behavior: Behavior{ReplyTokens: 5}, user: "q", wantText: "lorem ipsum dolor sit amet", wantTokens: 5, wantFinish: [2]string{"stop", "end_turn"}},
		{name: "max tokens truncate", behavior: Behavior{Reply: "one two three four five"}, user: "q", extra: `,"max_tokens":3`, maxTokens: 3,
			wantText: "one two three", wantTokens: 3, wantFinish: [2]string{"length", "max_tokens"}},
		{name: "max_completion_tokens", behavior: Behavior{ReplyTokens: 10}, user: "q", extra: `,"max_tokens":50,"max_completion_tokens":2`, maxTokens: 2,
			wantText: "lorem ipsum", wantTokens: 2, wantFinish: [2]string{"length", "max_tokens"}},
		{name: "max tokens exactly enough", behavior: Behavior{Reply: "one two three"}, user: "q", extra: `,"max_tokens":3`, maxTokens: 3,
			wantText: "one two three", wantTokens: 3, wantFinish: [2]string{"stop", "end_turn"}},
		{name: "unicode and escapes", behavior: Behavior{Reply: "naïve \"quoted\"\n\u2028line"}, user: "q",
			wantText: "naïve \"quoted\"\n\u2028line", wantTokens: 3, wantFinish: [2]string{"stop", "end_turn"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := New()
			t.Cleanup(m.Close)
			mustSet(t, m, tt.behavior)
			for _, stream := range []bool{false, true} {
				// OpenAI
				extra := tt.extra
				if stream {
					extra += `,"stream":true,"stream_options":{"include_usage":true}`
				}
				rec := serve(m, newRequest(t.Context(), openAI, "", "", testKey, chatBody(openAI, tt.user, extra)))
				if rec.Code != http.StatusOK {
					t.Fatalf("openai stream=%v: status %d: %s", stream, rec.Code, rec.Body)
				}
				var text, finish string
				var tokens int
				if stream {
					s, err := readOpenAIStream(rec.Body)
					if err != nil {
						t.Fatalf("openai stream: %v", err)
					}
					text, finish, tokens = s.Content, s.FinishReason, s.Usage.CompletionTokens
				} else {
					var c oaCompletion
					decodeJSON(t, rec.Body.Bytes(), &c)
					text, finish, tokens = *c.Choices[0].Message.Content, c.Choices[0].FinishReason, c.Usage.CompletionTokens
				}
				if text != tt.wantText || finish != tt.wantFinish[0] || tokens != tt.wantTokens {
					t.Errorf("openai stream=%v: text %q finish %q tokens %d; want %q %q %d",
						stream, text, finish, tokens, tt.wantText, tt.wantFinish[0], tt.wantTokens)
				}

				// Anthropic
				maxTokens := 1024
				if tt.maxTokens > 0 {
					maxTokens = tt.maxTokens
				}
				body := strings.Replace(chatBody(anthropic, tt.user, ""), `"max_tokens":1024`, `"max_tokens":`+itoa(maxTokens), 1)
				if stream {
					body = strings.TrimSuffix(body, "}") + `,"stream":true}`
				}
				rec = serve(m, newRequest(t.Context(), anthropic, "", "", testKey, body))
				if rec.Code != http.StatusOK {
					t.Fatalf("anthropic stream=%v: status %d: %s", stream, rec.Code, rec.Body)
				}
				msg := readAnthropicMessage(t, rec.Body, stream)
				if len(msg.Content) != 1 || msg.Content[0].Type != "text" || msg.Content[0].Text != tt.wantText ||
					msg.StopReason != tt.wantFinish[1] || msg.Usage.OutputTokens != tt.wantTokens {
					t.Errorf("anthropic stream=%v: %+v; want %q %q %d", stream, msg, tt.wantText, tt.wantFinish[1], tt.wantTokens)
				}
			}
		})
	}
}

func itoa(n int) string { return string(appendInt(nil, n)) }

func TestModels(t *testing.T) {
	srv := StartServer(t, WithModels("gpt-4o", "claude-sonnet-4-5"))
	t.Run("openai", func(t *testing.T) {
		status, _, raw := do(t, newRequest(t.Context(), openAI, srv.URL, string(EndpointModels), testKey, ""))
		if status != http.StatusOK {
			t.Fatalf("status %d: %s", status, raw)
		}
		var list struct {
			Object string `json:"object"`
			Data   []struct {
				ID      string `json:"id"`
				Object  string `json:"object"`
				Created int64  `json:"created"`
				OwnedBy string `json:"owned_by"`
			} `json:"data"`
		}
		decodeJSON(t, raw, &list)
		if list.Object != "list" || len(list.Data) != 2 || list.Data[0].ID != "gpt-4o" || list.Data[1].ID != "claude-sonnet-4-5" {
			t.Fatalf("list %+v", list)
		}
		for _, d := range list.Data {
			if d.Object != "model" || d.Created == 0 || d.OwnedBy == "" {
				t.Errorf("model %+v", d)
			}
		}
	})
	t.Run("anthropic", func(t *testing.T) {
		status, _, raw := do(t, newRequest(t.Context(), anthropic, srv.URL, string(EndpointModels), testKey, ""))
		if status != http.StatusOK {
			t.Fatalf("status %d: %s", status, raw)
		}
		var list struct {
			Data []struct {
				Type      string    `json:"type"`
				ID        string    `json:"id"`
				CreatedAt time.Time `json:"created_at"`
			} `json:"data"`
			HasMore bool   `json:"has_more"`
			FirstID string `json:"first_id"`
			LastID  string `json:"last_id"`
		}
		decodeJSON(t, raw, &list)
		if len(list.Data) != 2 || list.Data[0].Type != "model" || list.FirstID != "gpt-4o" || list.LastID != "claude-sonnet-4-5" || list.HasMore {
			t.Fatalf("list %+v", list)
		}
	})
	t.Run("default models accept any name", func(t *testing.T) {
		m := New()
		t.Cleanup(m.Close)
		rec := serve(m, newRequest(context.Background(), openAI, "", "", testKey,
			`{"model":"anything-goes","messages":[{"role":"user","content":"hi"}]}`))
		if rec.Code != http.StatusOK {
			t.Fatalf("status %d: %s", rec.Code, rec.Body)
		}
	})
}
