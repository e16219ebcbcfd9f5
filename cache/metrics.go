package cache

import (
	"context"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// metrics are the cache's Prometheus collectors.
type metrics struct {
	hits        *prometheus.CounterVec   // by tier
	misses      *prometheus.CounterVec   // by tier
	lookup      *prometheus.HistogramVec // by tier
	embed       prometheus.Histogram
	tokensSaved prometheus.Counter
	costSaved   prometheus.Counter
	errors      *prometheus.CounterVec // by backend
}

func newMetrics() *metrics {
	buckets := []float64{.00001, .000025, .00005, .0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1}
	return &metrics{
		hits: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "junction", Subsystem: "cache", Name: "hits_total",
			Help: "Cache lookups answered from the cache, by tier (exact, semantic).",
		}, []string{"tier"}),
		misses: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "junction", Subsystem: "cache", Name: "misses_total",
			Help: "Cache lookups a tier could not answer, by tier (exact, semantic).",
		}, []string{"tier"}),
		lookup: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: "junction", Subsystem: "cache", Name: "lookup_duration_seconds",
			Help:    "Time one tier took to answer a lookup, by tier; the semantic tier includes embedding the prompt.",
			Buckets: buckets,
		}, []string{"tier"}),
		embed: prometheus.NewHistogram(prometheus.HistogramOpts{
			Namespace: "junction", Subsystem: "cache", Name: "embed_duration_seconds",
			Help:    "Time the embedder took for one prompt of a lookup or store.",
			Buckets: buckets,
		}),
		tokensSaved: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: "junction", Subsystem: "cache", Name: "tokens_saved_total",
			Help: "Prompt plus completion tokens of the original answers served from the cache.",
		}),
		costSaved: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: "junction", Subsystem: "cache", Name: "cost_saved_usd_total",
			Help: "USD the original answers served from the cache cost, less the nominal cost charged per hit.",
		}),
		errors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "junction", Subsystem: "cache", Name: "backend_errors_total",
			Help: "Errors of the cache's back-ends (memory, redis, qdrant, embedder); the cache failed open.",
		}, []string{"backend"}),
	}
}

func (m *metrics) register(r prometheus.Registerer, c *Cache) error {
	for _, col := range []prometheus.Collector{m.hits, m.misses, m.lookup, m.embed, m.tokensSaved, m.costSaved, m.errors, sizeCollector{c}} {
		if err := r.Register(col); err != nil {
			return err
		}
	}
	return nil
}

var (
	entriesDesc = prometheus.NewDesc("junction_cache_entries", "Entries held by a cache tier, by tier and backend.", []string{"tier", "backend"}, nil)
	bytesDesc   = prometheus.NewDesc("junction_cache_bytes", "Bytes held by a cache tier (estimated), by tier and backend.", []string{"tier", "backend"}, nil)
)

// sizeCollector reports the entries and bytes gauges from the back-ends at
// scrape time, bounded by a timeout so a dead back-end cannot hang /metrics.
type sizeCollector struct{ c *Cache }

func (s sizeCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- entriesDesc
	ch <- bytesDesc
}

func (s sizeCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	st := s.c.Stats(ctx)
	for _, t := range []struct {
		tier string
		ts   TierStats
	}{{string(TierExact), st.Exact}, {string(TierSemantic), st.Semantic}} {
		if t.ts.Backend == "" {
			continue
		}
		if t.ts.Entries >= 0 {
			ch <- prometheus.MustNewConstMetric(entriesDesc, prometheus.GaugeValue, float64(t.ts.Entries), t.tier, t.ts.Backend)
		}
		if t.ts.Bytes >= 0 {
			ch <- prometheus.MustNewConstMetric(bytesDesc, prometheus.GaugeValue, float64(t.ts.Bytes), t.tier, t.ts.Backend)
		}
	}
}
