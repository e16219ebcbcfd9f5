package llmtest

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"time"
)

// wire is what differs between provider wire formats in the shared parts of a
// request: how the API key is presented, how errors look and which header carries the
// request id. Each format implements it in its own file; endpoints carry the wire
// that answers them.
type wire interface {
	// apiKey returns the key the request presents, "" when none.
	apiKey(r *http.Request) string
	// appendError appends e as an error body in the format's shape.
	appendError(dst []byte, e *apiError) []byte
	// requestIDHeader is the response header that carries the request id.
	requestIDHeader() string
	// requestIDPrefix prefixes generated request ids.
	requestIDPrefix() string
	// authError is the rejection of a missing ("") or unknown key.
	authError(key string) *apiError
}

// apiError is a rejection the mock answers in the provider's shape. The wire maps the
// status to its error type; code and param are used where the format has them.
type apiError struct {
	status  int
	message string
	param   string // "" is written as null
	code    string // "" is written as null
	// retryAfter is the delay a 429 advertises; formats that also carry it in the
	// body (Gemini's RetryInfo) read it here.
	retryAfter time.Duration
}

func newAPIError(status int, format string, args ...any) *apiError {
	return &apiError{status: status, message: fmt.Sprintf(format, args...)}
}

// withParam sets the error's param and code and returns it.
func (e *apiError) withParam(param, code string) *apiError {
	e.param, e.code = param, code
	return e
}

// Rejections shared by the formats.
var (
	errBodyTooLarge = &apiError{status: http.StatusRequestEntityTooLarge, message: "request body too large"}
	errMockClosed   = &apiError{status: http.StatusServiceUnavailable, message: "the mock provider is shutting down"}
)

// injectedFailure is the body of a failure injected by FailPercent.
func injectedFailure(status int) *apiError {
	switch status {
	case 529:
		return &apiError{status: status, message: "Overloaded"}
	case http.StatusServiceUnavailable:
		return &apiError{status: status, message: "The server is overloaded or not ready yet."}
	case http.StatusTooManyRequests:
		return &apiError{status: status, message: "Rate limit reached (injected by llmtest).", code: "rate_limit_exceeded"}
	default:
		return &apiError{status: status, message: "The server had an error while processing your request (injected by llmtest)."}
	}
}

// decodeError turns an encoding/json error into a 400 in words close to the
// providers'.
func decodeError(err error) *apiError {
	var typeErr *json.UnmarshalTypeError
	if errors.As(err, &typeErr) {
		field := typeErr.Field
		if field == "" {
			field = "body"
		}
		return newAPIError(http.StatusBadRequest, "Invalid type for '%s': expected %s, but got %s instead.",
			field, typeErr.Type.String(), typeErr.Value).withParam(field, "invalid_type")
	}
	return newAPIError(http.StatusBadRequest,
		"We could not parse the JSON body of your request: %v. The API expects a JSON object.", err)
}

// appendNullableString appends s as a JSON string, or null when s is empty.
func appendNullableString(dst []byte, s string) []byte {
	if s == "" {
		return append(dst, "null"...)
	}
	return appendJSONString(dst, s)
}
