package telemetry

import (
	"cmp"
	"context"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/junctionhq/junction/store"
)

// UsageSink stores usage records: the store's InsertUsage. It must skip
// records whose ID it already holds.
type UsageSink interface {
	InsertUsage(ctx context.Context, recs []store.UsageRecord) error
}

// UsageSinkFunc is a function as a UsageSink.
type UsageSinkFunc func(ctx context.Context, recs []store.UsageRecord) error

// InsertUsage calls f.
func (f UsageSinkFunc) InsertUsage(ctx context.Context, recs []store.UsageRecord) error {
	return f(ctx, recs)
}

// UsageWriterConfig tunes a UsageWriter. Zero fields take the defaults.
type UsageWriterConfig struct {
	// Queue bounds the records held in memory waiting to be written, also
	// while the store is away. Default DefaultUsageQueue.
	Queue int
	// Batch is how many records one write takes. Default DefaultUsageBatch.
	Batch int
	// FlushInterval is the longest a record waits before being written.
	// Default DefaultUsageFlushInterval.
	FlushInterval time.Duration
	// SpillDir holds the spill file (UsageSpillFile); "" for none, so that
	// records beyond Queue are dropped while the store is away.
	SpillDir string
	// SpillMaxBytes bounds the spill file. Default DefaultUsageSpillMaxBytes.
	SpillMaxBytes int64
}

// The usage writer's defaults.
const (
	DefaultUsageQueue         = 100000
	DefaultUsageSpillMaxBytes = 1 << 30
	DefaultUsageBatch         = 500
	DefaultUsageFlushInterval = time.Second
)

func (c *UsageWriterConfig) applyDefaults() {
	c.Queue = cmp.Or(c.Queue, DefaultUsageQueue)
	c.SpillMaxBytes = cmp.Or(c.SpillMaxBytes, DefaultUsageSpillMaxBytes)
	c.Batch = cmp.Or(c.Batch, DefaultUsageBatch)
	c.FlushInterval = cmp.Or(c.FlushInterval, DefaultUsageFlushInterval)
}

// UsageStats are a UsageWriter's counters.
type UsageStats struct {
	Queued  int64 // records waiting in memory to be written
	Spilled int64 // records waiting in the spill file
	Written int64 // records written to the store
	Dropped int64 // records dropped: memory full, spill file full or unavailable
}

// RegisterUsageMetrics registers the junction_usage_records_* metrics of
// the usage writer whose counters stats returns.
func RegisterUsageMetrics(reg prometheus.Registerer, stats func() UsageStats) {
	metric := func(name, help string, counter bool, f func(UsageStats) float64) prometheus.Collector {
		opts := prometheus.Opts{Namespace: "junction", Name: name, Help: help}
		fn := func() float64 { return f(stats()) }
		if counter {
			return prometheus.NewCounterFunc(prometheus.CounterOpts(opts), fn)
		}
		return prometheus.NewGaugeFunc(prometheus.GaugeOpts(opts), fn)
	}
	reg.MustRegister(
		metric("usage_records_written_total", "Usage records written to the store.", true,
			func(s UsageStats) float64 { return float64(s.Written) }),
		metric("usage_records_dropped_total", "Usage records lost: dropped because memory and the spill file were full, "+
			"or unreadable in the spill file.", true,
			func(s UsageStats) float64 { return float64(s.Dropped) }),
		metric("usage_records_queued", "Usage records waiting in memory to be written.", false,
			func(s UsageStats) float64 { return float64(s.Queued) }),
		metric("usage_records_spilled", "Usage records waiting in the spill file for the store to take them.", false,
			func(s UsageStats) float64 { return float64(s.Spilled) }),
	)
}
