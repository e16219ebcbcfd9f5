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
	return throttle.guard(writeError, func(w http.ResponseWriter, r *http.Request) (*http.Request, bool, error) {
		token, ok := bearerToken(r)
		if !ok {
			w.Header().Set("WWW-Authenticate", `Bearer realm="junction-admin"`)
			return nil, false, errUnauthorized("missing admin key: send it as Authorization: Bearer <key>")
		}
		if !auth.Verify(token) {
			w.Header().Set("WWW-Authenticate", `Bearer realm="junction-admin", error="invalid_token"`)
			return nil, true, errUnauthorized("invalid admin key")
		}
		return r, false, nil
	})
}

// metricsAuth guards /metrics with token when one is configured (and lets
// everything through when it is empty). Wrong tokens count in throttle like
// wrong keys.
func metricsAuth(token string, throttle *authThrottle) func(http.Handler) http.Handler {
	if token == "" {
		return func(next http.Handler) http.Handler { return next }
	}
	want := sha256.Sum256([]byte(token))
	return throttle.guard(writeError, func(w http.ResponseWriter, r *http.Request) (*http.Request, bool, error) {
		presented, ok := bearerToken(r)
		got := sha256.Sum256([]byte(presented))
		if !ok || subtle.ConstantTimeCompare(got[:], want[:]) != 1 {
			w.Header().Set("WWW-Authenticate", `Bearer realm="junction-metrics"`)
			return nil, ok, errUnauthorized("/metrics needs the metrics token (http.metrics_token) as Authorization: Bearer <token>")
		}
		return r, false, nil
	})
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
