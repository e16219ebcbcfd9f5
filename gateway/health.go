package gateway

import (
	"context"
	"net/http"
	"time"
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

// readyz answers 200 when every dependency is reachable and 503 otherwise,
// with the detail of each check.
func (g *Gateway) readyz(w http.ResponseWriter, r *http.Request) error {
	type check struct {
		Status    string `json:"status"`
		Driver    string `json:"driver,omitempty"`
		LatencyMS int64  `json:"latency_ms"`
		Error     string `json:"error,omitempty"`
	}
	ctx, cancel := context.WithTimeout(r.Context(), readyCheckTimeout)
	defer cancel()
	start := time.Now()
	storeCheck := check{Status: "ok", Driver: g.store.Driver()}
	if err := g.store.Ping(ctx); err != nil {
		storeCheck.Status, storeCheck.Error = "error", err.Error()
	}
	storeCheck.LatencyMS = time.Since(start).Milliseconds()

	status, code := "ok", http.StatusOK
	if storeCheck.Status != "ok" {
		status, code = "unavailable", http.StatusServiceUnavailable
	}
	checks := map[string]any{"store": storeCheck}
	if ch, external := g.checkCounters(ctx); external {
		ch.Error = "" // may name the Redis host; /admin/v1/status has it
		checks[ch.Driver] = ch
		if ch.Status != "ok" {
			status, code = "unavailable", http.StatusServiceUnavailable
		}
	}
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, code, map[string]any{
		"status":  status,
		"version": g.version,
		"checks":  checks,
	})
	return nil
}
