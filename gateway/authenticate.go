package gateway

import (
	"errors"
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
// A key that matches nothing counts against the client's address in
// throttle (the admin key is accepted here too, so guesses must count here
// as on /admin); a locked-out address is refused before its key is checked.
// Authentication reads only memory.
func authenticate(e *policy.Engine, throttle *authThrottle, reject func(w http.ResponseWriter, r *http.Request, err error)) func(http.Handler) http.Handler {
	return throttle.guard(reject, func(_ http.ResponseWriter, r *http.Request) (*http.Request, bool, error) {
		id, err := e.Authenticate(presentedKey(r))
		if err != nil {
			var auth *policy.AuthError
			return nil, errors.As(err, &auth) && auth.Reason == policy.AuthInvalid, err
		}
		return r.WithContext(policy.WithIdentity(r.Context(), id)), false, nil
	})
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
	e := policyError(err)
	var ge *Error
	if !errors.As(e, &ge) || ge.Status == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", `Bearer realm="junction"`)
	}
	writeError(w, r, e)
}

// rejectMCP renders an authentication failure on the MCP endpoints as a
// JSON-RPC error, like every other /mcp error.
func rejectMCP(w http.ResponseWriter, r *http.Request, err error) {
	var e *Error
	if !errors.As(policyError(err), &e) {
		w.Header().Set("WWW-Authenticate", `Bearer realm="junction"`)
		writeError(w, r, err)
		return
	}
	if e.Status == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", `Bearer realm="junction"`)
	}
	mcp.WriteError(w, e)
}

// rejectForPath renders authentication failures in the protocol of the
// route: Anthropic's error shape on /v1/messages, on
// /v1/messages/count_tokens, and on the model endpoints when the request
// carries anthropic-version; OpenAI's elsewhere.
func rejectForPath(w http.ResponseWriter, r *http.Request, err error) {
	anthropicModels := r.Header.Get("anthropic-version") != "" &&
		(r.URL.Path == "/v1/models" || strings.HasPrefix(r.URL.Path, "/v1/models/"))
	if r.URL.Path != "/v1/messages" && r.URL.Path != "/v1/messages/count_tokens" && !anthropicModels {
		rejectOpenAI(w, r, err)
		return
	}
	llm.WriteAnthropicError(w, r, err)
}
