package anthropic

import (
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/junctionhq/junction/llm/chat"
	"github.com/junctionhq/junction/llm/provider/internal/upstream"
)

// Anthropic's error types.
const (
	errInvalidRequest = "invalid_request_error"
	errAuthentication = "authentication_error"
	errBilling        = "billing_error"
	errPermission     = "permission_error"
	errNotFound       = "not_found_error"
	errTooLarge       = "request_too_large"
	errRateLimit      = "rate_limit_error"
	errAPI            = "api_error"
	errTimeout        = "timeout_error"
	errOverloaded     = "overloaded_error"
)

// statusOverloaded is Anthropic's "overloaded" status, outside net/http's list.
const statusOverloaded = 529

// ErrorType returns the Anthropic error type for an HTTP status: 400
// invalid_request_error, 401 authentication_error, 402 billing_error, 403
// permission_error, 404 not_found_error, 413 request_too_large, 429
// rate_limit_error, 529 overloaded_error, other 5xx api_error, and
// invalid_request_error for any other status.
func ErrorType(status int) string {
	switch status {
	case http.StatusBadRequest:
		return errInvalidRequest
	case http.StatusUnauthorized:
		return errAuthentication
	case http.StatusPaymentRequired:
		return errBilling
	case http.StatusForbidden:
		return errPermission
	case http.StatusNotFound:
		return errNotFound
	case http.StatusRequestEntityTooLarge:
		return errTooLarge
	case http.StatusTooManyRequests:
		return errRateLimit
	case statusOverloaded:
		return errOverloaded
	}
	if status >= 500 {
		return errAPI
	}
	return errInvalidRequest
}

// statusOf returns the HTTP status an error type stands for, for errors that
// arrive in a stream after the 200.
func statusOf(typ string) int {
	switch typ {
	case errInvalidRequest:
		return http.StatusBadRequest
	case errAuthentication:
		return http.StatusUnauthorized
	case errBilling:
		return http.StatusPaymentRequired
	case errPermission:
		return http.StatusForbidden
	case errNotFound:
		return http.StatusNotFound
	case errTooLarge:
		return http.StatusRequestEntityTooLarge
	case errRateLimit:
		return http.StatusTooManyRequests
	case errTimeout:
		return http.StatusGatewayTimeout
	case errOverloaded:
		return statusOverloaded
	}
	return http.StatusInternalServerError
}

// AppendError appends Anthropic's error body
// {"type":"error","error":{"type":typ,"message":message}}.
func AppendError(dst []byte, typ, message string) []byte {
	dst = append(dst, `{"type":"error","error":{"type":`...)
	dst = appendString(dst, typ)
	dst = append(dst, `,"message":`...)
	dst = appendString(dst, message)
	return append(dst, "}}"...)
}

// AppendStreamError appends an error event for a stream whose 200 has been
// sent: "event: error" with AppendError's body.
func AppendStreamError(dst []byte, typ, message string) []byte {
	dst = append(dst, "event: error\ndata: "...)
	dst = AppendError(dst, typ, message)
	return append(dst, "\n\n"...)
}

// errorBody is Anthropic's error shape; details.error_code says which limit
// a 429 hit.
type errorBody struct {
	Type  string `json:"type"`
	Error *struct {
		Type    string `json:"type"`
		Message string `json:"message"`
		Details *struct {
			ErrorCode string `json:"error_code"`
		} `json:"details"`
	} `json:"error"`
}

// codeSpendLimit is the chat.UpstreamError code of an exhausted spend cap or
// credit balance, which chat.UpstreamError.QuotaExhausted recognises.
const codeSpendLimit = "spend_limit_exceeded"

// upstreamError reads a failed response into a *chat.UpstreamError and closes
// its body.
func upstreamError(provider string, resp *http.Response, now time.Time) *chat.UpstreamError {
	body := chat.ReadErrorBody(resp.Body)
	_ = resp.Body.Close() // the body has been read; a close error changes nothing
	e := &chat.UpstreamError{
		Provider:   provider,
		Status:     resp.StatusCode,
		Body:       body,
		Header:     resp.Header,
		RetryAfter: retryAfter(resp.Header, now),
	}
	var eb errorBody
	if json.Unmarshal(body, &eb) == nil && eb.Error != nil {
		e.Type, e.Message = eb.Error.Type, eb.Error.Message
		if eb.Error.Details != nil {
			e.Code = eb.Error.Details.ErrorCode
		}
	}
	if e.Message == "" {
		e.Message = fallbackMessage(resp.StatusCode, body)
	}
	if e.Status == http.StatusTooManyRequests && spendLimited(e.Code, e.Message) {
		e.Code = codeSpendLimit
	}
	return e
}

// spendLimited reports whether a 429 is a spend cap or an exhausted credit
// balance rather than a rate limit: waiting will not fix it.
func spendLimited(code, message string) bool {
	if code == "enforced_spend_limit_reached" || code == codeSpendLimit {
		return true
	}
	m := strings.ToLower(message)
	for _, s := range []string{"spend limit", "spending limit", "credit balance", "usage limit"} {
		if strings.Contains(m, s) {
			return true
		}
	}
	return false
}

// fallbackMessage describes a failure whose body is not Anthropic's shape: the
// first line of a plain-text body, else (HTML, other JSON, nothing) the status
// text.
func fallbackMessage(status int, body []byte) string {
	s := strings.TrimSpace(string(body))
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = s[:i]
	}
	if len(s) > 200 {
		s = s[:200]
	}
	if s == "" || strings.ContainsRune("<{[", rune(s[0])) {
		if t := http.StatusText(status); t != "" {
			return t
		}
		if status == statusOverloaded {
			return "Overloaded"
		}
		return "HTTP " + strconv.Itoa(status)
	}
	return s
}

// retryAfter reads retry-after-ms (milliseconds) or retry-after (seconds or an
// HTTP date); 0 when absent or unreadable.
func retryAfter(h http.Header, now time.Time) time.Duration {
	if v := h.Get("Retry-After-Ms"); v != "" {
		if ms, err := strconv.ParseFloat(v, 64); err == nil && ms > 0 && ms < 1e12 {
			return time.Duration(ms * float64(time.Millisecond))
		}
	}
	v := h.Get("Retry-After")
	if v == "" {
		return 0
	}
	if secs, err := strconv.ParseFloat(v, 64); err == nil {
		if secs > 0 && secs < 1e9 {
			return time.Duration(secs * float64(time.Second))
		}
		return 0
	}
	if t, err := http.ParseTime(v); err == nil && t.After(now) {
		return t.Sub(now)
	}
	return 0
}

// DecodeStreamError decodes ev, one raw SSE event of a passed-through
// stream, when it is an error event ("event: error", data
// {"type":"error","error":{"type","message"}}): a *chat.UpstreamError with
// status 529 for an overloaded_error and 502 otherwise, and the event's data
// as Body. Any other event gives nil.
func DecodeStreamError(provider string, ev []byte) *chat.UpstreamError {
	return upstream.EventError(provider, ev)
}
