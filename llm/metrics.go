package llm

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"sync"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/junctionhq/junction/llm/chat"
	"github.com/junctionhq/junction/llm/router"
)

// metrics are the LLM path's Prometheus series. Labels are bounded: a model
// label is a name the configuration lists (see llm/routes), or an
// unlisted provider/model an upstream has answered, at most maxLabelValues
// of those; any other name (unknown, refused, or past the cap) counts as
// "other". Provider and key name come from the configuration, and team and
// virtual-key labels are capped at maxLabelValues distinct values each (the
// rest count as "other").
type metrics struct {
	requests  *prometheus.CounterVec   // route, provider, status
	upstream  *prometheus.HistogramVec // provider
	ttft      *prometheus.HistogramVec // provider
	tokens    *prometheus.CounterVec   // provider, model, team, key, direction
	cost      *prometheus.CounterVec   // provider, model, team, key
	attempts  *prometheus.CounterVec   // route: retries beyond the first attempt
	fallbacks *prometheus.CounterVec   // route
	failures  *prometheus.CounterVec   // provider, cause
	teams     boundedLabel
	keys      boundedLabel
	// listed reports a model name the configuration lists; unlisted
	// names that were served share the bounded models label.
	listed func(string) bool
	models boundedLabel
}

// model is the label of a model name; served says an upstream (or the
// cache) answered it.
func (m *metrics) model(name string, served bool) string {
	if m.listed != nil && m.listed(name) {
		return name
	}
	if served {
		return m.models.value(name)
	}
	if m.models.has(name) {
		return name
	}
	return "other"
}

// maxLabelValues caps the distinct team and key label values.
const maxLabelValues = 200

type boundedLabel struct {
	mu   sync.Mutex // guards seen
	seen map[string]bool
}

func (b *boundedLabel) value(v string) string {
	if v == "" {
		return "none"
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.seen == nil {
		b.seen = map[string]bool{}
	}
	if b.seen[v] {
		return v
	}
	if len(b.seen) >= maxLabelValues {
		return "other"
	}
	b.seen[v] = true
	return v
}

// has reports whether v holds a label value of its own.
func (b *boundedLabel) has(v string) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.seen[v]
}

var latencyBuckets = []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 120}

func newMetrics(reg prometheus.Registerer, rt *router.Router, listed func(string) bool) *metrics {
	m := &metrics{
		listed: listed,
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "junction", Subsystem: "llm", Name: "requests_total",
			Help: "LLM requests by model (route), the provider that answered, and status."}, []string{"model", "provider", "status"}),
		upstream: prometheus.NewHistogramVec(prometheus.HistogramOpts{Namespace: "junction", Subsystem: "llm", Name: "upstream_seconds",
			Help: "Time spent in upstream calls per request, retries included.", Buckets: latencyBuckets}, []string{"provider"}),
		ttft: prometheus.NewHistogramVec(prometheus.HistogramOpts{Namespace: "junction", Subsystem: "llm", Name: "time_to_first_token_seconds",
			Help: "Streams: time from the request to the first upstream event.", Buckets: latencyBuckets}, []string{"provider"}),
		tokens: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "junction", Subsystem: "llm", Name: "tokens_total",
			Help: "Tokens by direction (prompt, completion)."}, []string{"provider", "model", "team", "key", "direction"}),
		cost: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "junction", Subsystem: "llm", Name: "cost_usd_total",
			Help: "Cost in USD from the price table."}, []string{"provider", "model", "team", "key"}),
		attempts: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "junction", Subsystem: "llm", Name: "retries_total",
			Help: "Upstream attempts beyond the first, by model."}, []string{"model"}),
		fallbacks: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "junction", Subsystem: "llm", Name: "fallbacks_total",
			Help: "Requests answered by a fallback model, by requested model."}, []string{"model"}),
		failures: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "junction", Subsystem: "llm", Name: "upstream_failures_total",
			Help: "Upstream failures counted against a target's health, by provider and cause (an HTTP status, timeout, network, " +
				"or stream: broken after its first event); a failed attempt counts even when a retry then succeeded."},
			[]string{"provider", "cause"}),
	}
	if reg != nil {
		reg.MustRegister(m.requests, m.upstream, m.ttft, m.tokens, m.cost, m.attempts, m.fallbacks, m.failures, &breakerCollector{router: rt})
	}
	return m
}

// failed counts a failure the router blamed on target c (RouterOptions.OnFailure).
func (m *metrics) failed(c *router.Candidate, err error, inStream bool) {
	m.failures.WithLabelValues(c.Target.Provider, failureCause(err, inStream)).Inc()
}

// failureCause is the cause label of a failure: "stream" after a stream's
// first event, the upstream's HTTP status when it answered, "timeout" or
// "network" when it did not.
func failureCause(err error, inStream bool) string {
	var ue *chat.UpstreamError
	switch {
	case inStream:
		return "stream"
	case errors.As(err, &ue) && ue.Status >= 100 && ue.Status <= 599:
		return strconv.Itoa(ue.Status)
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, errFirstByteTimeout):
		return "timeout"
	}
	return "network"
}

// requestStatus is the status label of a request an upstream answered,
// from its usage status: 200; 502 when the upstream broke its stream
// after the 200 went out; 499 when the client went away first.
func requestStatus(usageStatus string) int {
	switch usageStatus {
	case "error":
		return http.StatusBadGateway
	case "cancelled":
		return 499
	}
	return http.StatusOK
}

func (m *metrics) request(model, provider string, status int) {
	m.requests.WithLabelValues(m.model(model, status < 400), provider, strconv.Itoa(status)).Inc()
}

// completed records a model call that an upstream answered (pipeline
// step 8), with its usage status ("ok", "error" for a stream the upstream
// broke, "cancelled").
func (m *metrics) completed(p *modelCall, r router.Served, d delivery, cost float64) {
	prov := r.Candidate.Target.Provider
	model := m.model(prov+"/"+r.Candidate.Target.Model, true)
	route := m.model(p.model, true) // an upstream answered it
	m.requests.WithLabelValues(route, prov, strconv.Itoa(requestStatus(d.status))).Inc()
	m.upstream.WithLabelValues(prov).Observe(r.UpstreamTime.Seconds())
	if d.ttft > 0 {
		m.ttft.WithLabelValues(prov).Observe(d.ttft.Seconds())
	}
	if r.Attempts > 1 {
		m.attempts.WithLabelValues(route).Add(float64(r.Attempts - 1))
	}
	if r.Fallbacks > 0 {
		m.fallbacks.WithLabelValues(route).Inc()
	}
	team, key := m.teams.value(p.team), m.keys.value(p.key)
	m.tokens.WithLabelValues(prov, model, team, key, "prompt").Add(float64(d.usage.PromptTokens))
	m.tokens.WithLabelValues(prov, model, team, key, "completion").Add(float64(d.usage.CompletionTokens))
	if cost > 0 {
		m.cost.WithLabelValues(prov, model, team, key).Add(cost)
	}
}

// breakerCollector exports each target's breaker state and health.
type breakerCollector struct{ router *router.Router }

var (
	breakerDesc = prometheus.NewDesc("junction_llm_breaker_open", "1 when a target's circuit breaker is open, 0.5 half-open, 0 closed.",
		[]string{"provider", "model", "key"}, nil)
	latencyDesc = prometheus.NewDesc("junction_llm_target_latency_ewma_seconds", "A target's recent latency (EWMA) as the router sees it.",
		[]string{"provider", "model", "key"}, nil)
	errorDesc = prometheus.NewDesc("junction_llm_target_error_rate", "A target's recent error rate (EWMA) as the router sees it.",
		[]string{"provider", "model", "key"}, nil)
)

func (b *breakerCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- breakerDesc
	ch <- latencyDesc
	ch <- errorDesc
}

func (b *breakerCollector) Collect(ch chan<- prometheus.Metric) {
	seen := map[[3]string]bool{}
	for _, t := range b.router.TargetStates() {
		k := [3]string{t.Provider, t.Model, t.KeyName}
		if seen[k] {
			continue
		}
		seen[k] = true
		v := 0.0
		switch t.Breaker {
		case "open":
			v = 1
		case "half-open":
			v = 0.5
		}
		ch <- prometheus.MustNewConstMetric(breakerDesc, prometheus.GaugeValue, v, k[:]...)
		ch <- prometheus.MustNewConstMetric(latencyDesc, prometheus.GaugeValue, t.LatencyEWMA.Seconds(), k[:]...)
		ch <- prometheus.MustNewConstMetric(errorDesc, prometheus.GaugeValue, t.ErrorRate, k[:]...)
	}
}
