package harness

import (
	"bytes"
	"context"
	"net/http"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/junctionhq/junction/bench/internal/proxy"
)

// TestRunTargetsEndToEnd drives an in-process stand-in for the mock directly
// and through the baseline proxy handler, at fixed concurrency 2, plus a
// target answering 404 like a gateway without its LLM endpoint, and checks
// the whole pipeline: preflight, load, probes, ratios.
func TestRunTargetsEndToEnd(t *testing.T) {
	provider := &fakeProvider{}
	mock := startServer(t, provider)
	p, err := proxy.New(mock.URL, proxy.Options{})
	if err != nil {
		t.Fatal(err)
	}
	baseline := startServer(t, p)
	missing := startServer(t, http.NotFoundHandler())

	self := Process{Role: "self", PID: os.Getpid()}
	targets := []Target{
		{Name: DirectTarget, Setup: endpoint(mock.URL, self, Process{})},
		{Name: BaselineTarget, Setup: endpoint(baseline.URL, self, Process{})},
		{Name: JunctionTarget, Setup: endpoint(missing.URL, Process{}, Process{}), NotFoundHint: "the LLM endpoint is not built yet"},
	}
	var progress bytes.Buffer
	plan := Plan{
		Request:        testRequest(t, false),
		Load:           Load{Concurrency: 2, Duration: 300 * time.Millisecond, Timeout: 5 * time.Second},
		SampleInterval: 20 * time.Millisecond,
		Progress:       &progress,
	}
	results, err := RunTargets(context.Background(), targets, plan)
	if err != nil {
		t.Fatal(err)
	}
	if len(results) != 3 {
		t.Fatalf("got %d results, want 3", len(results))
	}

	for _, res := range results[:2] {
		if !res.OK {
			t.Fatalf("%s failed: %s", res.Target, res.Failure)
		}
		s := res.Summary
		if s.Successes == 0 || s.Failures != 0 || s.SuccessRatio != 1 {
			t.Errorf("%s: %d successes, %d failures (ratio %v), want only successes", res.Target, s.Successes, s.Failures, s.SuccessRatio)
		}
		if s.StatusCodes[200] != s.Requests {
			t.Errorf("%s: status codes %v, want %d × 200", res.Target, s.StatusCodes, s.Requests)
		}
		if s.DurationSeconds < 0.25 || s.DurationSeconds > 2 {
			t.Errorf("%s: duration %.3fs, want about 0.3s", res.Target, s.DurationSeconds)
		}
		if s.Throughput <= 0 {
			t.Errorf("%s: throughput %v, want > 0", res.Target, s.Throughput)
		}
		checkLatency(t, res.Target, s.Latency)
		if res.Process == nil || res.Process.PeakRSSBytes <= 0 || res.Process.RSSSamples == 0 || res.Process.SampledRSSMaxBytes <= 0 {
			t.Errorf("%s: process stats %+v, want a peak RSS and RSS samples", res.Target, res.Process)
		}
		if res.LoadGenerator == nil || res.LoadGenerator.CPUSeconds <= 0 {
			t.Errorf("%s: load generator stats %+v, want CPU time", res.Target, res.LoadGenerator)
		}
		if res.MachineCPU == nil || res.MachineCPU.BusyCores <= 0 {
			t.Errorf("%s: machine CPU %+v, want the machine's load", res.Target, res.MachineCPU)
		}
		if res.VsDirect == nil {
			t.Fatalf("%s: no comparison with direct", res.Target)
		}
	}
	if c := results[0].VsDirect; c.P50Ratio != 1 || c.ThroughputRatio != 1 || c.AddedP50Micros != 0 {
		t.Errorf("direct vs itself = %+v, want ratios 1 and nothing added", c)
	}
	if c := results[1].VsDirect; c.P50Ratio <= 0 || c.ThroughputRatio <= 0 {
		t.Errorf("baseline vs direct = %+v, want positive ratios", c)
	}
	if got := provider.auth(); got != "Bearer jk-test" {
		t.Errorf("provider saw Authorization %q, want the bearer key", got)
	}
	if got := provider.max(); got > 2 {
		t.Errorf("provider saw %d requests in flight, want at most the concurrency 2", got)
	}

	junction := results[2]
	if junction.OK || junction.Summary != nil {
		t.Fatalf("junction target = %+v, want a preflight failure and no load", junction)
	}
	want := "junction: POST /v1/chat/completions returned 404 — the LLM endpoint is not built yet"
	if !strings.Contains(junction.Failure, want) {
		t.Errorf("junction failure = %q, want it to contain %q", junction.Failure, want)
	}
	if junction.VsDirect != nil {
		t.Error("a failed target must not get a comparison")
	}
	if !strings.Contains(progress.String(), "junction: FAILED") {
		t.Errorf("progress does not report the failure:\n%s", progress.String())
	}
}

// TestAttackFixedConcurrencyRunsExactlyNWorkers holds the first N requests at
// a barrier until all N have arrived, proving N run at once, and checks that
// no more than N are ever in flight.
func TestAttackFixedConcurrencyRunsExactlyNWorkers(t *testing.T) {
	const n = 3
	provider := &fakeProvider{}
	var (
		mu          sync.Mutex // guards arrived, inFlight and maxInFlight
		arrived     int
		inFlight    int
		maxInFlight int
		allIn       = make(chan struct{})
	)
	barrier := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		arrived++
		inFlight++
		maxInFlight = max(maxInFlight, inFlight)
		first := arrived <= n
		if arrived == n {
			close(allIn)
		}
		mu.Unlock()
		defer func() {
			mu.Lock()
			inFlight--
			mu.Unlock()
		}()
		if first {
			select {
			case <-allIn:
			case <-time.After(5 * time.Second):
				http.Error(w, "barrier timed out: fewer than n concurrent workers", http.StatusServiceUnavailable)
				return
			}
		}
		provider.ServeHTTP(w, r)
	})
	srv := startServer(t, barrier)

	s, err := Attack(context.Background(), srv.URL, testRequest(t, false), Load{Concurrency: n, Duration: 200 * time.Millisecond, Timeout: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if s.Failures != 0 {
		t.Fatalf("failures: %+v", s.Errors)
	}
	mu.Lock()
	defer mu.Unlock()
	if maxInFlight != n {
		t.Errorf("max in flight = %d, want exactly %d", maxInFlight, n)
	}
}

// TestAttackStreamMeasuresTimeToLastByte streams 4 chunks 10ms apart, so
// every successful latency includes at least the 30ms between the first and
// the last chunk.
func TestAttackStreamMeasuresTimeToLastByte(t *testing.T) {
	provider := &fakeProvider{chunks: 4, chunkDelay: 10 * time.Millisecond}
	srv := startServer(t, provider)
	req := testRequest(t, true)
	if err := Preflight(context.Background(), "direct", srv.URL, req, 5*time.Second, ""); err != nil {
		t.Fatal(err)
	}
	s, err := Attack(context.Background(), srv.URL, req, Load{Concurrency: 2, Duration: 200 * time.Millisecond, Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if s.Successes == 0 || s.Failures != 0 {
		t.Fatalf("%d successes, %d failures: %+v", s.Successes, s.Failures, s.Errors)
	}
	checkLatency(t, "stream", s.Latency)
	if s.Latency.MinMicros < 30_000 {
		t.Errorf("min latency %vµs, want >= 30ms (time to the last chunk)", s.Latency.MinMicros)
	}
}

// TestAttackConstantRate checks vegeta's pacer holds the rate: never more
// than rate × duration (+1), and not grossly fewer against a fast server.
func TestAttackConstantRate(t *testing.T) {
	srv := startServer(t, &fakeProvider{})
	s, err := Attack(context.Background(), srv.URL, testRequest(t, false), Load{Rate: 200, Duration: 250 * time.Millisecond, Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if s.Requests > 51 {
		t.Errorf("%d requests at 200/s for 250ms, want at most 51", s.Requests)
	}
	if s.Requests < 20 {
		t.Errorf("%d requests at 200/s for 250ms, want about 50", s.Requests)
	}
	if s.Failures != 0 {
		t.Errorf("failures: %+v", s.Errors)
	}
}

// TestAttackCountsFailures sends load at a server that fails every request and
// checks failures are counted with their messages and kept out of latency.
func TestAttackCountsFailures(t *testing.T) {
	srv := startServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "overloaded", http.StatusServiceUnavailable)
	}))
	s, err := Attack(context.Background(), srv.URL, testRequest(t, false), Load{Concurrency: 2, Duration: 100 * time.Millisecond, Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if s.Requests == 0 || s.Successes != 0 || s.Failures != s.Requests || s.SuccessRatio != 0 {
		t.Fatalf("summary %+v, want only failures", s)
	}
	if len(s.Errors) != 1 || s.Errors[0].Count != s.Requests || !strings.Contains(s.Errors[0].Message, "503") {
		t.Errorf("errors = %+v, want one 503 message counted %d times", s.Errors, s.Requests)
	}
	if s.Latency != (Latency{}) {
		t.Errorf("latency %+v, want none from failures", s.Latency)
	}
}

func TestAttackStopsOnCancel(t *testing.T) {
	srv := startServer(t, &fakeProvider{})
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(100*time.Millisecond, cancel)
	start := time.Now()
	_, err := Attack(ctx, srv.URL, testRequest(t, false), Load{Concurrency: 2, Duration: time.Minute, Timeout: 5 * time.Second})
	if err == nil {
		t.Fatal("Attack returned nil after cancellation, want the context error")
	}
	if took := time.Since(start); took > 10*time.Second {
		t.Errorf("Attack took %s after cancellation", took)
	}
}

func TestAttackRefusesNonLoopback(t *testing.T) {
	_, err := Attack(context.Background(), "http://192.0.2.1:8080", testRequest(t, false), Load{Concurrency: 1, Duration: time.Second, Timeout: time.Second})
	if err == nil || !strings.Contains(err.Error(), "not a loopback address") {
		t.Fatalf("Attack to 192.0.2.1 = %v, want a loopback refusal", err)
	}
}

func TestRunTargetsSetupFailureContinues(t *testing.T) {
	srv := startServer(t, &fakeProvider{})
	targets := []Target{
		{Name: "broken", Setup: func(context.Context) (*Endpoint, error) { return nil, errTest }},
		{Name: DirectTarget, Setup: endpoint(srv.URL, Process{}, Process{})},
	}
	plan := Plan{Request: testRequest(t, false), Load: Load{Concurrency: 1, Duration: 50 * time.Millisecond, Timeout: time.Second}}
	results, err := RunTargets(context.Background(), targets, plan)
	if err != nil {
		t.Fatal(err)
	}
	if results[0].OK || !strings.Contains(results[0].Failure, "setup: "+errTest.Error()) {
		t.Errorf("broken target = %+v, want a setup failure", results[0])
	}
	if !results[1].OK || results[1].Summary.Successes == 0 {
		t.Errorf("direct target = %+v, want it to run after the failure", results[1])
	}
	if results[1].Process != nil {
		t.Error("a PID of 0 must not produce process stats")
	}
}

func TestRunTargetsCancelledMarksRemaining(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	targets := []Target{{Name: DirectTarget, Setup: endpoint("http://127.0.0.1:1", Process{}, Process{})}}
	plan := Plan{Request: testRequest(t, false), Load: Load{Concurrency: 1, Duration: time.Second, Timeout: time.Second}}
	results, err := RunTargets(ctx, targets, plan)
	if err != nil {
		t.Fatal(err)
	}
	if results[0].OK || !strings.HasPrefix(results[0].Failure, "not run") {
		t.Errorf("result = %+v, want not run", results[0])
	}
}

type testError string

func (e testError) Error() string { return string(e) }

const errTest = testError("boom")

// endpoint returns a Setup that reports a fixed, already running endpoint.
func endpoint(url string, underTest, upstream Process) func(context.Context) (*Endpoint, error) {
	return func(context.Context) (*Endpoint, error) {
		return &Endpoint{BaseURL: url, UnderTest: underTest, Upstream: upstream}, nil
	}
}
