package llmtest

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/junctionhq/junction/internal/testkit"
)

// sleepRecorder is a WithSleep function that records the delays instead of waiting.
type sleepRecorder struct {
	mu     sync.Mutex // guards slept
	slept  []time.Duration
	onCall func(d time.Duration) // optional, called on each sleep
}

func (r *sleepRecorder) sleep(ctx context.Context, d time.Duration) error {
	r.mu.Lock()
	r.slept = append(r.slept, d)
	r.mu.Unlock()
	if r.onCall != nil {
		r.onCall(d)
	}
	return ctx.Err()
}

func (r *sleepRecorder) take() []time.Duration {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := r.slept
	r.slept = nil
	return out
}

func TestLatencyReallyDelays(t *testing.T) {
	const latency = 40 * time.Millisecond
	m := New()
	t.Cleanup(m.Close)
	mustSet(t, m, Behavior{Latency: latency})
	start := time.Now()
	rec := serve(m, newRequest(t.Context(), openAI, "", "", testKey, chatBody(openAI, "hi", "")))
	if elapsed := time.Since(start); elapsed < latency {
		t.Errorf("answered after %s, want at least %s", elapsed, latency)
	}
	if rec.Code != http.StatusOK {
		t.Errorf("status %d", rec.Code)
	}
}

func TestJitter(t *testing.T) {
	const latency, jitter = 100 * time.Millisecond, 50 * time.Millisecond
	run := func(seed uint64, b Behavior) []time.Duration {
		var rec sleepRecorder
		m := New(WithSeed(seed), WithSleep(rec.sleep))
		t.Cleanup(m.Close)
		mustSet(t, m, b)
		for range 300 {
			serve(m, newRequest(t.Context(), openAI, "", "", testKey, chatBody(openAI, "hi", "")))
		}
		return rec.take()
	}
	delays := run(7, Behavior{Latency: latency, Jitter: jitter})
	if len(delays) != 300 {
		t.Fatalf("%d delays, want 300", len(delays))
	}
	lo, hi := slices.Min(delays), slices.Max(delays)
	if lo < latency-jitter || hi > latency+jitter {
		t.Errorf("delays in [%s, %s], want within [%s, %s]", lo, hi, latency-jitter, latency+jitter)
	}
	if lo > latency-jitter*8/10 || hi < latency+jitter*8/10 {
		t.Errorf("delays in [%s, %s] do not spread over the jitter range", lo, hi)
	}
	if again := run(7, Behavior{Latency: latency, Jitter: jitter}); !slices.Equal(delays, again) {
		t.Error("the same seed gave different delays")
	}
	if other := run(8, Behavior{Latency: latency, Jitter: jitter}); slices.Equal(delays, other) {
		t.Error("different seeds gave the same delays")
	}
	// Jitter larger than the latency never yields a negative delay.
	for _, d := range run(7, Behavior{Latency: time.Millisecond, Jitter: 10 * time.Millisecond}) {
		if d < 0 || d > 11*time.Millisecond {
			t.Fatalf("delay %s out of [0, 11ms]", d)
		}
	}
}

func TestStreamPacing(t *testing.T) {
	b := Behavior{Latency: 1 * time.Millisecond, TimeToFirstChunk: 2 * time.Millisecond, ChunkDelay: 3 * time.Millisecond, Reply: "a b"}
	ms := time.Millisecond

	t.Run("order of delays", func(t *testing.T) {
		var rec *httptest.ResponseRecorder // the response being served
		sleeper := &sleepRecorder{}
		// When the first-chunk delay starts, the 200 headers must already be
		// flushed and no event written.
		sleeper.onCall = func(d time.Duration) {
			if d == b.TimeToFirstChunk && (!rec.Flushed || rec.Code != http.StatusOK || rec.Body.Len() != 0) {
				t.Errorf("at the first-chunk delay: flushed=%v code=%d body=%q", rec.Flushed, rec.Code, rec.Body)
			}
		}
		m := New(WithSleep(sleeper.sleep))
		t.Cleanup(m.Close)
		mustSet(t, m, b)
		run := func(f format, extra string) []time.Duration {
			rec = httptest.NewRecorder()
			m.ServeHTTP(rec, newRequest(t.Context(), f, "", "", testKey, chatBody(f, "hi", extra)))
			if rec.Code != http.StatusOK {
				t.Fatalf("%s: status %d: %s", f, rec.Code, rec.Body)
			}
			return sleeper.take()
		}
		// events: role, "a", " b", finish, [DONE]
		want := []time.Duration{1 * ms, 2 * ms, 3 * ms, 3 * ms, 3 * ms, 3 * ms}
		if got := run(openAI, `,"stream":true`); !slices.Equal(got, want) {
			t.Errorf("openai delays %v, want %v", got, want)
		}
		// events: message_start, block start, ping, 2 deltas, block stop, message_delta, message_stop
		want = []time.Duration{1 * ms, 2 * ms, 3 * ms, 3 * ms, 3 * ms, 3 * ms, 3 * ms, 3 * ms, 3 * ms}
		if got := run(anthropic, `,"stream":true`); !slices.Equal(got, want) {
			t.Errorf("anthropic delays %v, want %v", got, want)
		}
		if got := run(openAI, ""); !slices.Equal(got, []time.Duration{1 * ms}) {
			t.Errorf("non-streaming delays %v, want only the latency", got)
		}
	})

	t.Run("real time", func(t *testing.T) {
		const ttfc, chunkDelay = 60 * time.Millisecond, 15 * time.Millisecond
		srv := StartServer(t)
		mustSet(t, srv.Mock, Behavior{TimeToFirstChunk: ttfc, ChunkDelay: chunkDelay, Reply: "a b c"})
		start := time.Now()
		resp := openStream(t, newRequest(t.Context(), openAI, srv.URL, "", testKey, chatBody(openAI, "hi", `,"stream":true`)))
		buf := make([]byte, 1)
		if _, err := io.ReadFull(resp.Body, buf); err != nil {
			t.Fatal(err)
		}
		firstByte := time.Since(start)
		s, err := readOpenAIStream(io.MultiReader(strings.NewReader(string(buf)), resp.Body))
		if err != nil || !s.Done {
			t.Fatalf("stream: %v %+v", err, s)
		}
		total := time.Since(start)
		if firstByte < ttfc {
			t.Errorf("first chunk after %s, want at least %s", firstByte, ttfc)
		}
		// role, 3 words, finish, [DONE]: 5 gaps after the first event
		if gaps := total - firstByte; gaps < 5*chunkDelay {
			t.Errorf("rest of the stream took %s, want at least %s", gaps, 5*chunkDelay)
		}
	})
}

func TestFailPercent(t *testing.T) {
	run := func(seed uint64) []int {
		m := New(WithSeed(seed))
		t.Cleanup(m.Close)
		mustSet(t, m, Behavior{FailPercent: 30})
		var statuses []int
		for range 400 {
			rec := serve(m, newRequest(t.Context(), openAI, "", "", testKey, chatBody(openAI, "hi", "")))
			statuses = append(statuses, rec.Code)
		}
		return statuses
	}
	statuses := run(42)
	failed := 0
	for _, s := range statuses {
		switch s {
		case http.StatusInternalServerError:
			failed++
		case http.StatusOK:
		default:
			t.Fatalf("unexpected status %d", s)
		}
	}
	if failed < 80 || failed > 160 { // 30% of 400 is 120
		t.Errorf("%d of 400 requests failed, want about 120", failed)
	}
	if !slices.Equal(statuses, run(42)) {
		t.Error("the same seed failed different requests")
	}

	t.Run("shapes", func(t *testing.T) {
		tests := []struct {
			status        int
			openAIType    string
			anthropicType string
		}{
			{0, "server_error", "api_error"},
			{503, "server_error", "api_error"},
			{529, "server_error", "overloaded_error"},
			{502, "server_error", "api_error"},
		}
		for _, tt := range tests {
			m := New()
			t.Cleanup(m.Close)
			mustSet(t, m, Behavior{FailPercent: 100, FailStatus: tt.status})
			wantStatus := max(tt.status, 500)
			rec := serve(m, newRequest(t.Context(), openAI, "", "", testKey, chatBody(openAI, "hi", "")))
			var oe oaError
			decodeJSON(t, rec.Body.Bytes(), &oe)
			if rec.Code != wantStatus || oe.Error == nil || oe.Error.Type != tt.openAIType {
				t.Errorf("openai %d: got %d %s", tt.status, rec.Code, rec.Body)
			}
			rec = serve(m, newRequest(t.Context(), anthropic, "", "", testKey, chatBody(anthropic, "hi", "")))
			var ae anError
			decodeJSON(t, rec.Body.Bytes(), &ae)
			if rec.Code != wantStatus || ae.Error == nil || ae.Error.Type != tt.anthropicType {
				t.Errorf("anthropic %d: got %d %s", tt.status, rec.Code, rec.Body)
			}
		}
	})
}

func TestRateLimit(t *testing.T) {
	t0 := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	var clock atomic.Pointer[time.Time]
	setClock := func(tm time.Time) { clock.Store(&tm) }
	setClock(t0)
	m := New(WithNow(func() time.Time { return *clock.Load() }))
	t.Cleanup(m.Close)

	call := func(f format) *httptest.ResponseRecorder {
		return serve(m, newRequest(t.Context(), f, "", "", testKey, chatBody(f, "hi", "")))
	}
	check := func(what string, rec *httptest.ResponseRecorder, status int, retryAfter, retryAfterMS string) {
		t.Helper()
		if rec.Code != status {
			t.Fatalf("%s: status %d, want %d: %s", what, rec.Code, status, rec.Body)
		}
		if got := rec.Header().Get("Retry-After"); got != retryAfter {
			t.Errorf("%s: retry-after %q, want %q", what, got, retryAfter)
		}
		if got := rec.Header().Get("Retry-After-Ms"); got != retryAfterMS {
			t.Errorf("%s: retry-after-ms %q, want %q", what, got, retryAfterMS)
		}
	}

	t.Run("window", func(t *testing.T) {
		mustSet(t, m, Behavior{RateLimitWindows: []Window{{Start: t0.Add(time.Second), Duration: 10 * time.Second}}})
		setClock(t0)
		check("before", call(openAI), 200, "", "")
		setClock(t0.Add(time.Second))
		check("at start", call(openAI), 429, "10", "10000")
		setClock(t0.Add(7*time.Second + 500*time.Millisecond))
		rec := call(anthropic)
		check("inside", rec, 429, "4", "3500")
		var ae anError
		decodeJSON(t, rec.Body.Bytes(), &ae)
		if ae.Error == nil || ae.Error.Type != "rate_limit_error" {
			t.Errorf("anthropic 429 body %s", rec.Body)
		}
		setClock(t0.Add(11 * time.Second))
		check("at end", call(openAI), 200, "", "")
	})

	t.Run("next N", func(t *testing.T) {
		mustSet(t, m, Behavior{RateLimitNext: 2, RetryAfter: 1500 * time.Millisecond})
		rec := call(openAI)
		check("first", rec, 429, "2", "1500")
		var oe oaError
		decodeJSON(t, rec.Body.Bytes(), &oe)
		if oe.Error == nil || oe.Error.Code == nil || *oe.Error.Code != "rate_limit_exceeded" {
			t.Errorf("openai 429 body %s", rec.Body)
		}
		check("second", call(anthropic), 429, "2", "1500")
		check("third", call(openAI), 200, "", "")
		// Setting the behaviour again starts the count afresh.
		mustSet(t, m, Behavior{RateLimitNext: 1})
		check("after reset", call(openAI), 429, "1", "1000")
		check("after reset, second", call(openAI), 200, "", "")
	})
}

func TestPerKeyBehavior(t *testing.T) {
	m := New()
	t.Cleanup(m.Close)
	mustSet(t, m, Behavior{Reply: "default"})
	if err := m.SetBehavior(otherKey, Behavior{FailPercent: 100, FailStatus: 503}); err != nil {
		t.Fatal(err)
	}
	statusOf := func(key string) int {
		return serve(m, newRequest(t.Context(), openAI, "", "", key, chatBody(openAI, "hi", ""))).Code
	}
	if got := statusOf(testKey); got != 200 {
		t.Errorf("default key: %d", got)
	}
	if got := statusOf(otherKey); got != 503 {
		t.Errorf("overridden key: %d", got)
	}
	m.ClearBehavior(otherKey)
	if got := statusOf(otherKey); got != 200 {
		t.Errorf("cleared key: %d", got)
	}
}

func TestChangeWhileServing(t *testing.T) {
	srv := StartServer(t)
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for range 4 {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				for _, f := range []format{openAI, anthropic} {
					req := newRequest(context.Background(), f, srv.URL, "", testKey, chatBody(f, "hi", `,"stream":true`))
					resp, err := testClient.Do(req)
					if err != nil {
						t.Errorf("request: %v", err)
						return
					}
					_, _ = io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
				}
			}
		})
	}
	for i := range 200 {
		b := Behavior{Reply: strings.Repeat("x ", i%7+1), Script: testScript[:i%3+1], RateLimitNext: i % 2}
		if err := srv.SetDefault(b); err != nil {
			t.Fatal(err)
		}
		if err := srv.SetBehavior(testKey, b); err != nil {
			t.Fatal(err)
		}
		if i%10 == 0 {
			srv.ClearBehavior(testKey)
			_ = srv.Stats()
			_ = srv.Requests()
		}
	}
	close(stop)
	wg.Wait()
}

// newHangingServer starts a mock that hangs every request, and a client
// with a transport of its own. leakCheck, called after srv.Close, closes the
// client's idle connections and checks that the goroutines are back to what
// they were before.
func newHangingServer(t *testing.T) (srv *Server, client *http.Client, leakCheck func()) {
	t.Helper()
	baseline := runtime.NumGoroutine()
	transport := &http.Transport{}
	srv = NewServer()
	mustSet(t, srv.Mock, Behavior{Hang: true})
	return srv, &http.Client{Transport: transport}, func() {
		transport.CloseIdleConnections()
		testkit.GoroutinesBackTo(t, baseline, 5*time.Second)
	}
}

// hangingRequest starts a request that the mock hangs; it returns the cancel func and
// a channel receiving the client's error.
func hangingRequest(t *testing.T, client *http.Client, srv *Server, f format) (context.CancelFunc, <-chan error) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	errc := make(chan error, 1)
	req := newRequest(ctx, f, srv.URL, "", testKey, chatBody(f, "hi", ""))
	go func() {
		resp, err := client.Do(req)
		if err == nil {
			_, err = io.ReadAll(resp.Body)
			resp.Body.Close()
			if err == nil {
				err = errors.New("the request was answered: " + resp.Status)
			}
		}
		errc <- err
	}()
	testkit.Eventually(t, 5*time.Second, "the request to reach the mock", func() bool { return srv.InFlight() == 1 })
	return cancel, errc
}

func TestHangUntilClientCancels(t *testing.T) {
	srv, client, leakCheck := newHangingServer(t)

	for _, f := range []format{openAI, anthropic} {
		cancel, errc := hangingRequest(t, client, srv, f)
		select {
		case err := <-errc:
			t.Fatalf("%s: the hanging request returned early: %v", f, err)
		default:
		}
		cancel()
		if err := <-errc; !errors.Is(err, context.Canceled) {
			t.Errorf("%s: client error %v, want context.Canceled", f, err)
		}
		testkit.Eventually(t, 5*time.Second, "the handler to return", func() bool { return srv.InFlight() == 0 })
	}
	if got := srv.Stats().Canceled; got != 2 {
		t.Errorf("canceled %d, want 2", got)
	}
	srv.Close()
	leakCheck()
}

func TestHangEndedByClose(t *testing.T) {
	srv, client, leakCheck := newHangingServer(t)
	_, errc := hangingRequest(t, client, srv, openAI)

	srv.Close() // must not wait for the client
	if err := <-errc; err == nil {
		t.Error("the client got no error when the mock closed")
	}
	if got := srv.Stats().Cut; got != 1 {
		t.Errorf("cut %d, want 1", got)
	}
	srv.Close() // idempotent
	leakCheck()
}

func TestLatencyEndedByClose(t *testing.T) {
	srv := NewServer()
	mustSet(t, srv.Mock, Behavior{Latency: time.Hour})
	_, errc := hangingRequest(t, testClient, srv, anthropic)
	srv.Close()
	if err := <-errc; err == nil {
		t.Error("the client got no error when the mock closed")
	}
}

func TestCloseAfterChunks(t *testing.T) {
	srv := StartServer(t)
	mustSet(t, srv.Mock, Behavior{CloseAfterChunks: 3, Reply: "one two three four five"})

	t.Run("openai", func(t *testing.T) {
		resp := openStream(t, newRequest(t.Context(), openAI, srv.URL, "", testKey, chatBody(openAI, "hi", `,"stream":true`)))
		s, err := readOpenAIStream(resp.Body)
		if !errors.Is(err, io.ErrUnexpectedEOF) {
			t.Errorf("stream error %v, want unexpected EOF", err)
		}
		if s.Done || s.Events != 3 || s.Content != "one two" {
			t.Errorf("got %+v before the cut", s)
		}
	})
	t.Run("anthropic", func(t *testing.T) {
		resp := openStream(t, newRequest(t.Context(), anthropic, srv.URL, "", testKey, chatBody(anthropic, "hi", `,"stream":true`)))
		s, err := readAnthropicStream(resp.Body)
		if !errors.Is(err, io.ErrUnexpectedEOF) {
			t.Errorf("stream error %v, want unexpected EOF", err)
		}
		if s.Stopped || len(s.Events) != 3 {
			t.Errorf("got events %v before the cut", s.Events)
		}
	})
	t.Run("not streaming", func(t *testing.T) {
		status, _, raw := do(t, newRequest(t.Context(), openAI, srv.URL, "", testKey, chatBody(openAI, "hi", "")))
		if status != http.StatusOK {
			t.Errorf("status %d: %s", status, raw)
		}
	})
	if got := srv.Stats().Cut; got != 2 {
		t.Errorf("cut %d, want 2", got)
	}
}

func TestErrorAfterChunksEndsTheStreamWithAnErrorEvent(t *testing.T) {
	srv := StartServer(t)
	mustSet(t, srv.Mock, Behavior{ErrorAfterChunks: 2, FailStatus: 529, Reply: "one two three four five"})
	cases := []struct {
		name, want, notWant string
		req                 *http.Request
		array               bool // the body is one JSON array
	}{
		{"openai", "data: {\"error\":{\"message\":\"Overloaded\"", "[DONE]",
			newRequest(t.Context(), openAI, srv.URL, "", testKey, chatBody(openAI, "hi", `,"stream":true`)), false},
		{"anthropic", "event: error\ndata: {\"type\":\"error\",\"error\":{\"type\":\"overloaded_error\"", "message_stop",
			newRequest(t.Context(), anthropic, srv.URL, "", testKey, chatBody(anthropic, "hi", `,"stream":true`)), false},
		{"gemini sse", "data: {\"error\":{\"code\":529", "STOP",
			newGeminiRequest(t.Context(), srv.URL, geminiPath(geminiModel, "streamGenerateContent")+"?alt=sse", testKey, geminiBody("hi", "")), false},
		{"gemini array", ",\r\n{\"error\":{\"code\":529", "STOP",
			newGeminiRequest(t.Context(), srv.URL, geminiPath(geminiModel, "streamGenerateContent"), testKey, geminiBody("hi", "")), true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			status, _, raw := do(t, c.req)
			body := string(raw)
			if status != http.StatusOK || !strings.Contains(body, c.want) || strings.Contains(body, c.notWant) {
				t.Fatalf("status %d, body:\n%s", status, body)
			}
			var elems []json.RawMessage
			if c.array && (json.Unmarshal(raw, &elems) != nil || len(elems) != 3) {
				t.Errorf("not an array of two chunks and the error:\n%s", body)
			}
		})
	}
	status, _, raw := do(t, newRequest(t.Context(), openAI, srv.URL, "", testKey, chatBody(openAI, "hi", "")))
	if status != http.StatusOK {
		t.Errorf("not streaming: status %d: %s", status, raw)
	}
	if got := srv.Stats(); got.StreamErrors != 4 || got.Cut != 0 {
		t.Errorf("stream errors %d, cut %d; want 4, 0", got.StreamErrors, got.Cut)
	}
}

func TestClosedMockAnswers503(t *testing.T) {
	m := New()
	m.Close()
	m.Close()
	rec := serve(m, newRequest(t.Context(), anthropic, "", "", testKey, chatBody(anthropic, "hi", "")))
	var ae anError
	decodeJSON(t, rec.Body.Bytes(), &ae)
	if rec.Code != http.StatusServiceUnavailable || ae.Error == nil || ae.Error.Type != "api_error" {
		t.Errorf("got %d %s", rec.Code, rec.Body)
	}
}

func TestShutdownLetsRequestsFinish(t *testing.T) {
	srv := NewServer()
	mustSet(t, srv.Mock, Behavior{Latency: 50 * time.Millisecond})
	done := make(chan int, 1)
	go func() {
		resp, err := testClient.Do(newRequest(context.Background(), openAI, srv.URL, "", testKey, chatBody(openAI, "hi", "")))
		if err != nil {
			done <- 0
			return
		}
		resp.Body.Close()
		done <- resp.StatusCode
	}()
	testkit.Eventually(t, 5*time.Second, "the request to reach the mock", func() bool { return srv.InFlight() == 1 })
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(ctx); err != nil {
		t.Errorf("Shutdown: %v", err)
	}
	if status := <-done; status != http.StatusOK {
		t.Errorf("in-flight request got %d, want 200", status)
	}
}

func TestInjectedSleepEndedByClose(t *testing.T) {
	blocking := func(ctx context.Context, d time.Duration) error {
		<-ctx.Done()
		return ctx.Err()
	}
	srv := NewServer(WithSleep(blocking))
	mustSet(t, srv.Mock, Behavior{Latency: time.Second})
	_, errc := hangingRequest(t, testClient, srv, openAI)
	srv.Close()
	if err := <-errc; err == nil {
		t.Error("the client got no error when the mock closed")
	}
	if got := srv.Stats().Cut; got != 1 {
		t.Errorf("cut %d, want 1", got)
	}
}

func TestIDs(t *testing.T) {
	m := New(WithSeed(3))
	t.Cleanup(m.Close)
	seen := map[string]bool{}
	for range 3 {
		for _, f := range []format{openAI, anthropic} {
			rec := serve(m, newRequest(t.Context(), f, "", "", testKey, chatBody(f, "hi", "")))
			var resp struct {
				ID string `json:"id"`
			}
			decodeJSON(t, rec.Body.Bytes(), &resp)
			reqID := rec.Header().Get("X-Request-Id") + rec.Header().Get("Request-Id")
			for _, id := range []string{resp.ID, reqID} {
				suffix := id[strings.LastIndexAny(id, "-_")+1:]
				if len(suffix) != idLength || seen[suffix] {
					t.Errorf("id %q is malformed or repeats", id)
				}
				seen[suffix] = true
			}
		}
	}
	// The same seed replays the same ids.
	again := New(WithSeed(3))
	t.Cleanup(again.Close)
	rec := serve(again, newRequest(t.Context(), openAI, "", "", testKey, chatBody(openAI, "hi", "")))
	var resp struct {
		ID string `json:"id"`
	}
	decodeJSON(t, rec.Body.Bytes(), &resp)
	if !seen[strings.TrimPrefix(resp.ID, "chatcmpl-")] {
		t.Errorf("id %q not replayed by the same seed", resp.ID)
	}
}
