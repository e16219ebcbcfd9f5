package gateway

import (
	"context"
	"fmt"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/junctionhq/junction/policy"
	"github.com/junctionhq/junction/store/counters"
)

// newCounters opens the counter back-end the configuration selects.
func newCounters(ctx context.Context, cfg policy.CountersConfig) (counters.Counters, string, error) {
	if cfg.Redis != nil {
		r, err := counters.NewRedis(ctx, counters.RedisOptions{URL: cfg.Redis.URL, Prefix: cfg.Redis.Prefix})
		if err != nil {
			return nil, "", fmt.Errorf("gateway: counters: %w", err)
		}
		return r, "redis", nil
	}
	return counters.NewMemory(counters.MemoryOptions{}), "memory", nil
}

// registerPolicyMetrics exports the governance layer's counters.
func registerPolicyMetrics(reg prometheus.Registerer, e *policy.Engine) {
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
		stat("usage_records_written_total", "Usage records written to the store.", true,
			func(s policy.Stats) float64 { return float64(s.UsageWritten) }),
		stat("usage_records_dropped_total", "Usage records dropped because the queue was full or the store refused them.", true,
			func(s policy.Stats) float64 { return float64(s.UsageDropped) }),
		stat("usage_records_queued", "Usage records waiting to be written.", false,
			func(s policy.Stats) float64 { return float64(s.UsageQueued) }),
		stat("keys", "Virtual keys in the current snapshot.", false,
			func(s policy.Stats) float64 { return float64(s.Keys) }),
		stat("teams", "Teams in the current snapshot.", false,
			func(s policy.Stats) float64 { return float64(s.Teams) }),
		stat("rules", "Stored access rules in the current snapshot.", false,
			func(s policy.Stats) float64 { return float64(s.Rules) }),
	)
}
