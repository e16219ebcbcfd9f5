package gateway

import (
	"encoding/hex"
	"math/rand/v2"
	"net/http"

	"github.com/rs/zerolog"

	"github.com/junctionhq/junction/telemetry"
)

// RequestIDHeader carries the request id in both directions.
const RequestIDHeader = "X-Request-Id"

// maxRequestIDLen bounds a caller-supplied id; longer ones are replaced.
const maxRequestIDLen = 128

// requestID gives every request an id: the caller's X-Request-Id when it is
// sane, a fresh one otherwise. The id is echoed in the response header, put in
// the context (telemetry.RequestID) and on every log line of the request.
func requestID(base zerolog.Logger) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			id := r.Header.Get(RequestIDHeader)
			if !validRequestID(id) {
				id = newRequestID()
			}
			w.Header().Set(RequestIDHeader, id)
			ctx := telemetry.WithRequestID(r.Context(), id)
			ctx = base.With().Str("request_id", id).Logger().WithContext(ctx)
			next.ServeHTTP(w, r.WithContext(ctx))
		})
	}
}

// validRequestID accepts printable ASCII without spaces, up to the length limit,
// so a caller cannot inject into logs or headers.
func validRequestID(id string) bool {
	if id == "" || len(id) > maxRequestIDLen {
		return false
	}
	for i := 0; i < len(id); i++ {
		if id[i] <= ' ' || id[i] > '~' {
			return false
		}
	}
	return true
}

// newRequestID returns 128 random bits in hex. Request ids are not secrets,
// so the fast runtime generator is enough.
func newRequestID() string {
	var b [16]byte
	lo, hi := rand.Uint64(), rand.Uint64()
	for i := range 8 {
		b[i] = byte(lo >> (8 * i))
		b[8+i] = byte(hi >> (8 * i))
	}
	return hex.EncodeToString(b[:])
}
