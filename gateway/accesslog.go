package gateway

import (
	"net/http"
	"time"

	"github.com/rs/zerolog"
)

// accessLog writes one line per request: method, path, status, bytes,
// duration and request id. It never logs bodies, query strings (which may
// carry keys) or headers.
func accessLog(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		rec, w := recorderFor(w)
		defer func() {
			status := rec.statusOrOK()
			log := zerolog.Ctx(r.Context())
			ev := log.Info()
			if status >= 500 {
				ev = log.Warn()
			}
			ev.Str("method", r.Method).
				Str("path", r.URL.Path).
				Int("status", status).
				Int64("bytes", rec.bytes).
				Float64("duration_ms", float64(time.Since(start).Microseconds())/1000).
				Msg("request")
		}()
		next.ServeHTTP(w, r)
	})
}
