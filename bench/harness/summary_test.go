package harness

import (
	"fmt"
	"testing"
	"time"
)

func TestPercentile(t *testing.T) {
	ms := func(ns ...int) []time.Duration {
		out := make([]time.Duration, len(ns))
		for i, n := range ns {
			out[i] = time.Duration(n) * time.Millisecond
		}
		return out
	}
	hundred := make([]time.Duration, 100)
	for i := range hundred {
		hundred[i] = time.Duration(i+1) * time.Millisecond
	}
	tests := []struct {
		name   string
		sorted []time.Duration
		q      float64
		want   time.Duration
	}{
		{"single p50", ms(7), 0.5, 7 * time.Millisecond},
		{"single p99", ms(7), 0.99, 7 * time.Millisecond},
		{"two p50 is the lower", ms(1, 2), 0.5, time.Millisecond},
		{"two p90 is the upper", ms(1, 2), 0.9, 2 * time.Millisecond},
		{"ten p50", ms(1, 2, 3, 4, 5, 6, 7, 8, 9, 10), 0.5, 5 * time.Millisecond},
		{"ten p90", ms(1, 2, 3, 4, 5, 6, 7, 8, 9, 10), 0.9, 9 * time.Millisecond},
		{"ten p99 is the max", ms(1, 2, 3, 4, 5, 6, 7, 8, 9, 10), 0.99, 10 * time.Millisecond},
		{"hundred p50", hundred, 0.5, 50 * time.Millisecond},
		{"hundred p90", hundred, 0.9, 90 * time.Millisecond},
		{"hundred p99", hundred, 0.99, 99 * time.Millisecond},
		{"hundred p100", hundred, 1, 100 * time.Millisecond},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := percentile(tt.sorted, tt.q); got != tt.want {
				t.Errorf("percentile(%v) = %v, want %v", tt.q, got, tt.want)
			}
		})
	}
}

func TestRecorderSummary(t *testing.T) {
	r := newRecorder(0)
	for i := 1; i <= 100; i++ {
		r.add(200, "", time.Duration(i)*time.Millisecond)
	}
	r.add(503, "503 Service Unavailable", time.Millisecond)
	r.add(503, "503 Service Unavailable", time.Millisecond)
	r.add(0, "connection refused", 0)
	r.add(302, "", time.Millisecond) // a redirect is not a success

	s := r.summary(2 * time.Second)
	if s.Requests != 104 || s.Successes != 100 || s.Failures != 4 {
		t.Fatalf("requests/successes/failures = %d/%d/%d, want 104/100/4", s.Requests, s.Successes, s.Failures)
	}
	if want := 100.0 / 104; s.SuccessRatio != want {
		t.Errorf("success ratio = %v, want %v", s.SuccessRatio, want)
	}
	if s.Throughput != 50 {
		t.Errorf("throughput = %v, want 50 successes/s", s.Throughput)
	}
	if s.DurationSeconds != 2 {
		t.Errorf("duration = %v, want 2", s.DurationSeconds)
	}
	wantCodes := map[int]int{200: 100, 503: 2, 0: 1, 302: 1}
	for code, n := range wantCodes {
		if s.StatusCodes[code] != n {
			t.Errorf("status %d counted %d times, want %d", code, s.StatusCodes[code], n)
		}
	}
	wantErrors := []ErrorCount{
		{"503 Service Unavailable", 2},
		{"connection refused", 1},
		{"unexpected status 302", 1},
	}
	if fmt.Sprint(s.Errors) != fmt.Sprint(wantErrors) {
		t.Errorf("errors = %v, want %v", s.Errors, wantErrors)
	}
	want := Latency{MeanMicros: 50500, MinMicros: 1000, P50Micros: 50000, P90Micros: 90000, P99Micros: 99000, MaxMicros: 100000, Samples: 100}
	if s.Latency != want {
		t.Errorf("latency = %+v, want %+v (failures excluded)", s.Latency, want)
	}
}

func TestRecorderEmpty(t *testing.T) {
	s := newRecorder(0).summary(0)
	if s.Requests != 0 || s.SuccessRatio != 0 || s.Throughput != 0 || s.Latency != (Latency{}) {
		t.Errorf("empty summary = %+v, want zeros", s)
	}
}

// TestRecorderReservoirIsBounded checks memory stays bounded past the sample
// cap while count, mean, min and max stay exact and percentiles stay close.
func TestRecorderReservoirIsBounded(t *testing.T) {
	const n, bound = 100_000, 1_000
	r := newRecorder(bound)
	for i := 1; i <= n; i++ {
		r.add(200, "", time.Duration(i)*time.Microsecond)
	}
	if len(r.samples) != bound {
		t.Fatalf("kept %d samples, want the bound %d", len(r.samples), bound)
	}
	s := r.summary(time.Second)
	if s.Successes != n || s.Latency.Samples != bound {
		t.Errorf("successes %d samples %d, want %d and %d", s.Successes, s.Latency.Samples, n, bound)
	}
	if s.Latency.MinMicros != 1 || s.Latency.MaxMicros != n || s.Latency.MeanMicros != (n+1)/2.0 {
		t.Errorf("min/max/mean = %v/%v/%v, want exact 1/%d/%v", s.Latency.MinMicros, s.Latency.MaxMicros, s.Latency.MeanMicros, n, (n+1)/2.0)
	}
	// A uniform sample of 1000 from 1..100000: p50 within ±10% of 50000.
	if p50 := s.Latency.P50Micros; p50 < 45_000 || p50 > 55_000 {
		t.Errorf("sampled p50 = %v, want about 50000", p50)
	}
}

func TestRecorderBoundsDistinctErrors(t *testing.T) {
	r := newRecorder(0)
	for i := range maxDistinctErrors + 10 {
		r.add(0, fmt.Sprintf("error %d", i), 0)
	}
	if len(r.errors) != maxDistinctErrors+1 {
		t.Errorf("%d distinct messages kept, want %d plus %q", len(r.errors), maxDistinctErrors, otherErrors)
	}
	if r.errors[otherErrors] != 10 {
		t.Errorf("%q counted %d, want 10", otherErrors, r.errors[otherErrors])
	}
	if got := len(r.summary(time.Second).Errors); got != topErrors {
		t.Errorf("summary lists %d errors, want the top %d", got, topErrors)
	}
}
