package gateway

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/junctionhq/junction/internal/testkit"
	"github.com/rs/zerolog"
)

const testAdminKey = "test-admin-key-0123456789"

type testGateway struct {
	*Gateway
	URL  string
	Logs *testkit.SyncBuffer
	done chan error
}

// startGateway runs a gateway on 127.0.0.1:0 over SQLite in a temp dir.
// mutate adjusts the config; routes may be added by the caller before use.
func startGateway(t *testing.T, mutate func(*Config)) *testGateway {
	t.Helper()
	return startGatewayWith(t, mutate, Options{})
}

// startGatewayWith is startGateway with options (a clock, say); the logger,
// version and terminal are the test's own.
func startGatewayWith(t *testing.T, mutate func(*Config), opts Options) *testGateway {
	t.Helper()
	cfg := Config{DataDir: t.TempDir(), AdminKey: testAdminKey}
	if mutate != nil {
		mutate(&cfg)
	}
	logs := &testkit.SyncBuffer{}
	opts.Logger, opts.Version, opts.Terminal = zerolog.New(logs), "test", io.Discard
	g, err := New(context.Background(), cfg, opts)
	if err != nil {
		t.Fatal(err)
	}
	return serveGateway(t, g, logs, 5*time.Second)
}

// serveGateway serves g on a loopback port until t ends, then shuts it down
// within the given time and checks that Serve returned cleanly.
func serveGateway(t *testing.T, g *Gateway, logs *testkit.SyncBuffer, within time.Duration) *testGateway {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	tg := &testGateway{Gateway: g, URL: "http://" + ln.Addr().String(), Logs: logs, done: make(chan error, 1)}
	go func() { tg.done <- g.Serve(ln) }()
	t.Cleanup(func() {
		if err := <-tg.done; err != nil {
			t.Errorf("serve: %v", err)
		}
	})
	testkit.ShutdownAtEnd(t, within, g.Shutdown) // cleanups run last first: shut down, then wait for Serve
	return tg
}

func do(t *testing.T, req *http.Request) (*http.Response, []byte) {
	t.Helper()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, body
}

func get(t *testing.T, url string, header ...string) (*http.Response, []byte) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, url, nil)
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	return do(t, req)
}

// errorJSON decodes an OpenAI-shaped error body.
func errorJSON(t *testing.T, body []byte) errorDetail {
	t.Helper()
	var e errorBody
	if err := json.Unmarshal(body, &e); err != nil || e.Error.Message == "" {
		t.Fatalf("not an error body: %s (%v)", body, err)
	}
	return e.Error
}

func TestHealthAndReadiness(t *testing.T) {
	t.Parallel()
	g := startGateway(t, nil)
	resp, body := get(t, g.URL+"/healthz")
	if resp.StatusCode != 200 || !strings.Contains(string(body), `"ok"`) {
		t.Fatalf("healthz: %d %s", resp.StatusCode, body)
	}
	resp, body = get(t, g.URL+"/readyz")
	if resp.StatusCode != 200 {
		t.Fatalf("readyz: %d %s", resp.StatusCode, body)
	}
	var ready readyBody
	if err := json.Unmarshal(body, &ready); err != nil {
		t.Fatal(err)
	}
	if ready.Status != "ok" || ready.Checks["store"] != "ok" {
		t.Fatalf("readyz body: %s", body)
	}
}

func TestReadinessFailsWhenStoreIsDown(t *testing.T) {
	t.Parallel()
	g := startGateway(t, nil)
	if err := g.store.Close(); err != nil {
		t.Fatal(err)
	}
	resp, body := get(t, g.URL+"/readyz")
	if resp.StatusCode != http.StatusServiceUnavailable || !strings.Contains(string(body), `"unavailable"`) {
		t.Fatalf("readyz with a closed store: %d %s", resp.StatusCode, body)
	}
	if resp, _ := get(t, g.URL+"/healthz"); resp.StatusCode != 200 {
		t.Fatalf("healthz must not depend on the store, got %d", resp.StatusCode)
	}
}

func TestMetricsExposition(t *testing.T) {
	t.Parallel()
	g := startGateway(t, nil)
	get(t, g.URL+"/healthz")
	get(t, g.URL+"/no/such/path/12345")
	resp, body := get(t, g.URL+"/metrics")
	if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/plain") {
		t.Fatalf("metrics: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	text := string(body)
	for _, want := range []string{
		"go_goroutines ",
		"process_resident_memory_bytes ",
		`junction_http_requests_total{method="GET",route="/healthz",status="200"} 1`,
		`junction_http_requests_total{method="GET",route="unmatched",status="404"} 1`,
		`junction_http_request_duration_seconds_bucket{method="GET",route="/healthz",status="200",le=`,
		"junction_http_requests_in_flight ",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("metrics lack %q", want)
		}
	}
	if strings.Contains(text, "12345") {
		t.Error("raw paths leaked into metric labels")
	}
}

func TestRequestID(t *testing.T) {
	t.Parallel()
	g := startGateway(t, nil)
	resp, _ := get(t, g.URL+"/healthz")
	id := resp.Header.Get(RequestIDHeader)
	if len(id) != 32 {
		t.Fatalf("generated request id %q", id)
	}
	resp, _ = get(t, g.URL+"/healthz", RequestIDHeader, "client-chosen-id.42")
	if got := resp.Header.Get(RequestIDHeader); got != "client-chosen-id.42" {
		t.Fatalf("caller's id not echoed: %q", got)
	}
	for _, bad := range []string{strings.Repeat("x", 200), "has space", "tab\there"} {
		resp, _ = get(t, g.URL+"/healthz", RequestIDHeader, bad)
		if got := resp.Header.Get(RequestIDHeader); got == bad || len(got) != 32 {
			t.Errorf("bad id %q: got %q, want a fresh one", bad, got)
		}
	}
}

func TestAccessLog(t *testing.T) {
	t.Parallel()
	g := startGateway(t, nil)
	req, _ := http.NewRequest(http.MethodPost, g.URL+"/admin/v1/status?key=secret-in-query", strings.NewReader(`{"secret":"body-secret"}`))
	req.Header.Set("Authorization", "Bearer "+testAdminKey)
	req.Header.Set(RequestIDHeader, "log-test-id")
	do(t, req)
	var line map[string]any
	for _, l := range strings.Split(strings.TrimSpace(g.Logs.String()), "\n") {
		var m map[string]any
		if json.Unmarshal([]byte(l), &m) == nil && m["message"] == "request" && m["request_id"] == "log-test-id" {
			line = m
		}
	}
	if line == nil {
		t.Fatalf("no access log line in:\n%s", g.Logs.String())
	}
	for _, k := range []string{"method", "path", "status", "bytes", "duration_ms", "request_id"} {
		if _, ok := line[k]; !ok {
			t.Errorf("access log lacks %q: %v", k, line)
		}
	}
	if line["path"] != "/admin/v1/status" || line["method"] != "POST" || line["status"] != float64(405) {
		t.Errorf("access log fields: %v", line)
	}
	logs := g.Logs.String()
	for _, secret := range []string{testAdminKey, "secret-in-query", "body-secret"} {
		if strings.Contains(logs, secret) {
			t.Errorf("log leaks %q", secret)
		}
	}
}

func TestBodyLimit(t *testing.T) {
	t.Parallel()
	g := startGateway(t, func(c *Config) { c.HTTP.MaxBodyBytes = 1024 })
	g.router.Post("/test/echo", handlerFunc(func(w http.ResponseWriter, r *http.Request) error {
		var v map[string]any
		if err := decodeJSON(r, &v); err != nil {
			return err
		}
		writeJSON(w, 200, v)
		return nil
	}).ServeHTTP)

	small := `{"a":"` + strings.Repeat("x", 100) + `"}`
	big := `{"a":"` + strings.Repeat("x", 5000) + `"}`

	resp, body := do(t, mustRequest(t, http.MethodPost, g.URL+"/test/echo", strings.NewReader(small)))
	if resp.StatusCode != 200 {
		t.Fatalf("small body: %d %s", resp.StatusCode, body)
	}
	// Declared length over the limit: refused before the handler runs.
	resp, body = do(t, mustRequest(t, http.MethodPost, g.URL+"/test/echo", strings.NewReader(big)))
	if resp.StatusCode != http.StatusRequestEntityTooLarge || errorJSON(t, body).Code != "request_too_large" {
		t.Fatalf("big body: %d %s", resp.StatusCode, body)
	}
	// Chunked (no declared length): cut while reading.
	resp, body = do(t, mustRequest(t, http.MethodPost, g.URL+"/test/echo", io.MultiReader(strings.NewReader(big))))
	if resp.StatusCode != http.StatusRequestEntityTooLarge || errorJSON(t, body).Code != "request_too_large" {
		t.Fatalf("big chunked body: %d %s", resp.StatusCode, body)
	}
	// A big body on any route is refused the same way.
	resp, body = do(t, mustRequest(t, http.MethodPost, g.URL+"/admin/v1/status", strings.NewReader(big)))
	if resp.StatusCode != http.StatusRequestEntityTooLarge {
		t.Fatalf("big body to admin: %d %s", resp.StatusCode, body)
	}
}

func mustRequest(t *testing.T, method, url string, body io.Reader) *http.Request {
	t.Helper()
	req, err := http.NewRequest(method, url, body)
	if err != nil {
		t.Fatal(err)
	}
	return req
}

func TestPanicRecovery(t *testing.T) {
	t.Parallel()
	g := startGateway(t, nil)
	g.router.Get("/test/panic", func(http.ResponseWriter, *http.Request) { panic("boom") })
	g.router.Get("/test/panic-mid-stream", func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(200)
		_, _ = w.Write([]byte("partial"))
		http.NewResponseController(w).Flush()
		panic("late boom")
	})
	for range 3 {
		resp, body := get(t, g.URL+"/test/panic")
		if resp.StatusCode != 500 || errorJSON(t, body).Type != "server_error" {
			t.Fatalf("panic: %d %s", resp.StatusCode, body)
		}
		if resp.Header.Get(RequestIDHeader) == "" {
			t.Fatal("500 lacks the request id")
		}
	}
	// A panic after the response started cuts the connection: the client
	// must see an error, not a clean short body.
	resp, err := http.Get(g.URL + "/test/panic-mid-stream")
	if err == nil {
		_, err = io.ReadAll(resp.Body)
		resp.Body.Close()
	}
	if err == nil {
		t.Fatal("a panic mid-response reached the client as a complete response")
	}
	if resp, _ := get(t, g.URL+"/healthz"); resp.StatusCode != 200 {
		t.Fatal("server stopped serving after panics")
	}
	logs := g.Logs.String()
	if !strings.Contains(logs, "handler panicked") || !strings.Contains(logs, "boom") || !strings.Contains(logs, "stack") {
		t.Fatalf("panic not logged with its stack:\n%s", logs)
	}
}

func TestAdminAuth(t *testing.T) {
	t.Parallel()
	g := startGateway(t, nil)
	cases := []struct {
		name, header string
		want         int
	}{
		{"missing", "", 401},
		{"wrong scheme", "Basic " + testAdminKey, 401},
		{"wrong key", "Bearer not-the-key", 401},
		{"empty bearer", "Bearer ", 401},
		{"right key", "Bearer " + testAdminKey, 200},
		{"scheme case", "bearer " + testAdminKey, 200},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			resp, body := get(t, g.URL+"/admin/v1/status", "Authorization", tc.header)
			if resp.StatusCode != tc.want {
				t.Fatalf("status %d, want %d: %s", resp.StatusCode, tc.want, body)
			}
			if tc.want == 401 {
				if e := errorJSON(t, body); e.Type != "authentication_error" {
					t.Fatalf("error body: %s", body)
				}
				return
			}
			var st struct {
				Version string
				Store   struct {
					Driver        string
					SchemaVersion int `json:"schema_version"`
				}
			}
			if err := json.Unmarshal(body, &st); err != nil || st.Store.Driver != "sqlite" || st.Store.SchemaVersion < 1 {
				t.Fatalf("status body: %s (%v)", body, err)
			}
		})
	}
	// Unknown admin routes still need the key: no probing without it.
	if resp, _ := get(t, g.URL+"/admin/v1/nothing-here"); resp.StatusCode != 401 {
		t.Fatalf("unknown admin route without key: %d", resp.StatusCode)
	}
}

func TestGeneratedAdminKeyIsShownOnceAndPersists(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	start := func() (*Gateway, string) {
		var term bytes.Buffer
		g, err := New(context.Background(), Config{DataDir: dir}, Options{Logger: zerolog.Nop(), Terminal: &term})
		if err != nil {
			t.Fatal(err)
		}
		return g, term.String()
	}
	g1, shown := start()
	var key string
	for _, f := range strings.Fields(shown) {
		if strings.HasPrefix(f, "jadm-") {
			key = f
		}
	}
	if key == "" {
		t.Fatalf("no key printed: %q", shown)
	}
	if !g1.admin.Verify(key) {
		t.Fatal("printed key does not work")
	}
	if err := g1.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	g2, shownAgain := start()
	defer g2.Shutdown(context.Background())
	if shownAgain != "" {
		t.Fatalf("key shown again on restart: %q", shownAgain)
	}
	if !g2.admin.Verify(key) {
		t.Fatal("key lost across restart")
	}
}

// Shutdown waits for an in-flight stream to finish, then flushes buffered
// writers before the store closes.
func TestShutdownDrainsStreamsThenFlushesThenClosesStore(t *testing.T) {
	g := startGateway(t, nil)
	started := make(chan struct{})
	g.router.Get("/test/stream", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		rc := http.NewResponseController(w)
		close(started)
		for i := range 5 {
			fmt.Fprintf(w, "data: %d\n\n", i)
			_ = rc.Flush()
			time.Sleep(60 * time.Millisecond)
		}
		fmt.Fprint(w, "data: [DONE]\n\n")
	})
	var order []string
	var mu sync.Mutex
	g.OnShutdown(func(ctx context.Context) error {
		mu.Lock()
		defer mu.Unlock()
		// The store must still be open while flushing.
		if err := g.store.Ping(ctx); err != nil {
			order = append(order, "flush-without-store")
		} else {
			order = append(order, "flush")
		}
		return nil
	})

	got := make(chan string, 1)
	go func() {
		resp, err := http.Get(g.URL + "/test/stream")
		if err != nil {
			got <- err.Error()
			return
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		got <- string(b)
	}()
	<-started
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := g.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	body := <-got
	mu.Lock()
	defer mu.Unlock()
	if !strings.HasSuffix(body, "data: [DONE]\n\n") {
		t.Fatalf("stream cut by shutdown: %q", body)
	}
	if len(order) != 1 || order[0] != "flush" {
		t.Fatalf("flush order: %v", order)
	}
	if err := g.store.Ping(context.Background()); err == nil {
		t.Fatal("store still open after shutdown")
	}
	// New connections are refused.
	if _, err := http.Get(g.URL + "/healthz"); err == nil {
		t.Fatal("gateway still accepting after shutdown")
	}
}

// At the shutdown deadline, requests still running are cancelled through
// their context, so a stream can finish cleanly instead of hanging.
func TestShutdownDeadlineCancelsLongStreams(t *testing.T) {
	g := startGateway(t, nil)
	started := make(chan struct{})
	cancelled := make(chan struct{})
	g.router.Get("/test/forever", func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(200)
		http.NewResponseController(w).Flush()
		close(started)
		<-r.Context().Done()
		close(cancelled)
	})
	go func() {
		if resp, err := http.Get(g.URL + "/test/forever"); err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
	}()
	<-started
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	begin := time.Now()
	_ = g.Shutdown(ctx)
	select {
	case <-cancelled:
	case <-time.After(5 * time.Second):
		t.Fatal("long stream's context was not cancelled at the deadline")
	}
	if d := time.Since(begin); d > 3*time.Second {
		t.Fatalf("shutdown took %v", d)
	}
}

func TestNotFoundAndMethodNotAllowedAreJSON(t *testing.T) {
	t.Parallel()
	g := startGateway(t, nil)
	resp, body := get(t, g.URL+"/nope")
	if resp.StatusCode != 404 || errorJSON(t, body).Code != "not_found" {
		t.Fatalf("404: %d %s", resp.StatusCode, body)
	}
	resp, body = do(t, mustRequest(t, http.MethodPost, g.URL+"/healthz", nil))
	if resp.StatusCode != 405 || errorJSON(t, body).Code != "method_not_allowed" {
		t.Fatalf("405: %d %s", resp.StatusCode, body)
	}
}
