package gateway

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/junctionhq/junction/internal/testkit"
	"github.com/junctionhq/junction/llm"
	"github.com/junctionhq/junction/llm/llmtest"
	"github.com/junctionhq/junction/policy"
	"github.com/junctionhq/junction/store"
)

// startFailover is a gateway whose alias "fast" goes to provider "primary"
// (key sk-primary) with provider "backup" (key sk-backup, same mock) as its
// fallback.
func startFailover(t *testing.T, timeouts llm.TimeoutsConfig) *llmSetup {
	return startLLM(t, func(c *Config, mock *llmtest.Server) {
		c.Providers = []llm.ProviderConfig{
			{Name: "primary", BaseURL: mock.URL + "/v1", Keys: []llm.ProviderKeyConfig{{Value: "sk-primary"}}, Timeouts: timeouts},
			{Name: "backup", BaseURL: mock.URL + "/v1", Keys: []llm.ProviderKeyConfig{{Value: "sk-backup"}}, Timeouts: timeouts},
		}
		c.Models = []llm.ModelConfig{{Name: "fast", Targets: []llm.TargetConfig{{Model: "primary/gpt-4o-mini"}},
			Fallbacks: []string{"backup/gpt-4o-mini"}}}
		c.Routing = llm.RoutingConfig{MaxAttempts: 2, BackoffBase: time.Millisecond, BackoffMax: 5 * time.Millisecond}
	})
}

func TestFailoverGivesTheClientACorrectAnswer(t *testing.T) {
	cases := []struct {
		name     string
		behavior llmtest.Behavior
		stream   bool
	}{
		{"500s", llmtest.Behavior{FailPercent: 100, FailStatus: 500}, false},
		{"503s streaming", llmtest.Behavior{FailPercent: 100, FailStatus: 503}, true},
		{"429s", llmtest.Behavior{RateLimitNext: 100, RetryAfter: time.Millisecond}, false},
		{"429 with a long retry-after", llmtest.Behavior{RateLimitNext: 100, RetryAfter: time.Hour}, true},
		{"hangs", llmtest.Behavior{Hang: true}, false},
		{"hangs streaming", llmtest.Behavior{Hang: true}, true},
		{"no first event in time", llmtest.Behavior{TimeToFirstChunk: 10 * time.Second}, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s := startFailover(t, llm.TimeoutsConfig{FirstByte: 300 * time.Millisecond})
			if err := s.mock.SetBehavior("sk-primary", c.behavior); err != nil {
				t.Fatal(err)
			}
			body := helloBody
			if c.stream {
				body = strings.Replace(helloBody, `"messages"`, `"stream":true,"messages"`, 1)
			}
			resp, raw := s.post(t, "/v1/chat/completions", body)
			if resp.StatusCode != 200 {
				t.Fatalf("status %d: %s", resp.StatusCode, raw)
			}
			if got := resp.Header.Get("X-Junction-Target"); got != "backup/gpt-4o-mini" {
				t.Errorf("answered by %q", got)
			}
			if c.stream {
				_, data := sseEvents(t, raw)
				content, _, _, done := reassemble(t, data)
				if !done || !strings.Contains(content, "hello") || strings.Contains(string(raw), `"error"`) {
					t.Errorf("stream %s", raw)
				}
			} else if c := decode[oaiCompletion](t, raw); c.Choices[0].Message.Content == nil {
				t.Errorf("body %s", raw)
			}
		})
	}
}

func TestBadRequestIsNotRetried(t *testing.T) {
	s := startFailover(t, llm.TimeoutsConfig{})
	resp, raw := s.post(t, "/v1/chat/completions", `{"model":"fast","messages":[]}`)
	if resp.StatusCode != 400 {
		t.Fatalf("status %d: %s", resp.StatusCode, raw)
	}
	if e := errorJSON(t, raw); !strings.Contains(e.Message, "messages") {
		t.Errorf("error %+v", e)
	}
	st := s.mock.Stats()
	if st.ByKey["sk-primary"] != 1 || st.ByKey["sk-backup"] != 0 {
		t.Errorf("upstream calls by key %v: a 400 was retried", st.ByKey)
	}
}

func TestAllTargetsDown(t *testing.T) {
	s := startFailover(t, llm.TimeoutsConfig{})
	for _, k := range []string{"sk-primary", "sk-backup"} {
		_ = s.mock.SetBehavior(k, llmtest.Behavior{FailPercent: 100, FailStatus: 503})
	}
	resp, raw := s.post(t, "/v1/chat/completions", helloBody)
	e := errorJSON(t, raw)
	if resp.StatusCode != 503 && resp.StatusCode != 502 {
		t.Fatalf("status %d: %s", resp.StatusCode, raw)
	}
	if !strings.Contains(e.Message, `"fast"`) {
		t.Errorf("the error does not name the alias: %s", e.Message)
	}
	// A failed request is still recorded, and costs nothing.
	_ = s.gw.Policy().FlushUsage(context.Background())
	rows, _ := s.gw.Policy().Usage(context.Background(), store.UsageQuery{KeyID: s.keyID})
	if len(rows) != 1 || rows[0].Errors != 1 || rows[0].CostMicros != 0 {
		t.Errorf("usage %+v", rows)
	}
}

func TestStreamCutAfterFirstEventErrorsInBand(t *testing.T) {
	s := startFailover(t, llm.TimeoutsConfig{})
	_ = s.mock.SetBehavior("sk-primary", llmtest.Behavior{CloseAfterChunks: 2, ReplyTokens: 50})
	resp, raw := s.post(t, "/v1/chat/completions", strings.Replace(helloBody, `"messages"`, `"stream":true,"messages"`, 1))
	if resp.StatusCode != 200 {
		t.Fatalf("status %d", resp.StatusCode)
	}
	_, data := sseEvents(t, raw)
	if len(data) == 0 || !strings.Contains(data[len(data)-1], `"error"`) {
		t.Errorf("no in-band error at the end:\n%s", raw)
	}
}

func TestBadInput(t *testing.T) {
	s := startLLM(t, func(c *Config, _ *llmtest.Server) { c.HTTP.MaxBodyBytes = 4096 })
	cases := []struct {
		name, body string
		status     int
		code       string
	}{
		{"malformed JSON", `{"model":"fast",`, 400, "invalid_json"},
		{"not an object", `[1,2]`, 400, ""},
		{"missing model", `{"messages":[{"role":"user","content":"x"}]}`, 400, "invalid_request"},
		{"model not a string", `{"model":5,"messages":[]}`, 400, "invalid_request"},
		{"stream not a bool", `{"model":"fast","stream":"yes","messages":[]}`, 400, "invalid_request"},
		{"unknown model", `{"model":"nope/x","messages":[{"role":"user","content":"x"}]}`, 404, "model_not_found"},
		{"unknown alias", `{"model":"slow","messages":[{"role":"user","content":"x"}]}`, 404, "model_not_found"},
		{"oversized body", `{"model":"fast","messages":[{"role":"user","content":"` + strings.Repeat("x", 5000) + `"}]}`, 413, "request_too_large"},
		{"bad messages to a translated provider", `{"model":"claude/claude-sonnet-4-5","messages":"hi"}`, 400, "invalid_request"},
	}
	for _, c := range cases {
		resp, raw := s.post(t, "/v1/chat/completions", c.body)
		if resp.StatusCode != c.status {
			t.Errorf("%s: status %d, want %d: %s", c.name, resp.StatusCode, c.status, raw)
			continue
		}
		if e := errorJSON(t, raw); c.code != "" && e.Code != c.code {
			t.Errorf("%s: code %q, want %q (%s)", c.name, e.Code, c.code, e.Message)
		}
	}
}

func TestInvalidUpstreamStream(t *testing.T) {
	garbage := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.Contains(r.URL.Path, "messages") {
			w.Header().Set("Content-Type", "text/event-stream")
			_, _ = w.Write([]byte("event: message_start\ndata: {not json\n\nevent: content_block_delta\ndata: {\"oops\n\n"))
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"choices": "not a list"`))
	}))
	t.Cleanup(garbage.Close)
	s := startLLM(t, func(c *Config, _ *llmtest.Server) {
		c.Providers = append(c.Providers, llm.ProviderConfig{Name: "junk", Type: llm.TypeAnthropic, BaseURL: garbage.URL,
			Keys: []llm.ProviderKeyConfig{{Value: "k"}}})
	})
	resp, raw := s.post(t, "/v1/chat/completions", `{"model":"junk/x","stream":true,"messages":[{"role":"user","content":"x"}]}`)
	if resp.StatusCode == 200 {
		if _, data := sseEvents(t, raw); len(data) == 0 || !strings.Contains(data[len(data)-1], "error") {
			t.Errorf("garbage stream relayed without an error: %s", raw)
		}
	} else if resp.StatusCode < 500 {
		t.Errorf("status %d: %s", resp.StatusCode, raw)
	}
	resp, raw = s.post(t, "/v1/chat/completions", `{"model":"junk/x","messages":[{"role":"user","content":"x"}]}`)
	if resp.StatusCode < 500 {
		t.Errorf("garbage JSON: status %d: %s", resp.StatusCode, raw)
	}
}

func TestGovernanceOnTheLLMPath(t *testing.T) {
	s := startLLM(t, nil)
	_, limited, err := s.gw.Policy().CreateKey(context.Background(), policy.KeyInput{Name: "rpm1", Limits: policy.Limits{RPM: 1}})
	if err != nil {
		t.Fatal(err)
	}
	send := func(path, body string) (*http.Response, []byte) {
		req, _ := http.NewRequest(http.MethodPost, s.gw.URL+path, strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+limited)
		return do(t, req)
	}
	resp, raw := send("/v1/chat/completions", helloBody)
	if resp.StatusCode != 200 || resp.Header.Get("X-Ratelimit-Limit-Requests") != "1" || resp.Header.Get("X-Ratelimit-Remaining-Requests") != "0" {
		t.Fatalf("first: %d %v %s", resp.StatusCode, resp.Header, raw)
	}
	resp, raw = send("/v1/chat/completions", helloBody)
	if resp.StatusCode != 429 || resp.Header.Get("Retry-After") == "" || errorJSON(t, raw).Code != "rate_limit_exceeded" {
		t.Errorf("second: %d %v %s", resp.StatusCode, resp.Header, raw)
	}
	resp, raw = send("/v1/messages", `{"model":"fast","max_tokens":10,"messages":[{"role":"user","content":"x"}]}`)
	if resp.StatusCode != 429 || !strings.Contains(string(raw), `"rate_limit_error"`) || !strings.Contains(string(raw), `"type":"error"`) {
		t.Errorf("anthropic-shaped 429: %d %s", resp.StatusCode, raw)
	}
	// A spent budget is a 402 with budget_exceeded.
	_, broke, _ := s.gw.Policy().CreateKey(context.Background(), policy.KeyInput{Name: "broke", Budget: &policy.Budget{USD: 0}})
	req, _ := http.NewRequest(http.MethodPost, s.gw.URL+"/v1/chat/completions", strings.NewReader(helloBody))
	req.Header.Set("api-key", broke)
	resp, raw = do(t, req)
	if resp.StatusCode != 402 || errorJSON(t, raw).Code != "budget_exceeded" {
		t.Errorf("budget: %d %s", resp.StatusCode, raw)
	}
}

func TestClientDisconnectStillMetersTheStream(t *testing.T) {
	s := startLLM(t, nil)
	_ = s.mock.SetDefault(llmtest.Behavior{ReplyTokens: 40, ChunkDelay: 5 * time.Millisecond})
	hangUpAfterFirstEvent(t, s.client, s.gw.URL, s.key, strings.Replace(helloBody, `"messages"`, `"stream":true,"messages"`, 1))
	testkit.Eventually(t, 5*time.Second, "the drained stream's usage record", func() bool {
		_ = s.gw.Policy().FlushUsage(context.Background())
		rows, _ := s.gw.Policy().Usage(context.Background(), store.UsageQuery{KeyID: s.keyID})
		return len(rows) == 1 && rows[0].Requests == 1 && rows[0].CompletionTokens >= 40
	})
}

// TestStreamCutBeforeFirstEventFailsOver: an upstream that answers 200 and
// hangs up before its first event is failed over, and the client sees only
// the backup's stream.
func TestStreamCutBeforeFirstEventFailsOver(t *testing.T) {
	cutter := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		w.WriteHeader(http.StatusOK)
		w.(http.Flusher).Flush()
		conn, _, err := http.NewResponseController(w).Hijack()
		if err == nil {
			_ = conn.Close()
		}
	}))
	t.Cleanup(cutter.Close)
	s := startLLM(t, func(c *Config, mock *llmtest.Server) {
		c.Providers = []llm.ProviderConfig{
			{Name: "primary", BaseURL: cutter.URL + "/v1", Keys: []llm.ProviderKeyConfig{{Value: "sk-primary"}}},
			{Name: "backup", BaseURL: mock.URL + "/v1", Keys: []llm.ProviderKeyConfig{{Value: "sk-backup"}}},
		}
		c.Models = []llm.ModelConfig{{Name: "fast", Targets: []llm.TargetConfig{{Model: "primary/gpt-4o-mini"}},
			Fallbacks: []string{"backup/gpt-4o-mini"}}}
		c.Routing = llm.RoutingConfig{MaxAttempts: 1, BackoffBase: time.Millisecond}
	})
	resp, raw := s.post(t, "/v1/chat/completions", strings.Replace(helloBody, `"messages"`, `"stream":true,"messages"`, 1))
	_, data := sseEvents(t, raw)
	content, _, _, done := reassemble(t, data)
	if resp.StatusCode != 200 || resp.Header.Get("X-Junction-Target") != "backup/gpt-4o-mini" || !done || !strings.Contains(content, "hello") {
		t.Errorf("%d %s\n%s", resp.StatusCode, resp.Header.Get("X-Junction-Target"), raw)
	}
}

// TestRequestFallbacks: the request's own "fallbacks" field is tried after
// the model's chain, and is not sent upstream.
func TestRequestFallbacks(t *testing.T) {
	s := startFailover(t, llm.TimeoutsConfig{})
	_ = s.mock.SetBehavior("sk-primary", llmtest.Behavior{FailPercent: 100, FailStatus: 500})
	// primary/gpt-4o-mini has no fallbacks of its own; the request names one.
	body := `{"model":"primary/gpt-4o-mini","fallbacks":["backup/gpt-4o"],"messages":[{"role":"user","content":"hi there"}]}`
	resp, raw := s.post(t, "/v1/chat/completions", body)
	if resp.StatusCode != 200 || resp.Header.Get("X-Junction-Target") != "backup/gpt-4o" {
		t.Fatalf("%d %s %s", resp.StatusCode, resp.Header.Get("X-Junction-Target"), raw)
	}
	last, _ := s.mock.LastRequest()
	if strings.Contains(string(last.Body), "fallbacks") {
		t.Errorf("fallbacks reached the upstream: %s", last.Body)
	}
	// Without it, the same request fails.
	resp, raw = s.post(t, "/v1/chat/completions", strings.Replace(body, `"fallbacks":["backup/gpt-4o"],`, "", 1))
	if resp.StatusCode < 500 {
		t.Errorf("without fallbacks: %d %s", resp.StatusCode, raw)
	}
}

// TestStreamIdleTimeout: a stream that goes quiet longer than stream_idle
// ends with an in-band error instead of hanging the client.
func TestStreamIdleTimeout(t *testing.T) {
	s := startLLM(t, func(c *Config, _ *llmtest.Server) {
		c.Providers[0].Timeouts.StreamIdle = 200 * time.Millisecond
	})
	_ = s.mock.SetDefault(llmtest.Behavior{ReplyTokens: 5, ChunkDelay: 2 * time.Second})
	start := time.Now()
	resp, raw := s.post(t, "/v1/chat/completions", strings.Replace(helloBody, `"messages"`, `"stream":true,"messages"`, 1))
	_, data := sseEvents(t, raw)
	if resp.StatusCode != 200 || len(data) == 0 || !strings.Contains(data[len(data)-1], "error") || time.Since(start) > 1500*time.Millisecond {
		t.Errorf("%d after %v:\n%s", resp.StatusCode, time.Since(start), raw)
	}
}

// hangUpAfterFirstEvent posts a streamed chat completion with body to the
// gateway at base, reads the first event and hangs up.
func hangUpAfterFirstEvent(t *testing.T, c *http.Client, base, key, body string) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, base+"/v1/chat/completions", strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+key)
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 64)
	_, _ = resp.Body.Read(buf) // the first event, then hang up
	cancel()
	resp.Body.Close()
}
