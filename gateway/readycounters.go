package gateway

import (
	"context"
	"time"
)

// The counters in readiness and status: a Redis shared by the replicas is a
// dependency like the store (every limited request needs it, and fails
// closed without it), so /readyz reports it and answers 503 while it does
// not answer; in-memory counters are part of the process and always ready.

// countersPinger is the capability of a counter back-end that lives outside
// the process (counters.Redis).
type countersPinger interface {
	Ping(ctx context.Context) error
}

// countersHealth is the outcome of one check of the counter back-end.
type countersHealth struct {
	Driver    string `json:"driver"`
	Status    string `json:"status"` // "ok" or "error"
	LatencyMS int64  `json:"latency_ms"`
	// Error is the cause, for the admin status only: it may name the Redis
	// host, so the unauthenticated /readyz leaves it out.
	Error string `json:"error,omitempty"`
}

// checkCounters pings the counter back-end when it lives outside the
// process. external is false for in-memory counters, which need no check.
// The ping is bounded by the back-end's own call timeout.
func (g *Gateway) checkCounters(ctx context.Context) (h countersHealth, external bool) {
	h = countersHealth{Driver: g.countersKind, Status: "ok"}
	p, ok := g.counters.(countersPinger)
	if !ok {
		return h, false
	}
	start := time.Now()
	if err := p.Ping(ctx); err != nil {
		h.Status, h.Error = "error", err.Error()
	}
	h.LatencyMS = time.Since(start).Milliseconds()
	return h, true
}
