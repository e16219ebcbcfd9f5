package gateway

import (
	"crypto/sha256"
	"crypto/subtle"
	"net/http"
	"strings"

	"github.com/junctionhq/junction/policy"
)

// adminAuth lets a request through only with the admin key as a bearer
// token. Wrong keys count against the client's address in throttle, which
// delays and then refuses an address that keeps guessing; the right key is
// checked before any delay, so it is never slowed down.
func adminAuth(auth *policy.AdminAuth, throttle *authThrottle) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			client, refused := throttle.admit(r)
			if refused != nil {
				writeError(w, r, refused)
				return
			}
			token, ok := bearerToken(r)
			if !ok {
				w.Header().Set("WWW-Authenticate", `Bearer realm="junction-admin"`)
				writeError(w, r, errUnauthorized("missing admin key: send it as Authorization: Bearer <key>"))
				return
			}
			if !auth.Verify(token) {
				throttle.fail(r.Context(), client)
				w.Header().Set("WWW-Authenticate", `Bearer realm="junction-admin", error="invalid_token"`)
				writeError(w, r, errUnauthorized("invalid admin key"))
				return
			}
			next.ServeHTTP(w, r)
		})
	}
}

// metricsAuth guards /metrics with token when one is configured (and lets
// everything through when it is empty). Wrong tokens count in throttle like
// wrong keys.
func metricsAuth(token string, throttle *authThrottle) func(http.Handler) http.Handler {
	want := sha256.Sum256([]byte(token))
	return func(next http.Handler) http.Handler {
		if token == "" {
			return next
		}
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			client, refused := throttle.admit(r)
			if refused != nil {
				writeError(w, r, refused)
				return
			}
			presented, ok := bearerToken(r)
			got := sha256.Sum256([]byte(presented))
			if !ok || subtle.ConstantTimeCompare(got[:], want[:]) != 1 {
				if ok {
					throttle.fail(r.Context(), client)
				}
				w.Header().Set("WWW-Authenticate", `Bearer realm="junction-metrics"`)
				writeError(w, r, errUnauthorized("/metrics needs the metrics token (http.metrics_token) as Authorization: Bearer <token>"))
				return
			}
			next.ServeHTTP(w, r)
		})
	}
}

// bearerToken returns the token of an "Authorization: Bearer <token>" header.
func bearerToken(r *http.Request) (string, bool) {
	h := r.Header.Get("Authorization")
	scheme, token, ok := strings.Cut(h, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return "", false
	}
	token = strings.TrimSpace(token)
	return token, token != ""
}
