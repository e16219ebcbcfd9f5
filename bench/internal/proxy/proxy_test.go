package proxy

import (
	"bufio"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

func TestNewRefusesNonLoopbackUpstream(t *testing.T) {
	for _, upstream := range []string{"http://10.0.0.1:8080", "https://api.openai.com", "http://0.0.0.0:80", "not a url"} {
		if _, err := New(upstream, Options{}); err == nil {
			t.Errorf("New(%q) = nil error, want a refusal", upstream)
		}
	}
	if _, err := New("http://127.0.0.1:1", Options{MaxIdleConnsPerHost: -1}); err == nil {
		t.Error("New with a negative MaxIdleConnsPerHost = nil error, want one")
	}
}

func TestNewTransportDefaults(t *testing.T) {
	tr := NewTransport(Options{})
	if tr.MaxIdleConnsPerHost != DefaultMaxIdleConnsPerHost {
		t.Errorf("MaxIdleConnsPerHost = %d, want %d", tr.MaxIdleConnsPerHost, DefaultMaxIdleConnsPerHost)
	}
	if tr.Proxy != nil {
		t.Error("transport must not use an environment proxy")
	}
	if got := NewTransport(Options{MaxIdleConnsPerHost: 64}).MaxIdleConnsPerHost; got != 64 {
		t.Errorf("MaxIdleConnsPerHost = %d, want 64", got)
	}
}

func TestProxyForwardsRequestAndResponse(t *testing.T) {
	upstream := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("X-Seen-Path", r.URL.RequestURI())
		w.Header().Set("X-Seen-Auth", r.Header.Get("Authorization"))
		w.WriteHeader(http.StatusCreated)
		_, _ = w.Write(body)
	}))
	t.Cleanup(upstream.Close)

	p, err := New(upstream.URL, Options{})
	if err != nil {
		t.Fatal(err)
	}
	front := httptest.NewServer(p)
	t.Cleanup(front.Close)

	req, err := http.NewRequest(http.MethodPost, front.URL+"/v1/chat/completions?x=1", strings.NewReader(`{"model":"m"}`))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer k")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)

	if resp.StatusCode != http.StatusCreated {
		t.Errorf("status = %d, want 201", resp.StatusCode)
	}
	if string(body) != `{"model":"m"}` {
		t.Errorf("body = %q, want the request echoed", body)
	}
	if got := resp.Header.Get("X-Seen-Path"); got != "/v1/chat/completions?x=1" {
		t.Errorf("upstream saw path %q", got)
	}
	if got := resp.Header.Get("X-Seen-Auth"); got != "Bearer k" {
		t.Errorf("upstream saw Authorization %q", got)
	}
}

// TestProxyStreamsEvents checks that an SSE event reaches the client before
// the upstream finishes the response, i.e. the proxy flushes as it copies.
func TestProxyStreamsEvents(t *testing.T) {
	release := make(chan struct{})
	upstream := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		_, _ = io.WriteString(w, "data: first\n\n")
		w.(http.Flusher).Flush()
		select {
		case <-release:
		case <-r.Context().Done():
			return
		}
		_, _ = io.WriteString(w, "data: [DONE]\n\n")
	}))
	t.Cleanup(upstream.Close)
	t.Cleanup(func() {
		select {
		case <-release:
		default:
			close(release)
		}
	})

	p, err := New(upstream.URL, Options{})
	if err != nil {
		t.Fatal(err)
	}
	front := httptest.NewServer(p)
	t.Cleanup(front.Close)

	client := &http.Client{Timeout: 10 * time.Second}
	resp, err := client.Get(front.URL + "/stream")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	lines := bufio.NewReader(resp.Body)
	first, err := lines.ReadString('\n')
	if err != nil {
		t.Fatalf("reading the first event while the upstream is still open: %v", err)
	}
	if first != "data: first\n" {
		t.Fatalf("first line = %q", first)
	}
	close(release)
	rest, err := io.ReadAll(lines)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(rest), "data: [DONE]") {
		t.Fatalf("rest of stream = %q, want [DONE]", rest)
	}
}
