package gateway

import (
	"net/http"

	"github.com/rs/zerolog"

	"github.com/junctionhq/junction/telemetry"
)

// RequestIDHeader carries the request id in both directions.
const RequestIDHeader = "X-Request-Id"

// requestID gives every request an id: the caller's X-Request-Id when it is
// sane (telemetry.ValidRequestID), a fresh one otherwise, so a caller's
// string is never echoed unless it is plainly an id. The id is set in the
// response header, put in the context (telemetry.RequestID) and on every log
// line of the request.
func requestID(base zerolog.Logger) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			id := r.Header.Get(RequestIDHeader)
			if !telemetry.ValidRequestID(id) {
				id = telemetry.NewRequestID()
			}
			w.Header().Set(RequestIDHeader, id)
			ctx := telemetry.WithRequestID(r.Context(), id)
			ctx = base.With().Str("request_id", id).Logger().WithContext(ctx)
			next.ServeHTTP(w, r.WithContext(ctx))
		})
	}
}
