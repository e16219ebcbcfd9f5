package gateway

import (
	"context"
	"fmt"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/junctionhq/junction/policy"
	"github.com/junctionhq/junction/registry"
	"github.com/junctionhq/junction/store/counters"
	"github.com/junctionhq/junction/telemetry"
)

// newCounters opens the counter back-end the configuration selects.
func newCounters(ctx context.Context, cfg policy.CountersConfig) (counters.Counters, string, error) {
	if cfg.Redis != nil {
		r, err := counters.NewRedis(ctx, counters.RedisOptions{URL: cfg.Redis.URL, Prefix: cfg.Redis.Prefix,
			Timeout: cfg.Redis.Timeout})
		if err != nil {
			return nil, "", fmt.Errorf("gateway: counters: %w", err)
		}
		return r, "redis", nil
	}
	return counters.NewMemory(counters.MemoryOptions{}), "memory", nil
}

// registerPolicyMetrics exports the governance layer's counters and its
// usage writer's.
func registerPolicyMetrics(reg prometheus.Registerer, e *policy.Engine) {
	telemetry.RegisterUsageMetrics(reg, func() telemetry.UsageStats { return e.Stats().Usage })
	stat := func(name, help string, counter bool, f func(policy.Stats) float64) prometheus.Collector {
		opts := prometheus.Opts{Namespace: "junction", Subsystem: "policy", Name: name, Help: help}
		fn := func() float64 { return f(e.Stats()) }
		if counter {
			return prometheus.NewCounterFunc(prometheus.CounterOpts(opts), fn)
		}
		return prometheus.NewGaugeFunc(prometheus.GaugeOpts(opts), fn)
	}
	reg.MustRegister(
		stat("reloads_total", "Snapshots of keys, teams, policies and prices built from the store.", true,
			func(s policy.Stats) float64 { return float64(s.Reloads) }),
		stat("settle_charges_retried_total", "Counter charges of settlements that failed to reach the counters, applied on a retry.", true,
			func(s policy.Stats) float64 { return float64(s.ChargesRetried) }),
		stat("settle_charges_given_up_total", "Counter charges of settlements given up: the counters stayed away past meter.settle_retry, "+
			"or too many were waiting.", true,
			func(s policy.Stats) float64 { return float64(s.ChargesGivenUp) }),
		stat("settle_charges_queued", "Counter windows with a settlement charge waiting for a retry.", false,
			func(s policy.Stats) float64 { return float64(s.ChargesQueued) }),
		stat("keys", "Virtual keys in the current snapshot.", false,
			func(s policy.Stats) float64 { return float64(s.Keys) }),
		stat("teams", "Teams in the current snapshot.", false,
			func(s policy.Stats) float64 { return float64(s.Teams) }),
		stat("rules", "Stored access rules in the current snapshot.", false,
			func(s policy.Stats) float64 { return float64(s.Rules) }),
	)
}

// upstreamCollector exports each MCP upstream's connection state.
type upstreamCollector struct{ r *registry.Registry }

var (
	upstreamStateDesc = prometheus.NewDesc("junction_mcp_upstream_state",
		"1 for the state each registered MCP upstream is in (connecting, ready, failed, disabled).", []string{"server", "state"}, nil)
	upstreamToolsDesc = prometheus.NewDesc("junction_mcp_upstream_tools",
		"Tools each ready MCP upstream offers.", []string{"server"}, nil)
	upstreamRestartsDesc = prometheus.NewDesc("junction_mcp_upstream_restarts",
		"Reconnects and stdio restarts of each MCP upstream since start-up.", []string{"server"}, nil)
)

func (c upstreamCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- upstreamStateDesc
	ch <- upstreamToolsDesc
	ch <- upstreamRestartsDesc
}

func (c upstreamCollector) Collect(ch chan<- prometheus.Metric) {
	for _, s := range c.r.Statuses() {
		for _, state := range []string{registry.StateConnecting, registry.StateReady, registry.StateFailed, registry.StateDisabled} {
			v := 0.0
			if s.State == state {
				v = 1
			}
			ch <- prometheus.MustNewConstMetric(upstreamStateDesc, prometheus.GaugeValue, v, s.Name, state)
		}
		ch <- prometheus.MustNewConstMetric(upstreamToolsDesc, prometheus.GaugeValue, float64(s.Tools), s.Name)
		ch <- prometheus.MustNewConstMetric(upstreamRestartsDesc, prometheus.CounterValue, float64(s.Restarts), s.Name)
	}
}
