package gateway

import (
	"net/http"

	"github.com/go-chi/chi/v5"
)

// routes builds the router. Middleware order matters: the request id comes
// first so every later log line carries it; the access log and metrics wrap
// the recoverer so a recovered panic is logged and counted as the 500 it became.
func (g *Gateway) routes() chi.Router {
	r := chi.NewRouter()
	r.Use(
		requestID(g.log),
		accessLog,
		httpMetrics(g.metrics),
		recoverer,
		bodyLimit(int64(g.cfg.HTTP.MaxBodyBytes), g.cfg.HTTP.BodyReadTimeout),
	)
	r.NotFound(handlerFunc(func(w http.ResponseWriter, r *http.Request) error {
		return errNotFound("no route for " + r.Method + " " + r.URL.Path)
	}).ServeHTTP)
	r.MethodNotAllowed(handlerFunc(func(w http.ResponseWriter, r *http.Request) error {
		return &Error{Status: http.StatusMethodNotAllowed, Type: "invalid_request_error", Code: "method_not_allowed",
			Message: "method " + r.Method + " is not allowed on " + r.URL.Path}
	}).ServeHTTP)

	r.Get("/healthz", g.healthz)
	r.Get("/readyz", handlerFunc(g.readyz).ServeHTTP)
	r.Method(http.MethodGet, "/metrics", g.metrics.Handler())

	r.Route("/admin/v1", func(r chi.Router) {
		r.Use(adminAuth(g.admin))
		r.Get("/status", handlerFunc(g.adminStatus).ServeHTTP)
	})
	return r
}
