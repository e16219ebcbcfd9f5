package gateway

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/junctionhq/junction/cache"
	"github.com/junctionhq/junction/cache/qdranttest"
	"github.com/junctionhq/junction/internal/testkit"
	"github.com/junctionhq/junction/llm"
	"github.com/junctionhq/junction/llm/llmtest"
	"github.com/junctionhq/junction/llm/respcache"
	"github.com/junctionhq/junction/policy"
)

// The response cache end to end: a gateway with the cache on, in front of
// the llmtest mock, whose deterministic embeddings make paraphrases similar.

// cacheBackend is one configuration of the tiers' back-ends.
type cacheBackend struct {
	name            string
	exact, semantic string
}

// cacheBackends are the back-end combinations the suite runs against:
// in-process tiers, Qdrant (cache/qdranttest) for the semantic tier, and
// Redis for the exact tier (when JUNCTION_TEST_REDIS is set).
var cacheBackends = []cacheBackend{
	{"memory", cache.BackendMemory, cache.BackendMemory},
	{"qdrant", cache.BackendMemory, cache.BackendQdrant},
	{"redis", cache.BackendRedis, cache.BackendMemory},
}

// cacheEmbeddingModel is the semantic tier's model, served by the mock.
const cacheEmbeddingModel = "mock/text-embedding-3-small"

// cacheRedisDB is the Redis database the suite uses, apart from the other
// packages' tests, since it empties it.
const cacheRedisDB = "/11"

// startCached is startLLM with the cache enabled on the back-ends b,
// embedding through the mock.
func startCached(t *testing.T, b cacheBackend, mutate func(*Config, *llmtest.Server)) *llmSetup {
	t.Helper()
	var qd *qdranttest.Server
	if b.semantic == cache.BackendQdrant {
		qd = qdranttest.NewServer(t)
	}
	redisURL := ""
	if b.exact == cache.BackendRedis {
		env := testkit.RedisURL(t)
		u, err := url.Parse(env)
		if err != nil {
			t.Fatal(err)
		}
		u.Path = cacheRedisDB
		redisURL = u.String()
	}
	s := startLLM(t, func(c *Config, m *llmtest.Server) {
		c.Cache = cache.Config{Enabled: true, Exact: cache.ExactConfig{Backend: b.exact, RedisURL: redisURL},
			Semantic: cache.SemanticConfig{Backend: b.semantic, EmbeddingModel: cacheEmbeddingModel, Dimensions: 256}}
		if qd != nil {
			c.Cache.Semantic.Qdrant.URL = qd.Addr()
			c.Cache.Semantic.Qdrant.Timeout = 2 * time.Second
		}
		if mutate != nil {
			mutate(c, m)
		}
	})
	if redisURL != "" {
		// Entries of earlier runs would hit.
		if _, err := s.gw.cache.Load().Purge(context.Background(), cache.Filter{}); err != nil {
			t.Fatal(err)
		}
	}
	return s
}

// settle waits until the answers being stored in the background are stored.
func (s *llmSetup) settle(t *testing.T) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := s.gw.llm.WaitCacheStores(ctx); err != nil {
		t.Fatal(err)
	}
}

// chatCalls is how many chat requests reached the mock.
func (s *llmSetup) chatCalls() int64 {
	st := s.mock.Stats()
	return st.ByEndpoint[llmtest.EndpointChatCompletions] + st.ByEndpoint[llmtest.EndpointMessages]
}

// ask posts an OpenAI chat request with one user message and returns the
// response, its content and the cache header.
func (s *llmSetup) ask(t *testing.T, key, question string, header ...string) (*http.Response, string) {
	t.Helper()
	body := `{"model":"fast","max_tokens":64,"messages":[{"role":"system","content":"be brief"},{"role":"user","content":` +
		strconv.Quote(question) + `}]}`
	resp, raw := s.postAs(t, key, "/v1/chat/completions", body, header...)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("ask %q: status %d: %s", question, resp.StatusCode, raw)
	}
	c := decode[oaiCompletion](t, raw)
	if len(c.Choices) != 1 || c.Choices[0].Message.Content == nil {
		t.Fatalf("ask %q: %s", question, raw)
	}
	return resp, *c.Choices[0].Message.Content
}

// postAs is post with another virtual key.
func (s *llmSetup) postAs(t *testing.T, key, path, body string, header ...string) (*http.Response, []byte) {
	t.Helper()
	saved := s.key
	s.key = key
	defer func() { s.key = saved }()
	return s.post(t, path, body, header...)
}

// newKey makes a virtual key in team (created when missing; "" for none).
func (s *llmSetup) newKey(t *testing.T, name, team string, limits policy.Limits) (id, secret string) {
	t.Helper()
	ctx := context.Background()
	if team != "" {
		if _, err := s.gw.Policy().Team(team); err != nil {
			if _, err := s.gw.Policy().CreateTeam(ctx, policy.TeamInput{Name: team}); err != nil {
				t.Fatal(err)
			}
		}
	}
	k, secret, err := s.gw.Policy().CreateKey(ctx, policy.KeyInput{Name: name, Team: team, Limits: limits,
		Budget: &policy.Budget{USD: 100}})
	if err != nil {
		t.Fatal(err)
	}
	return k.ID, secret
}

// forEachBackend runs test in a subtest per cache backend, each with a
// cached setup of its own.
func forEachBackend(t *testing.T, test func(t *testing.T, s *llmSetup, backend cacheBackend)) {
	for _, backend := range cacheBackends {
		t.Run(backend.name, func(t *testing.T) {
			test(t, startCached(t, backend, nil), backend)
		})
	}
}

func wantCache(t *testing.T, resp *http.Response, want string) {
	t.Helper()
	if got := resp.Header.Get(respcache.HeaderCache); got != want {
		t.Errorf("%s = %q, want %q", respcache.HeaderCache, got, want)
	}
}

// askStored asks q with the setup's key, checks that the cache missed, waits
// until the answer is stored, and returns it with the chat calls the mock has
// served so far.
func (s *llmSetup) askStored(t *testing.T, q string) (answer string, calls int64) {
	t.Helper()
	resp, answer := s.ask(t, s.key, q)
	wantCache(t, resp, respcache.Miss)
	s.settle(t)
	return answer, s.chatCalls()
}

// askHit asks q with the setup's key and checks that the cache answered it
// (kind says how) with the stored answer, without a chat call beyond the
// calls the mock had served. It returns the response.
func (s *llmSetup) askHit(t *testing.T, q, kind, stored string, calls int64) *http.Response {
	t.Helper()
	resp, got := s.ask(t, s.key, q)
	wantCache(t, resp, kind)
	if got != stored {
		t.Errorf("%s answer %q, want the stored answer %q", kind, got, stored)
	}
	if s.chatCalls() != calls {
		t.Errorf("a %s hit reached the upstream: %d calls, want %d", kind, s.chatCalls(), calls)
	}
	return resp
}

func TestCacheExactHit(t *testing.T) {
	forEachBackend(t, func(t *testing.T, s *llmSetup, _ cacheBackend) {
		first, calls := s.askStored(t, "What is the capital of France?")

		resp := s.askHit(t, "What is the capital of France?", respcache.HitExact, first, calls)
		if resp.Header.Get(respcache.HeaderSimilarity) != "" {
			t.Error("similarity header on an exact hit")
		}

		// Key order and whitespace do not matter; excluded fields neither.
		body := `{ "messages": [ {"content": "be brief", "role": "system"}, {"role": "user", "content": "What is the capital of France?"} ],
		"user": "someone", "max_tokens": 64, "model": "fast" }`
		resp, raw := s.post(t, "/v1/chat/completions", body)
		wantCache(t, resp, respcache.HitExact)
		if c := decode[oaiCompletion](t, raw); c.Usage.PromptTokens != 0 || c.Usage.CompletionTokens != 0 {
			t.Errorf("a hit reports usage %+v", c.Usage)
		}

		// The same canonical request through /v1/messages hits too (see
		// llm/respcache/key.go), rendered as an Anthropic message.
		resp, raw = s.post(t, "/v1/messages", `{"model":"fast","max_tokens":64,"system":"be brief","messages":[{"role":"user","content":"What is the capital of France?"}]}`)
		wantCache(t, resp, respcache.HitExact)
		var m struct {
			Type    string `json:"type"`
			Content []struct {
				Type, Text string
			} `json:"content"`
			StopReason string `json:"stop_reason"`
		}
		if err := json.Unmarshal(raw, &m); err != nil || m.Type != "message" || len(m.Content) != 1 || m.Content[0].Text != first ||
			m.StopReason != "end_turn" {
			t.Errorf("anthropic rendering of a hit: %v %s", err, raw)
		}
		if s.chatCalls() != calls {
			t.Errorf("hits reached the upstream: %d calls, want %d", s.chatCalls(), calls)
		}
	})
}

func TestCacheSemantic(t *testing.T) {
	forEachBackend(t, func(t *testing.T, s *llmSetup, _ cacheBackend) {
		first, calls := s.askStored(t, "What is the capital of France?")

		// A paraphrase (cosine 0.956 with the mock's embeddings) hits.
		resp := s.askHit(t, "What's the capital of France?", respcache.HitSemantic, first, calls)
		sim, err := strconv.ParseFloat(resp.Header.Get(respcache.HeaderSimilarity), 64)
		if err != nil || sim < cache.DefaultThreshold || sim >= 1 {
			t.Errorf("similarity header %q", resp.Header.Get(respcache.HeaderSimilarity))
		}

		// Another question (cosine 0.81) misses.
		resp, got := s.ask(t, s.key, "What is the capital of Spain?")
		wantCache(t, resp, respcache.Miss)
		if got == first {
			t.Error("a different question got the stored answer")
		}
		// A stricter threshold for this request turns the paraphrase into a miss ...
		resp, _ = s.ask(t, s.key, "What's the capital of France?", respcache.HeaderThreshold, "0.99")
		wantCache(t, resp, respcache.Miss)
		// ... and a looser one lets a farther paraphrase (cosine 0.89) hit.
		resp, _ = s.ask(t, s.key, "what is the capital of france please")
		wantCache(t, resp, respcache.Miss)
		s.settle(t)
		resp, got = s.ask(t, s.key, "tell me what is the capital of france", respcache.HeaderThreshold, "0.5")
		wantCache(t, resp, respcache.HitSemantic)
		if got == "" {
			t.Error("empty hit")
		}

		// A different system prompt is another context: no semantic hit.
		body := `{"model":"fast","max_tokens":64,"messages":[{"role":"system","content":"answer in French"},{"role":"user","content":"What is the capital of France?"}]}`
		resp, raw := s.post(t, "/v1/chat/completions", body)
		if resp.StatusCode != 200 {
			t.Fatalf("status %d: %s", resp.StatusCode, raw)
		}
		wantCache(t, resp, respcache.Miss)
	})
}

func TestCacheBadHeaders(t *testing.T) {
	s := startCached(t, cacheBackends[0], nil)
	calls := s.chatCalls()
	body := `{"model":"fast","messages":[{"role":"user","content":"hi"}]}`
	for _, h := range [][2]string{{respcache.HeaderTTL, "soon"}, {respcache.HeaderTTL, "-3"}, {respcache.HeaderThreshold, "1.2"}, {respcache.HeaderThreshold, "x"}} {
		resp, raw := s.post(t, "/v1/chat/completions", body, h[0], h[1])
		var e struct {
			Error struct{ Type, Message string } `json:"error"`
		}
		if resp.StatusCode != http.StatusBadRequest || json.Unmarshal(raw, &e) != nil || e.Error.Type != "invalid_request_error" ||
			!strings.Contains(e.Error.Message, h[0]) {
			t.Errorf("%s: %s: %d %s", h[0], h[1], resp.StatusCode, raw)
		}
		resp, raw = s.post(t, "/v1/messages", `{"model":"fast","max_tokens":5,"messages":[{"role":"user","content":"hi"}]}`, h[0], h[1])
		var ae struct {
			Type  string                `json:"type"`
			Error struct{ Type string } `json:"error"`
		}
		if resp.StatusCode != http.StatusBadRequest || json.Unmarshal(raw, &ae) != nil || ae.Type != "error" || ae.Error.Type != "invalid_request_error" {
			t.Errorf("/v1/messages %s: %s: %d %s", h[0], h[1], resp.StatusCode, raw)
		}
	}
	if s.chatCalls() != calls {
		t.Error("a rejected request reached the upstream")
	}
}

func TestCacheTenantsIsolated(t *testing.T) {
	forEachBackend(t, func(t *testing.T, s *llmSetup, _ cacheBackend) {
		_, a1 := s.newKey(t, "a1", "alpha", policy.Limits{})
		_, a2 := s.newKey(t, "a2", "alpha", policy.Limits{})
		_, b1 := s.newKey(t, "b1", "beta", policy.Limits{})
		_, solo := s.newKey(t, "solo", "", policy.Limits{})
		q := "What is the capital of France?"
		s.ask(t, a1, q)
		s.settle(t)
		resp, _ := s.ask(t, a2, q) // same team: shared
		wantCache(t, resp, respcache.HitExact)
		resp, _ = s.ask(t, b1, q) // another team: never
		wantCache(t, resp, respcache.Miss)
		// Semantic hits are scoped too.
		s.ask(t, a1, "What is the capital of Italy?")
		s.settle(t)
		resp, _ = s.ask(t, b1, "What's the capital of Italy?")
		wantCache(t, resp, respcache.Miss)
		resp, _ = s.ask(t, a2, "What's the capital of Italy?")
		wantCache(t, resp, respcache.HitSemantic)
		resp, _ = s.ask(t, solo, q) // a key without a team is its own tenant
		wantCache(t, resp, respcache.Miss)
	})
}

func TestCacheKeyScope(t *testing.T) {
	s := startCached(t, cacheBackends[0], func(c *Config, _ *llmtest.Server) { c.Cache.Scope = "key" })
	_, a1 := s.newKey(t, "a1", "alpha", policy.Limits{})
	_, a2 := s.newKey(t, "a2", "alpha", policy.Limits{})
	s.ask(t, a1, "What is the capital of France?")
	s.settle(t)
	resp, _ := s.ask(t, a2, "What is the capital of France?")
	wantCache(t, resp, respcache.Miss)
	resp, _ = s.ask(t, a1, "What is the capital of France?")
	wantCache(t, resp, respcache.HitExact)
}

// withClock rebuilds the gateway's cache on clock (tests only: the gateway
// builds its cache on the real clock).
func (s *llmSetup) withClock(t *testing.T, clock *testkit.Clock) {
	t.Helper()
	g := s.gw.Gateway
	_ = g.cache.Load().Close()
	c, err := cache.New(context.Background(), cache.Options{Config: g.cfg.Cache, Embedder: g.llm.CacheEmbedder(), Now: clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	g.cache.Store(c)
	g.llm.SetCache(c)
}

func TestCacheTTL(t *testing.T) {
	s := startCached(t, cacheBackends[0], nil)
	clock := testkit.NewClock(time.Now())
	s.withClock(t, clock)
	s.ask(t, s.key, "short lived", respcache.HeaderTTL, "30")
	s.ask(t, s.key, "long lived", respcache.HeaderTTL, "2h")
	s.ask(t, s.key, "default lived")
	s.settle(t)
	clock.Advance(29 * time.Second)
	resp, _ := s.ask(t, s.key, "short lived")
	wantCache(t, resp, respcache.HitExact)
	clock.Advance(2 * time.Second)
	resp, _ = s.ask(t, s.key, "short lived")
	wantCache(t, resp, respcache.Miss)
	s.settle(t)
	clock.Advance(time.Hour)
	resp, _ = s.ask(t, s.key, "default lived") // default TTL 1h: 60m31s old
	wantCache(t, resp, respcache.Miss)
	resp, _ = s.ask(t, s.key, "long lived")
	wantCache(t, resp, respcache.HitExact)
	clock.Advance(time.Hour)
	resp, _ = s.ask(t, s.key, "long lived")
	wantCache(t, resp, respcache.Miss)
}

func TestCacheNoCacheNoStore(t *testing.T) {
	s := startCached(t, cacheBackends[0], nil)
	resp, _ := s.ask(t, s.key, "keep this out", "Cache-Control", "no-store")
	wantCache(t, resp, respcache.Miss)
	s.settle(t)
	resp, _ = s.ask(t, s.key, "keep this out")
	wantCache(t, resp, respcache.Miss) // nothing was stored
	s.settle(t)
	calls := s.chatCalls()
	resp, _ = s.ask(t, s.key, "keep this out", "Cache-Control", "no-cache")
	wantCache(t, resp, respcache.Miss) // stored now, but not served
	if s.chatCalls() != calls+1 {
		t.Error("no-cache did not reach the upstream")
	}
	resp, _ = s.ask(t, s.key, "keep this out")
	wantCache(t, resp, respcache.HitExact)
}

// readOpenAIStream parses an SSE body the way an OpenAI client does: data
// lines, one JSON chunk each, until data: [DONE], which must come last.
func readOpenAIStream(t *testing.T, body []byte) (content string, finish string, usage *oaiChunk) {
	t.Helper()
	sc := bufio.NewScanner(bytes.NewReader(body))
	done := false
	var b strings.Builder
	for sc.Scan() {
		line := sc.Text()
		if line == "" || strings.HasPrefix(line, ":") {
			continue
		}
		data, ok := strings.CutPrefix(line, "data: ")
		if !ok {
			t.Fatalf("not a data line: %q", line)
		}
		if done {
			t.Fatalf("data after [DONE]: %q", line)
		}
		if data == "[DONE]" {
			done = true
			continue
		}
		var c oaiChunk
		if err := json.Unmarshal([]byte(data), &c); err != nil {
			t.Fatalf("chunk %q: %v", data, err)
		}
		var obj struct {
			Object string `json:"object"`
			ID     string `json:"id"`
		}
		if err := json.Unmarshal([]byte(data), &obj); err != nil || obj.Object != "chat.completion.chunk" || obj.ID == "" {
			t.Fatalf("chunk without object/id: %q", data)
		}
		if c.Usage != nil && len(c.Choices) == 0 {
			cc := c
			usage = &cc
		}
		for _, ch := range c.Choices {
			b.WriteString(ch.Delta.Content)
			if ch.FinishReason != nil {
				finish = *ch.FinishReason
			}
		}
	}
	if !done {
		t.Fatalf("stream did not end with [DONE]:\n%s", body)
	}
	return b.String(), finish, usage
}

func TestCacheStreamedOpenAI(t *testing.T) {
	// mock/... passes the stream through; claude/... goes through the
	// canonical chunks. Both record the streamed miss for the cache.
	for _, model := range []string{"fast", "claude/claude-haiku-4-5", "gem/gemini-2.5-flash"} {
		t.Run(model, func(t *testing.T) {
			s := startCached(t, cacheBackends[0], nil)
			body := `{"model":"` + model + `","stream":true,"stream_options":{"include_usage":true},"messages":[{"role":"user","content":"stream me an answer"}]}`
			resp, raw := s.post(t, "/v1/chat/completions", body)
			wantCache(t, resp, respcache.Miss)
			first, finish, _ := readOpenAIStream(t, raw)
			if first == "" || finish != "stop" {
				t.Fatalf("miss: %q %q", first, finish)
			}
			s.settle(t)
			calls := s.chatCalls()
			resp, raw = s.post(t, "/v1/chat/completions", body)
			wantCache(t, resp, respcache.HitExact)
			if ct := resp.Header.Get("Content-Type"); ct != "text/event-stream" {
				t.Errorf("content type %q", ct)
			}
			got, finish, usage := readOpenAIStream(t, raw)
			if got != first || finish != "stop" {
				t.Errorf("replayed %q (%q), want %q", got, finish, first)
			}
			if usage == nil || usage.Usage.PromptTokens != 0 || usage.Usage.CompletionTokens != 0 {
				t.Errorf("usage chunk %+v", usage)
			}
			// Without include_usage, no usage chunk.
			resp, raw = s.post(t, "/v1/chat/completions", strings.Replace(body, `"stream_options":{"include_usage":true},`, "", 1))
			wantCache(t, resp, respcache.HitExact)
			if _, _, usage := readOpenAIStream(t, raw); usage != nil {
				t.Error("usage chunk sent unasked")
			}
			// The same question, not streamed, is the same entry.
			resp, raw = s.post(t, "/v1/chat/completions", strings.Replace(body, `"stream":true`, `"stream":false`, 1))
			wantCache(t, resp, respcache.HitExact)
			if c := decode[oaiCompletion](t, raw); c.Choices[0].Message.Content == nil || *c.Choices[0].Message.Content != first {
				t.Errorf("non-streamed hit %s", raw)
			}
			if s.chatCalls() != calls {
				t.Error("hits reached the upstream")
			}
		})
	}
}

func TestCacheStreamCutNotStored(t *testing.T) {
	s := startCached(t, cacheBackends[0], nil)
	if err := s.mock.SetDefault(llmtest.Behavior{ReplyTokens: 40, CloseAfterChunks: 3}); err != nil {
		t.Fatal(err)
	}
	body := `{"model":"fast","stream":true,"messages":[{"role":"user","content":"this stream breaks"}]}`
	s.post(t, "/v1/chat/completions", body)
	s.settle(t)
	if err := s.mock.SetDefault(llmtest.Behavior{}); err != nil {
		t.Fatal(err)
	}
	resp, raw := s.post(t, "/v1/chat/completions", body)
	wantCache(t, resp, respcache.Miss)
	readOpenAIStream(t, raw)
}

// anthropicStream parses named events into the text and the event order.
func anthropicStream(t *testing.T, body []byte) (text string, events []string) {
	t.Helper()
	names, data := sseEvents(t, body)
	var b strings.Builder
	for i, name := range names {
		var ev struct {
			Type  string `json:"type"`
			Delta struct {
				Type, Text string
			} `json:"delta"`
		}
		if err := json.Unmarshal([]byte(data[i]), &ev); err != nil || ev.Type != name {
			t.Fatalf("event %q: %v %s", name, err, data[i])
		}
		if name == "content_block_delta" && ev.Delta.Type == "text_delta" {
			b.WriteString(ev.Delta.Text)
		}
		if name != "ping" {
			events = append(events, name)
		}
	}
	return b.String(), events
}

func TestCacheStreamedAnthropic(t *testing.T) {
	for _, model := range []string{"claude/claude-haiku-4-5", "fast"} {
		t.Run(model, func(t *testing.T) {
			s := startCached(t, cacheBackends[0], nil)
			body := `{"model":"` + model + `","max_tokens":100,"stream":true,"messages":[{"role":"user","content":"an anthropic stream"}]}`
			resp, raw := s.post(t, "/v1/messages", body)
			wantCache(t, resp, respcache.Miss)
			first, _ := anthropicStream(t, raw)
			if first == "" {
				t.Fatalf("miss: %s", raw)
			}
			s.settle(t)
			calls := s.chatCalls()
			resp, raw = s.post(t, "/v1/messages", body)
			wantCache(t, resp, respcache.HitExact)
			got, events := anthropicStream(t, raw)
			if got != first {
				t.Errorf("replayed %q, want %q", got, first)
			}
			want := []string{"message_start", "content_block_start", "content_block_delta", "content_block_stop", "message_delta", "message_stop"}
			if strings.Join(events, ",") != strings.Join(want, ",") {
				t.Errorf("events %v, want %v", events, want)
			}
			if s.chatCalls() != calls {
				t.Error("the hit reached the upstream")
			}
		})
	}
}

// An answer stored from an OpenAI request serves a paraphrase asked
// through /v1/messages as an Anthropic stream, and the other way round.
func TestCacheSemanticAcrossFormats(t *testing.T) {
	s := startCached(t, cacheBackends[0], nil)
	_, first := s.ask(t, s.key, "What is the capital of France?")
	s.settle(t)
	resp, raw := s.post(t, "/v1/messages", `{"model":"fast","max_tokens":64,"stream":true,"system":"be brief","messages":[{"role":"user","content":"What's the capital of France?"}]}`)
	wantCache(t, resp, respcache.HitSemantic)
	if got, events := anthropicStream(t, raw); got != first || events[len(events)-1] != "message_stop" {
		t.Errorf("anthropic stream of an OpenAI answer: %q %v", got, events)
	}
	resp, raw = s.post(t, "/v1/messages", `{"model":"fast","max_tokens":64,"system":"be brief","messages":[{"role":"user","content":"Which river flows through Paris?"}]}`)
	wantCache(t, resp, respcache.Miss)
	if resp.StatusCode != 200 {
		t.Fatalf("status %d: %s", resp.StatusCode, raw)
	}
	s.settle(t)
	resp, got := s.ask(t, s.key, "Which river flows through Paris")
	wantCache(t, resp, respcache.HitSemantic)
	if !strings.Contains(got, "river") {
		t.Errorf("OpenAI rendering of an Anthropic answer: %q", got)
	}
}

func TestCacheHitCostAndRateLimit(t *testing.T) {
	s := startCached(t, cacheBackends[0], func(c *Config, _ *llmtest.Server) {
		c.Prices = []policy.Price{{Model: "mock/gpt-4o-mini", Input: 1000, Output: 1000}}
		c.Cache.NominalCost = 0.0001
	})
	id, key := s.newKey(t, "limited", "", policy.Limits{RPM: 3})
	spent := func() float64 {
		st, err := s.gw.Policy().State(context.Background(), id)
		if err != nil {
			t.Fatal(err)
		}
		for _, b := range st.Budgets {
			if b.Scope == policy.ScopeKey {
				return b.SpentUSD
			}
		}
		t.Fatalf("no key budget in %+v", st)
		return 0
	}
	s.ask(t, key, "What is the capital of France?")
	s.settle(t)
	afterMiss := spent()
	if afterMiss < 0.001 {
		t.Fatalf("the miss cost %v", afterMiss)
	}
	for i := 0; i < 2; i++ {
		resp, _ := s.ask(t, key, "What is the capital of France?")
		wantCache(t, resp, respcache.HitExact)
	}
	if got := spent() - afterMiss; got < 0.00019 || got > 0.00021 {
		t.Errorf("two hits cost %v, want 2 × nominal 0.0001", got)
	}
	// The fourth request in the minute is refused although it would hit.
	resp, raw := s.postAs(t, key, "/v1/chat/completions", `{"model":"fast","max_tokens":64,"messages":[{"role":"system","content":"be brief"},{"role":"user","content":"What is the capital of France?"}]}`)
	if resp.StatusCode != http.StatusTooManyRequests {
		t.Errorf("fourth request: %d %s", resp.StatusCode, raw)
	}
	st := s.gw.cache.Load().Stats(context.Background())
	if st.Exact.Hits != 2 || st.TokensSaved <= 0 || st.CostSavedUSD <= 0 {
		t.Errorf("stats %+v", st)
	}
}

func TestCacheToolCalls(t *testing.T) {
	body := `{"model":"fast","messages":[{"role":"user","content":"weather in Paris"}],
		"tools":[{"type":"function","function":{"name":"get_weather","parameters":{"type":"object","properties":{"city":{"type":"string"}}}}}]}`
	script := llmtest.Behavior{Script: []llmtest.Turn{llmtest.ToolTurn(llmtest.Call("get_weather", map[string]any{"city": "Paris"}))}}
	for _, allow := range []bool{false, true} {
		t.Run(fmt.Sprint("cache_tool_calls=", allow), func(t *testing.T) {
			s := startCached(t, cacheBackends[0], func(c *Config, _ *llmtest.Server) { c.Cache.CacheToolCalls = allow })
			if err := s.mock.SetDefault(script); err != nil {
				t.Fatal(err)
			}
			for _, stream := range []bool{false, true} {
				b := body
				if stream {
					b = strings.Replace(body, `"model":"fast"`, `"model":"fast","stream":true`, 1)
				}
				s.post(t, "/v1/chat/completions", b)
				s.settle(t)
				resp, raw := s.post(t, "/v1/chat/completions", b)
				want := respcache.Miss
				if allow {
					want = respcache.HitExact
				}
				wantCache(t, resp, want)
				if allow && !stream {
					c := decode[oaiCompletion](t, raw)
					if len(c.Choices[0].Message.ToolCalls) != 1 || c.Choices[0].Message.ToolCalls[0].Function.Name != "get_weather" ||
						c.Choices[0].FinishReason != "tool_calls" {
						t.Errorf("replayed tool call: %s", raw)
					}
				}
				if allow && stream {
					_, data := sseEvents(t, raw)
					_, calls, _, done := reassemble(t, data)
					if !done || len(calls) != 1 || calls[0][1] != "get_weather" || calls[0][2] != `{"city":"Paris"}` {
						t.Errorf("replayed streamed tool call: %v\n%s", calls, raw)
					}
				}
			}
		})
	}
}

func TestCacheAdminAPI(t *testing.T) {
	forEachBackend(t, func(t *testing.T, s *llmSetup, backend cacheBackend) {
		_, a := s.newKey(t, "a", "alpha", policy.Limits{})
		_, b := s.newKey(t, "b", "beta", policy.Limits{})
		s.ask(t, a, "What is the capital of France?")
		s.ask(t, b, "What is the capital of France?")
		s.settle(t)
		s.ask(t, a, "What is the capital of France?")

		resp, raw := adminDo(t, http.MethodGet, s.gw.URL+"/admin/v1/cache", nil)
		var st cache.Stats
		if resp.StatusCode != 200 || json.Unmarshal(raw, &st) != nil {
			t.Fatalf("stats: %d %s", resp.StatusCode, raw)
		}
		if !st.Enabled || st.Exact.Entries != 2 || st.Exact.Hits != 1 || st.Semantic.Backend != backend.semantic || st.Exact.Backend != backend.exact || st.Semantic.Entries != 2 {
			t.Errorf("stats %s", raw)
		}
		if resp, _ := adminDo(t, http.MethodGet, s.gw.URL+"/admin/v1/cache/stats", nil); resp.StatusCode != 200 {
			t.Errorf("/cache/stats: %d", resp.StatusCode)
		}

		resp, raw = adminDo(t, http.MethodPost, s.gw.URL+"/admin/v1/cache/purge", map[string]string{"team": "alpha", "model": "fast"})
		if resp.StatusCode != 200 || !strings.Contains(string(raw), `"deleted":2`) {
			t.Errorf("purge alpha: %d %s", resp.StatusCode, raw)
		}
		r, _ := s.ask(t, a, "What is the capital of France?")
		wantCache(t, r, respcache.Miss)
		r, _ = s.ask(t, b, "What is the capital of France?")
		wantCache(t, r, respcache.HitExact)

		s.settle(t)
		resp, raw = adminDo(t, http.MethodDelete, s.gw.URL+"/admin/v1/cache?model=fast", nil)
		if resp.StatusCode != 200 || !strings.Contains(string(raw), `"deleted":4`) {
			t.Errorf("delete model: %d %s", resp.StatusCode, raw)
		}
		r, _ = s.ask(t, b, "What is the capital of France?")
		wantCache(t, r, respcache.Miss)

		for _, bad := range []map[string]string{{"team": "a", "key": "b"}, {"bogus": "x"}} {
			if resp, raw := adminDo(t, http.MethodPost, s.gw.URL+"/admin/v1/cache/purge", bad); resp.StatusCode != 400 {
				t.Errorf("purge %v: %d %s", bad, resp.StatusCode, raw)
			}
		}
		if resp, _ := adminDo(t, http.MethodPost, s.gw.URL+"/admin/v1/cache/purge", map[string]string{"key": "nobody"}); resp.StatusCode != 404 {
			t.Errorf("purge unknown key: %d", resp.StatusCode)
		}
		req, _ := http.NewRequest(http.MethodGet, s.gw.URL+"/admin/v1/cache", nil)
		if resp, _ := do(t, req); resp.StatusCode != http.StatusUnauthorized {
			t.Errorf("stats without the admin key: %d", resp.StatusCode)
		}
	})
}

// A failing embedding model, or a cache that cannot be reached, never fails
// a request: lookups miss and the answer is served.
func TestCacheFailsOpen(t *testing.T) {
	s := startLLM(t, func(c *Config, m *llmtest.Server) {
		c.Providers = append(c.Providers, llm.ProviderConfig{Name: "emb", Type: llm.TypeOpenAI, BaseURL: m.URL + "/v1",
			Keys: []llm.ProviderKeyConfig{{Value: "sk-emb-broken"}}})
		c.Routing.MaxAttempts = 1
		c.Cache = cache.Config{Enabled: true, Semantic: cache.SemanticConfig{EmbeddingModel: "emb/text-embedding-3-small"}}
	})
	if err := s.mock.SetBehavior("sk-emb-broken", llmtest.Behavior{FailPercent: 100, FailStatus: 500}); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 2; i++ {
		resp, got := s.ask(t, s.key, "does this still work?")
		if got == "" {
			t.Error("empty answer")
		}
		// The exact tier still works; only the semantic tier fails.
		if i == 1 {
			wantCache(t, resp, respcache.HitExact)
		}
		s.settle(t)
	}
	resp, _ := s.ask(t, s.key, "another question entirely")
	wantCache(t, resp, respcache.Miss)
}

// A Qdrant that stops answering in time makes semantic lookups miss within
// the configured timeout; requests are still served.
func TestCacheQdrantTimeoutFailsOpen(t *testing.T) {
	qd := qdranttest.NewServer(t)
	s := startLLM(t, func(c *Config, _ *llmtest.Server) {
		c.Cache = cache.Config{Enabled: true, Semantic: cache.SemanticConfig{Backend: cache.BackendQdrant,
			EmbeddingModel: cacheEmbeddingModel, Dimensions: 256, Qdrant: cache.QdrantConfig{URL: qd.Addr(), Timeout: 100 * time.Millisecond}}}
	})
	s.ask(t, s.key, "What is the capital of France?")
	s.settle(t)
	resp, _ := s.ask(t, s.key, "What's the capital of France?")
	wantCache(t, resp, respcache.HitSemantic)
	qd.SetDelay(2 * time.Second)
	start := time.Now()
	resp, got := s.ask(t, s.key, "What's the capital of France, again?")
	wantCache(t, resp, respcache.Miss)
	if got == "" || time.Since(start) > time.Second {
		t.Errorf("served %q after %v", got, time.Since(start))
	}
	resp, _ = s.ask(t, s.key, "What is the capital of France?") // the exact tier still answers
	wantCache(t, resp, respcache.HitExact)
	qd.SetDelay(0)
	s.settle(t)
}

func TestCacheDisabledByDefault(t *testing.T) {
	s := startLLM(t, nil)
	resp, _ := s.post(t, "/v1/chat/completions", helloBody)
	if resp.StatusCode != 200 || resp.Header.Get(respcache.HeaderCache) != "" {
		t.Errorf("status %d, cache header %q", resp.StatusCode, resp.Header.Get(respcache.HeaderCache))
	}
	resp, raw := adminDo(t, http.MethodGet, s.gw.URL+"/admin/v1/cache", nil)
	if resp.StatusCode != 200 || !strings.Contains(string(raw), `"enabled":false`) {
		t.Errorf("stats of a disabled cache: %d %s", resp.StatusCode, raw)
	}
}

func TestCacheConfigErrors(t *testing.T) {
	_, err := New(context.Background(), Config{DataDir: t.TempDir(), AdminKey: testAdminKey,
		Cache: cache.Config{Enabled: true, Semantic: cache.SemanticConfig{EmbeddingModel: "nowhere/embed"}}}, Options{Terminal: io.Discard})
	if err == nil || !strings.Contains(err.Error(), "embedding_model") {
		t.Errorf("unknown embedding model: %v", err)
	}
	_, err = ParseConfig("t.yaml", []byte("cache:\n  enabled: true\n  scope: planet\n  semantic:\n    threshold: 2\n"), nil)
	var ce *ConfigError
	if !errors.As(err, &ce) || len(ce.Problems) != 2 {
		t.Errorf("config problems: %v", err)
	}
}

// TestExampleConfigCache checks the cache section of the example
// configuration (TestExampleConfigIsValid checks that it loads).
func TestExampleConfigCache(t *testing.T) {
	c, err := LoadConfig("../examples/config/junction.yaml", func(string) (string, bool) { return "", false })
	if err != nil {
		t.Fatal(err)
	}
	cc := c.Cache
	if !cc.Enabled || cc.Scope != "team" || cc.TTL != time.Hour || cc.Exact.Backend != cache.BackendMemory ||
		cc.Semantic.EmbeddingModel != "mock/text-embedding-3-small" || cc.Semantic.Dimensions != 256 ||
		cc.Semantic.Threshold != 0.92 || !cc.SemanticEnabled() || cc.Semantic.MaxEntries != cache.DefaultMaxEntries {
		t.Errorf("cache section %+v", cc)
	}
}
