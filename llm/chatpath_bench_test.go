package llm

import (
	"context"
	"net/http"
	"testing"
)

// BenchmarkChatPath measures one request through the LLM handlers, the
// router and a provider against an in-process llmtest server: passed
// through (the client's format is the provider's) and translated, each
// whole and streamed. Its allocations per request guard the hot path.
func BenchmarkChatPath(b *testing.B) {
	h := newHealthSetup(b, Config{Providers: []ProviderConfig{keyed("good", TypeOpenAI, TimeoutsConfig{})}}, nil)
	cases := []struct{ name, path, body string }{
		{"passthrough", "/v1/chat/completions", `{"model":"good/m","messages":[{"role":"user","content":"hi"}]}`},
		{"passthrough stream", "/v1/chat/completions", `{"model":"good/m","stream":true,"messages":[{"role":"user","content":"hi"}]}`},
		{"translated", "/v1/messages", `{"model":"good/m","max_tokens":50,"messages":[{"role":"user","content":"hi"}]}`},
		{"translated stream", "/v1/messages", `{"model":"good/m","stream":true,"max_tokens":50,"messages":[{"role":"user","content":"hi"}]}`},
	}
	ctx := context.Background()
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				rec, _ := h.post(ctx, c.path, c.body, nil)
				if rec.Code != http.StatusOK {
					b.Fatalf("status %d: %s", rec.Code, rec.Body)
				}
			}
		})
	}
}
