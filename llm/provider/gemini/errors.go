package gemini

import (
	"bytes"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/junctionhq/junction/llm/chat"
)

// apiStatus is Google's error object, {"code","message","status","details"}.
type apiStatus struct {
	Code    int            `json:"code"`
	Message string         `json:"message"`
	Status  string         `json:"status"`
	Details []statusDetail `json:"details"`
}

// statusDetail holds the fields of the google.rpc details Junction reads:
// ErrorInfo's reason and RetryInfo's retryDelay.
type statusDetail struct {
	Type       string `json:"@type"`
	Reason     string `json:"reason"`
	RetryDelay string `json:"retryDelay"`
}

// statusError turns a non-2xx answer into an *chat.UpstreamError: Type is
// the google.rpc status (RESOURCE_EXHAUSTED), Code the ErrorInfo reason
// (API_KEY_INVALID) when there is one, RetryAfter the retry-after headers or
// else RetryInfo's retryDelay.
func (p *Provider) statusError(status int, h http.Header, body []byte) *chat.UpstreamError {
	e := &chat.UpstreamError{Provider: p.name, Status: status, Body: body, Header: h}
	if s := parseStatus(body); s != nil {
		e.Type, e.Message = s.Status, s.Message
		for _, d := range s.Details {
			switch {
			case strings.HasSuffix(d.Type, "google.rpc.ErrorInfo") && e.Code == "":
				e.Code = d.Reason
			case strings.HasSuffix(d.Type, "google.rpc.RetryInfo") && e.RetryAfter == 0:
				e.RetryAfter = parseRetryDelay(d.RetryDelay)
			}
		}
	}
	if ra := retryAfterHeader(h, time.Now()); ra > 0 {
		e.RetryAfter = ra
	}
	if e.Message == "" {
		e.Message = http.StatusText(status)
	}
	return e
}

// parseStatus decodes {"error":{...}}, or the one-element array
// [{"error":{...}}] that streamGenerateContent answers without alt=sse. It
// returns nil for anything else (an HTML page from a front end).
func parseStatus(body []byte) *apiStatus {
	var wrapper struct {
		Error *apiStatus `json:"error"`
	}
	body = bytes.TrimSpace(body)
	if len(body) > 0 && body[0] == '[' {
		var list []json.RawMessage
		if json.Unmarshal(body, &list) != nil || len(list) == 0 {
			return nil
		}
		body = list[0]
	}
	if json.Unmarshal(body, &wrapper) != nil {
		return nil
	}
	return wrapper.Error
}

// maxRetryAfter caps advertised delays; beyond it the value is not trusted.
const maxRetryAfter = 24 * time.Hour

// parseRetryDelay parses a protobuf JSON Duration ("43s", "1.500s"); 0 when
// it is malformed or out of range.
func parseRetryDelay(s string) time.Duration {
	if !strings.HasSuffix(s, "s") {
		return 0
	}
	d, err := time.ParseDuration(s)
	if err != nil || d <= 0 || d > maxRetryAfter {
		return 0
	}
	return d
}

// retryAfterHeader reads retry-after-ms, then retry-after (seconds or an HTTP
// date); 0 when absent or malformed.
func retryAfterHeader(h http.Header, now time.Time) time.Duration {
	if v := h.Get("Retry-After-Ms"); v != "" {
		if ms, err := strconv.ParseFloat(v, 64); err == nil && ms > 0 && ms <= float64(maxRetryAfter/time.Millisecond) {
			return time.Duration(ms * float64(time.Millisecond))
		}
	}
	v := h.Get("Retry-After")
	if v == "" {
		return 0
	}
	if secs, err := strconv.ParseFloat(v, 64); err == nil {
		if secs > 0 && secs <= maxRetryAfter.Seconds() {
			return time.Duration(secs * float64(time.Second))
		}
		return 0
	}
	if at, err := http.ParseTime(v); err == nil {
		if d := at.Sub(now); d > 0 && d <= maxRetryAfter {
			return d
		}
	}
	return 0
}
