package gateway

import (
	"net/http"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/junctionhq/junction/telemetry"
)

// httpMetrics counts requests and times them by route pattern, method and
// status. Unrouted paths share one label so scanners cannot blow up the
// series count.
func httpMetrics(m *telemetry.Metrics) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			start := time.Now()
			rec, w := recorderFor(w)
			m.RequestStarted()
			defer func() {
				route := "unmatched"
				if rc := chi.RouteContext(r.Context()); rc != nil {
					if p := rc.RoutePattern(); p != "" {
						route = p
					}
				}
				m.RequestFinished(route, methodLabel(r.Method), rec.statusOrOK(), time.Since(start))
			}()
			next.ServeHTTP(w, r)
		})
	}
}

// methodLabel bounds the method label to the standard methods.
func methodLabel(m string) string {
	switch m {
	case http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut,
		http.MethodPatch, http.MethodDelete, http.MethodOptions:
		return m
	}
	return "OTHER"
}
