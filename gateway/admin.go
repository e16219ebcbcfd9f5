package gateway

import (
	"net/http"
	"time"
)

// adminStatus describes the running gateway to an operator.
func (g *Gateway) adminStatus(w http.ResponseWriter, r *http.Request) error {
	version, err := g.store.SchemaVersion(r.Context())
	if err != nil {
		return errInternal(err)
	}
	counters, _ := g.checkCounters(r.Context())
	writeJSON(w, http.StatusOK, map[string]any{
		"version":        g.version,
		"started_at":     g.started.UTC().Format(time.RFC3339),
		"uptime_seconds": int64(time.Since(g.started).Seconds()),
		"store": map[string]any{
			"driver":         g.store.Driver(),
			"schema_version": version,
		},
		"counters": counters,
	})
	return nil
}
