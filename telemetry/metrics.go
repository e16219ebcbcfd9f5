package telemetry

import (
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Metrics owns the process's Prometheus registry. Every package registers its
// collectors on Registry rather than on the global default registry, so tests
// can build as many gateways as they like in one process.
type Metrics struct {
	reg *prometheus.Registry

	httpRequests *prometheus.CounterVec
	httpDuration *prometheus.HistogramVec
	httpInFlight prometheus.Gauge
}

// NewMetrics returns a registry holding the Go runtime and process collectors
// and the HTTP request metrics.
func NewMetrics() *Metrics {
	reg := prometheus.NewRegistry()
	reg.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	)
	m := &Metrics{
		reg: reg,
		httpRequests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "junction",
			Name:      "http_requests_total",
			Help:      "HTTP requests served, by route pattern, method and status code.",
		}, []string{"route", "method", "status"}),
		httpDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: "junction",
			Name:      "http_request_duration_seconds",
			Help:      "Time from receiving a request to finishing its response, by route pattern, method and status code.",
			Buckets:   []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 300},
		}, []string{"route", "method", "status"}),
		httpInFlight: prometheus.NewGauge(prometheus.GaugeOpts{
			Namespace: "junction",
			Name:      "http_requests_in_flight",
			Help:      "HTTP requests being served right now, streams included.",
		}),
	}
	reg.MustRegister(m.httpRequests, m.httpDuration, m.httpInFlight)
	return m
}

// Registry is where other packages register their collectors.
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

// Handler serves the registry in the Prometheus text exposition format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{Registry: m.reg})
}

// RequestStarted and RequestFinished bracket one HTTP request. route must be
// a route pattern (such as "/admin/v1/keys/{id}"), never a raw path, so the
// label set stays bounded.
func (m *Metrics) RequestStarted() { m.httpInFlight.Inc() }

// RequestFinished records a finished request; see RequestStarted.
func (m *Metrics) RequestFinished(route, method string, status int, d time.Duration) {
	m.httpInFlight.Dec()
	code := statusLabel(status)
	m.httpRequests.WithLabelValues(route, method, code).Inc()
	m.httpDuration.WithLabelValues(route, method, code).Observe(d.Seconds())
}

// statusLabel avoids an allocation for the common codes.
func statusLabel(status int) string {
	switch status {
	case 200:
		return "200"
	case 201:
		return "201"
	case 204:
		return "204"
	case 400:
		return "400"
	case 401:
		return "401"
	case 404:
		return "404"
	case 429:
		return "429"
	case 500:
		return "500"
	}
	return strconv.Itoa(status)
}
