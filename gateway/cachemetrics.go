package gateway

import (
	"reflect"
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"
)

// cacheCollectors is the response cache's metrics as the gateway's registry
// sees them: one collector standing for the collectors of the cache in
// force. A reload that changes the cache settings builds a new cache, whose
// metrics (the same names) replace the old cache's here instead of being
// registered a second time; its counters start again from zero, which
// Prometheus reads as a reset.
type cacheCollectors struct {
	cur atomic.Pointer[collectorSet]
}

var _ prometheus.Collector = (*cacheCollectors)(nil)

// use makes set the collectors served.
func (c *cacheCollectors) use(set *collectorSet) { c.cur.Store(set) }

// Describe implements prometheus.Collector.
func (c *cacheCollectors) Describe(ch chan<- *prometheus.Desc) {
	if set := c.cur.Load(); set != nil {
		for _, col := range set.cs {
			col.Describe(ch)
		}
	}
}

// Collect implements prometheus.Collector.
func (c *cacheCollectors) Collect(ch chan<- prometheus.Metric) {
	if set := c.cur.Load(); set != nil {
		for _, col := range set.cs {
			col.Collect(ch)
		}
	}
}

// collectorSet is the prometheus.Registerer one cache is built with: it
// keeps the collectors the cache registers, for cacheCollectors to serve.
// It is filled by cache.New and read only after.
type collectorSet struct {
	cs []prometheus.Collector
}

var _ prometheus.Registerer = (*collectorSet)(nil)

// Register implements prometheus.Registerer.
func (s *collectorSet) Register(c prometheus.Collector) error {
	s.cs = append(s.cs, c)
	return nil
}

// MustRegister implements prometheus.Registerer.
func (s *collectorSet) MustRegister(cs ...prometheus.Collector) { s.cs = append(s.cs, cs...) }

// Unregister implements prometheus.Registerer. Collectors of a type that
// cannot be compared are never found.
func (s *collectorSet) Unregister(c prometheus.Collector) bool {
	if c == nil || !reflect.TypeOf(c).Comparable() {
		return false
	}
	for i, col := range s.cs {
		if reflect.TypeOf(col) == reflect.TypeOf(c) && col == c {
			s.cs = append(s.cs[:i], s.cs[i+1:]...)
			return true
		}
	}
	return false
}
