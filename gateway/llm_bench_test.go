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
	send := chatBench(b)
	for b.Loop() {
		send()
	}
}

// BenchmarkChatPassThroughParallel is the same with 50 requests in flight
// on two cores, where contention shows.
func BenchmarkChatPassThroughParallel(b *testing.B) {
	send := chatBench(b)
	b.SetParallelism(25)
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			send()
		}
	})
}

// chatBench starts a gateway in front of an in-process mock, with a key
// whose limits never bind, and returns a function sending one chat
// completion through its handler. The benchmark's timer starts afterwards.
func chatBench(b *testing.B) (send func()) {
	mock := llmtest.NewServer()
	b.Cleanup(mock.Close)
	cfg := Config{DataDir: b.TempDir(), AdminKey: testAdminKey}
	cfg.Providers = []llm.ProviderConfig{{Name: "mock", BaseURL: mock.URL + "/v1", Keys: []llm.ProviderKeyConfig{{Value: "sk"}}}}
	cfg.Models = []llm.ModelConfig{{Name: "gpt-4o-mini", Targets: []llm.TargetConfig{{Model: "mock/gpt-4o-mini"}}}}
	g, err := New(context.Background(), cfg, Options{Logger: zerolog.Nop(), Terminal: io.Discard})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { g.Shutdown(context.Background()) })
	_, secret, err := g.Policy().CreateKey(context.Background(), policy.KeyInput{Name: "bench", Limits: policy.Limits{RPM: 1 << 40},
		Budget: &policy.Budget{USD: 1e9, Period: policy.PeriodDay}})
	if err != nil {
		b.Fatal(err)
	}
	body := []byte(`{"model":"gpt-4o-mini","messages":[{"role":"system","content":"You are a helpful assistant."},{"role":"user","content":"Say hello to the benchmark."}],"max_tokens":64}`)
	h := g.Handler()
	b.ReportAllocs()
	b.ResetTimer()
	return func() {
		req := httptest.NewRequest(http.MethodPost, "/v1/chat/completions", bytes.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+secret)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != 200 {
			b.Errorf("status %d: %s", rec.Code, rec.Body)
		}
	}
}
