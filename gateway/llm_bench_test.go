package gateway

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/rs/zerolog"

	"github.com/junctionhq/junction/llm"
	"github.com/junctionhq/junction/llm/llmtest"
	"github.com/junctionhq/junction/policy"
)

// BenchmarkChatPassThrough is one non-streamed chat completion through the
// whole gateway (middleware, authentication, admission, routing, the
// pass-through to an in-process mock over loopback HTTP, settlement),
// without the client's HTTP hop. Profile it with -cpuprofile.
func BenchmarkChatPassThrough(b *testing.B) {
	mock := llmtest.NewServer()
	defer mock.Close()
	cfg := Config{DataDir: b.TempDir(), AdminKey: testAdminKey}
	cfg.Providers = []llm.ProviderConfig{{Name: "mock", BaseURL: mock.URL + "/v1", Keys: []llm.ProviderKeyConfig{{Value: "sk"}}}}
	cfg.Models = []llm.ModelConfig{{Name: "gpt-4o-mini", Targets: []llm.TargetConfig{{Model: "mock/gpt-4o-mini"}}}}
	g, err := New(context.Background(), cfg, Options{Logger: zerolog.Nop(), Terminal: io.Discard})
	if err != nil {
		b.Fatal(err)
	}
	defer g.Shutdown(context.Background())
	_, secret, err := g.Policy().CreateKey(context.Background(), policy.KeyInput{Name: "bench", Limits: policy.Limits{RPM: 1 << 40},
		Budget: &policy.Budget{USD: 1e9, Period: policy.PeriodDay}})
	if err != nil {
		b.Fatal(err)
	}
	body := []byte(`{"model":"gpt-4o-mini","messages":[{"role":"system","content":"You are a helpful assistant."},{"role":"user","content":"Say hello to the benchmark."}],"max_tokens":64}`)
	h := g.Handler()
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		req := httptest.NewRequest(http.MethodPost, "/v1/chat/completions", bytes.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+secret)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != 200 {
			b.Fatalf("status %d: %s", rec.Code, rec.Body)
		}
	}
}
