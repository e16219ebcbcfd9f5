package llmtest

import (
	"context"
	"fmt"
	"maps"
	"net/http"
	"strings"
	"testing"
	"time"
)

func TestStatsAndRecording(t *testing.T) {
	t0 := time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)
	srv := StartServer(t, WithNow(func() time.Time { return t0 }), WithRequestLog(3))
	ctx := t.Context()

	first := newRequest(ctx, openAI, srv.URL, "", testKey, chatBody(openAI, "first", ""))
	first.Header.Set("X-Trace", "abc")
	first.URL.RawQuery = "x=1"
	do(t, first)
	do(t, newRequest(ctx, openAI, srv.URL, "", testKey, chatBody(openAI, "second", "")))
	do(t, newRequest(ctx, anthropic, srv.URL, "", otherKey, chatBody(anthropic, "third", "")))
	do(t, newRequest(ctx, openAI, srv.URL, string(EndpointEmbeddings), otherKey, `{"model":"e","input":"x"}`))
	do(t, newRequest(ctx, openAI, srv.URL, "/v2/nothing", "", `{}`))

	stats := srv.Stats()
	want := Stats{
		Requests: 5,
		ByEndpoint: map[Endpoint]int64{
			EndpointChatCompletions: 2, EndpointMessages: 1, EndpointEmbeddings: 1, EndpointUnknown: 1,
		},
		ByKey:    map[string]int64{testKey: 2, otherKey: 2},
		ByStatus: map[int]int64{200: 4, 404: 1},
	}
	if stats.Requests != want.Requests || !maps.Equal(stats.ByEndpoint, want.ByEndpoint) ||
		!maps.Equal(stats.ByKey, want.ByKey) || !maps.Equal(stats.ByStatus, want.ByStatus) {
		t.Errorf("stats %+v\nwant  %+v", stats, want)
	}

	reqs := srv.Requests()
	if len(reqs) != 3 {
		t.Fatalf("%d requests kept, want 3", len(reqs))
	}
	third := reqs[0] // the oldest kept
	if third.Endpoint != EndpointMessages || third.Method != http.MethodPost || third.Path != "/v1/messages" ||
		third.Key != otherKey || !third.Time.Equal(t0) || !strings.Contains(string(third.Body), `"third"`) ||
		third.Header.Get("X-Api-Key") != otherKey {
		t.Errorf("oldest kept request %+v", third)
	}
	last, ok := srv.LastRequest()
	if !ok || last.Path != "/v2/nothing" || last.Endpoint != EndpointUnknown || last.Key != "" {
		t.Errorf("last request %+v", last)
	}
	// Copies: changing one does not change the log.
	reqs[0].Body[0] = 'X'
	reqs[0].Header.Set("X-Api-Key", "changed")
	if again := srv.Requests(); again[0].Body[0] != '{' || again[0].Header.Get("X-Api-Key") != otherKey {
		t.Error("Requests shares memory with the log")
	}

	srv.ResetStats()
	if s := srv.Stats(); s.Requests != 0 || len(s.ByKey) != 0 || len(s.ByStatus) != 0 || len(srv.Requests()) != 0 {
		t.Errorf("after reset: %+v, %d requests", s, len(srv.Requests()))
	}
}

func TestRecordingHeadersAndQuery(t *testing.T) {
	m := New()
	t.Cleanup(m.Close)
	req := newRequest(context.Background(), openAI, "", "", testKey, chatBody(openAI, "hi", ""))
	req.URL.RawQuery = "api-version=2024-10-21"
	req.Header.Set("X-Custom", "v")
	serve(m, req)
	last, ok := m.LastRequest()
	if !ok || last.RawQuery != "api-version=2024-10-21" || last.Header.Get("X-Custom") != "v" ||
		last.Header.Get("Authorization") != "Bearer "+testKey {
		t.Errorf("recorded %+v", last)
	}
}

func TestRecordingOff(t *testing.T) {
	m := New(WithRequestLog(0))
	t.Cleanup(m.Close)
	serve(m, newRequest(context.Background(), openAI, "", "", testKey, chatBody(openAI, "hi", "")))
	if reqs := m.Requests(); reqs != nil {
		t.Errorf("recorded %d requests with recording off", len(reqs))
	}
	if _, ok := m.LastRequest(); ok {
		t.Error("LastRequest with recording off")
	}
	if m.Stats().Requests != 1 {
		t.Error("counters stopped with recording off")
	}
}

func TestBodyTooLarge(t *testing.T) {
	m := New()
	t.Cleanup(m.Close)
	body := `{"model":"m","messages":[{"role":"user","content":"` + strings.Repeat("a", maxBodyBytes) + `"}]}`
	rec := serve(m, newRequest(context.Background(), openAI, "", "", testKey, body))
	if rec.Code != http.StatusRequestEntityTooLarge {
		t.Errorf("status %d", rec.Code)
	}
	if last, _ := m.LastRequest(); last.Body != nil {
		t.Error("a too-large body was recorded")
	}
}

func TestTrackedKeysAreBounded(t *testing.T) {
	var c counters
	for i := range MaxTrackedKeys + 5 {
		c.countKey(fmt.Sprintf("key-%d", i))
	}
	c.countKey("key-0")
	s := c.snapshot()
	if len(s.ByKey) != MaxTrackedKeys+1 || s.ByKey[OtherKeys] != 5 || s.ByKey["key-0"] != 2 {
		t.Errorf("%d keys, other %d, key-0 %d", len(s.ByKey), s.ByKey[OtherKeys], s.ByKey["key-0"])
	}
}
