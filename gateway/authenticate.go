package gateway

import (
	"net/http"
	"strings"

	"github.com/junctionhq/junction/llm"
	"github.com/junctionhq/junction/mcp"
	"github.com/junctionhq/junction/policy"
)

// authenticate resolves the caller's virtual key (or the admin key) into a
// policy.Identity in the request context. The key may come as
// "Authorization: Bearer <key>" (OpenAI clients), "x-api-key" (Anthropic
// clients) or "api-key" (Azure clients). A request without a valid key is
// answered by reject, which renders the error in the route's protocol.
// Authentication reads only memory.
func authenticate(e *policy.Engine, reject func(w http.ResponseWriter, r *http.Request, err error)) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			id, err := e.Authenticate(presentedKey(r))
			if err != nil {
				reject(w, r, err)
				return
			}
			next.ServeHTTP(w, r.WithContext(policy.WithIdentity(r.Context(), id)))
		})
	}
}

// presentedKey returns the key a caller sent, from the first of the
// supported headers that is set.
func presentedKey(r *http.Request) string {
	if token, ok := bearerToken(r); ok {
		return token
	}
	if k := strings.TrimSpace(r.Header.Get("X-Api-Key")); k != "" {
		return k
	}
	return strings.TrimSpace(r.Header.Get("Api-Key"))
}

// rejectOpenAI renders an authentication failure in OpenAI's error shape.
func rejectOpenAI(w http.ResponseWriter, r *http.Request, err error) {
	w.Header().Set("WWW-Authenticate", `Bearer realm="junction"`)
	writeError(w, r, policyError(err))
}

// rejectMCP renders an authentication failure on the MCP endpoints as a
// JSON-RPC error, like every other /mcp error.
func rejectMCP(w http.ResponseWriter, r *http.Request, err error) {
	w.Header().Set("WWW-Authenticate", `Bearer realm="junction"`)
	e, _ := policyError(err).(*Error)
	if e == nil {
		writeError(w, r, err)
		return
	}
	mcp.WriteError(w, e.Status, e.Message)
}

// rejectForPath renders authentication failures in the protocol of the
// route: Anthropic's error shape on /v1/messages, OpenAI's elsewhere.
func rejectForPath(w http.ResponseWriter, r *http.Request, err error) {
	if r.URL.Path == "/v1/messages" {
		llm.WriteAnthropicError(w, r, err)
		return
	}
	rejectOpenAI(w, r, err)
}
