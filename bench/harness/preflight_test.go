package harness

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
)

func TestPreflight(t *testing.T) {
	tests := []struct {
		name    string
		handler http.HandlerFunc
		stream  bool
		hint    string
		want    string // substring of the error; empty means success
	}{
		{
			name:    "json ok",
			handler: (&fakeProvider{}).ServeHTTP,
		},
		{
			name:    "stream ok",
			handler: (&fakeProvider{chunks: 2}).ServeHTTP,
			stream:  true,
		},
		{
			name:    "404 with hint",
			handler: http.NotFound,
			hint:    "the LLM endpoint is not built yet",
			want:    "x: POST /v1/chat/completions returned 404 — the LLM endpoint is not built yet: 404 page not found",
		},
		{
			name: "500 with body",
			handler: func(w http.ResponseWriter, r *http.Request) {
				http.Error(w, `{"error": {"message": "upstream down"}}`, http.StatusInternalServerError)
			},
			want: `returned 500: {"error": {"message": "upstream down"}}`,
		},
		{
			name: "200 but not json",
			handler: func(w http.ResponseWriter, r *http.Request) {
				io.WriteString(w, "<html>hello</html>")
			},
			want: "not a JSON object",
		},
		{
			name: "stream with wrong content type",
			handler: func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "application/json")
				io.WriteString(w, `{}`)
			},
			stream: true,
			want:   `Content-Type "application/json"`,
		},
		{
			name: "stream without done",
			handler: func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "text/event-stream")
				io.WriteString(w, "data: {}\n\n")
			},
			stream: true,
			want:   "without \"data: [DONE]\"",
		},
		{
			name: "redirect is not followed",
			handler: func(w http.ResponseWriter, r *http.Request) {
				http.Redirect(w, r, "/elsewhere", http.StatusFound)
			},
			want: "returned 302",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := startServer(t, tt.handler)
			wantErr(t, "Preflight()", Preflight(context.Background(), "x", srv.URL, testRequest(t, tt.stream), 5*time.Second, tt.hint), tt.want)
		})
	}
}

func TestPreflightRefusesNonLoopback(t *testing.T) {
	err := Preflight(context.Background(), "x", "http://203.0.113.7", testRequest(t, false), time.Second, "")
	if err == nil || !strings.Contains(err.Error(), "not a loopback address") {
		t.Fatalf("Preflight() = %v, want a loopback refusal", err)
	}
}

func TestPreflightConnectionRefused(t *testing.T) {
	addr, err := freeLoopbackAddr()
	if err != nil {
		t.Fatal(err)
	}
	err = Preflight(context.Background(), "baseline", "http://"+addr, testRequest(t, false), time.Second, "")
	if err == nil || !strings.HasPrefix(err.Error(), "baseline: POST /v1/chat/completions: ") {
		t.Fatalf("Preflight() = %v, want a named transport error", err)
	}
}

func TestBodySnippet(t *testing.T) {
	if got := bodySnippet([]byte("  a\n\n b\t c  ")); got != "a b c" {
		t.Errorf("got %q", got)
	}
	long := strings.Repeat("é", 150) // 300 bytes: the cut lands mid-rune
	got := bodySnippet([]byte(long))
	if !strings.HasSuffix(got, "…") || len(got) > 200+len("…") || !strings.HasPrefix(got, "éé") {
		t.Errorf("got %q", got)
	}
	if strings.ContainsRune(strings.TrimSuffix(got, "…"), '\uFFFD') {
		t.Errorf("snippet contains a broken rune: %q", got)
	}
}
