package llm

import (
	"bytes"
	"context"
	"errors"
	"math"
	"net/http"
	"net/http/httptest"
	"reflect"
	"testing"
	"time"

	"github.com/junctionhq/junction/cache"
	"github.com/junctionhq/junction/llm/chat"
	"github.com/junctionhq/junction/policy"
)

func TestCacheHeaders(t *testing.T) {
	cases := []struct {
		ttl, threshold string
		wantTTL        time.Duration
		wantThreshold  float64
		wantErr        bool
	}{
		{"", "", 0, 0, false},
		{"90", "", 90 * time.Second, 0, false},
		{"10m", "0.8", 10 * time.Minute, 0.8, false},
		{" 1h30m ", "1", 90 * time.Minute, 1, false},
		{"", "0", 0, math.SmallestNonzeroFloat64, false},
		{"0", "", 0, 0, true},
		{"-5", "", 0, 0, true},
		{"soon", "", 0, 0, true},
		{"-1m", "", 0, 0, true},
		{"10000h", "", 0, 0, true},
		{"", "1.5", 0, 0, true},
		{"", "-0.1", 0, 0, true},
		{"", "NaN", 0, 0, true},
		{"", "high", 0, 0, true},
	}
	for _, tc := range cases {
		h := http.Header{}
		if tc.ttl != "" {
			h.Set(HeaderCacheTTL, tc.ttl)
		}
		if tc.threshold != "" {
			h.Set(HeaderCacheThreshold, tc.threshold)
		}
		ttl, th, err := cacheHeaders(h)
		if (err != nil) != tc.wantErr {
			t.Errorf("ttl %q threshold %q: err %v, want error %v", tc.ttl, tc.threshold, err, tc.wantErr)
			continue
		}
		if err != nil {
			if e := classify(err); e.Status != http.StatusBadRequest {
				t.Errorf("ttl %q threshold %q: status %d, want 400", tc.ttl, tc.threshold, e.Status)
			}
			continue
		}
		if ttl != tc.wantTTL || th != tc.wantThreshold {
			t.Errorf("ttl %q threshold %q: got %v %v", tc.ttl, tc.threshold, ttl, th)
		}
	}
}

func TestCacheControl(t *testing.T) {
	h := http.Header{}
	h.Add("Cache-Control", "No-Cache, max-age=0")
	h.Add("Cache-Control", "no-store")
	d := cacheControl(h)
	if !d["no-cache"] || !d["no-store"] || !d["max-age"] || len(d) != 3 {
		t.Errorf("directives %v", d)
	}
	if len(cacheControl(http.Header{})) != 0 {
		t.Error("no header, directives")
	}
}

func TestCacheTenant(t *testing.T) {
	team := &policy.Team{Name: "research"}
	withTeam := &policy.Identity{Key: &policy.Key{ID: "k1"}, Team: team}
	alone := &policy.Identity{Key: &policy.Key{ID: "k2"}}
	for _, tc := range []struct {
		id    *policy.Identity
		scope string
		want  string
	}{
		{withTeam, "team", "team:research"},
		{withTeam, "key", "key:k1"},
		{alone, "team", "key:k2"},
		{&policy.Identity{Admin: true}, "team", "admin"},
	} {
		if got := cacheTenant(tc.id, tc.scope); got != tc.want {
			t.Errorf("scope %s: %q, want %q", tc.scope, got, tc.want)
		}
	}
}

func TestCacheableRequest(t *testing.T) {
	for body, want := range map[string]bool{
		`{"model":"m","messages":[{"role":"user","content":"q"}]}`:                 true,
		`{"model":"m","messages":[{"role":"user","content":"q"}],"n":1}`:           true,
		`{"model":"m","messages":[{"role":"user","content":"q"}],"n":2}`:           false,
		`{"model":"m","messages":[{"role":"user","content":"q"}],"logprobs":true}`: false,
	} {
		req, err := openAIFormat{}.decode([]byte(body))
		if err != nil {
			t.Fatal(err)
		}
		if got := cacheableRequest(req); got != want {
			t.Errorf("%s: cacheable %v, want %v", body, got, want)
		}
	}
	cfg := cache.Config{Semantic: cache.SemanticConfig{EmbeddingModel: "mock/e5"}}
	if !isEmbeddingModel("mock/e5", cfg) || !isEmbeddingModel("openai/text-embedding-3-small", cfg) || isEmbeddingModel("fast", cfg) {
		t.Error("isEmbeddingModel")
	}
}

// answers are the responses the round trips below carry.
func answers() map[string]*chat.Response {
	return map[string]*chat.Response{
		"text":   {Model: "gpt-4o-mini", FinishReason: chat.FinishStop, Message: chat.TextMessage(chat.RoleAssistant, "Paris is the capital. \"Quoted\"\nand <tags> ünïcode")},
		"length": {Model: "m", FinishReason: chat.FinishLength, Message: chat.TextMessage(chat.RoleAssistant, "cut sh")},
		"tools": {Model: "m", FinishReason: chat.FinishToolCalls, Message: chat.Message{Role: chat.RoleAssistant,
			Content: []chat.Part{{Type: chat.PartText, Text: "let me look"}},
			ToolCalls: []chat.ToolCall{{ID: "call_1", Name: "search", Arguments: `{"q":"paris"}`},
				{ID: "call_2", Name: "weather", Arguments: `{"city":"Paris","units":"c"}`}}}},
	}
}

// sameAnswer compares what a replay must preserve: text, tool calls
// (names and arguments), finish reason.
func sameAnswer(t *testing.T, name string, got, want *chat.Response) {
	t.Helper()
	if got.Message.Text() != want.Message.Text() {
		t.Errorf("%s: text %q, want %q", name, got.Message.Text(), want.Message.Text())
	}
	if got.FinishReason != want.FinishReason {
		t.Errorf("%s: finish %q, want %q", name, got.FinishReason, want.FinishReason)
	}
	if len(got.Message.ToolCalls) != len(want.Message.ToolCalls) {
		t.Fatalf("%s: %d tool calls, want %d", name, len(got.Message.ToolCalls), len(want.Message.ToolCalls))
	}
	for i, tc := range want.Message.ToolCalls {
		g := got.Message.ToolCalls[i]
		if g.Name != tc.Name || g.Arguments != tc.Arguments || g.ID == "" {
			t.Errorf("%s: tool call %d = %+v, want %+v", name, i, g, tc)
		}
	}
}

func TestCachedValueRoundTrip(t *testing.T) {
	for name, resp := range answers() {
		resp.Usage = chat.Usage{PromptTokens: 12, CompletionTokens: 5}
		b, err := encodeCachedValue(resp)
		if err != nil {
			t.Fatal(err)
		}
		got, err := decodeCachedValue(b)
		if err != nil {
			t.Fatal(err)
		}
		sameAnswer(t, name, got, resp)
		if got.Usage.PromptTokens != 12 || got.Usage.CompletionTokens != 5 || got.Model != resp.Model {
			t.Errorf("%s: usage or model lost: %+v", name, got)
		}
	}
	if _, err := decodeCachedValue([]byte(`{"v":99}`)); err == nil {
		t.Error("another version decoded")
	}
	if _, err := decodeCachedValue([]byte(`not json`)); err == nil {
		t.Error("garbage decoded")
	}
}

// replayed renders resp through chatCall.replay for the format.
func replayed(t *testing.T, f clientFormat, stream bool, resp *chat.Response) *httptest.ResponseRecorder {
	t.Helper()
	c := &chatCall{s: &Service{now: time.Now}, format: f, head: chatHead{Model: "fast", Stream: stream}}
	cp := *resp
	rec := httptest.NewRecorder()
	if status := c.replay(rec, &cp); status != "ok" {
		t.Fatalf("replay status %q", status)
	}
	return rec
}

// A hit replayed in either format, streamed or not, reads back as the same
// answer with the decoders the store path uses on misses.
func TestReplayRoundTrip(t *testing.T) {
	for _, f := range []clientFormat{openAIFormat{}, anthropicFormat{}} {
		for name, resp := range answers() {
			label := f.name() + "/" + name
			plain := replayed(t, f, false, resp)
			if ct := plain.Header().Get("Content-Type"); ct != "application/json" {
				t.Errorf("%s: content type %q", label, ct)
			}
			got, err := decodeClientResponse(f.name(), plain.Body.Bytes())
			if err != nil {
				t.Fatalf("%s: %v\n%s", label, err, plain.Body.Bytes())
			}
			sameAnswer(t, label, got, resp)
			if got.Usage != (chat.Usage{}) {
				t.Errorf("%s: a hit reports usage %+v", label, got.Usage)
			}

			streamed := replayed(t, f, true, resp)
			if ct := streamed.Header().Get("Content-Type"); ct != "text/event-stream" {
				t.Errorf("%s: stream content type %q", label, ct)
			}
			sr := &streamRecorder{}
			sr.recordEvent(streamed.Body.Bytes())
			got, err = sr.response(f.name())
			if err != nil {
				t.Fatalf("%s stream: %v\n%s", label, err, streamed.Body.Bytes())
			}
			sameAnswer(t, label+" stream", got, resp)

			// A stream cut before its end is not cacheable.
			body := streamed.Body.Bytes()
			cut := body[:bytes.LastIndex(body[:len(body)-2], []byte("\n\n"))+2]
			sr = &streamRecorder{}
			sr.recordEvent(cut)
			if _, err := sr.response(f.name()); !errors.Is(err, errNotCacheable) {
				t.Errorf("%s: cut stream: err %v, want errNotCacheable", label, err)
			}
		}
	}
}

func TestChunkRecorder(t *testing.T) {
	for name, resp := range answers() {
		var sr streamRecorder
		chunks := replayChunks(resp)
		for i := range chunks {
			sr.recordChunk(&chunks[i])
		}
		got, err := sr.response(chat.FormatOpenAI)
		if err != nil {
			t.Fatal(err)
		}
		sameAnswer(t, name, got, resp)
	}
	var empty streamRecorder
	if _, err := empty.response(chat.FormatOpenAI); !errors.Is(err, errNotCacheable) {
		t.Errorf("empty stream: %v", err)
	}
	big := streamRecorder{}
	big.recordEvent(make([]byte, maxRecordedStream+1))
	if _, err := big.response(chat.FormatOpenAI); !errors.Is(err, errNotCacheable) {
		t.Errorf("oversized stream: %v", err)
	}
}

func TestDecodeClientResponseRefuses(t *testing.T) {
	for name, tc := range map[string]struct{ format, body string }{
		"two choices":   {chat.FormatOpenAI, `{"choices":[{"message":{"content":"a"},"finish_reason":"stop"},{"message":{"content":"b"},"finish_reason":"stop"}]}`},
		"refusal":       {chat.FormatOpenAI, `{"choices":[{"message":{"content":null,"refusal":"no"},"finish_reason":"stop"}]}`},
		"logprobs":      {chat.FormatOpenAI, `{"choices":[{"message":{"content":"a"},"logprobs":{"content":[]},"finish_reason":"stop"}]}`},
		"thinking":      {chat.FormatAnthropic, `{"type":"message","content":[{"type":"thinking","thinking":"hm"},{"type":"text","text":"a"}],"stop_reason":"end_turn"}`},
		"pause_turn":    {chat.FormatAnthropic, `{"type":"message","content":[{"type":"text","text":"a"}],"stop_reason":"pause_turn"}`},
		"anthropic err": {chat.FormatAnthropic, `{"type":"error","error":{"type":"overloaded_error","message":"x"}}`},
	} {
		if _, err := decodeClientResponse(tc.format, []byte(tc.body)); !errors.Is(err, errNotCacheable) {
			t.Errorf("%s: err %v, want errNotCacheable", name, err)
		}
	}
	got, err := decodeClientResponse(chat.FormatOpenAI, []byte(`{"id":"x","model":"m","choices":[{"message":{"content":[{"type":"text","text":"a"},{"type":"text","text":"b"}]},"finish_reason":"stop"}],"usage":{"prompt_tokens":3,"completion_tokens":2}}`))
	if err != nil || got.Message.Text() != "ab" || got.Usage.PromptTokens != 3 {
		t.Errorf("content parts: %+v %v", got, err)
	}
	want := []chat.ToolCall{{ID: "toolu_1", Name: "f", Arguments: `{"a":1}`}}
	got, err = decodeClientResponse(chat.FormatAnthropic, []byte(`{"type":"message","model":"m","content":[{"type":"tool_use","id":"toolu_1","name":"f","input":{"a":1}}],"stop_reason":"tool_use","usage":{"input_tokens":4,"output_tokens":2,"cache_read_input_tokens":1}}`))
	if err != nil || !reflect.DeepEqual(got.Message.ToolCalls, want) || got.FinishReason != chat.FinishToolCalls || got.Usage.PromptTokens != 5 {
		t.Errorf("anthropic tool use: %+v %v", got, err)
	}
}

// The agent loop's steps bypass the cache: with WithoutCache on the
// context, or with the call's bypass field.
func TestCacheBypass(t *testing.T) {
	c, err := cache.New(context.Background(), cache.Options{Config: cache.Config{Enabled: true}})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	s := &Service{}
	s.SetCache(c)
	id := &policy.Identity{Key: &policy.Key{ID: "k"}}
	body := []byte(`{"model":"m","messages":[{"role":"user","content":"q"}]}`)
	prepared := func(ctx context.Context, bypass bool) *chatCall {
		call := &chatCall{s: s, format: openAIFormat{}, body: body, head: chatHead{Model: "m"}}
		call.cache.bypass = bypass
		r := httptest.NewRequest(http.MethodPost, "/v1/chat/completions", bytes.NewReader(body)).WithContext(ctx)
		if err := call.prepareCache(r, id); err != nil {
			t.Fatal(err)
		}
		return call
	}
	if call := prepared(context.Background(), false); !call.cache.active() || call.cache.req.Exact == "" ||
		call.cache.req.Scope.Tenant != "key:k" || call.cache.req.Prompt != "q" {
		t.Errorf("a plain call does not use the cache: %+v", call.cache)
	}
	if prepared(WithoutCache(context.Background()), false).cache.active() {
		t.Error("WithoutCache did not bypass the cache")
	}
	if prepared(context.Background(), true).cache.active() {
		t.Error("bypass did not bypass the cache")
	}
	s.SetCache(nil)
	if prepared(context.Background(), false).cache.active() {
		t.Error("no cache, yet active")
	}
}
