package gateway

import (
	"net/http"

	"github.com/go-chi/chi/v5"

	"github.com/junctionhq/junction/mcp"
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
	r.With(metricsAuth(g.cfg.HTTP.MetricsToken, g.throttle)).Method(http.MethodGet, "/metrics", g.metrics.Handler())

	// Caller routes authenticate with a virtual key; the LLM and MCP
	// endpoints mount here.
	r.Route("/v1", func(r chi.Router) {
		r.Use(authenticate(g.policy, g.throttle, rejectForPath))
		r.Get("/key", handlerFunc(g.callerKey).ServeHTTP)
		r.Post("/chat/completions", g.llm.ChatCompletions)
		r.Post("/messages", g.llm.Messages)
		r.Post("/messages/count_tokens", g.llm.CountTokens)
		r.Post("/embeddings", g.llm.Embeddings)
		r.Get("/models", g.llm.ListModels)
		// Model ids contain '/' (provider/model): the wildcard takes the rest.
		r.Get("/models/*", func(w http.ResponseWriter, r *http.Request) {
			g.llm.RetrieveModel(w, r, chi.URLParam(r, "*"))
		})
	})

	// The federated MCP endpoint: both protocol eras on /mcp, named toolsets
	// on /mcp/{toolset}, and the legacy SSE transport.
	r.Group(func(r chi.Router) {
		r.Use(authenticate(g.policy, g.throttle, rejectMCP))
		r.Handle("/mcp", g.hub.Handler(""))
		r.Handle("/mcp/{toolset}", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			g.hub.Handler(chi.URLParam(r, "toolset")).ServeHTTP(w, r)
		}))
		r.Handle(mcp.SSEPath, g.hub.SSEHandler())
		r.Handle(mcp.SSEMessagePath, g.hub.SSEHandler())
	})

	r.Route("/admin/v1", func(r chi.Router) {
		r.Use(adminAuth(g.admin, g.throttle), adminTimeout(g.cfg.HTTP.AdminTimeout))
		r.Get("/status", handlerFunc(g.adminStatus).ServeHTTP)
		r.Post("/reload", handlerFunc(g.reloadConfig).ServeHTTP)

		g.mountTeams(r)
		g.mountKeys(r)

		r.Get("/policies", handlerFunc(g.listPolicies).ServeHTTP)
		r.Post("/policies", handlerFunc(g.addPolicy).ServeHTTP)
		r.Delete("/policies", handlerFunc(g.removePolicy).ServeHTTP)
		r.Post("/policies/check", handlerFunc(g.checkPolicy).ServeHTTP)

		r.Get("/prices", handlerFunc(g.listPrices).ServeHTTP)
		r.Post("/prices", handlerFunc(g.setPrice).ServeHTTP)
		r.Get("/prices/*", handlerFunc(g.getPrice).ServeHTTP)
		r.Delete("/prices/*", handlerFunc(g.deletePrice).ServeHTTP)

		r.Get("/usage", handlerFunc(g.usage).ServeHTTP)
		g.mountCache(r)

		g.mountProviders(r)
		g.mountServers(r)
		r.Get("/tools", handlerFunc(g.listTools).ServeHTTP)
		r.Post("/tools/call", handlerFunc(g.callTool).ServeHTTP)
	})
	return r
}
