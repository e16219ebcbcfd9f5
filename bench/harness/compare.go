package harness

// DirectTarget is the name of the target every other one is compared with:
// requests straight to the mock provider, the physical limit of the machine.
const DirectTarget = "direct"

// Comparison is a target measured against "direct" from the same run.
// Ratios are target / direct, so a latency ratio of 1.2 means 20% slower and a
// throughput ratio of 0.8 means 20% fewer requests per second. Added latency
// is target minus direct, in microseconds.
type Comparison struct {
	P50Ratio        float64 `json:"p50_ratio"`
	P99Ratio        float64 `json:"p99_ratio"`
	ThroughputRatio float64 `json:"throughput_ratio"`
	AddedMeanMicros float64 `json:"added_mean_us"`
	AddedP50Micros  float64 `json:"added_p50_us"`
	AddedP99Micros  float64 `json:"added_p99_us"`
}

// Compare fills in VsDirect on every successful result when the results hold
// a successful "direct" run with at least one successful request (including
// direct itself, whose ratios are 1 and added latency 0). It leaves VsDirect
// nil otherwise.
func Compare(results []TargetResult) {
	var direct *Summary
	for i := range results {
		if r := results[i]; r.Target == DirectTarget && r.OK && r.Summary != nil && r.Summary.Successes > 0 {
			direct = r.Summary
			break
		}
	}
	for i := range results {
		results[i].VsDirect = nil
		if direct == nil || !results[i].OK || results[i].Summary == nil || results[i].Summary.Successes == 0 {
			continue
		}
		c := compare(*results[i].Summary, *direct)
		results[i].VsDirect = &c
	}
}

func compare(s, direct Summary) Comparison {
	return Comparison{
		P50Ratio:        ratio(s.Latency.P50Micros, direct.Latency.P50Micros),
		P99Ratio:        ratio(s.Latency.P99Micros, direct.Latency.P99Micros),
		ThroughputRatio: ratio(s.Throughput, direct.Throughput),
		AddedMeanMicros: s.Latency.MeanMicros - direct.Latency.MeanMicros,
		AddedP50Micros:  s.Latency.P50Micros - direct.Latency.P50Micros,
		AddedP99Micros:  s.Latency.P99Micros - direct.Latency.P99Micros,
	}
}

// ratio returns a/b, or 0 when b is 0 (no meaningful ratio; JSON cannot hold
// an infinity).
func ratio(a, b float64) float64 {
	if b == 0 {
		return 0
	}
	return a / b
}
