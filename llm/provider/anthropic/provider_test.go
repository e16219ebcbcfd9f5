package anthropic

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/junctionhq/junction/internal/testkit"
	"github.com/junctionhq/junction/llm/chat"
	"github.com/junctionhq/junction/llm/llmtest"
	"github.com/junctionhq/junction/llm/provider/internal/providertest"
)

func TestMain(m *testing.M) { testkit.VerifyNoLeaks(m) }

const testKey = "sk-ant-test-0123456789"

// newProvider returns a Provider for srv whose idle connections are closed
// at the end of the test (for the goroutine-leak check).
func newProvider(t *testing.T, srv *llmtest.Server) *Provider {
	t.Helper()
	p, err := New(Config{Name: "anthropic-test", BaseURL: srv.URL + "/v1/", HTTPClient: providertest.Client(t), Headers: map[string]string{"anthropic-beta": "prompt-caching-2024-07-31"}})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

var target = chat.Target{Provider: "anthropic-test", Model: "claude-haiku-4-5", APIKey: testKey}

func setDefault(t *testing.T, srv *llmtest.Server, b llmtest.Behavior) {
	t.Helper()
	if err := srv.SetDefault(b); err != nil {
		t.Fatal(err)
	}
}

func chatRequest(text string) *chat.Request {
	return &chat.Request{
		Model: "fast",
		Messages: []chat.Message{
			chat.TextMessage(chat.RoleSystem, "be brief"),
			chat.TextMessage(chat.RoleUser, text),
		},
	}
}

func TestProviderChat(t *testing.T) {
	srv := llmtest.StartServer(t)
	p := newProvider(t, srv)
	resp, err := p.Chat(t.Context(), target, chatRequest("hello there"))
	if err != nil {
		t.Fatal(err)
	}
	if resp.Message.Text() != "Echo: hello there" || resp.FinishReason != chat.FinishStop || !strings.HasPrefix(resp.ID, "msg_") ||
		resp.Model != "claude-haiku-4-5" || resp.Message.Role != chat.RoleAssistant || resp.Created == 0 {
		t.Errorf("response %+v", resp)
	}
	if resp.Usage != (chat.Usage{PromptTokens: 4, CompletionTokens: 3}) {
		t.Errorf("usage %+v", resp.Usage)
	}
	rec, ok := srv.LastRequest()
	if !ok {
		t.Fatal("no request recorded")
	}
	if rec.Path != "/v1/messages" || rec.Header.Get("X-Api-Key") != testKey || rec.Header.Get("Anthropic-Version") != "2023-06-01" ||
		rec.Header.Get("Content-Type") != "application/json" || rec.Header.Get("Anthropic-Beta") != "prompt-caching-2024-07-31" {
		t.Errorf("request %s %v", rec.Path, rec.Header)
	}
	var sent map[string]any
	if err := json.Unmarshal(rec.Body, &sent); err != nil {
		t.Fatal(err)
	}
	if sent["model"] != "claude-haiku-4-5" || sent["max_tokens"] != float64(4096) || sent["system"] != "be brief" {
		t.Errorf("body %s", rec.Body)
	}
}

func TestProviderStream(t *testing.T) {
	srv := llmtest.StartServer(t)
	p := newProvider(t, srv)
	s, err := p.ChatStream(t.Context(), target, chatRequest("one two three"))
	if err != nil {
		t.Fatal(err)
	}
	first, err := s.Recv()
	if err != nil || first.Role != chat.RoleAssistant || !strings.HasPrefix(first.ID, "msg_") {
		t.Fatalf("first chunk %+v, %v", first, err)
	}
	c := collect(t, s)
	if c.err != nil || c.text != "Echo: one two three" || c.finish != chat.FinishStop {
		t.Errorf("stream %+v", c)
	}
	if c.usage != (chat.Usage{PromptTokens: 5, CompletionTokens: 4}) {
		t.Errorf("usage %+v", c.usage)
	}
	rec, _ := srv.LastRequest()
	if !strings.Contains(string(rec.Body), `"stream":true`) || rec.Header.Get("Accept") != "text/event-stream" {
		t.Errorf("request %v %s", rec.Header, rec.Body)
	}
}

// TestProviderToolLoop runs an agent loop against a scripted upstream: two
// parallel tool calls, their results, then the final answer.
func TestProviderToolLoop(t *testing.T) {
	for _, stream := range []bool{false, true} {
		t.Run(map[bool]string{false: "chat", true: "stream"}[stream], func(t *testing.T) {
			srv := llmtest.StartServer(t)
			setDefault(t, srv, llmtest.Behavior{ScriptMode: llmtest.ScriptByToolResults, Script: []llmtest.Turn{
				llmtest.ToolTurn(llmtest.Call("get_weather", map[string]string{"city": "Paris"}), llmtest.Call("get_time", map[string]string{"tz": "CET"})),
				llmtest.TextTurn("Sunny, and it is noon."),
			}})
			p := newProvider(t, srv)
			req := chatRequest("weather and time in Paris?")
			req.Tools = []chat.Tool{
				{Name: "get_weather", Parameters: json.RawMessage(`{"type":"object","properties":{"city":{"type":"string"}}}`)},
				{Name: "get_time", Parameters: json.RawMessage(`{"type":"object","properties":{"tz":{"type":"string"}}}`)},
			}
			call := func() (string, string, []chat.ToolCall) {
				if !stream {
					resp, err := p.Chat(t.Context(), target, req)
					if err != nil {
						t.Fatal(err)
					}
					return resp.Message.Text(), resp.FinishReason, resp.Message.ToolCalls
				}
				s, err := p.ChatStream(t.Context(), target, req)
				if err != nil {
					t.Fatal(err)
				}
				c := collect(t, s)
				if c.err != nil {
					t.Fatal(c.err)
				}
				return c.text, c.finish, c.calls
			}
			_, finish, calls := call()
			if finish != chat.FinishToolCalls || len(calls) != 2 || calls[0].Name != "get_weather" || calls[0].Arguments != `{"city":"Paris"}` ||
				calls[1].Name != "get_time" || !strings.HasPrefix(calls[0].ID, "toolu_") {
				t.Fatalf("turn 0: %s %+v", finish, calls)
			}
			req.Messages = append(req.Messages, chat.Message{Role: chat.RoleAssistant, ToolCalls: calls},
				chat.Message{Role: chat.RoleTool, ToolCallID: calls[0].ID, Content: []chat.Part{{Type: chat.PartText, Text: "sunny"}}},
				chat.Message{Role: chat.RoleTool, ToolCallID: calls[1].ID, Content: []chat.Part{{Type: chat.PartText, Text: "12:00"}}})
			text, finish, calls := call()
			if text != "Sunny, and it is noon." || finish != chat.FinishStop || len(calls) != 0 {
				t.Fatalf("turn 1: %q %s %+v", text, finish, calls)
			}
			rec, _ := srv.LastRequest()
			if strings.Count(string(rec.Body), `"role":"user"`) != 2 || strings.Count(string(rec.Body), `"type":"tool_result"`) != 2 {
				t.Errorf("tool results not in one user message: %s", rec.Body)
			}
		})
	}
}

func TestProviderErrors(t *testing.T) {
	tests := []struct {
		name       string
		behavior   llmtest.Behavior
		opts       []llmtest.Option
		status     int
		typ        string
		retryAfter time.Duration
		retryable  bool
	}{
		{"529 overloaded", llmtest.Behavior{FailPercent: 100, FailStatus: 529}, nil, 529, "overloaded_error", 0, true},
		{"429 with retry-after", llmtest.Behavior{RateLimitNext: 5, RetryAfter: 2500 * time.Millisecond}, nil, 429, "rate_limit_error", 2500 * time.Millisecond, true},
		{"401 bad key", llmtest.Behavior{}, []llmtest.Option{llmtest.WithAPIKeys("another-key")}, 401, "authentication_error", 0, false},
		{"404 unknown model", llmtest.Behavior{}, []llmtest.Option{llmtest.WithModels("claude-other")}, 404, "not_found_error", 0, false},
		{"500", llmtest.Behavior{FailPercent: 100}, nil, 500, "api_error", 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := llmtest.StartServer(t, tt.opts...)
			setDefault(t, srv, tt.behavior)
			p := newProvider(t, srv)
			check := func(what string, err error) {
				t.Helper()
				var ue *chat.UpstreamError
				if !errors.As(err, &ue) {
					t.Fatalf("%s: error %v (%T)", what, err, err)
				}
				if ue.Status != tt.status || ue.Type != tt.typ || ue.Provider != "anthropic-test" || ue.RetryAfter != tt.retryAfter ||
					ue.Retryable() != tt.retryable || ue.QuotaExhausted() || len(ue.Body) == 0 || ue.Message == "" {
					t.Errorf("%s: %+v (retryable %v)", what, ue, ue.Retryable())
				}
			}
			_, err := p.Chat(t.Context(), target, chatRequest("x"))
			check("chat", err)
			_, err = p.ChatStream(t.Context(), target, chatRequest("x"))
			check("stream", err)
			_, err = p.Forward(t.Context(), target, chat.FormatAnthropic, chat.EndpointChat, []byte(`{"model":"claude-haiku-4-5","max_tokens":5,"messages":[{"role":"user","content":"x"}]}`), false)
			check("forward", err)
		})
	}
}

func TestProviderHangTimesOut(t *testing.T) {
	srv := llmtest.StartServer(t)
	setDefault(t, srv, llmtest.Behavior{Hang: true})
	p := newProvider(t, srv)
	providertest.AbortsOnContext(t, providertest.ChatCalls(p, target, chatRequest("x")))
}

func TestProviderSlowStreamTimesOut(t *testing.T) {
	srv := llmtest.StartServer(t)
	setDefault(t, srv, llmtest.Behavior{ChunkDelay: time.Hour})
	p := newProvider(t, srv)
	ctx, cancel := context.WithTimeout(t.Context(), 150*time.Millisecond)
	defer cancel()
	s, err := p.ChatStream(ctx, target, chatRequest("x"))
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	c := collect(t, s)
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("returned after %v", d)
	}
	var ue *chat.UpstreamError
	if !errors.As(c.err, &ue) || ue.Status != 0 || !errors.Is(c.err, context.DeadlineExceeded) {
		t.Errorf("error %v", c.err)
	}
}

func TestProviderStreamCut(t *testing.T) {
	srv := llmtest.StartServer(t)
	setDefault(t, srv, llmtest.Behavior{CloseAfterChunks: 3})
	p := newProvider(t, srv)
	s, err := p.ChatStream(t.Context(), target, chatRequest("a b c d e f"))
	if err != nil {
		t.Fatal(err)
	}
	c := collect(t, s)
	var ue *chat.UpstreamError
	if !errors.As(c.err, &ue) || ue.Status != 0 || ue.Err == nil || !ue.Retryable() {
		t.Fatalf("error %v", c.err)
	}
	if c.chunks == 0 {
		t.Error("no chunk before the cut")
	}
}

func TestProviderSpendLimit(t *testing.T) {
	upstream := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusTooManyRequests)
		_, _ = io.WriteString(w, `{"type":"error","error":{"type":"rate_limit_error","message":"This request would exceed your organization's monthly spend limit.","details":{"error_code":"enforced_spend_limit_reached"}}}`)
	})
	url := serveHandler(t, upstream)
	p, err := New(Config{BaseURL: url, HTTPClient: providertest.Client(t)})
	if err != nil {
		t.Fatal(err)
	}
	_, err = p.Chat(t.Context(), target, chatRequest("x"))
	var ue *chat.UpstreamError
	if !errors.As(err, &ue) || !ue.QuotaExhausted() || ue.Retryable() || ue.Code != "spend_limit_exceeded" || ue.Provider != "anthropic" {
		t.Fatalf("error %+v", err)
	}
}

func TestProviderForward(t *testing.T) {
	srv := llmtest.StartServer(t)
	p := newProvider(t, srv)
	body := []byte(`{"model":"claude-haiku-4-5","max_tokens":50,"stream":true,"thinking":{"type":"enabled","budget_tokens":1024},"messages":[{"role":"user","content":"ping pong"}]}`)
	resp, err := p.Forward(t.Context(), target, chat.FormatAnthropic, chat.EndpointChat, body, true)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") || !strings.Contains(string(raw), "event: message_stop") {
		t.Errorf("response %v %s", resp.Header, raw)
	}
	rec, _ := srv.LastRequest()
	if string(rec.Body) != string(body) || rec.Header.Get("X-Api-Key") != testKey || rec.Header.Get("Anthropic-Version") == "" {
		t.Errorf("forwarded %v %s", rec.Header, rec.Body)
	}
	for _, f := range [][2]string{{chat.FormatOpenAI, chat.EndpointChat}, {chat.FormatAnthropic, chat.EndpointEmbeddings}} {
		if _, err := p.Forward(t.Context(), target, f[0], f[1], body, false); !errors.Is(err, errors.ErrUnsupported) {
			t.Errorf("Forward(%s, %s): %v", f[0], f[1], err)
		}
	}
}

func TestProviderListModels(t *testing.T) {
	srv := llmtest.StartServer(t, llmtest.WithModels("claude-haiku-4-5", "claude-sonnet-4-5"))
	p := newProvider(t, srv)
	ids, err := p.ListModels(t.Context(), target)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(ids, []string{"claude-haiku-4-5", "claude-sonnet-4-5"}) {
		t.Errorf("ids %v", ids)
	}
	rec, _ := srv.LastRequest()
	if rec.Path != "/v1/models" || rec.Header.Get("Anthropic-Version") == "" || rec.Header.Get("X-Api-Key") != testKey {
		t.Errorf("request %s %v", rec.Path, rec.Header)
	}
}

func TestProviderListModelsPages(t *testing.T) {
	var queries []string
	url := serveHandler(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		queries = append(queries, r.URL.RawQuery)
		if r.URL.Query().Get("after_id") == "" {
			_, _ = io.WriteString(w, `{"data":[{"id":"a"},{"id":"b"}],"has_more":true,"last_id":"b"}`)
			return
		}
		_, _ = io.WriteString(w, `{"data":[{"id":"c"}],"has_more":false,"last_id":"c"}`)
	}))
	p, err := New(Config{BaseURL: url, HTTPClient: providertest.Client(t)})
	if err != nil {
		t.Fatal(err)
	}
	ids, err := p.ListModels(t.Context(), target)
	if err != nil || !slices.Equal(ids, []string{"a", "b", "c"}) {
		t.Fatalf("ids %v, %v", ids, err)
	}
	if !slices.Equal(queries, []string{"limit=1000", "limit=1000&after_id=b"}) {
		t.Errorf("queries %v", queries)
	}
}

func TestNew(t *testing.T) {
	p, err := New(Config{})
	if err != nil {
		t.Fatal(err)
	}
	if p.name != "anthropic" || p.messagesURL != "https://api.anthropic.com/v1/messages" || p.modelsURL != "https://api.anthropic.com/v1/models" ||
		p.version != "2023-06-01" || p.maxTokens != 4096 || p.client == nil {
		t.Errorf("defaults %+v", p)
	}
	_, err = New(Config{BaseURL: "ftp://x", DefaultMaxTokens: -1})
	if err == nil || !strings.Contains(err.Error(), "base_url") || !strings.Contains(err.Error(), "default_max_tokens") {
		t.Errorf("error %v, want both problems", err)
	}
}

// TestProviderStreamReusesConnection: a stream read to message_stop and
// closed leaves its connection reusable.
func TestProviderStreamReusesConnection(t *testing.T) {
	var conns atomic.Int32
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		_, _ = io.WriteString(w, sseText(evStart, evTextStart, evText))
		w.(http.Flusher).Flush()
		_, _ = io.WriteString(w, sseText(evStop))
	}))
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			conns.Add(1)
		}
	}
	srv.Start()
	t.Cleanup(srv.Close)
	p, err := New(Config{BaseURL: srv.URL, HTTPClient: providertest.Client(t)})
	if err != nil {
		t.Fatal(err)
	}
	for range 3 {
		s, err := p.ChatStream(t.Context(), target, chatRequest("x"))
		if err != nil {
			t.Fatal(err)
		}
		if c := collect(t, s); c.err != nil || c.text != "hi" {
			t.Fatalf("stream %+v", c)
		}
	}
	if n := conns.Load(); n != 1 {
		t.Errorf("%d connections for 3 sequential streams, want 1", n)
	}
}
