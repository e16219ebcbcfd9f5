package mcp

import (
	"errors"

	"github.com/prometheus/client_golang/prometheus"
)

// metrics are the hub's Prometheus collectors. Labels are bounded: server and
// tool come from the catalog (never from a caller), outcome from a fixed set.
type metrics struct {
	calls        *prometheus.CounterVec
	seconds      *prometheus.HistogramVec
	catalogTools prometheus.Gauge
	// subscriptions counts (downstream subscriber, resource) pairs;
	// waiting counts the calls parked for a client's input.
	subscriptions prometheus.Gauge
	waiting       prometheus.Gauge
}

// Outcomes of a tool call, as recorded in usage, logs and metrics.
const (
	OutcomeOK              = "ok"
	OutcomeError           = "error"     // the upstream failed or returned isError
	OutcomeCancelled       = "cancelled" // the caller went away
	OutcomeTimeout         = "timeout"
	OutcomeDenied          = "denied" // policy
	OutcomeRateLimited     = "rate_limited"
	OutcomeBudgetExceeded  = "budget_exceeded"
	OutcomeUnavailable     = "unavailable" // governance could not decide
	OutcomeUnauthenticated = "unauthenticated"
	OutcomeUnknownTool     = "unknown_tool"
)

// unknownLabel stands for the server and tool of a call to an unknown tool,
// so that callers cannot mint label values.
const unknownLabel = "_unknown"

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		calls: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "junction", Subsystem: "mcp", Name: "tool_calls_total",
			Help: "Tool calls through the hub, by upstream server, upstream tool and outcome.",
		}, []string{"server", "tool", "outcome"}),
		seconds: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: "junction", Subsystem: "mcp", Name: "tool_call_seconds",
			Help:    "Time from admitting a tool call to its result, by upstream server.",
			Buckets: []float64{.001, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 300},
		}, []string{"server"}),
		catalogTools: prometheus.NewGauge(prometheus.GaugeOpts{
			Namespace: "junction", Subsystem: "mcp", Name: "catalog_tools",
			Help: "Tools in the merged catalog.",
		}),
		subscriptions: prometheus.NewGauge(prometheus.GaugeOpts{
			Namespace: "junction", Subsystem: "mcp", Name: "resource_subscriptions",
			Help: "Resource subscriptions of downstream clients (one per subscriber and resource).",
		}),
		waiting: prometheus.NewGauge(prometheus.GaugeOpts{
			Namespace: "junction", Subsystem: "mcp", Name: "input_waiting_calls",
			Help: "Tool calls of 2026-07-28 clients parked on this replica, waiting for the client's input.",
		}),
	}
	if reg == nil {
		return m, nil
	}
	var errs []error
	for _, c := range []prometheus.Collector{m.calls, m.seconds, m.catalogTools, m.subscriptions, m.waiting} {
		if err := reg.Register(c); err != nil {
			errs = append(errs, err)
		}
	}
	if len(errs) > 0 {
		return nil, errors.Join(append([]error{errors.New("mcp: register metrics")}, errs...)...)
	}
	return m, nil
}
