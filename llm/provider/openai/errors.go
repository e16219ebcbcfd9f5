package openai

import (
	"bytes"
	"errors"
	"math"
	"net/http"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/junctionhq/junction/llm/chat"
	"github.com/junctionhq/junction/llm/internal/jsonscan"
	"github.com/junctionhq/junction/llm/provider/internal/upstream"
)

// AppendError appends an OpenAI error body,
// {"error":{"message","type","code","param"}}; code and param are null when
// empty. An empty typ is derived from status: authentication_error (401),
// permission_error (403), rate_limit_error (429), server_error (5xx) and
// invalid_request_error otherwise.
func AppendError(dst []byte, status int, typ, code, param, message string) []byte {
	if typ == "" {
		typ = errorType(status)
	}
	dst = append(dst, `{"error":{"message":`...)
	dst = appendString(dst, message)
	dst = append(dst, `,"type":`...)
	dst = appendString(dst, typ)
	dst = append(dst, `,"code":`...)
	dst = appendNullableString(dst, code)
	dst = append(dst, `,"param":`...)
	dst = appendNullableString(dst, param)
	return append(dst, "}}"...)
}

func errorType(status int) string {
	switch {
	case status == http.StatusUnauthorized:
		return "authentication_error"
	case status == http.StatusForbidden:
		return "permission_error"
	case status == http.StatusTooManyRequests:
		return "rate_limit_error"
	case status >= 500:
		return "server_error"
	default:
		return "invalid_request_error"
	}
}

// maxRetryAfter bounds what an upstream can make the router wait.
const maxRetryAfter = 24 * time.Hour

// retryAfter reads how long the upstream asks to wait: retry-after-ms,
// Azure's x-ms-retry-after-ms (both milliseconds, more precise, so they win)
// or retry-after (seconds or an HTTP date). 0 when absent or unreadable.
func retryAfter(h http.Header, now time.Time) time.Duration {
	for _, name := range [...]string{"Retry-After-Ms", "X-Ms-Retry-After-Ms"} {
		if v := h.Get(name); v != "" {
			if d, ok := parseDelay(v, float64(time.Millisecond)); ok {
				return d
			}
		}
	}
	v := h.Get("Retry-After")
	if v == "" {
		return 0
	}
	if d, ok := parseDelay(v, float64(time.Second)); ok {
		return d
	}
	if t, err := http.ParseTime(v); err == nil {
		return min(max(t.Sub(now), 0), maxRetryAfter)
	}
	return 0
}

// parseDelay parses a non-negative decimal number of units.
func parseDelay(v string, unit float64) (time.Duration, bool) {
	f, err := strconv.ParseFloat(v, 64)
	if err != nil || math.IsNaN(f) || f < 0 {
		return 0, false
	}
	d := f * unit
	if d >= float64(maxRetryAfter) {
		return maxRetryAfter, true
	}
	return time.Duration(d), true
}

// responseError turns a non-2xx response into an *chat.UpstreamError; it
// reads (bounded) and closes the body.
func responseError(provider string, resp *http.Response) *chat.UpstreamError {
	body := chat.ReadErrorBody(resp.Body)
	_ = resp.Body.Close() // read what matters; a close error changes nothing
	e := &chat.UpstreamError{
		Provider:   provider,
		Status:     resp.StatusCode,
		RetryAfter: retryAfter(resp.Header, time.Now()),
		Body:       body,
		Header:     resp.Header,
	}
	fillError(e, body)
	if e.Message == "" {
		e.Message = http.StatusText(resp.StatusCode)
	}
	return e
}

// fillError sets e's type, code and message from an error body: OpenAI's
// {"error":{...}}, {"error":"text"}, a top-level message or detail (vLLM,
// FastAPI), or else the body's text.
func fillError(e *chat.UpstreamError, body []byte) {
	start, end, err := jsonscan.DocumentEnd(body)
	if err != nil || body[start] != '{' {
		e.Message = shortText(body)
		return
	}
	var topMessage string
	for key, v := range jsonscan.Members(body[start:end]) {
		switch string(key) {
		case "error":
			switch v[0] {
			case '{':
				fillErrorObject(e, v)
			case '"':
				e.Message, _ = jsonscan.DecodeString(v)
			}
		case "message", "detail":
			if s, ok := jsonscan.DecodeString(v); ok && topMessage == "" {
				topMessage = s
			}
		case "type":
			if e.Type == "" {
				e.Type, _ = jsonscan.DecodeString(v)
			}
		case "code":
			if e.Code == "" {
				e.Code = scalarText(v)
			}
		}
	}
	if e.Message == "" {
		e.Message = topMessage
	}
	if e.Message == "" {
		e.Message = shortText(body)
	}
}

// fillErrorObject reads {"message","type","code"} (code a string or a
// number).
func fillErrorObject(e *chat.UpstreamError, v []byte) {
	for key, fv := range jsonscan.Members(v) {
		switch string(key) {
		case "message":
			e.Message, _ = jsonscan.DecodeString(fv)
		case "type":
			e.Type, _ = jsonscan.DecodeString(fv)
		case "code":
			e.Code = scalarText(fv)
		}
	}
}

// scalarText returns a string's value or a number's text; "" otherwise.
func scalarText(v []byte) string {
	if s, ok := jsonscan.DecodeString(v); ok {
		return s
	}
	if _, ok := jsonscan.DecodeFloat(v); ok {
		return string(v)
	}
	return ""
}

// shortText returns the start of a non-JSON error body as valid UTF-8.
func shortText(body []byte) string {
	const limit = 512
	b := bytes.TrimSpace(body)
	if len(b) > limit {
		n := limit
		for n > limit-utf8.UTFMax && !utf8.RuneStart(b[n]) { // do not cut a character in two
			n--
		}
		b = b[:n]
	}
	return string(bytes.ToValidUTF8(b, []byte("\uFFFD")))
}

// errStreamError is the cause of an error event in a stream.
var errStreamError = errors.New("error event in the stream")

// streamEventError turns an in-band {"error":{...}} event into an
// *chat.UpstreamError. Its Status is the error's code when that is an HTTP
// error status (OpenRouter sends them), else 0 (no HTTP status describes
// it; the router treats it like a failed connection).
func streamEventError(provider string, header http.Header, data []byte) *chat.UpstreamError {
	e := &chat.UpstreamError{
		Provider: provider,
		Body:     bytes.Clone(data),
		Header:   header,
		Err:      errStreamError,
	}
	fillError(e, data)
	if n, err := strconv.Atoi(e.Code); err == nil && n >= 400 && n <= 599 {
		e.Status = n
	}
	return e
}

// DecodeStreamError decodes ev, one raw SSE event of a passed-through
// stream, when it is an in-band error, {"error":{"message","type","code"}}
// after the 200: a *chat.UpstreamError with status 502 (529 for an
// overloaded_error), the code when it is a string, and the event's data as
// Body. Any other event gives nil.
func DecodeStreamError(provider string, ev []byte) *chat.UpstreamError {
	return upstream.EventError(provider, ev)
}
