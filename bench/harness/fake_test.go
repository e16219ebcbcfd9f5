package harness

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

// fakeProvider stands in for the mock provider: an OpenAI chat completions
// endpoint answering JSON or, when the body asks for it, an SSE stream of
// chunks chunkDelay apart. It records the largest number of requests it saw
// in flight at once.
type fakeProvider struct {
	chunks     int
	chunkDelay time.Duration

	mu          sync.Mutex // guards inFlight, maxInFlight and lastAuth
	inFlight    int
	maxInFlight int
	lastAuth    string
}

func (f *fakeProvider) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	f.inFlight++
	f.maxInFlight = max(f.maxInFlight, f.inFlight)
	f.lastAuth = r.Header.Get("Authorization")
	f.mu.Unlock()
	defer func() {
		f.mu.Lock()
		f.inFlight--
		f.mu.Unlock()
	}()

	if r.Method != http.MethodPost || r.URL.Path != ChatCompletionsPath {
		http.NotFound(w, r)
		return
	}
	var body struct {
		Model  string `json:"model"`
		Stream bool   `json:"stream"`
	}
	if err := json.NewDecoder(r.Body).Decode(&body); err != nil {
		http.Error(w, `{"error":{"message":"bad json"}}`, http.StatusBadRequest)
		return
	}
	if !body.Stream {
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"id":"chatcmpl-1","object":"chat.completion","model":%q,"choices":[{"index":0,"message":{"role":"assistant","content":"hello"},"finish_reason":"stop"}]}`, body.Model)
		return
	}
	w.Header().Set("Content-Type", "text/event-stream")
	flusher := w.(http.Flusher)
	for i := range f.chunks {
		if i > 0 && f.chunkDelay > 0 {
			select {
			case <-time.After(f.chunkDelay):
			case <-r.Context().Done():
				return
			}
		}
		fmt.Fprintf(w, "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"w%d \"}}]}\n\n", i)
		flusher.Flush()
	}
	io.WriteString(w, "data: [DONE]\n\n")
}

func (f *fakeProvider) max() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.maxInFlight
}

func (f *fakeProvider) auth() string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.lastAuth
}

// startServer serves h on a loopback httptest server closed at cleanup.
func startServer(t *testing.T, h http.Handler) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv
}

// testRequest is a small chat completion request.
func testRequest(t *testing.T, stream bool) Request {
	t.Helper()
	body, err := SetStream([]byte(`{"model":"gpt-4o-mini","messages":[{"role":"user","content":"hi"}]}`), stream)
	if err != nil {
		t.Fatal(err)
	}
	return Request{Path: ChatCompletionsPath, Body: body, APIKey: "jk-test", Stream: stream}
}

// checkLatency asserts a latency distribution is internally consistent.
func checkLatency(t *testing.T, name string, l Latency) {
	t.Helper()
	if l.MinMicros <= 0 {
		t.Errorf("%s: min latency %vµs, want > 0", name, l.MinMicros)
	}
	if !(l.MinMicros <= l.P50Micros && l.P50Micros <= l.P90Micros && l.P90Micros <= l.P99Micros && l.P99Micros <= l.MaxMicros) {
		t.Errorf("%s: percentiles out of order: min %v p50 %v p90 %v p99 %v max %v",
			name, l.MinMicros, l.P50Micros, l.P90Micros, l.P99Micros, l.MaxMicros)
	}
	if l.MeanMicros < l.MinMicros || l.MeanMicros > l.MaxMicros {
		t.Errorf("%s: mean %v outside [min %v, max %v]", name, l.MeanMicros, l.MinMicros, l.MaxMicros)
	}
	if l.MaxMicros > 5e6 {
		t.Errorf("%s: max latency %vµs is implausible for a loopback fake", name, l.MaxMicros)
	}
}

// wantErr fails t unless err is nil when want is "" and otherwise an error
// whose message contains want; call names what returned err.
func wantErr(t *testing.T, call string, err error, want string) {
	t.Helper()
	switch {
	case want == "" && err != nil:
		t.Fatalf("%s = %v, want nil", call, err)
	case want != "" && (err == nil || !strings.Contains(err.Error(), want)):
		t.Fatalf("%s = %v, want an error containing %q", call, err, want)
	}
}
