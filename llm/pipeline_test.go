package llm

import (
	"context"
	"database/sql"
	"errors"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/junctionhq/junction/cache"
	"github.com/junctionhq/junction/llm/llmtest"
	"github.com/junctionhq/junction/llm/respcache"
	"github.com/junctionhq/junction/store"
)

// newPipelineSetup is a Service over two OpenAI-shaped providers, slow
// (which answers after 10s) and quick.
func newPipelineSetup(t *testing.T) *healthSetup {
	t.Helper()
	h := newHealthSetup(t, Config{Providers: []ProviderConfig{keyed("slow", TypeOpenAI, TimeoutsConfig{}),
		keyed("quick", TypeOpenAI, TimeoutsConfig{})}}, nil)
	if err := h.up.SetBehavior("sk-slow", llmtest.Behavior{Latency: 10 * time.Second}); err != nil {
		t.Fatal(err)
	}
	return h
}

// statuses flushes the usage records and returns their statuses, oldest
// first.
func (h *healthSetup) statuses(t *testing.T) []string {
	t.Helper()
	if err := h.engine.FlushUsage(context.Background()); err != nil {
		t.Fatal(err)
	}
	db, err := sql.Open("sqlite", filepath.Join(h.dir, store.DefaultSQLiteFile))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	rows, err := db.Query(`SELECT status FROM usage WHERE kind = 'llm' ORDER BY ts, rowid`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			t.Fatal(err)
		}
		out = append(out, s)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// pipelineRequests are a request on every front end of the pipeline (the
// agent loop runs through /v1/chat/completions) for model, with fallbacks.
func pipelineRequests(model string, fallbacks ...string) []struct{ name, path, body string } {
	chatPath := "/v1/chat/completions"
	// the health setup's hub has the server web
	agent := strings.Replace(agentBody(model, fallbacks...), `"server_label":"echo"`, `"server_label":"web"`, 1)
	stream := strings.Replace(chatBody(chatPath, model, fallbacks...), `"max_tokens"`, `"stream":true,"max_tokens"`, 1)
	return []struct{ name, path, body string }{
		{"chat", chatPath, chatBody(chatPath, model, fallbacks...)},
		{"chat stream", chatPath, stream},
		{"messages", "/v1/messages", chatBody("/v1/messages", model, fallbacks...)},
		{"embeddings", "/v1/embeddings", chatBody("/v1/embeddings", model, fallbacks...)},
		{"agent loop", chatPath, agent},
		{"agent loop stream", chatPath, strings.Replace(agent, `"max_tokens"`, `"stream":true,"max_tokens"`, 1)},
	}
}

// TestCancelledCallsBilledAndCountedAlikeOnEveryEndpoint: a client that
// goes away while its model call is under way gets its call billed as
// "cancelled" and counted as 499, on every front end and in the agent loop.
func TestCancelledCallsBilledAndCountedAlikeOnEveryEndpoint(t *testing.T) {
	p := newPipelineSetup(t)
	for i, r := range pipelineRequests("slow/m") {
		ctx, cancel := context.WithCancel(context.Background())
		stop := time.AfterFunc(50*time.Millisecond, cancel)
		rec, _ := p.post(ctx, r.path, r.body, nil)
		stop.Stop()
		cancel()
		if rec.Code != 499 {
			t.Errorf("%s: status %d, want 499: %s", r.name, rec.Code, rec.Body)
		}
		if got := counter(t, p.s.metrics.requests.WithLabelValues(p.s.metrics.model("slow/m", false), "", "499")); got != float64(i+1) {
			t.Errorf("%s: requests_total{slow/m,499} = %v, want %d", r.name, got, i+1)
		}
		statuses := p.statuses(t)
		if len(statuses) != i+1 || statuses[i] != "cancelled" {
			t.Errorf("%s: usage statuses %v, want the last one cancelled", r.name, statuses)
		}
	}
}

// TestUnknownModelsCountedAlikeOnEveryEndpoint: an unknown model and an
// unknown fallback are a 404 counted in junction_llm_requests_total under
// "other", on every front end and in the agent loop; a served embeddings
// request is counted as any other.
func TestUnknownModelsCountedAlikeOnEveryEndpoint(t *testing.T) {
	p := newPipelineSetup(t)
	unknown := p.s.metrics.requests.WithLabelValues("other", "", "404")
	n := 0
	for _, r := range append(pipelineRequests("nosuch"), pipelineRequests("quick/m", "nosuch")...) {
		n++
		if rec, _ := p.post(context.Background(), r.path, r.body, nil); rec.Code != http.StatusNotFound {
			t.Errorf("%s: status %d, want 404: %s", r.name, rec.Code, rec.Body)
		}
		if got := counter(t, unknown); got != float64(n) {
			t.Errorf("%s: requests_total{other,404} = %v, want %d", r.name, got, n)
		}
	}
	if rec, _ := p.post(context.Background(), "/v1/embeddings", chatBody("/v1/embeddings", "quick/m"), nil); rec.Code != http.StatusOK {
		t.Fatalf("embeddings: %d %s", rec.Code, rec.Body)
	}
	if got := counter(t, p.s.metrics.requests.WithLabelValues("quick/m", "quick", "200")); got != 1 {
		t.Errorf("requests_total{quick/m,quick,200} = %v, want 1", got)
	}
}

// brokenWriter is a client that is gone: every write fails.
type brokenWriter struct{ *httptest.ResponseRecorder }

func (brokenWriter) Write([]byte) (int, error) { return 0, errors.New("client gone") }

// TestCancelledCacheHitCountedAsCancelled: a cache hit whose client went
// away during the replay is billed "cancelled" and counted as 499, as an
// upstream answer would be.
func TestCancelledCacheHitCountedAsCancelled(t *testing.T) {
	h := newPipelineSetup(t)
	c, err := cache.New(context.Background(), cache.Options{Config: cache.Config{Enabled: true}})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	h.s.SetCache(c)
	body := `{"model":"quick/m","stream":true,"messages":[{"role":"user","content":"hi"}]}`
	if rec, _ := h.post(context.Background(), "/v1/chat/completions", body, nil); rec.Code != http.StatusOK {
		t.Fatalf("first: %d %s", rec.Code, rec.Body)
	}
	if err := h.s.WaitCacheStores(context.Background()); err != nil {
		t.Fatal(err)
	}
	w := brokenWriter{httptest.NewRecorder()}
	h.post(context.Background(), "/v1/chat/completions", body, w)
	if got := w.Header().Get(respcache.HeaderCache); got != respcache.HitExact {
		t.Fatalf("second request: cache %q, want a hit", got)
	}
	if got := counter(t, h.s.metrics.requests.WithLabelValues("quick/m", "cache", "499")); got != 1 {
		t.Errorf("requests_total{quick/m,cache,499} = %v, want 1", got)
	}
	if st := h.statuses(t); len(st) != 2 || st[1] != "cancelled" {
		t.Errorf("usage statuses %v, want the hit cancelled", st)
	}
}
