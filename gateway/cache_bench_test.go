package gateway

import (
	"bytes"
	"context"
	"io"
	"net"
	"net/http"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/junctionhq/junction/cache"
	"github.com/junctionhq/junction/llm"
	"github.com/junctionhq/junction/llm/llmtest"
	"github.com/junctionhq/junction/llm/respcache"
	"github.com/junctionhq/junction/policy"
)

// BenchmarkCacheEndToEnd measures a client's latency through the real
// gateway (loopback HTTP, middleware, authentication, admission, cache,
// settlement) against a mock provider that takes 200 ms per answer: a miss
// (a new question each time: lookup, upstream call, background store), an
// exact hit and a semantic hit (a paraphrase, through the in-process HNSW
// index with the lexical embedder). It reports p50 and p99 in milliseconds.
//
//	go test ./gateway -run '^$' -bench BenchmarkCacheEndToEnd -benchtime 100x
func BenchmarkCacheEndToEnd(b *testing.B) {
	mock := llmtest.NewServer(llmtest.WithRequestLog(0))
	defer mock.Close()
	if err := mock.SetDefault(llmtest.Behavior{Latency: 200 * time.Millisecond}); err != nil {
		b.Fatal(err)
	}
	cfg := Config{DataDir: b.TempDir(), AdminKey: testAdminKey}
	cfg.Providers = []llm.ProviderConfig{{Name: "mock", BaseURL: mock.URL + "/v1", Keys: []llm.ProviderKeyConfig{{Value: "sk"}}}}
	cfg.Models = []llm.ModelConfig{{Name: "gpt-4o-mini", Targets: []llm.TargetConfig{{Model: "mock/gpt-4o-mini"}}}}
	cfg.Cache = cache.Config{Enabled: true}
	g, err := New(context.Background(), cfg, Options{Logger: zerolog.Nop(), Terminal: io.Discard})
	if err != nil {
		b.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- g.Serve(ln) }()
	defer func() {
		_ = g.Shutdown(context.Background())
		<-done
	}()
	_, secret, err := g.Policy().CreateKey(context.Background(), policy.KeyInput{Name: "bench", Limits: policy.Limits{RPM: 1 << 40},
		Budget: &policy.Budget{USD: 1e9, Period: policy.PeriodDay}})
	if err != nil {
		b.Fatal(err)
	}
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 4}}
	defer client.CloseIdleConnections()
	url := "http://" + ln.Addr().String() + "/v1/chat/completions"
	ask := func(question string) (string, time.Duration) {
		body := []byte(`{"model":"gpt-4o-mini","max_tokens":64,"messages":[{"role":"system","content":"You are a helpful assistant."},{"role":"user","content":` +
			strconv.Quote(question) + `}]}`)
		req, _ := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+secret)
		req.Header.Set("Content-Type", "application/json")
		t0 := time.Now()
		resp, err := client.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		d := time.Since(t0)
		if resp.StatusCode != http.StatusOK {
			b.Fatalf("status %d", resp.StatusCode)
		}
		return resp.Header.Get(respcache.HeaderCache), d
	}
	// The stored question, and a paraphrase with lexical similarity 0.98.
	ask("What is the capital of France?")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := g.llm.WaitCacheStores(ctx); err != nil {
		b.Fatal(err)
	}
	run := func(b *testing.B, want string, question func(i int) string) {
		var lat []time.Duration
		i := 0
		for b.Loop() {
			got, d := ask(question(i))
			if got != want {
				b.Fatalf("request %d: %s, want %s", i, got, want)
			}
			lat = append(lat, d)
			i++
		}
		b.StopTimer()
		slices.Sort(lat)
		pct := func(p float64) float64 {
			return float64(lat[min(len(lat)-1, int(p*float64(len(lat))))].Microseconds()) / 1000
		}
		b.ReportMetric(pct(0.50), "p50-ms")
		b.ReportMetric(pct(0.99), "p99-ms")
	}
	b.Run("miss", func(b *testing.B) {
		run(b, respcache.Miss, randomQuestion)
	})
	b.Run("hit-exact", func(b *testing.B) {
		run(b, respcache.HitExact, func(int) string { return "What is the capital of France?" })
	})
	b.Run("hit-semantic", func(b *testing.B) {
		run(b, respcache.HitSemantic, func(int) string { return "What's the capital of France?" })
	})
}

// randomQuestion is a question of made-up words, unlike any other, so that
// it misses both tiers.
func randomQuestion(i int) string {
	x := uint64(i)*0x9E3779B97F4A7C15 + 0x632BE59BD9B4E5
	var b []byte
	for w := 0; w < 6; w++ {
		if w > 0 {
			b = append(b, ' ')
		}
		for c := 0; c < 7; c++ {
			x ^= x >> 29
			x *= 0xBF58476D1CE4E5B9
			x ^= x >> 32
			b = append(b, byte('a'+x%26))
		}
	}
	return string(b) + "?"
}
