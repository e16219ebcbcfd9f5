package respcache

import (
	"context"
	"errors"
	"math"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/junctionhq/junction/apierror"
	"github.com/junctionhq/junction/cache"
	"github.com/junctionhq/junction/llm/chat"
	"github.com/junctionhq/junction/llm/provider/openai"
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
			h.Set(HeaderTTL, tc.ttl)
		}
		if tc.threshold != "" {
			h.Set(HeaderThreshold, tc.threshold)
		}
		ttl, th, err := parseHeaders(h)
		if (err != nil) != tc.wantErr {
			t.Errorf("ttl %q threshold %q: err %v, want error %v", tc.ttl, tc.threshold, err, tc.wantErr)
			continue
		}
		if err != nil {
			if !isBadRequest(err) {
				t.Errorf("ttl %q threshold %q: %v (%T), want a 400", tc.ttl, tc.threshold, err, err)
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
		if got := tenant(tc.id, tc.scope); got != tc.want {
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
		req, err := openai.DecodeChatRequest([]byte(body))
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

// prepared runs Prepare on a chat request with body and headers h
// (key=value pairs).
func prepared(t *testing.T, c *Cache, ctx context.Context, model, body string, h ...string) (Call, error) {
	t.Helper()
	r := httptest.NewRequest(http.MethodPost, "/v1/chat/completions", strings.NewReader(body)).WithContext(ctx)
	for i := 0; i+1 < len(h); i += 2 {
		r.Header.Add(h[i], h[i+1])
	}
	id := &policy.Identity{Key: &policy.Key{ID: "k"}}
	return c.Prepare(r, id, model, func() (*chat.Request, error) { return openai.DecodeChatRequest([]byte(body)) })
}

// Prepare decides whether a request uses the cache: not without a cache,
// not under WithoutCache (the agent loop's steps), not for embedding
// models or requests that cannot be replayed; a bad header is a 400.
func TestPrepare(t *testing.T) {
	ch, err := cache.New(context.Background(), cache.Options{Config: cache.Config{Enabled: true}})
	if err != nil {
		t.Fatal(err)
	}
	defer ch.Close()
	var c Cache
	if err := c.Init(nil); err != nil {
		t.Fatal(err)
	}
	c.Set(ch)
	ctx := context.Background()
	const body = `{"model":"m","messages":[{"role":"user","content":"q"}]}`
	call, err := prepared(t, &c, ctx, "m", body, HeaderTTL, "90")
	if err != nil || !call.Active() || call.req.Exact == "" || call.req.Scope.Tenant != "key:k" ||
		call.req.Scope.Model != "m" || call.req.Prompt != "q" || call.ttl != 90*time.Second || !call.lookup || !call.store {
		t.Errorf("a plain call does not use the cache: %+v, %v", call, err)
	}
	call, _ = prepared(t, &c, ctx, "m", body, "Cache-Control", "no-cache, no-store")
	if !call.Active() || call.lookup || call.store {
		t.Errorf("Cache-Control no-cache, no-store: lookup %v store %v", call.lookup, call.store)
	}
	if _, err := prepared(t, &c, ctx, "m", body, HeaderThreshold, "2"); !isBadRequest(err) {
		t.Errorf("bad threshold: %v, want a 400", err)
	}
	for name, tc := range map[string]struct {
		ctx         context.Context
		model, body string
	}{
		"WithoutCache":    {WithoutCache(ctx), "m", body},
		"embedding model": {ctx, "openai/text-embedding-3-small", body},
		"two choices":     {ctx, "m", `{"model":"m","n":2,"messages":[{"role":"user","content":"q"}]}`},
		"undecodable":     {ctx, "m", `{"model":"m","messages":"q"}`},
	} {
		if call, err := prepared(t, &c, tc.ctx, tc.model, tc.body); err != nil || call.Active() {
			t.Errorf("%s: active %v, err %v", name, call.Active(), err)
		}
	}
	c.Set(nil)
	if call, _ := prepared(t, &c, ctx, "m", body); call.Active() {
		t.Error("no cache, yet active")
	}
}

// isBadRequest: err is the 400 with a message that the client gets.
func isBadRequest(err error) bool {
	var e *apierror.Error
	return errors.As(err, &e) && e.Status == http.StatusBadRequest && e.Message != ""
}
