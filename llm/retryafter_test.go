package llm

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/junctionhq/junction/llm/chat"
	"github.com/junctionhq/junction/llm/router"
	"github.com/junctionhq/junction/policy"
)

func TestEvery503OnTheLLMPathHasRetryAfter(t *testing.T) {
	upstream503 := &chat.UpstreamError{Provider: "p", Status: 503, Message: "overloaded", RetryAfter: 7 * time.Second}
	cases := []struct {
		name       string
		err        error
		status     int
		retryAfter string // "" for none
	}{
		{"governance unavailable", fmt.Errorf("%w: redis timeout", policy.ErrUnavailable), 503, "1"},
		{"every breaker open", &router.ExhaustedError{Model: "m", Last: router.ErrCircuitOpen, RetryAfter: 2500 * time.Millisecond}, 503, "3"},
		{"a probe in flight", &router.ExhaustedError{Model: "m", Last: router.ErrCircuitOpen}, 503, "1"},
		{"every target cooling down", &router.ExhaustedError{Model: "m", Last: upstream503, RetryAfter: 40 * time.Second}, 503, "40"},
		{"upstream 503s, breakers open after them", &router.ExhaustedError{Model: "m", Attempts: 3, Last: upstream503, RetryAfter: 30 * time.Second}, 503, "30"},
		{"upstream 503s asking to wait", &router.ExhaustedError{Model: "m", Attempts: 3, Last: upstream503}, 503, "7"},
		{"upstream 500s", &router.ExhaustedError{Model: "m", Attempts: 3, Last: &chat.UpstreamError{Provider: "p", Status: 500, Message: "Internal Server Error"}}, 502, ""},
	}
	for _, c := range cases {
		for name, write := range map[string]func(http.ResponseWriter, *http.Request, error){
			"openai": WriteOpenAIError, "anthropic": WriteAnthropicError,
		} {
			rec := httptest.NewRecorder()
			write(rec, httptest.NewRequest(http.MethodPost, "/v1/chat/completions", nil), c.err)
			if rec.Code != c.status || rec.Header().Get("Retry-After") != c.retryAfter {
				t.Errorf("%s, %s: %d Retry-After %q, want %d %q", c.name, name, rec.Code, rec.Header().Get("Retry-After"), c.status, c.retryAfter)
			}
		}
	}
}
