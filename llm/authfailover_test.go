package llm

import (
	"context"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/junctionhq/junction/internal/testkit"
	"github.com/junctionhq/junction/llm/llmtest"
	"github.com/junctionhq/junction/llm/routes"
)

// Keys of the auth failover tests: the mock accepts goodKey only.
const (
	goodKey    = "sk-good-key-0000aaaa"
	revokedKey = "sk-revoked-key-5678"
)

// newAuthSetup is a Service over an llmtest server that accepts only
// goodKey: provider "two" has a good key and a revoked one, provider
// "solo" only the revoked one; alias "chain" is solo/gpt-4o falling back
// to two/gpt-4o.
func newAuthSetup(t *testing.T, clock *testkit.Clock) (*healthSetup, *llmtest.Server) {
	t.Helper()
	up := llmtest.NewServer(llmtest.WithAPIKeys(goodKey))
	t.Cleanup(up.Close)
	h := newHealthSetup(t, Config{
		Providers: []ProviderConfig{
			{Name: "two", Type: TypeOpenAI, BaseURL: up.URL + "/v1", Keys: []ProviderKeyConfig{
				{Name: "good", Value: goodKey}, {Name: "revoked", Value: revokedKey}}},
			{Name: "solo", Type: TypeAnthropic, BaseURL: up.URL, Keys: []ProviderKeyConfig{{Name: "revoked", Value: revokedKey}}},
		},
		Models: []ModelConfig{{Name: "chain", Targets: []TargetConfig{{Model: "solo/claude-haiku-4-5"}}, Fallbacks: []string{"two/gpt-4o"}}},
	}, clock)
	return h, up
}

// TestRevokedProviderKeyFailsOverToTheOtherKeys: a provider refusing one
// of Junction's keys (401) costs clients nothing while another key, target
// or fallback can serve them: the refused key is left out for
// AuthCoolDown after its first refusal, and the client sees 502
// provider_auth_failed, without key material, only when nothing else can
// serve the request.
func TestRevokedProviderKeyFailsOverToTheOtherKeys(t *testing.T) {
	clock := newFakeClock()
	h, up := newAuthSetup(t, clock)
	revoked := func() int64 { return up.Stats().ByKey[revokedKey] }

	bodies := []string{
		`{"model":"two/gpt-4o","messages":[{"role":"user","content":"hi"}]}`,
		`{"model":"two/gpt-4o","stream":true,"messages":[{"role":"user","content":"hi"}]}`,
	}
	const workers = 4
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		fail []string
	)
	for w := range workers {
		wg.Go(func() {
			for i := w; i < 100; i += workers {
				rec, _ := h.post(context.Background(), chatPath, bodies[i%2], nil)
				if rec.Code != http.StatusOK || strings.Contains(rec.Body.String(), `"error"`) {
					mu.Lock()
					fail = append(fail, rec.Body.String())
					mu.Unlock()
				}
			}
		})
	}
	wg.Wait()
	if len(fail) > 0 {
		t.Fatalf("%d of 100 requests failed with a good key left; first: %s", len(fail), fail[0])
	}
	if got := revoked(); got < 1 || got > workers {
		t.Fatalf("the revoked key saw %d requests, want 1 to %d (one per request in flight before its first refusal)", got, workers)
	}

	// After AuthCoolDown the key is tried again, once, then left out again.
	before := revoked()
	clock.Advance(routes.DefaultAuthCoolDown + time.Second)
	for i := range 20 {
		if rec, _ := h.post(context.Background(), chatPath, bodies[i%2], nil); rec.Code != http.StatusOK {
			t.Fatalf("after the cool-down: %d %s", rec.Code, rec.Body)
		}
	}
	if got := revoked() - before; got > 1 {
		t.Errorf("after the cool-down the revoked key saw %d requests, want at most 1", got)
	}

	// A model whose only key is refused falls back to another provider.
	for range 5 {
		if rec, _ := h.post(context.Background(), chatPath, `{"model":"chain","messages":[{"role":"user","content":"hi"}]}`, nil); rec.Code != http.StatusOK {
			t.Fatalf("alias with a fallback: %d %s", rec.Code, rec.Body)
		}
	}
}

// TestOnlyARevokedKeyAnswers502ProviderAuthFailed: with no other key,
// target or fallback, the client gets 502 provider_auth_failed naming
// neither the key nor the upstream's words, at the first refusal and while
// the key is left out (without reaching the provider again).
func TestOnlyARevokedKeyAnswers502ProviderAuthFailed(t *testing.T) {
	h, up := newAuthSetup(t, newFakeClock())
	for i, c := range []struct{ path, body string }{
		{chatPath, `{"model":"solo/claude-haiku-4-5","max_tokens":8,"messages":[{"role":"user","content":"hi"}]}`},
		{chatPath, `{"model":"solo/claude-haiku-4-5","stream":true,"max_tokens":8,"messages":[{"role":"user","content":"hi"}]}`},
		{"/v1/messages", `{"model":"solo/claude-haiku-4-5","max_tokens":8,"messages":[{"role":"user","content":"hi"}]}`},
	} {
		rec, _ := h.post(context.Background(), c.path, c.body, nil)
		body := rec.Body.String()
		if rec.Code != http.StatusBadGateway || !strings.Contains(body, "rejected Junction's credentials for solo") {
			t.Fatalf("request %d: %d %s, want 502 provider_auth_failed", i, rec.Code, body)
		}
		if c.path == chatPath && !strings.Contains(body, `"code":"provider_auth_failed"`) {
			t.Errorf("request %d: code: %s", i, body)
		}
		if rec.Header().Get("Retry-After") != "" {
			t.Errorf("request %d: Retry-After %q on a key only the operator can fix", i, rec.Header().Get("Retry-After"))
		}
		for _, leak := range []string{"sk-", "5678", "****", "invalid x-api-key", "authentication_error"} {
			if strings.Contains(body, leak) {
				t.Errorf("request %d: the client sees %q: %s", i, leak, body)
			}
		}
	}
	if got := up.Stats().ByKey[revokedKey]; got != 1 {
		t.Errorf("the provider saw the revoked key %d times, want 1", got)
	}
}
