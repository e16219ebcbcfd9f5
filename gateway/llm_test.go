package gateway

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/junctionhq/junction/llm"
	"github.com/junctionhq/junction/llm/llmtest"
	"github.com/junctionhq/junction/policy"
	"github.com/junctionhq/junction/store"
)

// llmSetup is a gateway in front of one llmtest mock that speaks every wire
// format, with providers of each type pointing at it.
type llmSetup struct {
	gw     *testGateway
	mock   *llmtest.Server
	key    string // a virtual key that may use everything
	keyID  string
	client *http.Client
}

func startLLM(t *testing.T, mutate func(*Config, *llmtest.Server)) *llmSetup {
	t.Helper()
	mock := llmtest.NewServer(llmtest.WithSeed(7))
	t.Cleanup(mock.Close)
	gw := startGateway(t, func(c *Config) {
		c.Providers = []llm.ProviderConfig{
			{Name: "mock", Type: llm.TypeOpenAI, BaseURL: mock.URL + "/v1", Keys: []llm.ProviderKeyConfig{{Name: "main", Value: "sk-main"}},
				Models: []string{"gpt-4o-mini", "text-embedding-3-small"}},
			{Name: "claude", Type: llm.TypeAnthropic, BaseURL: mock.URL, Keys: []llm.ProviderKeyConfig{{Value: "sk-ant"}}},
			{Name: "gem", Type: llm.TypeGemini, BaseURL: mock.URL + "/v1beta", Keys: []llm.ProviderKeyConfig{{Value: "sk-gem"}}},
		}
		c.Models = []llm.ModelConfig{{Name: "fast", Targets: []llm.TargetConfig{{Model: "mock/gpt-4o-mini"}}}}
		if mutate != nil {
			mutate(c, mock)
		}
	})
	k, secret, err := gw.Policy().CreateKey(context.Background(), policy.KeyInput{Name: "caller"})
	if err != nil {
		t.Fatal(err)
	}
	return &llmSetup{gw: gw, mock: mock, key: secret, keyID: k.ID, client: &http.Client{Timeout: 30 * time.Second}}
}

// post sends body to path with the virtual key in the header an SDK of the
// format would use.
func (s *llmSetup) post(t *testing.T, path, body string, header ...string) (*http.Response, []byte) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, s.gw.URL+path, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	if path == "/v1/messages" || path == "/v1/messages/count_tokens" {
		req.Header.Set("x-api-key", s.key)
		req.Header.Set("anthropic-version", "2023-06-01")
	} else {
		req.Header.Set("Authorization", "Bearer "+s.key)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := s.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, b
}

// sseEvents splits an SSE body into (event name, data) pairs.
func sseEvents(t *testing.T, body []byte) (names, data []string) {
	t.Helper()
	sc := bufio.NewScanner(bytes.NewReader(body))
	sc.Buffer(make([]byte, 1<<20), 1<<24)
	name := ""
	for sc.Scan() {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, "event:"):
			name = strings.TrimSpace(strings.TrimPrefix(line, "event:"))
		case strings.HasPrefix(line, "data:"):
			names = append(names, name)
			data = append(data, strings.TrimSpace(strings.TrimPrefix(line, "data:")))
			name = ""
		}
	}
	return names, data
}

type oaiChunk struct {
	Model   string `json:"model"`
	Choices []struct {
		Delta struct {
			Role      string `json:"role"`
			Content   string `json:"content"`
			ToolCalls []struct {
				Index    int    `json:"index"`
				ID       string `json:"id"`
				Type     string `json:"type"`
				Function struct {
					Name      string `json:"name"`
					Arguments string `json:"arguments"`
				} `json:"function"`
			} `json:"tool_calls"`
		} `json:"delta"`
		FinishReason *string `json:"finish_reason"`
	} `json:"choices"`
	Usage *struct {
		PromptTokens     int64 `json:"prompt_tokens"`
		CompletionTokens int64 `json:"completion_tokens"`
	} `json:"usage"`
}

type oaiCompletion struct {
	Object  string `json:"object"`
	Model   string `json:"model"`
	Choices []struct {
		Message struct {
			Role      string  `json:"role"`
			Content   *string `json:"content"`
			ToolCalls []struct {
				ID       string `json:"id"`
				Function struct {
					Name      string `json:"name"`
					Arguments string `json:"arguments"`
				} `json:"function"`
			} `json:"tool_calls"`
		} `json:"message"`
		FinishReason string `json:"finish_reason"`
	} `json:"choices"`
	Usage struct {
		PromptTokens     int64 `json:"prompt_tokens"`
		CompletionTokens int64 `json:"completion_tokens"`
		TotalTokens      int64 `json:"total_tokens"`
	} `json:"usage"`
}

func decode[T any](t *testing.T, b []byte) T {
	t.Helper()
	var v T
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatalf("decode %T: %v in %s", v, err, b)
	}
	return v
}

// reassemble joins streamed OpenAI chunks into content and tool calls.
func reassemble(t *testing.T, data []string) (content string, calls map[int][3]string, usage *oaiChunk, done bool) {
	t.Helper()
	calls = map[int][3]string{}
	var b strings.Builder
	for _, d := range data {
		if d == "[DONE]" {
			done = true
			continue
		}
		c := decode[oaiChunk](t, []byte(d))
		if c.Usage != nil && len(c.Choices) == 0 {
			cc := c
			usage = &cc
		}
		for _, ch := range c.Choices {
			b.WriteString(ch.Delta.Content)
			for _, tc := range ch.Delta.ToolCalls {
				cur := calls[tc.Index]
				if tc.ID != "" {
					if cur[0] != "" {
						t.Errorf("tool call %d: id sent twice", tc.Index)
					}
					cur[0] = tc.ID
				}
				if tc.Function.Name != "" {
					cur[1] = tc.Function.Name
				}
				cur[2] += tc.Function.Arguments
				calls[tc.Index] = cur
			}
		}
	}
	return b.String(), calls, usage, done
}

const helloBody = `{"model":"fast","messages":[{"role":"system","content":"be brief"},{"role":"user","content":"hello from the openai sdk"}],"temperature":0.2,"seed":42,"metadata":{"x":"y"}}`

func TestChatCompletionsPassThrough(t *testing.T) {
	t.Parallel()
	s := startLLM(t, nil)
	resp, body := s.post(t, "/v1/chat/completions", helloBody)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d: %s", resp.StatusCode, body)
	}
	c := decode[oaiCompletion](t, body)
	if c.Object != "chat.completion" || len(c.Choices) != 1 || c.Choices[0].Message.Content == nil ||
		!strings.Contains(*c.Choices[0].Message.Content, "hello") || c.Usage.TotalTokens == 0 {
		t.Errorf("completion %s", body)
	}
	if got := resp.Header.Get("X-Junction-Target"); got != "mock/gpt-4o-mini" {
		t.Errorf("X-Junction-Target = %q", got)
	}
	if resp.Header.Get("X-Junction-Attempts") != "1" || resp.Header.Get("X-Request-Id") == "" {
		t.Errorf("headers %v", resp.Header)
	}
	if _, err := strconv.ParseFloat(resp.Header.Get("X-Junction-Overhead-Ms"), 64); err != nil {
		t.Errorf("X-Junction-Overhead-Ms = %q", resp.Header.Get("X-Junction-Overhead-Ms"))
	}
	// The upstream got the client's bytes with only the model changed:
	// unknown fields survive, the virtual key does not travel.
	last, _ := s.mock.LastRequest()
	var sent map[string]json.RawMessage
	_ = json.Unmarshal(last.Body, &sent)
	if string(sent["model"]) != `"gpt-4o-mini"` || string(sent["seed"]) != "42" || string(sent["metadata"]) != `{"x":"y"}` {
		t.Errorf("upstream body %s", last.Body)
	}
	if last.Key != "sk-main" || strings.Contains(last.Header.Get("Authorization"), s.key) {
		t.Errorf("upstream key %q", last.Key)
	}
	// The usage is metered and recorded.
	if err := s.gw.Policy().FlushUsage(context.Background()); err != nil {
		t.Fatal(err)
	}
	rows, err := s.gw.Policy().Usage(context.Background(), store.UsageQuery{KeyID: s.keyID, GroupBy: "model"})
	if err != nil || len(rows) != 1 || rows[0].Group != "mock/gpt-4o-mini" || rows[0].PromptTokens != c.Usage.PromptTokens ||
		rows[0].CompletionTokens != c.Usage.CompletionTokens {
		t.Errorf("usage rows %+v %v (response usage %+v)", rows, err, c.Usage)
	}
}

func TestChatStreaming(t *testing.T) {
	t.Parallel()
	s := startLLM(t, nil)
	for _, includeUsage := range []bool{false, true} {
		body := `{"model":"fast","stream":true,"messages":[{"role":"user","content":"stream me some words please"}]}`
		if includeUsage {
			body = `{"model":"fast","stream":true,"stream_options":{"include_usage":true},"messages":[{"role":"user","content":"stream me some words please"}]}`
		}
		resp, raw := s.post(t, "/v1/chat/completions", body)
		if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") {
			t.Fatalf("status %d %s: %s", resp.StatusCode, resp.Header.Get("Content-Type"), raw)
		}
		_, data := sseEvents(t, raw)
		content, _, usage, done := reassemble(t, data)
		if !done || data[len(data)-1] != "[DONE]" || !strings.Contains(content, "stream") {
			t.Errorf("include_usage=%v: content %q done %v", includeUsage, content, done)
		}
		if (usage != nil) != includeUsage {
			t.Errorf("include_usage=%v: usage chunk present = %v", includeUsage, usage != nil)
		}
		if includeUsage && !strings.Contains(data[len(data)-2], `"usage":{`) {
			t.Errorf("usage chunk is not last before [DONE]: %s", data[len(data)-2])
		}
		// Usage is always asked of the upstream.
		last, _ := s.mock.LastRequest()
		if !bytes.Contains(last.Body, []byte(`"include_usage":true`)) {
			t.Errorf("upstream body lacks include_usage: %s", last.Body)
		}
	}
	// And metered even when the client did not ask for it.
	_ = s.gw.Policy().FlushUsage(context.Background())
	rows, _ := s.gw.Policy().Usage(context.Background(), store.UsageQuery{KeyID: s.keyID})
	if len(rows) != 1 || rows[0].Requests != 2 || rows[0].CompletionTokens == 0 {
		t.Errorf("usage %+v", rows)
	}
}

func TestToolCallDeltasReassembled(t *testing.T) {
	t.Parallel()
	for _, target := range []string{"mock/gpt-4o-mini", "claude/claude-sonnet-4-5", "gem/gemini-2.5-flash"} {
		t.Run(target, func(t *testing.T) {
			s := startLLM(t, nil)
			err := s.mock.SetDefault(llmtest.Behavior{Script: []llmtest.Turn{llmtest.ToolTurn(
				llmtest.Call("get_weather", map[string]any{"city": "Paris"}),
				llmtest.Call("get_time", map[string]any{"zone": "CET"}),
			)}})
			if err != nil {
				t.Fatal(err)
			}
			body := `{"model":"` + target + `","stream":true,"messages":[{"role":"user","content":"weather and time"}],
				"tools":[{"type":"function","function":{"name":"get_weather","parameters":{"type":"object","properties":{"city":{"type":"string"}}}}},
				{"type":"function","function":{"name":"get_time","parameters":{"type":"object","properties":{"zone":{"type":"string"}}}}}]}`
			resp, raw := s.post(t, "/v1/chat/completions", body)
			if resp.StatusCode != 200 {
				t.Fatalf("status %d: %s", resp.StatusCode, raw)
			}
			_, data := sseEvents(t, raw)
			_, calls, _, done := reassemble(t, data)
			if !done || len(calls) != 2 || calls[0][1] != "get_weather" || calls[1][1] != "get_time" ||
				calls[0][0] == "" || calls[1][0] == "" {
				t.Fatalf("calls %v done %v\n%s", calls, done, raw)
			}
			var args map[string]string
			if err := json.Unmarshal([]byte(calls[0][2]), &args); err != nil || args["city"] != "Paris" {
				t.Errorf("arguments %q", calls[0][2])
			}
			var finish string
			for _, d := range data {
				if d == "[DONE]" {
					continue
				}
				for _, ch := range decode[oaiChunk](t, []byte(d)).Choices {
					if ch.FinishReason != nil {
						finish = *ch.FinishReason
					}
				}
			}
			if finish != "tool_calls" {
				t.Errorf("finish_reason %q", finish)
			}
			// Non-streamed too.
			resp, raw = s.post(t, "/v1/chat/completions", strings.Replace(body, `"stream":true`, `"stream":false`, 1))
			c := decode[oaiCompletion](t, raw)
			if resp.StatusCode != 200 || len(c.Choices) != 1 || len(c.Choices[0].Message.ToolCalls) != 2 || c.Choices[0].FinishReason != "tool_calls" {
				t.Errorf("non-streamed tool calls: %d %s", resp.StatusCode, raw)
			}
		})
	}
}

func TestOpenAIRequestToAnthropicAndGemini(t *testing.T) {
	t.Parallel()
	s := startLLM(t, nil)
	for _, model := range []string{"claude/claude-sonnet-4-5", "gem/gemini-2.5-flash"} {
		body := strings.Replace(helloBody, `"fast"`, `"`+model+`"`, 1)
		resp, raw := s.post(t, "/v1/chat/completions", body)
		if resp.StatusCode != 200 {
			t.Fatalf("%s: status %d: %s", model, resp.StatusCode, raw)
		}
		c := decode[oaiCompletion](t, raw)
		if c.Object != "chat.completion" || c.Choices[0].Message.Content == nil || !strings.Contains(*c.Choices[0].Message.Content, "hello") ||
			c.Usage.PromptTokens == 0 || resp.Header.Get("X-Junction-Target") != model {
			t.Errorf("%s: %s", model, raw)
		}
		resp, raw = s.post(t, "/v1/chat/completions", strings.Replace(body, `"messages"`, `"stream":true,"stream_options":{"include_usage":true},"messages"`, 1))
		_, data := sseEvents(t, raw)
		content, _, usage, done := reassemble(t, data)
		if resp.StatusCode != 200 || !done || !strings.Contains(content, "hello") || usage == nil || usage.Usage.CompletionTokens == 0 {
			t.Errorf("%s stream: %d content %q usage %+v\n%s", model, resp.StatusCode, content, usage, raw)
		}
	}
}

type anthropicMessage struct {
	Type       string `json:"type"`
	Role       string `json:"role"`
	StopReason string `json:"stop_reason"`
	Content    []struct {
		Type  string          `json:"type"`
		Text  string          `json:"text"`
		ID    string          `json:"id"`
		Name  string          `json:"name"`
		Input json.RawMessage `json:"input"`
	} `json:"content"`
	Usage struct {
		InputTokens  int64 `json:"input_tokens"`
		OutputTokens int64 `json:"output_tokens"`
	} `json:"usage"`
}

func TestAnthropicMessages(t *testing.T) {
	t.Parallel()
	s := startLLM(t, func(c *Config, _ *llmtest.Server) {
		c.Models = append(c.Models, llm.ModelConfig{Name: "sonnet", Targets: []llm.TargetConfig{{Model: "claude/claude-sonnet-4-5"}}})
	})
	body := func(model string, stream bool) string {
		return `{"model":"` + model + `","max_tokens":256,"stream":` + strconv.FormatBool(stream) + `,"system":"be brief",
			"messages":[{"role":"user","content":[{"type":"text","text":"hello from claude code"}]}]}`
	}
	for _, model := range []string{"fast", "sonnet", "gem/gemini-2.5-flash"} { // OpenAI-compatible, Anthropic pass-through, Gemini
		resp, raw := s.post(t, "/v1/messages", body(model, false))
		if resp.StatusCode != 200 {
			t.Fatalf("%s: status %d: %s", model, resp.StatusCode, raw)
		}
		m := decode[anthropicMessage](t, raw)
		if m.Type != "message" || m.Role != "assistant" || len(m.Content) == 0 || !strings.Contains(m.Content[0].Text, "hello") ||
			m.StopReason != "end_turn" || m.Usage.OutputTokens == 0 {
			t.Errorf("%s: %s", model, raw)
		}
		resp, raw = s.post(t, "/v1/messages", body(model, true))
		names, data := sseEvents(t, raw)
		if resp.StatusCode != 200 || len(names) < 5 || names[0] != "message_start" || names[len(names)-1] != "message_stop" {
			t.Fatalf("%s stream: %d %v\n%s", model, resp.StatusCode, names, raw)
		}
		var text strings.Builder
		for i, n := range names {
			if n == "content_block_delta" {
				var d struct {
					Delta struct{ Text string } `json:"delta"`
				}
				_ = json.Unmarshal([]byte(data[i]), &d)
				text.WriteString(d.Delta.Text)
			}
		}
		if !strings.Contains(text.String(), "hello") {
			t.Errorf("%s stream text %q", model, text.String())
		}
	}
	// The version and beta headers of Anthropic clients reach an Anthropic
	// upstream (llm's TestAnthropicHeadersReachAnthropicUpstreams covers
	// streams, translation and OpenAI-format upstreams).
	if resp, raw := s.post(t, "/v1/messages", body("sonnet", false), "anthropic-beta", "interleaved-thinking-2025-05-14",
		"anthropic-version", "2024-01-01"); resp.StatusCode != 200 {
		t.Fatalf("beta: %d %s", resp.StatusCode, raw)
	}
	if last, _ := s.mock.LastRequest(); last.Header.Get("Anthropic-Beta") != "interleaved-thinking-2025-05-14" ||
		last.Header.Get("Anthropic-Version") != "2024-01-01" || last.Key != "sk-ant" {
		t.Errorf("upstream headers %v", last.Header)
	}
	// tool_use round trip through an OpenAI-compatible upstream.
	if err := s.mock.SetDefault(llmtest.Behavior{Script: []llmtest.Turn{llmtest.ToolTurn(llmtest.Call("read_file", map[string]any{"path": "/tmp/x"}))}}); err != nil {
		t.Fatal(err)
	}
	resp, raw := s.post(t, "/v1/messages", `{"model":"fast","max_tokens":100,"messages":[{"role":"user","content":"read it"}],
		"tools":[{"name":"read_file","input_schema":{"type":"object","properties":{"path":{"type":"string"}}}}]}`)
	m := decode[anthropicMessage](t, raw)
	if resp.StatusCode != 200 || m.StopReason != "tool_use" || len(m.Content) == 0 || m.Content[len(m.Content)-1].Type != "tool_use" ||
		m.Content[len(m.Content)-1].Name != "read_file" || !strings.Contains(string(m.Content[len(m.Content)-1].Input), "/tmp/x") {
		t.Errorf("tool_use: %d %s", resp.StatusCode, raw)
	}
	// Errors on /v1/messages are Anthropic-shaped.
	resp, raw = s.post(t, "/v1/messages", `{"model":"fast","messages":[]}`)
	var e struct {
		Type  string `json:"type"`
		Error struct{ Type, Message string }
	}
	_ = json.Unmarshal(raw, &e)
	if resp.StatusCode != 400 || e.Type != "error" || e.Error.Type != "invalid_request_error" {
		t.Errorf("missing max_tokens: %d %s", resp.StatusCode, raw)
	}
	req, _ := http.NewRequest(http.MethodPost, s.gw.URL+"/v1/messages", strings.NewReader(body("fast", false)))
	req.Header.Set("x-api-key", "jk-wrong")
	r2, raw := do(t, req)
	_ = json.Unmarshal(raw, &e)
	if r2.StatusCode != 401 || e.Type != "error" || e.Error.Type != "authentication_error" {
		t.Errorf("bad key on /v1/messages: %d %s", r2.StatusCode, raw)
	}
}

func TestEmbeddingsAndModels(t *testing.T) {
	t.Parallel()
	s := startLLM(t, func(c *Config, _ *llmtest.Server) {
		c.Models = append(c.Models, llm.ModelConfig{Name: "embed", Targets: []llm.TargetConfig{{Model: "mock/text-embedding-3-small"}}})
	})
	resp, raw := s.post(t, "/v1/embeddings", `{"model":"embed","input":["a cat sat","on a mat"],"dimensions":8}`)
	var e struct {
		Object string `json:"object"`
		Data   []struct {
			Embedding []float64 `json:"embedding"`
			Index     int       `json:"index"`
		} `json:"data"`
		Usage struct {
			PromptTokens int64 `json:"prompt_tokens"`
		} `json:"usage"`
	}
	_ = json.Unmarshal(raw, &e)
	if resp.StatusCode != 200 || len(e.Data) != 2 || len(e.Data[0].Embedding) != 8 || e.Data[1].Index != 1 || e.Usage.PromptTokens == 0 {
		t.Errorf("embeddings: %d %s", resp.StatusCode, raw)
	}
	// A key limited to some models sees only those.
	_, limited, err := s.gw.Policy().CreateKey(context.Background(), policy.KeyInput{Name: "limited", Models: []string{"fast"}})
	if err != nil {
		t.Fatal(err)
	}
	list := func(key string) []string {
		resp, raw := get(t, s.gw.URL+"/v1/models", "Authorization", "Bearer "+key)
		var m struct {
			Object string                `json:"object"`
			Data   []struct{ ID string } `json:"data"`
		}
		_ = json.Unmarshal(raw, &m)
		if resp.StatusCode != 200 || m.Object != "list" {
			t.Fatalf("models: %d %s", resp.StatusCode, raw)
		}
		var ids []string
		for _, d := range m.Data {
			ids = append(ids, d.ID)
		}
		return ids
	}
	if got := strings.Join(list(s.key), ","); got != "embed,fast,mock/gpt-4o-mini,mock/text-embedding-3-small" {
		t.Errorf("all models: %s", got)
	}
	if got := strings.Join(list(limited), ","); got != "fast" {
		t.Errorf("limited key's models: %s", got)
	}
	// And may not use the others.
	req, _ := http.NewRequest(http.MethodPost, s.gw.URL+"/v1/chat/completions", strings.NewReader(strings.Replace(helloBody, `"fast"`, `"mock/gpt-4o-mini"`, 1)))
	req.Header.Set("Authorization", "Bearer "+limited)
	resp, raw = do(t, req)
	if resp.StatusCode != 403 || errorJSON(t, raw).Code != "access_denied" {
		t.Errorf("denied model: %d %s", resp.StatusCode, raw)
	}
}

func TestLLMMetrics(t *testing.T) {
	t.Parallel()
	s := startLLM(t, nil)
	if resp, raw := s.post(t, "/v1/chat/completions", helloBody); resp.StatusCode != 200 {
		t.Fatalf("%d %s", resp.StatusCode, raw)
	}
	if resp, raw := s.post(t, "/v1/chat/completions", strings.Replace(helloBody, `"fast"`, `"mock/gpt-4o"`, 1)); resp.StatusCode != 200 {
		t.Fatalf("direct provider/model: %d %s", resp.StatusCode, raw)
	}
	_, body := get(t, s.gw.URL+"/metrics")
	for _, want := range []string{
		`junction_llm_requests_total{model="fast",provider="mock",status="200"} 1`,
		`junction_llm_requests_total{model="mock/gpt-4o",provider="mock",status="200"} 1`,
		`junction_llm_tokens_total{direction="completion",key="caller",model="mock/gpt-4o-mini",provider="mock",team="none"}`,
		`junction_llm_breaker_open{key="main",model="gpt-4o-mini",provider="mock"} 0`,
		`junction_llm_upstream_seconds_count{provider="mock"} 2`,
	} {
		if !strings.Contains(string(body), want) {
			t.Errorf("metrics lack %s", want)
		}
	}
}
