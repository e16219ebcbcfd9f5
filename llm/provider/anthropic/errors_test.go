package anthropic

import (
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
)

func TestErrorType(t *testing.T) {
	for status, want := range map[int]string{
		400: "invalid_request_error", 401: "authentication_error", 402: "billing_error",
		403: "permission_error", 404: "not_found_error", 413: "request_too_large",
		429: "rate_limit_error", 500: "api_error", 502: "api_error", 503: "api_error",
		504: "api_error", 529: "overloaded_error", 409: "invalid_request_error", 422: "invalid_request_error",
	} {
		if got := ErrorType(status); got != want {
			t.Errorf("ErrorType(%d) = %q, want %q", status, got, want)
		}
	}
}

func TestAppendError(t *testing.T) {
	got := AppendError([]byte("x"), "not_found_error", "model: \"claude-9\"\n")
	want := `x{"type":"error","error":{"type":"not_found_error","message":"model: \"claude-9\"\n"}}`
	if string(got) != want {
		t.Errorf("got %s\nwant %s", got, want)
	}
}

func response(status int, body string, header ...string) *http.Response {
	h := http.Header{}
	for i := 0; i+1 < len(header); i += 2 {
		h.Set(header[i], header[i+1])
	}
	return &http.Response{StatusCode: status, Header: h, Body: io.NopCloser(strings.NewReader(body))}
}

func TestUpstreamError(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	tests := []struct {
		name            string
		resp            *http.Response
		typ, code, msg  string
		retryAfter      time.Duration
		quota, retrying bool
	}{
		{"overloaded", response(529, `{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"},"request_id":"req_1"}`),
			"overloaded_error", "", "Overloaded", 0, false, true},
		{"rate limit with retry-after", response(429, `{"type":"error","error":{"type":"rate_limit_error","message":"Number of request tokens has exceeded your per-minute rate limit"}}`, "Retry-After", "7"),
			"rate_limit_error", "", "Number of request tokens has exceeded your per-minute rate limit", 7 * time.Second, false, true},
		{"retry-after-ms wins", response(429, `{"type":"error","error":{"type":"rate_limit_error","message":"slow"}}`, "Retry-After", "7", "Retry-After-Ms", "1500"),
			"rate_limit_error", "", "slow", 1500 * time.Millisecond, false, true},
		{"retry-after as a date", response(503, `{}`, "Retry-After", now.Add(30*time.Second).Format(http.TimeFormat)),
			"", "", "Service Unavailable", 30 * time.Second, false, true},
		{"spend limit by error code", response(429, `{"type":"error","error":{"type":"rate_limit_error","message":"limit","details":{"error_code":"enforced_spend_limit_reached"}}}`),
			"rate_limit_error", "spend_limit_exceeded", "limit", 0, true, false},
		{"spend limit by message", response(429, `{"type":"error","error":{"type":"rate_limit_error","message":"You have reached your monthly spend limit."}}`),
			"rate_limit_error", "spend_limit_exceeded", "You have reached your monthly spend limit.", 0, true, false},
		{"credit balance", response(429, `{"type":"error","error":{"type":"rate_limit_error","message":"Your credit balance is too low to access the Anthropic API."}}`),
			"rate_limit_error", "spend_limit_exceeded", "Your credit balance is too low to access the Anthropic API.", 0, true, false},
		{"bad key", response(401, `{"type":"error","error":{"type":"authentication_error","message":"invalid x-api-key"}}`),
			"authentication_error", "", "invalid x-api-key", 0, false, false},
		{"request error is not retried", response(400, `{"type":"error","error":{"type":"invalid_request_error","message":"max_tokens: Field required"}}`),
			"invalid_request_error", "", "max_tokens: Field required", 0, false, false},
		{"proxy HTML page", response(502, "<html><body>Bad Gateway</body></html>"),
			"", "", "Bad Gateway", 0, false, true},
		{"plain text body", response(500, "upstream exploded\nstack..."),
			"", "", "upstream exploded", 0, false, true},
		{"529 without body", response(529, ""), "", "", "Overloaded", 0, false, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := upstreamError("anthropic", tt.resp, now)
			if e.Provider != "anthropic" || e.Status != tt.resp.StatusCode || e.Type != tt.typ || e.Code != tt.code || e.Message != tt.msg {
				t.Errorf("error %+v", e)
			}
			if e.RetryAfter != tt.retryAfter {
				t.Errorf("retry after %v, want %v", e.RetryAfter, tt.retryAfter)
			}
			if e.QuotaExhausted() != tt.quota || e.Retryable() != tt.retrying {
				t.Errorf("quota %v retryable %v", e.QuotaExhausted(), e.Retryable())
			}
			if len(e.Body) == 0 && tt.resp.StatusCode != 529 || e.Header == nil {
				t.Errorf("body %q header %v", e.Body, e.Header)
			}
		})
	}
}
