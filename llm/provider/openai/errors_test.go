package openai

import (
	"bytes"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/junctionhq/junction/llm/chat"
)

func TestRetryAfter(t *testing.T) {
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	cases := []struct {
		header http.Header
		want   time.Duration
	}{
		{http.Header{}, 0},
		{http.Header{"Retry-After": {"3"}}, 3 * time.Second},
		{http.Header{"Retry-After": {"1.5"}}, 1500 * time.Millisecond},
		{http.Header{"Retry-After": {now.Add(90 * time.Second).Format(http.TimeFormat)}}, 90 * time.Second},
		{http.Header{"Retry-After": {now.Add(-time.Minute).Format(http.TimeFormat)}}, 0},
		{http.Header{"Retry-After": {"soon"}}, 0},
		{http.Header{"Retry-After": {"-4"}}, 0},
		{http.Header{"Retry-After": {"99999999999999"}}, maxRetryAfter},
		{http.Header{"Retry-After-Ms": {"250"}, "Retry-After": {"1"}}, 250 * time.Millisecond},
		{http.Header{"Retry-After-Ms": {"12.5"}}, 12500 * time.Microsecond},
		{http.Header{"X-Ms-Retry-After-Ms": {"700"}, "Retry-After": {"1"}}, 700 * time.Millisecond},
		{http.Header{"Retry-After-Ms": {"100"}, "X-Ms-Retry-After-Ms": {"700"}}, 100 * time.Millisecond},
		{http.Header{"Retry-After-Ms": {"NaN"}, "Retry-After": {"2"}}, 2 * time.Second},
	}
	for _, c := range cases {
		if got := retryAfter(c.header, now); got != c.want {
			t.Errorf("retryAfter(%v) = %s, want %s", c.header, got, c.want)
		}
	}
}

func TestResponseError(t *testing.T) {
	cases := []struct {
		status                 int
		body                   string
		typ, code, message     string
		retryable, quotaExhaus bool
	}{
		{400, `{"error":{"message":"Invalid 'messages'","type":"invalid_request_error","param":"messages","code":"empty_array"}}`,
			"invalid_request_error", "empty_array", "Invalid 'messages'", false, false},
		{429, `{"error":{"message":"You exceeded your current quota","type":"insufficient_quota","param":null,"code":"insufficient_quota"}}`,
			"insufficient_quota", "insufficient_quota", "You exceeded your current quota", false, true},
		{429, `{"error":{"code":"429","message":"Requests to the ChatCompletions_Create Operation have exceeded the rate limit."}}`,
			"", "429", "Requests to the ChatCompletions_Create Operation have exceeded the rate limit.", true, false},
		{400, `{"object":"error","message":"max_tokens is too large","type":"BadRequestError","param":null,"code":400}`,
			"BadRequestError", "400", "max_tokens is too large", false, false},
		{422, `{"detail":"field required"}`, "", "", "field required", false, false},
		{500, `{"error":"boom"}`, "", "", "boom", true, false},
		{502, "<html>Bad Gateway</html>\n", "", "", "<html>Bad Gateway</html>", true, false},
		{503, "", "", "", "Service Unavailable", true, false},
		{504, `{"unexpected":true}`, "", "", `{"unexpected":true}`, true, false},
	}
	for _, c := range cases {
		resp := &http.Response{StatusCode: c.status, Header: http.Header{"X-Request-Id": {"req_1"}}, Body: io.NopCloser(strings.NewReader(c.body))}
		e := responseError("p", resp)
		if e.Provider != "p" || e.Status != c.status || e.Type != c.typ || e.Code != c.code || e.Message != c.message ||
			!bytes.Equal(e.Body, []byte(c.body)) || e.Header.Get("X-Request-Id") != "req_1" {
			t.Errorf("%d %s: %+v", c.status, c.body, e)
		}
		if e.Retryable() != c.retryable || e.QuotaExhausted() != c.quotaExhaus {
			t.Errorf("%d %s: retryable %v quota %v", c.status, c.body, e.Retryable(), e.QuotaExhausted())
		}
	}
}

func TestResponseErrorBoundsTheBody(t *testing.T) {
	body := strings.Repeat("é", 100<<10)
	e := responseError("p", &http.Response{StatusCode: 500, Body: io.NopCloser(strings.NewReader(body))})
	if len(e.Body) != 64<<10 {
		t.Errorf("body of %d bytes kept", len(e.Body))
	}
	if len(e.Message) > 512 || !strings.HasPrefix(e.Message, "éé") || strings.ContainsRune(e.Message, '\uFFFD') {
		t.Errorf("message of %d bytes: %q...", len(e.Message), e.Message[:10])
	}
}

func TestUpstreamErrorIsAnError(t *testing.T) {
	ue := streamEventError("p", nil, []byte(`{"error":{"message":"overloaded"}}`))
	var err error = ue
	if got := err.Error(); got != "p: overloaded: error event in the stream" {
		t.Errorf("Error() = %q", got)
	}
	if ue.Status != 0 || !ue.Retryable() || (&chat.UpstreamError{Status: 400}).Retryable() {
		t.Errorf("error %+v", ue)
	}
}
