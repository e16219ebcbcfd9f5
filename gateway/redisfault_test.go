package gateway

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/junctionhq/junction/internal/testkit"
	"github.com/junctionhq/junction/llm/llmtest"
	"github.com/junctionhq/junction/policy"
	"github.com/junctionhq/junction/registry"
	"github.com/junctionhq/junction/registry/mcptest"
	"github.com/junctionhq/junction/store/counters/redistest"
)

// redisFaultBound is the counter call bound the Redis fault tests configure;
// redisFaultSlack is what they allow a request to take while Redis fails:
// generous for a loaded CI machine, far below the 5-15 s a hung Redis cost.
const (
	redisFaultBound = 50 * time.Millisecond
	redisFaultSlack = 2500 * time.Millisecond
)

// redisFaultSetup is a gateway whose counters live in a Redis behind a
// fault proxy, with an LLM provider, an MCP upstream, and a key whose rate
// limits make every request and tool call touch the counters.
type redisFaultSetup struct {
	llm   *llmSetup
	proxy *redistest.Proxy
	key   string
	mcp   string // the gateway's /mcp URL
}

func startRedisFault(t *testing.T) *redisFaultSetup {
	t.Helper()
	url := testkit.RedisURL(t)
	proxy := redistest.NewProxy(t, url)
	web := mcptest.StartHTTP(t, mcptest.WithName("web"))
	s := startLLM(t, func(c *Config, _ *llmtest.Server) {
		c.Counters.Redis = &policy.RedisCountersConfig{URL: proxy.URL(), Prefix: randomRedisPrefix(), Timeout: redisFaultBound}
		c.Servers = []registry.ServerConfig{{Name: "web", Transport: registry.TransportStreamableHTTP, URL: web.URL}}
	})
	_, secret, err := s.gw.Policy().CreateKey(context.Background(), policy.KeyInput{Name: "limited",
		Limits: policy.Limits{RPM: 100_000, ToolCallsPerMin: 100_000}})
	if err != nil {
		t.Fatal(err)
	}
	return &redisFaultSetup{llm: s, proxy: proxy, key: secret, mcp: s.gw.URL + "/mcp"}
}

// randomRedisPrefix is a counter key prefix of the test's own.
func randomRedisPrefix() string {
	var b [6]byte
	_, _ = rand.Read(b[:])
	return "junction-test-" + hex.EncodeToString(b[:]) + ":"
}

// chat sends a chat completion (streamed or not) with the limited key and
// returns the response, its body and how long it took.
func (s *redisFaultSetup) chat(t *testing.T, path string, stream bool) (*http.Response, []byte, time.Duration) {
	t.Helper()
	body := `{"model":"mock/gpt-4o-mini","max_tokens":16,"messages":[{"role":"user","content":"hi"}]}`
	if stream {
		body = strings.Replace(body, `"max_tokens"`, `"stream":true,"max_tokens"`, 1)
	}
	req := mustRequest(t, http.MethodPost, s.llm.gw.URL+path, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+s.key)
	req.Header.Set("x-api-key", s.key)
	req.Header.Set("anthropic-version", "2023-06-01")
	start := time.Now()
	resp, b := do(t, req)
	return resp, b, time.Since(start)
}

// TestRedisFailureAnswers503FastWithRetryAfter: while the counters' Redis
// is hung (accepts connections, never answers) or down (refuses them), a
// limited LLM request gets 503 governance_unavailable with Retry-After
// within about the configured bound, in OpenAI's and Anthropic's shapes,
// streamed or not; an MCP tool call gets its "try again" tool error as
// fast; /readyz answers 503 naming redis (without its address) and
// /admin/v1/status gives the cause. When Redis is back, all is well again.
func TestRedisFailureAnswers503FastWithRetryAfter(t *testing.T) {
	for _, fault := range []struct {
		name string
		fail func(*redistest.Proxy)
	}{
		{"hung", (*redistest.Proxy).Hang},
		{"down", (*redistest.Proxy).Down},
	} {
		t.Run(fault.name, func(t *testing.T) {
			s := startRedisFault(t)
			if resp, body, _ := s.chat(t, "/v1/chat/completions", false); resp.StatusCode != http.StatusOK {
				t.Fatalf("before the fault: %d %s", resp.StatusCode, body)
			}
			c := mcpConnect(t, s.mcp, s.key, mcpEras[0])
			testkit.Eventually(t, 10*time.Second, "web__echo", func() bool { return has(mcptest.ToolNames(t, c), "web__echo") })
			if r := mcptest.CallTool(t, c, "web__echo", map[string]any{"message": "hi"}); r.IsError {
				t.Fatalf("tool call before the fault: %+v", r)
			}

			fault.fail(s.proxy)
			for _, tc := range []struct {
				path   string
				stream bool
			}{{"/v1/chat/completions", false}, {"/v1/chat/completions", true}, {"/v1/messages", false}} {
				resp, body, d := s.chat(t, tc.path, tc.stream)
				if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") == "" ||
					!strings.Contains(string(body), "governance_unavailable") && !strings.Contains(string(body), "limits and budgets") {
					t.Errorf("%s (stream %v) with Redis %s: %d Retry-After=%q %s", tc.path, tc.stream, fault.name,
						resp.StatusCode, resp.Header.Get("Retry-After"), body)
				}
				if d > redisFaultSlack {
					t.Errorf("%s (stream %v) with Redis %s took %v, want about %v", tc.path, tc.stream, fault.name, d, redisFaultBound)
				}
				t.Logf("%s (stream %v) with Redis %s: %d after %v", tc.path, tc.stream, fault.name, resp.StatusCode, d)
			}

			start := time.Now()
			r := mcptest.CallTool(t, c, "web__echo", map[string]any{"message": "hi"})
			if d := time.Since(start); !r.IsError || !strings.Contains(mcptest.ResultText(r), "try again") || d > redisFaultSlack {
				t.Errorf("tool call with Redis %s: after %v: %+v", fault.name, d, r)
			}

			start = time.Now()
			resp, body := get(t, s.llm.gw.URL+"/readyz")
			var ready struct {
				Status string
				Checks map[string]string
			}
			_ = json.Unmarshal(body, &ready)
			if resp.StatusCode != http.StatusServiceUnavailable || ready.Checks["redis"] != "unavailable" ||
				ready.Checks["store"] != "ok" || time.Since(start) > redisFaultSlack {
				t.Errorf("/readyz with Redis %s: %d after %v: %s", fault.name, resp.StatusCode, time.Since(start), body)
			}
			if strings.Contains(string(body), s.proxy.Addr()) {
				t.Errorf("/readyz names the Redis address: %s", body)
			}
			resp, body = adminDo(t, http.MethodGet, s.llm.gw.URL+"/admin/v1/status", nil)
			var status struct{ Counters countersHealth }
			_ = json.Unmarshal(body, &status)
			if resp.StatusCode != http.StatusOK || status.Counters.Driver != "redis" || status.Counters.Status != "error" || status.Counters.Error == "" {
				t.Errorf("/admin/v1/status with Redis %s: %d %s", fault.name, resp.StatusCode, body)
			}

			s.proxy.Up()
			testkit.Eventually(t, 5*time.Second, "/readyz to recover", func() bool {
				resp, _ := get(t, s.llm.gw.URL+"/readyz")
				return resp.StatusCode == http.StatusOK
			})
			if resp, body, _ := s.chat(t, "/v1/chat/completions", false); resp.StatusCode != http.StatusOK {
				t.Errorf("after Redis came back: %d %s", resp.StatusCode, body)
			}
		})
	}
}

// TestCountersRedisTimeoutConfig: counters.redis.timeout is read from the
// file and a negative one is refused by name.
func TestCountersRedisTimeoutConfig(t *testing.T) {
	doc := "counters:\n  redis:\n    url: redis://127.0.0.1:6379/0\n    timeout: 75ms\n"
	c, err := ParseConfig("test.yaml", []byte(doc), func(string) (string, bool) { return "", false })
	if err != nil {
		t.Fatal(err)
	}
	if got := c.Counters.Redis.Timeout; got != 75*time.Millisecond {
		t.Errorf("counters.redis.timeout = %v, want 75ms", got)
	}
	_, err = ParseConfig("test.yaml", []byte(strings.Replace(doc, "75ms", "-1s", 1)), func(string) (string, bool) { return "", false })
	if err == nil || !strings.Contains(err.Error(), "counters.redis.timeout: must not be negative") {
		t.Errorf("negative timeout: err = %v", err)
	}
}
