package gemini

import (
	"net/http"
	"testing"
	"time"
)

func TestStatusError(t *testing.T) {
	p, err := New(Config{Name: "gem"})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name       string
		status     int
		header     http.Header
		body       string
		typ, code  string
		message    string
		retryAfter time.Duration
		retryable  bool
	}{
		{
			name:   "rate limit with RetryInfo",
			status: 429,
			body: `{"error":{"code":429,"message":"You exceeded your current quota.","status":"RESOURCE_EXHAUSTED","details":[
				{"@type":"type.googleapis.com/google.rpc.QuotaFailure","violations":[{"quotaMetric":"m"}]},
				{"@type":"type.googleapis.com/google.rpc.Help","links":[]},
				{"@type":"type.googleapis.com/google.rpc.RetryInfo","retryDelay":"1.500s"}]}}`,
			typ: "RESOURCE_EXHAUSTED", message: "You exceeded your current quota.", retryAfter: 1500 * time.Millisecond, retryable: true,
		},
		{
			name:   "retry-after header wins",
			status: 429, header: http.Header{"Retry-After": {"7"}},
			body: `{"error":{"code":429,"message":"m","status":"RESOURCE_EXHAUSTED","details":[{"@type":"type.googleapis.com/google.rpc.RetryInfo","retryDelay":"43s"}]}}`,
			typ:  "RESOURCE_EXHAUSTED", message: "m", retryAfter: 7 * time.Second, retryable: true,
		},
		{
			name: "retry-after-ms", status: 503, header: http.Header{"Retry-After-Ms": {"250"}, "Retry-After": {"1"}},
			body: `{"error":{"code":503,"message":"The model is overloaded.","status":"UNAVAILABLE"}}`,
			typ:  "UNAVAILABLE", message: "The model is overloaded.", retryAfter: 250 * time.Millisecond, retryable: true,
		},
		{
			name: "bad key", status: 400,
			body: `{"error":{"code":400,"message":"API key not valid. Please pass a valid API key.","status":"INVALID_ARGUMENT",
				"details":[{"@type":"type.googleapis.com/google.rpc.ErrorInfo","reason":"API_KEY_INVALID","domain":"googleapis.com"}]}}`,
			typ: "INVALID_ARGUMENT", code: "API_KEY_INVALID", message: "API key not valid. Please pass a valid API key.",
		},
		{
			name: "array form", status: 500,
			body: `[{"error":{"code":500,"message":"Internal error","status":"INTERNAL"}}]`,
			typ:  "INTERNAL", message: "Internal error", retryable: true,
		},
		{name: "html", status: 502, body: `<html>Bad Gateway</html>`, message: "Bad Gateway", retryable: true},
		{name: "empty", status: 404, message: "Not Found"},
		{name: "malformed delay", status: 429, body: `{"error":{"status":"RESOURCE_EXHAUSTED","details":[{"@type":"type.googleapis.com/google.rpc.RetryInfo","retryDelay":"soon"}]}}`,
			typ: "RESOURCE_EXHAUSTED", message: "Too Many Requests", retryable: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := p.statusError(tt.status, tt.header, []byte(tt.body))
			if e.Provider != "gem" || e.Status != tt.status || e.Type != tt.typ || e.Code != tt.code ||
				e.Message != tt.message || e.RetryAfter != tt.retryAfter || string(e.Body) != tt.body {
				t.Errorf("got %+v", e)
			}
			if e.Retryable() != tt.retryable {
				t.Errorf("retryable %v", e.Retryable())
			}
		})
	}
}

func TestRetryAfterHeader(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	tests := []struct {
		h    http.Header
		want time.Duration
	}{
		{http.Header{}, 0},
		{http.Header{"Retry-After": {"2"}}, 2 * time.Second},
		{http.Header{"Retry-After": {"0.5"}}, 500 * time.Millisecond},
		{http.Header{"Retry-After": {"-1"}}, 0},
		{http.Header{"Retry-After": {"1e9"}}, 0},
		{http.Header{"Retry-After": {now.Add(90 * time.Second).Format(http.TimeFormat)}}, 90 * time.Second},
		{http.Header{"Retry-After": {"soon"}}, 0},
		{http.Header{"Retry-After-Ms": {"1500"}}, 1500 * time.Millisecond},
		{http.Header{"Retry-After-Ms": {"x"}, "Retry-After": {"3"}}, 3 * time.Second},
	}
	for _, tt := range tests {
		if got := retryAfterHeader(tt.h, now); got != tt.want {
			t.Errorf("%v: %s, want %s", tt.h, got, tt.want)
		}
	}
}

func TestParseRetryDelay(t *testing.T) {
	for in, want := range map[string]time.Duration{
		"43s": 43 * time.Second, "1.500s": 1500 * time.Millisecond, "0s": 0, "": 0, "5m": 0, "-1s": 0, "999999s": 0,
	} {
		if got := parseRetryDelay(in); got != want {
			t.Errorf("parseRetryDelay(%q) = %s, want %s", in, got, want)
		}
	}
}
