package harness

import (
	"cmp"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"time"
)

// DefaultMaxLatencySamples bounds the latencies a recorder keeps (8 bytes
// each). Below it percentiles are exact; above it they come from a uniform
// reservoir sample of this size, while count, mean, min and max stay exact.
const DefaultMaxLatencySamples = 2_000_000

// maxDistinctErrors bounds the distinct error messages a recorder counts;
// later new messages are counted under otherErrors.
const (
	maxDistinctErrors = 64
	otherErrors       = "(other errors)"
	topErrors         = 10
)

// Summary is what one measured load run produced against one target.
type Summary struct {
	// Requests is every request that completed (successfully or not).
	Requests int `json:"requests"`
	// Successes is the requests answered 2xx without a transport error.
	Successes int `json:"successes"`
	// Failures is Requests - Successes.
	Failures int `json:"failures"`
	// SuccessRatio is Successes / Requests (0 when there were none).
	SuccessRatio float64 `json:"success_ratio"`
	// DurationSeconds is the wall time from the first request sent to the
	// last response read.
	DurationSeconds float64 `json:"duration_seconds"`
	// Throughput is successful requests per second over DurationSeconds.
	Throughput float64 `json:"throughput_rps"`
	// StatusCodes counts responses by HTTP status; 0 is a transport error.
	StatusCodes map[int]int `json:"status_codes"`
	// Errors lists the most frequent failure messages, most frequent first.
	Errors []ErrorCount `json:"errors"`
	// Latency describes successful requests only, so that fast failures
	// cannot flatter it; failures are counted above.
	Latency Latency `json:"latency"`
}

// ErrorCount is one failure message and how often it occurred.
type ErrorCount struct {
	Message string `json:"message"`
	Count   int    `json:"count"`
}

// Latency is a latency distribution in microseconds.
type Latency struct {
	MeanMicros float64 `json:"mean_us"`
	MinMicros  float64 `json:"min_us"`
	P50Micros  float64 `json:"p50_us"`
	P90Micros  float64 `json:"p90_us"`
	P99Micros  float64 `json:"p99_us"`
	MaxMicros  float64 `json:"max_us"`
	// Samples is how many latencies the percentiles were computed from;
	// less than the successes when the run outgrew the sample bound.
	Samples int `json:"samples"`
}

// recorder accumulates request outcomes. It is not safe for concurrent use;
// the attack loop is its only writer.
type recorder struct {
	maxSamples int
	rng        *rand.Rand

	requests  int
	successes int
	codes     map[int]int
	errors    map[string]int

	samples []time.Duration // successful latencies, exact or a reservoir
	total   time.Duration   // sum of all successful latencies
	min     time.Duration
	max     time.Duration
}

func newRecorder(maxSamples int) *recorder {
	if maxSamples <= 0 {
		maxSamples = DefaultMaxLatencySamples
	}
	return &recorder{
		maxSamples: maxSamples,
		// A fixed seed: the same run records the same reservoir.
		rng:    rand.New(rand.NewPCG(1, 2)),
		codes:  map[int]int{},
		errors: map[string]int{},
	}
}

// add records one completed request. code is the HTTP status (0 when no
// response arrived) and errMsg the transport error, if any.
func (r *recorder) add(code int, errMsg string, latency time.Duration) {
	r.requests++
	r.codes[code]++
	if errMsg == "" && (code < 200 || code > 299) {
		errMsg = fmt.Sprintf("unexpected status %d", code)
	}
	if errMsg != "" {
		r.addError(errMsg)
		return
	}
	r.successes++
	r.total += latency
	if r.successes == 1 || latency < r.min {
		r.min = latency
	}
	if latency > r.max {
		r.max = latency
	}
	if len(r.samples) < r.maxSamples {
		r.samples = append(r.samples, latency)
		return
	}
	// Reservoir sampling (Vitter's algorithm R): the n-th success replaces a
	// random slot with probability maxSamples/n.
	if j := r.rng.IntN(r.successes); j < r.maxSamples {
		r.samples[j] = latency
	}
}

func (r *recorder) addError(msg string) {
	if _, seen := r.errors[msg]; !seen && len(r.errors) >= maxDistinctErrors {
		msg = otherErrors
	}
	r.errors[msg]++
}

// summary computes the Summary over elapsed wall time. It sorts the samples
// in place, so call it once, after the last add.
func (r *recorder) summary(elapsed time.Duration) Summary {
	s := Summary{
		Requests:        r.requests,
		Successes:       r.successes,
		Failures:        r.requests - r.successes,
		DurationSeconds: elapsed.Seconds(),
		StatusCodes:     r.codes,
		Errors:          rankErrors(r.errors, topErrors),
	}
	if r.requests > 0 {
		s.SuccessRatio = float64(r.successes) / float64(r.requests)
	}
	if elapsed > 0 {
		s.Throughput = float64(r.successes) / elapsed.Seconds()
	}
	if r.successes > 0 {
		slices.Sort(r.samples)
		s.Latency = Latency{
			MeanMicros: micros(r.total) / float64(r.successes),
			MinMicros:  micros(r.min),
			P50Micros:  micros(percentile(r.samples, 0.50)),
			P90Micros:  micros(percentile(r.samples, 0.90)),
			P99Micros:  micros(percentile(r.samples, 0.99)),
			MaxMicros:  micros(r.max),
			Samples:    len(r.samples),
		}
	}
	return s
}

// percentile returns the nearest-rank q-quantile (0 < q <= 1) of sorted,
// which must not be empty: the smallest value with at least q of the samples
// at or below it.
func percentile(sorted []time.Duration, q float64) time.Duration {
	rank := int(math.Ceil(q * float64(len(sorted))))
	rank = min(max(rank, 1), len(sorted))
	return sorted[rank-1]
}

// rankErrors returns up to n error messages, most frequent first (ties by
// message, so the order is stable).
func rankErrors(counts map[string]int, n int) []ErrorCount {
	out := make([]ErrorCount, 0, len(counts))
	for msg, c := range counts {
		out = append(out, ErrorCount{Message: msg, Count: c})
	}
	slices.SortFunc(out, func(a, b ErrorCount) int {
		if c := cmp.Compare(b.Count, a.Count); c != 0 {
			return c
		}
		return cmp.Compare(a.Message, b.Message)
	})
	if len(out) > n {
		out = out[:n]
	}
	return out
}

func micros(d time.Duration) float64 { return float64(d) / float64(time.Microsecond) }
