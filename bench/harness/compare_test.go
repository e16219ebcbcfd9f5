package harness

import (
	"math"
	"testing"
)

func summaryWith(throughput, mean, p50, p99 float64) *Summary {
	return &Summary{
		Requests:   100,
		Successes:  100,
		Throughput: throughput,
		Latency:    Latency{MeanMicros: mean, P50Micros: p50, P99Micros: p99},
	}
}

func TestCompare(t *testing.T) {
	results := []TargetResult{
		{Target: BaselineTarget, OK: true, Summary: summaryWith(8000, 600, 500, 2000)},
		{Target: DirectTarget, OK: true, Summary: summaryWith(10000, 400, 400, 1000)},
		{Target: JunctionTarget, OK: false, Failure: "preflight: 404"},
		{Target: "slow", OK: true, Summary: summaryWith(5000, 1000, 1000, 5000)},
	}
	Compare(results)

	tests := []struct {
		i    int
		want *Comparison
	}{
		{0, &Comparison{P50Ratio: 1.25, P99Ratio: 2, ThroughputRatio: 0.8, AddedMeanMicros: 200, AddedP50Micros: 100, AddedP99Micros: 1000}},
		{1, &Comparison{P50Ratio: 1, P99Ratio: 1, ThroughputRatio: 1}},
		{2, nil},
		{3, &Comparison{P50Ratio: 2.5, P99Ratio: 5, ThroughputRatio: 0.5, AddedMeanMicros: 600, AddedP50Micros: 600, AddedP99Micros: 4000}},
	}
	for _, tt := range tests {
		got := results[tt.i].VsDirect
		name := results[tt.i].Target
		if (got == nil) != (tt.want == nil) {
			t.Fatalf("%s: comparison = %+v, want %+v", name, got, tt.want)
		}
		if got != nil && !closeComparison(*got, *tt.want) {
			t.Errorf("%s: comparison = %+v, want %+v", name, *got, *tt.want)
		}
	}
}

func TestCompareWithoutUsableDirect(t *testing.T) {
	tests := []struct {
		name   string
		direct *TargetResult
	}{
		{"no direct", nil},
		{"direct failed", &TargetResult{Target: DirectTarget, OK: false, Failure: "x"}},
		{"direct without successes", &TargetResult{Target: DirectTarget, OK: true, Summary: &Summary{Requests: 5}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			results := []TargetResult{{Target: BaselineTarget, OK: true, Summary: summaryWith(1, 1, 1, 1), VsDirect: &Comparison{}}}
			if tt.direct != nil {
				results = append(results, *tt.direct)
			}
			Compare(results)
			for _, r := range results {
				if r.VsDirect != nil {
					t.Errorf("%s: comparison %+v, want none", r.Target, r.VsDirect)
				}
			}
		})
	}
}

func TestCompareZeroDirectValues(t *testing.T) {
	// A direct run whose p99 and throughput are zero must not produce
	// infinities (which JSON cannot encode).
	c := compare(*summaryWith(10, 10, 10, 10), *summaryWith(0, 0, 0, 0))
	for _, v := range []float64{c.P50Ratio, c.P99Ratio, c.ThroughputRatio} {
		if math.IsInf(v, 0) || math.IsNaN(v) || v != 0 {
			t.Errorf("ratio against zero = %v, want 0", v)
		}
	}
}

func closeComparison(a, b Comparison) bool {
	pairs := [][2]float64{
		{a.P50Ratio, b.P50Ratio}, {a.P99Ratio, b.P99Ratio}, {a.ThroughputRatio, b.ThroughputRatio},
		{a.AddedMeanMicros, b.AddedMeanMicros}, {a.AddedP50Micros, b.AddedP50Micros}, {a.AddedP99Micros, b.AddedP99Micros},
	}
	for _, p := range pairs {
		if math.Abs(p[0]-p[1]) > 1e-9 {
			return false
		}
	}
	return true
}
