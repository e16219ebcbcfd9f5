package openai

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/junctionhq/junction/internal/testkit"
	"github.com/junctionhq/junction/llm/chat"
	"github.com/junctionhq/junction/llm/llmtest"
	"github.com/junctionhq/junction/llm/provider/internal/providertest"
)

// TestMain fails the package if a test leaves a goroutine behind (a stream
// or response body not closed, a server not stopped).
func TestMain(m *testing.M) {
	testkit.VerifyNoLeaks(m)
}

const testKey = "sk-test-0123456789"

// startHTTP serves h on a loopback test server and returns its URL.
func startHTTP(t *testing.T, h http.Handler) string {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv.URL
}

// providerFor returns a provider for baseURL with its own transport, closed
// at the end of the test.
func providerFor(t *testing.T, baseURL string, azure *AzureConfig) *Provider {
	t.Helper()
	p, err := New(Config{BaseURL: baseURL, Azure: azure, HTTPClient: providertest.Client(t)})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// newProvider returns a provider for srv whose idle connections are closed
// at the end of the test.
func newProvider(t *testing.T, srv *llmtest.Server, cfg Config) *Provider {
	t.Helper()
	if cfg.BaseURL == "" {
		cfg.BaseURL = srv.URL + "/v1"
	}
	if cfg.HTTPClient == nil {
		cfg.HTTPClient = providertest.Client(t)
	}
	p, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func setDefault(t *testing.T, srv *llmtest.Server, b llmtest.Behavior) {
	t.Helper()
	if err := srv.SetDefault(b); err != nil {
		t.Fatal(err)
	}
}

var target = chat.Target{Provider: "openai", Model: "gpt-4o-mini", APIKey: testKey, KeyName: "test"}

func userRequest(text string) *chat.Request {
	return &chat.Request{Model: "alias", Messages: []chat.Message{chat.TextMessage(chat.RoleUser, text)}}
}

// lastBody returns the JSON body of the mock's last request, decoded.
func lastBody(t *testing.T, srv *llmtest.Server) (map[string]json.RawMessage, llmtest.RecordedRequest) {
	t.Helper()
	rr, ok := srv.LastRequest()
	if !ok {
		t.Fatal("no request recorded")
	}
	var m map[string]json.RawMessage
	if len(rr.Body) > 0 {
		if err := json.Unmarshal(rr.Body, &m); err != nil {
			t.Fatalf("request body %s: %v", rr.Body, err)
		}
	}
	return m, rr
}

func TestChat(t *testing.T) {
	srv := llmtest.StartServer(t)
	p := newProvider(t, srv, Config{Headers: map[string]string{"HTTP-Referer": "https://junction.example", "x-title": "Junction"}})
	req := userRequest("what is the weather like")
	req.Extra = map[string]json.RawMessage{"seed": json.RawMessage(`7`), "metadata": json.RawMessage(`{"a":"b"}`)}
	req.MaxTokens = 100
	resp, err := p.Chat(t.Context(), target, req)
	if err != nil {
		t.Fatal(err)
	}
	if got := resp.Message.Text(); got != "Echo: what is the weather like" {
		t.Errorf("text %q", got)
	}
	if resp.Model != "gpt-4o-mini" || resp.FinishReason != chat.FinishStop || !strings.HasPrefix(resp.ID, "chatcmpl-") || resp.Created == 0 {
		t.Errorf("response %+v", resp)
	}
	if resp.Usage.PromptTokens != 5 || resp.Usage.CompletionTokens != 6 {
		t.Errorf("usage %+v", resp.Usage)
	}
	body, rr := lastBody(t, srv)
	if string(body["model"]) != `"gpt-4o-mini"` || string(body["seed"]) != "7" || string(body["metadata"]) != `{"a":"b"}` ||
		string(body["max_completion_tokens"]) != "100" || body["stream"] != nil {
		t.Errorf("upstream body %s", rr.Body)
	}
	if rr.Path != "/v1/chat/completions" || rr.Header.Get("Authorization") != "Bearer "+testKey ||
		rr.Header.Get("Http-Referer") != "https://junction.example" || rr.Header.Get("X-Title") != "Junction" ||
		rr.Header.Get("Content-Type") != "application/json" {
		t.Errorf("upstream request %s %v", rr.Path, rr.Header)
	}
}

func TestChatStreamWithUsage(t *testing.T) {
	srv := llmtest.StartServer(t)
	p := newProvider(t, srv, Config{})
	req := userRequest("tell me a short story")
	req.Stream = true // the client did not ask for usage; upstream is asked anyway
	chunks := streamAll(t, p, target, req)
	got := assemble(t, chunks)
	want := assembled{Role: "assistant", Content: "Echo: tell me a short story", Finish: "stop",
		Usage: &chat.Usage{PromptTokens: 5, CompletionTokens: 6}, UsageLast: true}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %s", dump(got))
	}
	body, rr := lastBody(t, srv)
	if string(body["stream"]) != "true" || string(body["stream_options"]) != `{"include_usage":true}` {
		t.Errorf("upstream body %s", rr.Body)
	}
	if rr.Header.Get("Accept") != "text/event-stream" {
		t.Errorf("accept %q", rr.Header.Get("Accept"))
	}
}

var script = []llmtest.Turn{
	llmtest.ToolTurn(
		llmtest.Call("get_weather", map[string]string{"city": "Paris"}),
		llmtest.ToolCall{ID: "fixed-id", Name: "get_time", Arguments: `{"tz": "Europe/Paris, with ünïcödé and a long tail of words"}`},
	),
	llmtest.TextTurn("It is sunny in Paris."),
}

func TestToolCalls(t *testing.T) {
	srv := llmtest.StartServer(t)
	setDefault(t, srv, llmtest.Behavior{Script: script, ScriptMode: llmtest.ScriptByToolResults})
	p := newProvider(t, srv, Config{})
	req := userRequest("weather and time in Paris?")
	req.Tools = []chat.Tool{
		{Name: "get_weather", Parameters: json.RawMessage(`{"type":"object","properties":{"city":{"type":"string"}}}`)},
		{Name: "get_time", Parameters: json.RawMessage(`{"type":"object"}`)},
	}
	wantCalls := []chat.ToolCall{
		{Name: "get_weather", Arguments: `{"city":"Paris"}`},
		{ID: "fixed-id", Name: "get_time", Arguments: `{"tz": "Europe/Paris, with ünïcödé and a long tail of words"}`},
	}
	checkCalls := func(t *testing.T, calls []chat.ToolCall) {
		t.Helper()
		if len(calls) != 2 {
			t.Fatalf("%d calls: %+v", len(calls), calls)
		}
		if !strings.HasPrefix(calls[0].ID, "call_") {
			t.Errorf("generated id %q", calls[0].ID)
		}
		calls[0].ID = ""
		if !reflect.DeepEqual(calls, wantCalls) {
			t.Errorf("calls %+v", calls)
		}
	}

	t.Run("chat", func(t *testing.T) {
		resp, err := p.Chat(t.Context(), target, req)
		if err != nil {
			t.Fatal(err)
		}
		if resp.FinishReason != chat.FinishToolCalls || len(resp.Message.Content) != 0 {
			t.Errorf("response %+v", resp)
		}
		checkCalls(t, resp.Message.ToolCalls)
	})
	t.Run("stream", func(t *testing.T) {
		sreq := *req
		sreq.Stream = true
		chunks := streamAll(t, p, target, &sreq)
		pieces := 0
		for _, c := range chunks {
			pieces += len(c.ToolCalls)
		}
		if pieces <= 2 {
			t.Errorf("arguments came in %d pieces; the test wants them split", pieces)
		}
		a := assemble(t, chunks)
		if a.Finish != chat.FinishToolCalls || !a.UsageLast {
			t.Errorf("stream %+v", a)
		}
		checkCalls(t, a.Calls)
	})
	t.Run("tool results answered", func(t *testing.T) {
		resp, err := p.Chat(t.Context(), target, req)
		if err != nil {
			t.Fatal(err)
		}
		next := *req
		next.Messages = append(append([]chat.Message(nil), req.Messages...), resp.Message)
		for _, c := range resp.Message.ToolCalls {
			next.Messages = append(next.Messages, chat.Message{Role: chat.RoleTool, ToolCallID: c.ID, Content: []chat.Part{{Type: chat.PartText, Text: "ok"}}})
		}
		final, err := p.Chat(t.Context(), target, &next)
		if err != nil {
			t.Fatal(err)
		}
		if final.Message.Text() != "It is sunny in Paris." || final.FinishReason != chat.FinishStop {
			t.Errorf("final %+v", final)
		}
	})
}

func TestStreamCutMidway(t *testing.T) {
	srv := llmtest.StartServer(t)
	setDefault(t, srv, llmtest.Behavior{CloseAfterChunks: 3, Reply: "one two three four five six"})
	p := newProvider(t, srv, Config{})
	req := userRequest("x")
	req.Stream = true
	s, err := p.ChatStream(t.Context(), target, req)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	chunks, err := recvAll(s)
	if len(chunks) != 3 {
		t.Errorf("%d chunks before the cut, want 3", len(chunks))
	}
	var ue *chat.UpstreamError
	if !errors.As(err, &ue) || ue.Status != 0 || ue.Err == nil || !ue.Retryable() {
		t.Fatalf("error %v, want an UpstreamError with status 0 and a cause", err)
	}
	if !strings.Contains(err.Error(), "cut") {
		t.Errorf("error %q does not say the stream was cut", err)
	}
}

func TestChatStreamReturnsBeforeTheFirstChunk(t *testing.T) {
	srv := llmtest.StartServer(t)
	setDefault(t, srv, llmtest.Behavior{TimeToFirstChunk: 10 * time.Second})
	p := newProvider(t, srv, Config{})
	req := userRequest("x")
	req.Stream = true
	start := time.Now()
	s, err := p.ChatStream(t.Context(), target, req)
	if err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("ChatStream took %s: it waited for the first chunk", d)
	}
	_ = s.Close()
	if _, err := s.Recv(); err == nil {
		t.Error("Recv after Close succeeded")
	}
}

func TestEmbed(t *testing.T) {
	srv := llmtest.StartServer(t, llmtest.WithEmbeddingDimensions(64))
	p := newProvider(t, srv, Config{})
	for _, format := range []string{"", "float", "base64"} {
		t.Run("format "+format, func(t *testing.T) {
			req := &chat.EmbeddingRequest{Model: "alias", Input: []string{"the cat sat", "a dog ran"}, Dimensions: 32, EncodingFormat: format}
			resp, err := p.Embed(t.Context(), chat.Target{Model: "text-embedding-3-small", APIKey: testKey}, req)
			if err != nil {
				t.Fatal(err)
			}
			if len(resp.Vectors) != 2 || resp.Model != "text-embedding-3-small" || resp.Usage.PromptTokens != 6 {
				t.Fatalf("response %+v", resp)
			}
			for i, in := range req.Input {
				if want := llmtest.EmbedText(in, 32); !reflect.DeepEqual(resp.Vectors[i], want) {
					t.Errorf("vector %d differs from llmtest.EmbedText", i)
				}
			}
			body, rr := lastBody(t, srv)
			if rr.Path != "/v1/embeddings" || string(body["dimensions"]) != "32" {
				t.Errorf("upstream %s %s", rr.Path, rr.Body)
			}
		})
	}
}

func TestListModels(t *testing.T) {
	srv := llmtest.StartServer(t, llmtest.WithModels("gpt-4o", "gpt-4o-mini"))
	p := newProvider(t, srv, Config{})
	ids, err := p.ListModels(t.Context(), target)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(ids, []string{"gpt-4o", "gpt-4o-mini"}) {
		t.Errorf("ids %v", ids)
	}
	if _, rr := lastBody(t, srv); rr.Method != http.MethodGet || rr.Path != "/v1/models" {
		t.Errorf("upstream %s %s", rr.Method, rr.Path)
	}
}

func TestUpstreamErrors(t *testing.T) {
	srv := llmtest.StartServer(t, llmtest.WithAPIKeys(testKey, "sk-limited-000000", "sk-broken-0000000"), llmtest.WithModels("gpt-4o-mini"))
	if err := srv.SetBehavior("sk-broken-0000000", llmtest.Behavior{FailPercent: 100, FailStatus: 500}); err != nil {
		t.Fatal(err)
	}
	if err := srv.SetBehavior("sk-limited-000000", llmtest.Behavior{RateLimitNext: 100, RetryAfter: 1500 * time.Millisecond}); err != nil {
		t.Fatal(err)
	}
	p := newProvider(t, srv, Config{Name: "openai-test"})
	cases := []struct {
		name       string
		target     chat.Target
		status     int
		code       string
		retryAfter time.Duration
		retryable  bool
	}{
		{"500", chat.Target{Model: "gpt-4o-mini", APIKey: "sk-broken-0000000"}, 500, "", 0, true},
		{"429 with retry-after", chat.Target{Model: "gpt-4o-mini", APIKey: "sk-limited-000000"}, 429, "rate_limit_exceeded", 1500 * time.Millisecond, true},
		{"401", chat.Target{Model: "gpt-4o-mini", APIKey: "sk-wrong-000000000"}, 401, "invalid_api_key", 0, false},
		{"401 without a key", chat.Target{Model: "gpt-4o-mini"}, 401, "", 0, false},
		{"404 unknown model", chat.Target{Model: "gpt-5-nope", APIKey: testKey}, 404, "model_not_found", 0, false},
	}
	for _, c := range cases {
		for _, stream := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s stream=%v", c.name, stream), func(t *testing.T) {
				req := userRequest("x")
				var err error
				if stream {
					req.Stream = true
					var s chat.Stream
					s, err = p.ChatStream(t.Context(), c.target, req)
					if s != nil {
						_ = s.Close()
					}
				} else {
					_, err = p.Chat(t.Context(), c.target, req)
				}
				var ue *chat.UpstreamError
				if !errors.As(err, &ue) {
					t.Fatalf("error %v (%T), want *chat.UpstreamError", err, err)
				}
				if ue.Provider != "openai-test" || ue.Status != c.status || ue.Code != c.code || ue.RetryAfter != c.retryAfter ||
					ue.Retryable() != c.retryable || ue.Message == "" || ue.Type == "" || len(ue.Body) == 0 || ue.Header == nil {
					t.Errorf("error %+v", ue)
				}
			})
		}
	}
	t.Run("embeddings and models", func(t *testing.T) {
		bad := chat.Target{Model: "gpt-4o-mini", APIKey: "sk-broken-0000000"}
		_, err := p.Embed(t.Context(), bad, &chat.EmbeddingRequest{Input: []string{"x"}})
		var ue *chat.UpstreamError
		if !errors.As(err, &ue) || ue.Status != 500 {
			t.Errorf("embed error %v", err)
		}
		_, err = p.ListModels(t.Context(), chat.Target{APIKey: "sk-wrong-000000000"})
		if !errors.As(err, &ue) || ue.Status != 401 {
			t.Errorf("models error %v", err)
		}
	})
}

func TestHangAbortsOnContext(t *testing.T) {
	srv := llmtest.StartServer(t)
	setDefault(t, srv, llmtest.Behavior{Hang: true})
	p := newProvider(t, srv, Config{})
	calls := providertest.ChatCalls(p, target, userRequest("x"))
	calls["embed"] = func(ctx context.Context) error {
		_, err := p.Embed(ctx, target, &chat.EmbeddingRequest{Input: []string{"x"}})
		return err
	}
	calls["models"] = func(ctx context.Context) error { _, err := p.ListModels(ctx, target); return err }
	providertest.AbortsOnContext(t, calls)
}

func TestStreamAbortsOnContext(t *testing.T) {
	srv := llmtest.StartServer(t)
	setDefault(t, srv, llmtest.Behavior{ChunkDelay: 10 * time.Second})
	p := newProvider(t, srv, Config{})
	ctx, cancel := context.WithCancel(t.Context())
	req := userRequest("x")
	req.Stream = true
	s, err := p.ChatStream(ctx, target, req)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, err := s.Recv(); err != nil { // the role chunk comes at once
		t.Fatal(err)
	}
	time.AfterFunc(50*time.Millisecond, cancel)
	start := time.Now()
	_, err = s.Recv()
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("Recv took %s after cancel", d)
	}
	if !errors.Is(err, context.Canceled) {
		t.Errorf("error %v, want context.Canceled", err)
	}
}

func TestNetworkError(t *testing.T) {
	srv := llmtest.NewServer()
	url := srv.URL
	srv.Close()
	p := providerFor(t, url+"/v1", nil)
	_, err := p.Chat(t.Context(), target, userRequest("x"))
	var ue *chat.UpstreamError
	if !errors.As(err, &ue) || ue.Status != 0 || ue.Err == nil || !ue.Retryable() {
		t.Errorf("error %v", err)
	}
}

func TestForward(t *testing.T) {
	srv := llmtest.StartServer(t, llmtest.WithAPIKeys(testKey))
	p := newProvider(t, srv, Config{})
	body, err := PatchModel([]byte(`{"model":"alias","messages":[{"role":"user","content":"forward me"}],"x_unknown":{"kept":true}}`), "gpt-4o-mini")
	if err != nil {
		t.Fatal(err)
	}

	t.Run("chat", func(t *testing.T) {
		resp, err := p.Forward(t.Context(), target, chat.FormatOpenAI, chat.EndpointChat, body, false)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		raw, _ := io.ReadAll(resp.Body)
		got, err := DecodeChatResponse(raw, chat.Lenient)
		if err != nil || got.Message.Text() != "Echo: forward me" {
			t.Errorf("response %s: %v", raw, err)
		}
		if _, rr := lastBody(t, srv); string(rr.Body) != string(body) {
			t.Errorf("forwarded body %s, want %s", rr.Body, body)
		}
	})
	t.Run("stream", func(t *testing.T) {
		sbody, err := EnsureStreamUsage([]byte(strings.Replace(string(body), `{`, `{"stream":true,`, 1)))
		if err != nil {
			t.Fatal(err)
		}
		resp, err := p.Forward(t.Context(), target, chat.FormatOpenAI, chat.EndpointChat, sbody, true)
		if err != nil {
			t.Fatal(err)
		}
		s := newStream("test", resp)
		defer s.Close()
		chunks, err := recvAll(s)
		if err != nil {
			t.Fatal(err)
		}
		if a := assemble(t, chunks); a.Content != "Echo: forward me" || !a.UsageLast {
			t.Errorf("stream %+v", a)
		}
	})
	t.Run("embeddings", func(t *testing.T) {
		resp, err := p.Forward(t.Context(), target, chat.FormatOpenAI, chat.EndpointEmbeddings, []byte(`{"model":"e","input":"x"}`), false)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		if _, rr := lastBody(t, srv); rr.Path != "/v1/embeddings" || resp.StatusCode != 200 {
			t.Errorf("forwarded to %s: %d", rr.Path, resp.StatusCode)
		}
	})
	t.Run("error", func(t *testing.T) {
		_, err := p.Forward(t.Context(), chat.Target{Model: "m", APIKey: "sk-wrong-000000000"}, chat.FormatOpenAI, chat.EndpointChat, body, false)
		var ue *chat.UpstreamError
		if !errors.As(err, &ue) || ue.Status != 401 || len(ue.Body) == 0 {
			t.Errorf("error %v", err)
		}
	})
	t.Run("other formats", func(t *testing.T) {
		if _, err := p.Forward(t.Context(), target, chat.FormatAnthropic, chat.EndpointChat, body, false); err == nil {
			t.Error("an Anthropic body was forwarded")
		}
		if _, err := p.Forward(t.Context(), target, chat.FormatOpenAI, "images", body, false); err == nil {
			t.Error("an unknown endpoint was forwarded")
		}
	})
}

func TestNewValidates(t *testing.T) {
	_, err := New(Config{BaseURL: "ftp://x", Headers: map[string]string{"Authorization": "Bearer x", "bad header": "v", "X-Ok": "a\nb"}})
	if err == nil {
		t.Fatal("accepted")
	}
	for _, want := range []string{"base_url", `headers["Authorization"]`, `headers["bad header"]`, `headers["X-Ok"]`} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %s", err, want)
		}
	}
	for _, bad := range []string{"", "api.openai.com/v1", "https://", "https://x/v1?key=1", "://x"} {
		if _, err := New(Config{BaseURL: bad}); err == nil {
			t.Errorf("base URL %q accepted", bad)
		}
	}
	p, err := New(Config{BaseURL: "https://api.openai.com/v1/"})
	if err != nil {
		t.Fatal(err)
	}
	if p.chatURL != "https://api.openai.com/v1/chat/completions" || p.name != "openai" || p.client == nil {
		t.Errorf("provider %+v", p)
	}
}

// TestJSONAnswerToAStream covers servers that ignore "stream".
func TestJSONAnswerToAStream(t *testing.T) {
	up := http.NewServeMux()
	up.HandleFunc("/v1/chat/completions", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json; charset=utf-8")
		_, _ = w.Write(readTestdata(t, "response/text.json"))
	})
	p := providerFor(t, startHTTP(t, up)+"/v1", nil)
	req := userRequest("x")
	req.Stream = true
	chunks := streamAll(t, p, target, req)
	if a := assemble(t, chunks); !strings.HasPrefix(a.Content, "Hello!") || a.Usage == nil || a.Usage.PromptTokens != 19 {
		t.Errorf("stream %+v", a)
	}
}

// TestErrorInA200 covers servers that answer errors with status 200.
func TestErrorInA200(t *testing.T) {
	up := http.NewServeMux()
	up.HandleFunc("/v1/chat/completions", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"error":{"message":"upstream overloaded","code":503}}`))
	})
	up.HandleFunc("/v1/embeddings", func(w http.ResponseWriter, r *http.Request) {
		_, _ = w.Write([]byte(`{"data":`))
	})
	p := providerFor(t, startHTTP(t, up)+"/v1", nil)
	_, err := p.Chat(t.Context(), target, userRequest("x"))
	var ue *chat.UpstreamError
	if !errors.As(err, &ue) || ue.Status != 503 || ue.Message != "upstream overloaded" || !ue.Retryable() {
		t.Errorf("error %v", err)
	}
	_, err = p.Embed(t.Context(), target, &chat.EmbeddingRequest{Input: []string{"x"}})
	if !errors.As(err, &ue) || ue.Status != 0 || ue.Message != "malformed response" || ue.Err == nil {
		t.Errorf("error %v", err)
	}
}
