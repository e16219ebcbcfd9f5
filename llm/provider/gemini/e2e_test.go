package gemini

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/junctionhq/junction/llm/chat"
	"github.com/junctionhq/junction/llm/llmtest"
	"github.com/junctionhq/junction/llm/provider/internal/providertest"
)

// End-to-end tests: the provider against llmtest speaking Gemini.

const (
	testModel = "gemini-2.5-flash"
	testKey   = "gm-test-key-0123456789"
)

var target = chat.Target{Provider: "gemini", Model: testModel, APIKey: testKey, KeyName: "test"}

// startMock starts a mock closed at the end of the test and a provider
// pointed at it, whose idle connections are closed too (for the leak check).
func startMock(t *testing.T, opts ...llmtest.Option) (*llmtest.Server, *Provider) {
	t.Helper()
	srv := llmtest.StartServer(t, opts...)
	p, err := New(Config{BaseURL: srv.URL + "/v1beta", HTTPClient: providertest.Client(t),
		Headers: map[string]string{"X-Client": "junction-test"}})
	if err != nil {
		t.Fatal(err)
	}
	return srv, p
}

func setBehavior(t *testing.T, srv *llmtest.Server, b llmtest.Behavior) {
	t.Helper()
	if err := srv.SetBehavior(testKey, b); err != nil {
		t.Fatal(err)
	}
}

func userRequest(s string) *chat.Request {
	return &chat.Request{Messages: []chat.Message{text(chat.RoleSystem, "be brief"), text(chat.RoleUser, s)}}
}

// asUpstream returns err as an *chat.UpstreamError or fails the test.
func asUpstream(t *testing.T, err error) *chat.UpstreamError {
	t.Helper()
	var ue *chat.UpstreamError
	if !errors.As(err, &ue) {
		t.Fatalf("error %T %v, want *chat.UpstreamError", err, err)
	}
	return ue
}

// collect receives the whole stream.
func collect(t *testing.T, s chat.Stream) (content string, calls []chat.ToolCallDelta, finish string, usage *chat.Usage, err error) {
	t.Helper()
	defer s.Close()
	for i := 0; ; i++ {
		c, err := s.Recv()
		if err != nil {
			return content, calls, finish, usage, err
		}
		if (i == 0) != (c.Role == chat.RoleAssistant) {
			t.Errorf("chunk %d has role %q", i, c.Role)
		}
		if usage != nil {
			t.Errorf("chunk %+v after the usage chunk", c)
		}
		content += c.Content
		calls = append(calls, c.ToolCalls...)
		if c.FinishReason != "" {
			finish = c.FinishReason
		}
		usage = c.Usage
	}
}

func TestChatEndToEnd(t *testing.T) {
	srv, p := startMock(t)
	resp, err := p.Chat(t.Context(), target, userRequest("what is the time"))
	if err != nil {
		t.Fatal(err)
	}
	if resp.Message.Role != chat.RoleAssistant || resp.Message.Text() != "Echo: what is the time" ||
		resp.FinishReason != chat.FinishStop || resp.Model != testModel || resp.ID == "" || resp.Created == 0 {
		t.Errorf("response %+v", resp)
	}
	// prompt: "be brief" (2) + "what is the time" (4); completion 5
	if resp.Usage != (chat.Usage{PromptTokens: 6, CompletionTokens: 5}) {
		t.Errorf("usage %+v", resp.Usage)
	}
	last, _ := srv.LastRequest()
	if last.Endpoint != llmtest.EndpointGenerateContent || last.Path != "/v1beta/models/"+testModel+":generateContent" ||
		last.Key != testKey || last.Header.Get("X-Goog-Api-Key") != testKey || last.Header.Get("X-Client") != "junction-test" ||
		last.Header.Get("Authorization") != "" || last.RawQuery != "" {
		t.Errorf("request %+v", last)
	}
}

func TestStreamEndToEnd(t *testing.T) {
	srv, p := startMock(t)
	s, err := p.ChatStream(t.Context(), target, userRequest("tell me a story"))
	if err != nil {
		t.Fatal(err)
	}
	content, calls, finish, usage, err := collect(t, s)
	if err != io.EOF {
		t.Fatalf("end of stream: %v", err)
	}
	if content != "Echo: tell me a story" || len(calls) != 0 || finish != chat.FinishStop {
		t.Errorf("content %q calls %v finish %q", content, calls, finish)
	}
	if usage == nil || *usage != (chat.Usage{PromptTokens: 6, CompletionTokens: 5}) {
		t.Errorf("usage %+v", usage)
	}
	last, _ := srv.LastRequest()
	if last.Endpoint != llmtest.EndpointStreamGenerateContent || last.RawQuery != "alt=sse" {
		t.Errorf("request %+v", last)
	}
}

// TestStreamReturnsBeforeFirstEvent checks that ChatStream returns on the
// headers: the first event is the caller's to read.
func TestStreamReturnsBeforeFirstEvent(t *testing.T) {
	srv, p := startMock(t)
	setBehavior(t, srv, llmtest.Behavior{TimeToFirstChunk: time.Minute})
	start := time.Now()
	s, err := p.ChatStream(t.Context(), target, userRequest("hi"))
	if err != nil {
		t.Fatal(err)
	}
	if elapsed := time.Since(start); elapsed > 10*time.Second {
		t.Errorf("ChatStream took %s: it waited for the first event", elapsed)
	}
	if err := s.Close(); err != nil {
		t.Error(err)
	}
	if err := s.Close(); err != nil { // idempotent
		t.Error(err)
	}
	if _, err := s.Recv(); err == nil {
		t.Error("Recv after Close succeeded")
	}
}

// agentLoop answers every tool call with a result until a final answer.
func agentLoop(t *testing.T, p *Provider, stream bool) (turns [][]chat.ToolCall, final string) {
	t.Helper()
	req := &chat.Request{
		Messages: []chat.Message{text(chat.RoleUser, "What is the weather in Paris?")},
		Tools: []chat.Tool{
			{Name: "get_weather", Parameters: json.RawMessage(`{"type":"object","properties":{"city":{"type":"string"}},"additionalProperties":false}`)},
			{Name: "get_time"}, {Name: "lookup"},
		},
	}
	for range 6 {
		var msg chat.Message
		var finish string
		if stream {
			s, err := p.ChatStream(t.Context(), target, req)
			if err != nil {
				t.Fatal(err)
			}
			content, deltas, f, _, err := collect(t, s)
			if err != io.EOF {
				t.Fatalf("stream: %v", err)
			}
			msg = chat.Message{Role: chat.RoleAssistant}
			if content != "" {
				msg.Content = []chat.Part{{Type: chat.PartText, Text: content}}
			}
			for i, d := range deltas {
				if d.Index != i || d.ID == "" || d.Name == "" {
					t.Errorf("delta %d: %+v", i, d)
				}
				msg.ToolCalls = append(msg.ToolCalls, chat.ToolCall{ID: d.ID, Name: d.Name, Arguments: d.Arguments})
			}
			finish = f
		} else {
			resp, err := p.Chat(t.Context(), target, req)
			if err != nil {
				t.Fatal(err)
			}
			msg, finish = resp.Message, resp.FinishReason
		}
		req.Messages = append(req.Messages, msg)
		if len(msg.ToolCalls) == 0 {
			if finish != chat.FinishStop {
				t.Errorf("final finish %q", finish)
			}
			return turns, msg.Text()
		}
		if finish != chat.FinishToolCalls {
			t.Errorf("turn %d: finish %q", len(turns), finish)
		}
		turns = append(turns, msg.ToolCalls)
		for _, c := range msg.ToolCalls {
			req.Messages = append(req.Messages, chat.Message{Role: chat.RoleTool, ToolCallID: c.ID,
				Content: []chat.Part{{Type: chat.PartText, Text: "result of " + c.Name}}})
		}
	}
	t.Fatal("no final answer")
	return nil, ""
}

func TestToolCallsEndToEnd(t *testing.T) {
	script := []llmtest.Turn{
		llmtest.ToolTurn(
			llmtest.Call("get_weather", map[string]string{"city": "Paris"}),
			llmtest.ToolCall{ID: "fixed-id", Name: "get_time", Arguments: `{"tz": "Europe/Paris"}`},
		),
		{Text: "Let me look that up.", ToolCalls: []llmtest.ToolCall{llmtest.Call("lookup", map[string]any{"q": "ünïcödé", "n": 3})}},
		llmtest.TextTurn("It is sunny in Paris."),
	}
	for _, stream := range []bool{false, true} {
		t.Run(fmt.Sprintf("stream=%v", stream), func(t *testing.T) {
			srv, p := startMock(t)
			setBehavior(t, srv, llmtest.Behavior{Script: script, ScriptMode: llmtest.ScriptByToolResults})
			turns, final := agentLoop(t, p, stream)
			if final != "It is sunny in Paris." || len(turns) != 2 {
				t.Fatalf("final %q after %d turns", final, len(turns))
			}
			want := [][]chat.ToolCall{
				{{ID: "call_0", Name: "get_weather", Arguments: `{"city":"Paris"}`}, {ID: "fixed-id", Name: "get_time", Arguments: `{"tz":"Europe/Paris"}`}},
				{{ID: "call_0", Name: "lookup", Arguments: `{"n":3,"q":"ünïcödé"}`}},
			}
			for i := range want {
				if !slices.Equal(turns[i], want[i]) {
					t.Errorf("turn %d: %+v, want %+v", i, turns[i], want[i])
				}
			}
			// The last request carried both rounds of results, named after their calls.
			last, _ := srv.LastRequest()
			var sent generateRequest
			if err := json.Unmarshal(last.Body, &sent); err != nil {
				t.Fatal(err)
			}
			var names []string
			for _, c := range sent.Contents {
				for _, p := range c.Parts {
					if p.FunctionResponse != nil {
						names = append(names, p.FunctionResponse.Name)
					}
				}
			}
			if !slices.Equal(names, []string{"get_weather", "get_time", "lookup"}) {
				t.Errorf("function responses %v", names)
			}
			if decl := sent.Tools[0].FunctionDeclarations[0]; strings.Contains(string(decl.Parameters), "additionalProperties") {
				t.Errorf("uncleaned parameters %s", decl.Parameters)
			}
		})
	}
}

func TestRateLimitEndToEnd(t *testing.T) {
	srv, p := startMock(t)
	setBehavior(t, srv, llmtest.Behavior{RateLimitNext: 2, RetryAfter: 2 * time.Second})
	_, err := p.Chat(t.Context(), target, userRequest("hi"))
	ue := asUpstream(t, err)
	if ue.Status != 429 || ue.Type != "RESOURCE_EXHAUSTED" || ue.RetryAfter != 2*time.Second || !ue.Retryable() ||
		ue.QuotaExhausted() || len(ue.Body) == 0 || ue.Header.Get("Retry-After") != "2" || ue.Provider != "gemini" {
		t.Errorf("chat: %+v", ue)
	}
	_, err = p.ChatStream(t.Context(), target, userRequest("hi"))
	if ue := asUpstream(t, err); ue.Status != 429 || ue.RetryAfter != 2*time.Second {
		t.Errorf("stream: %+v", ue)
	}
	// The window is over: the retry succeeds.
	if _, err := p.Chat(t.Context(), target, userRequest("hi")); err != nil {
		t.Errorf("retry: %v", err)
	}
}

func TestServerErrorEndToEnd(t *testing.T) {
	srv, p := startMock(t)
	for _, tt := range []struct {
		status int
		typ    string
	}{{500, "INTERNAL"}, {503, "UNAVAILABLE"}} {
		setBehavior(t, srv, llmtest.Behavior{FailPercent: 100, FailStatus: tt.status})
		_, err := p.Chat(t.Context(), target, userRequest("hi"))
		ue := asUpstream(t, err)
		if ue.Status != tt.status || ue.Type != tt.typ || ue.Message == "" || !ue.Retryable() || ue.RetryAfter != 0 {
			t.Errorf("%d: %+v", tt.status, ue)
		}
		if !strings.Contains(ue.Error(), fmt.Sprint(tt.status)) {
			t.Errorf("error text %q", ue.Error())
		}
	}
}

func TestAuthErrorEndToEnd(t *testing.T) {
	_, p := startMock(t, llmtest.WithAPIKeys("another-key"))
	_, err := p.Chat(t.Context(), target, userRequest("hi"))
	ue := asUpstream(t, err)
	if ue.Status != 400 || ue.Type != "INVALID_ARGUMENT" || ue.Code != "API_KEY_INVALID" || ue.Retryable() {
		t.Errorf("%+v", ue)
	}
}

func TestHangEndToEnd(t *testing.T) {
	srv, p := startMock(t)
	setBehavior(t, srv, llmtest.Behavior{Hang: true})
	providertest.AbortsOnContext(t, providertest.ChatCalls(p, target, userRequest("hi")))
}

func TestCloseAfterChunksEndToEnd(t *testing.T) {
	srv, p := startMock(t)
	setBehavior(t, srv, llmtest.Behavior{CloseAfterChunks: 2, Reply: "one two three four"})
	s, err := p.ChatStream(t.Context(), target, userRequest("hi"))
	if err != nil {
		t.Fatal(err)
	}
	content, _, finish, usage, err := collect(t, s)
	ue := asUpstream(t, err)
	if ue.Status != 0 || ue.Err == nil || !ue.Retryable() {
		t.Errorf("error %+v", ue)
	}
	if content != "one two" || finish != "" || usage != nil {
		t.Errorf("before the cut: %q %q %+v", content, finish, usage)
	}
	if got := srv.Stats().Cut; got != 1 {
		t.Errorf("cut %d", got)
	}
}

func TestEmbedEndToEnd(t *testing.T) {
	srv, p := startMock(t, llmtest.WithEmbeddingDimensions(32))
	inputs := make([]string, 150)
	for i := range inputs {
		inputs[i] = fmt.Sprintf("text number %d", i)
	}
	resp, err := p.Embed(t.Context(), chat.Target{Model: "gemini-embedding-001", APIKey: testKey},
		&chat.EmbeddingRequest{Input: inputs, Dimensions: 16})
	if err != nil {
		t.Fatal(err)
	}
	if resp.Model != "gemini-embedding-001" || len(resp.Vectors) != len(inputs) {
		t.Fatalf("%d vectors", len(resp.Vectors))
	}
	for i, v := range resp.Vectors {
		if !slices.Equal(v, llmtest.EmbedText(inputs[i], 16)) {
			t.Fatalf("vector %d differs", i)
		}
	}
	if got := srv.Stats().ByEndpoint[llmtest.EndpointBatchEmbedContents]; got != 2 {
		t.Errorf("%d batch calls, want 2", got)
	}
	if _, err := p.Embed(t.Context(), target, &chat.EmbeddingRequest{}); err == nil {
		t.Error("empty input accepted")
	}
}

func TestListModelsEndToEnd(t *testing.T) {
	_, p := startMock(t, llmtest.WithModels(testModel, "gemini-embedding-001"))
	ids, err := p.ListModels(t.Context(), target)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(ids, []string{testModel, "gemini-embedding-001"}) {
		t.Errorf("models %v", ids)
	}
	_, err = p.Chat(t.Context(), chat.Target{Model: "gemini-9", APIKey: testKey}, userRequest("hi"))
	if ue := asUpstream(t, err); ue.Status != 404 || ue.Type != "NOT_FOUND" || ue.Retryable() {
		t.Errorf("unknown model: %+v", ue)
	}
}

func TestUnreachableUpstream(t *testing.T) {
	srv, p := startMock(t)
	srv.Close()
	_, err := p.Chat(t.Context(), target, userRequest("hi"))
	if ue := asUpstream(t, err); ue.Status != 0 || ue.Err == nil || !ue.Retryable() {
		t.Errorf("%+v", ue)
	}
}
