package llmtest

import (
	"net/http"
	"strings"
	"time"

	"github.com/junctionhq/junction/llm/internal/jsonenc"
)

// openAIWire is the OpenAI API's wire format: Bearer keys and
// {"error":{"message","type","param","code"}} errors.
type openAIWire struct{}

var _ wire = openAIWire{}

// bearerToken returns the token of an "Authorization: Bearer <token>" header.
func bearerToken(h http.Header) string {
	auth := h.Get("Authorization")
	const prefix = "Bearer "
	if len(auth) > len(prefix) && strings.EqualFold(auth[:len(prefix)], prefix) {
		return strings.TrimSpace(auth[len(prefix):])
	}
	return ""
}

func (openAIWire) apiKey(r *http.Request) string { return bearerToken(r.Header) }

func (openAIWire) requestIDHeader() string { return "X-Request-Id" }

func (openAIWire) requestIDPrefix() string { return "req_" }

func (openAIWire) authError(key string) *apiError {
	if key == "" {
		return &apiError{
			status: http.StatusUnauthorized,
			message: "You didn't provide an API key. You need to provide your API key in an Authorization header " +
				"using Bearer auth (i.e. Authorization: Bearer YOUR_KEY).",
		}
	}
	return &apiError{
		status:  http.StatusUnauthorized,
		message: "Incorrect API key provided: " + maskKey(key) + ".",
		code:    "invalid_api_key",
	}
}

// openAIErrorType is the error "type" OpenAI reports for a status.
func openAIErrorType(status int) string {
	switch {
	case status == http.StatusTooManyRequests:
		return "requests"
	case status >= 500:
		return "server_error"
	default:
		return "invalid_request_error"
	}
}

func (openAIWire) appendError(dst []byte, e *apiError) []byte {
	dst = append(dst, `{"error":{"message":`...)
	dst = appendJSONString(dst, e.message)
	dst = append(dst, `,"type":`...)
	dst = appendJSONString(dst, openAIErrorType(e.status))
	dst = append(dst, `,"param":`...)
	dst = appendNullableString(dst, e.param)
	dst = append(dst, `,"code":`...)
	dst = appendNullableString(dst, e.code)
	return append(dst, "}}"...)
}

// maskKey shows only the ends of a key, as providers do in error messages.
func maskKey(key string) string {
	if len(key) <= 8 {
		return "****"
	}
	return key[:3] + "****" + key[len(key)-4:]
}

// wireFromHeaders picks the wire of an endpoint both formats share (GET /v1/models,
// unknown paths): Anthropic clients always send anthropic-version.
func wireFromHeaders(h http.Header) wire {
	if h.Get("Anthropic-Version") != "" {
		return anthropicWire{}
	}
	return openAIWire{}
}

// serveModels answers GET /v1/models in the shape of the client's provider.
func (m *Mock) serveModels(x *exchange) {
	if !x.admit() {
		return
	}
	if _, ok := x.wire.(anthropicWire); ok {
		x.writeJSON(http.StatusOK, m.anthropicModels)
		return
	}
	x.writeJSON(http.StatusOK, m.openAIModels)
}

// appendOpenAIModels appends the OpenAI model list, every model owned by
// "llmtest".
func appendOpenAIModels(dst []byte, ids []string, created time.Time) []byte {
	return jsonenc.AppendModelList(dst, ids, created.Unix(), func(string) string { return "llmtest" })
}
