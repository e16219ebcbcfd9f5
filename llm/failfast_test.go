package llm

import (
	"context"
	"net/http"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/junctionhq/junction/llm/llmtest"
)

func TestDeadTargetFailsFastWith503AndRetryAfter(t *testing.T) {
	clock := newFakeClock()
	h := newHealthSetup(t, Config{
		Providers: []ProviderConfig{keyed("dead", TypeOpenAI, TimeoutsConfig{})},
		Routing:   RoutingConfig{BreakerFailures: 3, BreakerOpen: 30 * time.Second},
	}, clock)
	if err := h.up.SetBehavior("sk-dead", llmtest.Behavior{FailPercent: 100, FailStatus: 500}); err != nil {
		t.Fatal(err)
	}
	chat := `{"model":"dead/m","messages":[{"role":"user","content":"hi"}]}`
	reached := func() int64 { return h.up.Stats().ByKey["sk-dead"] }

	// The first request's three attempts open the breaker.
	if rec, _ := h.post(context.Background(), "/v1/chat/completions", chat, nil); rec.Code != http.StatusBadGateway {
		t.Fatalf("first request: %d %s", rec.Code, rec.Body)
	}
	if got := reached(); got != 3 {
		t.Fatalf("the provider saw %d requests, want 3", got)
	}
	opened := clock.Now()

	// Open: every request fails fast, on every front end, with 503 and
	// the seconds until the breaker half-opens.
	clock.Advance(10 * time.Second)
	requests := []struct{ path, body string }{
		{"/v1/chat/completions", chat},
		{"/v1/chat/completions", `{"model":"dead/m","stream":true,"messages":[{"role":"user","content":"hi"}]}`},
		{"/v1/messages", `{"model":"dead/m","max_tokens":10,"messages":[{"role":"user","content":"hi"}]}`},
		{"/v1/embeddings", `{"model":"dead/m","input":"hi"}`},
	}
	for i := range 300 {
		r := requests[i%len(requests)]
		rec, _ := h.post(context.Background(), r.path, r.body, nil)
		want := strconv.Itoa(int((opened.Add(30*time.Second).Sub(clock.Now()) + time.Second - 1) / time.Second))
		if rec.Code != http.StatusServiceUnavailable || rec.Header().Get("Retry-After") != want {
			t.Fatalf("%s while open: %d Retry-After %q (want 503, %s): %s", r.path, rec.Code, rec.Header().Get("Retry-After"), want, rec.Body)
		}
	}
	if got := reached(); got != 3 {
		t.Fatalf("the provider saw %d requests, want still 3: an open breaker let requests through", got)
	}
	if got := counter(t, h.s.metrics.requests.WithLabelValues(h.s.metrics.model("dead/m", false), "", "503")); got != 300 {
		t.Errorf("requests_total{503} = %v, want 300", got)
	}

	// Half-open: of many requests at once, one probes; the others fail fast
	// while it is in flight.
	clock.Advance(20 * time.Second)
	if err := h.up.SetBehavior("sk-dead", llmtest.Behavior{FailPercent: 100, FailStatus: 500, Latency: 200 * time.Millisecond}); err != nil {
		t.Fatal(err)
	}
	codes := burst(h, chat, 20)
	if got := reached(); got != 4 {
		t.Fatalf("the provider saw %d requests, want 4: one probe", got)
	}
	if codes[http.StatusServiceUnavailable] != 19 {
		t.Fatalf("statuses %v: want 19 turned away during the probe", codes)
	}

	// The probe failed: open again for a whole period; then a probe that
	// succeeds closes the breaker and traffic flows.
	clock.Advance(29 * time.Second)
	if rec, _ := h.post(context.Background(), "/v1/chat/completions", chat, nil); rec.Code != http.StatusServiceUnavailable {
		t.Fatalf("after the failed probe: %d", rec.Code)
	}
	if err := h.up.SetBehavior("sk-dead", llmtest.Behavior{Latency: 200 * time.Millisecond}); err != nil {
		t.Fatal(err)
	}
	clock.Advance(time.Second)
	if codes := burst(h, chat, 10); codes[http.StatusOK] != 1 || codes[http.StatusServiceUnavailable] != 9 {
		t.Fatalf("statuses %v: want the probe answered and 9 turned away", codes)
	}
	h.up.ClearBehavior("sk-dead")
	for _, r := range requests {
		if rec, _ := h.post(context.Background(), r.path, r.body, nil); rec.Code != http.StatusOK {
			t.Fatalf("%s after a good probe: %d %s", r.path, rec.Code, rec.Body)
		}
	}
	if got := counter(t, h.s.metrics.requests.WithLabelValues("dead/m", "dead", "200")); got != 5 {
		t.Errorf("requests_total{200} = %v, want 5 (the probe and one per front end)", got)
	}
}

// burst sends n chat requests at once and counts their statuses.
func burst(h *healthSetup, body string, n int) map[int]int {
	var (
		mu    sync.Mutex
		codes = map[int]int{}
		wg    sync.WaitGroup
	)
	for range n {
		wg.Go(func() {
			rec, _ := h.post(context.Background(), "/v1/chat/completions", body, nil)
			mu.Lock()
			codes[rec.Code]++
			mu.Unlock()
		})
	}
	wg.Wait()
	return codes
}
