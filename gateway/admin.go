package gateway

import (
	"context"
	"net/http"
	"time"
)

// adminStatus describes the running gateway to an operator, with the detail
// of every dependency check that /readyz keeps to itself.
func (g *Gateway) adminStatus(w http.ResponseWriter, r *http.Request) error {
	checks, _ := g.runChecks(r.Context())
	storeInfo := map[string]any{"driver": g.store.Driver()}
	ctx, cancel := context.WithTimeout(r.Context(), readyCheckTimeout)
	defer cancel()
	if version, err := g.store.SchemaVersion(ctx); err == nil {
		storeInfo["schema_version"] = version
	}
	counters, _ := g.checkCounters(r.Context())
	writeJSON(w, http.StatusOK, map[string]any{
		"version":        g.version,
		"started_at":     g.started.UTC().Format(time.RFC3339),
		"uptime_seconds": int64(time.Since(g.started).Seconds()),
		"store":          storeInfo,
		"checks":         checks,
		"counters":       counters,
	})
	return nil
}
