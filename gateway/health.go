package gateway

import (
	"context"
	"net/http"
	"time"

	"github.com/rs/zerolog"
)

// healthz answers while the process is alive; it checks nothing else, so an
// orchestrator never restarts a gateway because a dependency is down.
func (g *Gateway) healthz(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	_, _ = w.Write([]byte(`{"status":"ok"}` + "\n"))
}

// readyCheckTimeout bounds each readiness check.
const readyCheckTimeout = 2 * time.Second

// dependency is one thing the gateway needs to serve: /readyz and the admin
// status route check each.
type dependency struct {
	name   string // key in the checks map, e.g. "store"
	driver string // what serves it, e.g. "postgres"; shown to admins only
	ping   func(context.Context) error
}

// dependencies lists what /readyz checks.
func (g *Gateway) dependencies() []dependency {
	deps := []dependency{{name: "store", driver: g.store.Driver(), ping: g.store.Ping}}
	if p, ok := g.counters.(countersPinger); ok { // a Redis shared by the replicas
		deps = append(deps, dependency{name: g.countersKind, driver: g.countersKind, ping: p.Ping})
	}
	return deps
}

// dependencyCheck is the outcome of one dependency check. Error carries the
// dependency's own message (a DSN's user, database and host among it), so it
// is shown only on the admin status route.
type dependencyCheck struct {
	Status    string `json:"status"` // "ok" or "unavailable"
	Driver    string `json:"driver,omitempty"`
	LatencyMS int64  `json:"latency_ms"`
	Error     string `json:"error,omitempty"`
}

// runChecks pings every dependency, each bounded by readyCheckTimeout, and
// reports whether all of them answered.
func (g *Gateway) runChecks(ctx context.Context) (map[string]dependencyCheck, bool) {
	out := make(map[string]dependencyCheck)
	ok := true
	for _, d := range g.dependencies() {
		cctx, cancel := context.WithTimeout(ctx, readyCheckTimeout)
		start := time.Now()
		err := d.ping(cctx)
		cancel()
		res := dependencyCheck{Status: "ok", Driver: d.driver, LatencyMS: time.Since(start).Milliseconds()}
		if err != nil {
			res.Status, res.Error, ok = "unavailable", err.Error(), false
		}
		out[d.name] = res
	}
	return out, ok
}

// readyz answers 200 when every dependency is reachable and 503 otherwise.
// It is unauthenticated, so it says only which dependency failed: the
// failure's detail goes to the log and to GET /admin/v1/status.
func (g *Gateway) readyz(w http.ResponseWriter, r *http.Request) error {
	checks, ok := g.runChecks(r.Context())
	public := make(map[string]string, len(checks))
	for name, c := range checks {
		public[name] = c.Status
		if c.Error != "" {
			zerolog.Ctx(r.Context()).Warn().Str("check", name).Str("error", c.Error).Msg("readiness check failed")
		}
	}
	status, code := "ok", http.StatusOK
	if !ok {
		status, code = "unavailable", http.StatusServiceUnavailable
	}
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, code, map[string]any{"status": status, "checks": public})
	return nil
}
