package router

import (
	"context"
	"math"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/junctionhq/junction/internal/testkit"
)

// latencies serves every attempt in the latency of its key, advancing the
// fake clock by it, and counts the attempts per key.
type latencies struct {
	clock *testkit.Clock
	of    map[string]time.Duration
	count map[string]int
}

func (l *latencies) attempt(_ context.Context, c *Candidate) (time.Duration, error) {
	d := l.of[c.Target.KeyName]
	l.clock.Advance(d)
	l.count[c.Target.KeyName]++
	return d, nil
}

// run makes n sequential requests and returns the share of key.
func (l *latencies) run(t *testing.T, r *Router, n int, key string) float64 {
	t.Helper()
	clear(l.count)
	for range n {
		if _, err := r.doPlain(context.Background(), "smart", nil, l.attempt); err != nil {
			t.Fatal(err)
		}
	}
	return float64(l.count[key]) / float64(n)
}

func TestAdaptiveAvoidsSlowTargetAndRecovers(t *testing.T) {
	// The shares do not depend on the latencies' scale.
	for _, fast := range []time.Duration{20 * time.Millisecond, 2 * time.Second} {
		for seed := range uint64(10) {
			clock := newFakeClock()
			r := newTestRouter(t, clock, RouterOptions{
				Routes: []Route{route("smart", []string{"fast", "slow"})},
				Rand:   rand.New(rand.NewPCG(seed, 99)),
			})
			l := &latencies{clock: clock, count: map[string]int{}, of: map[string]time.Duration{
				"fast": fast,
				"slow": 5 * fast,
			}}
			warm := l.run(t, r, 200, "slow")
			steady := l.run(t, r, 400, "slow")
			if steady >= 0.15 {
				t.Errorf("%v, seed %d: the 5× slower target has %.0f%% of traffic after warm-up (%.0f%% during), want < 15%%", fast, seed, 100*steady, 100*warm)
			}
			l.of["slow"] = fast
			back := l.run(t, r, 400, "slow")
			if back <= 0.30 {
				t.Errorf("%v, seed %d: the recovered target regained %.0f%% of traffic, want > 30%%", fast, seed, 100*back)
			}
			if seed == 0 {
				t.Logf("fast %v: slow target share: warm-up %.1f%%, then %.1f%%, recovered %.1f%%", fast, 100*warm, 100*steady, 100*back)
			}
		}
	}
}

func TestAdaptiveAvoidsFailingTarget(t *testing.T) {
	// A target that fails fast must not look fast.
	clock := newFakeClock()
	r := newTestRouter(t, clock, RouterOptions{
		BreakerFailures: 1000, // the balancer alone, without the breaker
		Routes:          []Route{route("smart", []string{"good", "flaky"})},
	})
	n := map[string]int{}
	attempt := func(_ context.Context, c *Candidate) (time.Duration, error) {
		n[c.Target.KeyName]++
		if c.Target.KeyName == "flaky" {
			clock.Advance(10 * time.Millisecond)
			return 10 * time.Millisecond, status(500)
		}
		clock.Advance(time.Second)
		return time.Second, nil
	}
	for range 300 {
		if _, err := r.doPlain(context.Background(), "smart", nil, attempt); err != nil {
			t.Fatal(err)
		}
	}
	if share := float64(n["flaky"]) / float64(n["flaky"]+n["good"]); share > 0.15 {
		t.Fatalf("the failing target got %.0f%% of attempts", 100*share)
	}
}

func TestAdaptiveSpreadsInFlight(t *testing.T) {
	// With no latency known, requests in flight spread the load.
	clock := newFakeClock()
	r := newTestRouter(t, clock, RouterOptions{Routes: []Route{route("smart", []string{"a", "b", "c", "d"})}})
	e := r.tab.Load().routes["smart"]
	for range 40 {
		i, mode := r.pick(e, 0, 0)
		if i < 0 || mode != modeNormal {
			t.Fatal("no pick")
		}
		e.backends[i].inFlight.Add(1)
	}
	for _, b := range e.backends {
		if n := b.inFlight.Load(); n < 6 || n > 14 {
			t.Errorf("%s: %d of 40 in flight, want about 10", b.key.keyName, n)
		}
	}
}

func TestWeightedHonoursWeights(t *testing.T) {
	clock := newFakeClock()
	r := newTestRouter(t, clock, RouterOptions{
		Routes: []Route{{
			Name:     "smart",
			Strategy: "weighted",
			Targets:  []Candidate{cand("m", "a", 1), cand("m", "b", 3), cand("m", "c", 6)},
		}},
	})
	n := map[string]int{}
	attempt := func(_ context.Context, c *Candidate) (time.Duration, error) {
		n[c.Target.KeyName]++
		d := time.Duration(len(n)) * time.Second // latency must not matter
		clock.Advance(d)
		return d, nil
	}
	const total = 20000
	for range total {
		if _, err := r.doPlain(context.Background(), "smart", nil, attempt); err != nil {
			t.Fatal(err)
		}
	}
	for key, want := range map[string]float64{"a": 0.1, "b": 0.3, "c": 0.6} {
		if got := float64(n[key]) / total; math.Abs(got-want) > 0.02 {
			t.Errorf("%s: share %.3f, want %.2f ± 0.02", key, got, want)
		}
	}
}

func TestAdaptiveHonoursWeightsWhenEqual(t *testing.T) {
	// Equal health: the weights decide the draw, so the heavier target
	// gets more traffic.
	clock := newFakeClock()
	r := newTestRouter(t, clock, RouterOptions{
		Routes: []Route{{Name: "smart", Targets: []Candidate{cand("m", "a", 1), cand("m", "b", 1), cand("m", "c", 8)}}},
	})
	e := r.tab.Load().routes["smart"]
	n := map[string]int{}
	for range 10000 {
		i, _ := r.pick(e, 0, 0)
		n[e.pub.Targets[i].Target.KeyName]++
	}
	if n["c"] < 2*n["a"] || n["c"] < 2*n["b"] {
		t.Fatalf("picks %v: weight 8 not favoured", n)
	}
}

func TestBackendEstimates(t *testing.T) {
	var b backend
	tau := int64(healthDecay)
	b.observe(0, 100*time.Millisecond, false)
	if l, e, known := b.estimate(0); !known || l != float64(100*time.Millisecond) || e != 0 {
		t.Fatalf("estimate = %v, %v, %v", l, e, known)
	}
	// A fast failure does not make it faster; a slow one makes it slower.
	b.observe(0, time.Millisecond, true)
	if l, e, _ := b.estimate(0); l != float64(100*time.Millisecond) || e != errorAlpha {
		t.Fatalf("after a fast failure: %v, %v", time.Duration(l), e)
	}
	b.observe(0, 500*time.Millisecond, true)
	if l, _, _ := b.estimate(0); l <= float64(100*time.Millisecond) {
		t.Fatalf("after a slow failure: %v", time.Duration(l))
	}
	// Unobserved, the estimates decay.
	l0, e0, _ := b.estimate(0)
	l1, e1, _ := b.estimate(tau)
	if math.Abs(l1/l0-math.Exp(-1)) > 1e-9 || math.Abs(e1/e0-math.Exp(-1)) > 1e-9 {
		t.Fatalf("decay over one time constant: %v→%v, %v→%v", l0, l1, e0, e1)
	}
	// Passed over in draws, too.
	b.skipped.Store(int64(skipDecay))
	if l2, e2, _ := b.estimate(tau); math.Abs(l2/l1-math.Exp(-1)) > 1e-9 || math.Abs(e2/e1-math.Exp(-1)) > 1e-9 {
		t.Fatalf("decay over %v draws lost: %v→%v, %v→%v", skipDecay, l1, l2, e1, e2)
	}
	// After a long quiet spell a new sample counts almost fully.
	b.observe(10*tau, time.Second, false)
	if l, _, _ := b.estimate(10 * tau); math.Abs(l-float64(time.Second)) > 0.01*float64(time.Second) {
		t.Fatalf("after a quiet spell: %v", time.Duration(l))
	}
}

func TestBrokenStreamCountsItsTimeToAnswer(t *testing.T) {
	// A connection failure says nothing of how fast the target answers;
	// a stream that broke after its first event does (and is an error).
	var b backend
	b.observe(0, time.Millisecond, true)
	if _, _, known := b.estimate(0); known {
		t.Fatal("a fast failure gave the target a latency estimate")
	}
	b.fold(0, 300*time.Millisecond, true, true)
	if l, e, known := b.estimate(0); !known || l != float64(300*time.Millisecond) || e <= errorAlpha {
		t.Fatalf("after a broken stream: %v, %v, %v; want 300ms and a higher error rate", time.Duration(l), e, known)
	}
}

func TestBackoff(t *testing.T) {
	r, err := NewRouter(RouterOptions{
		Routes:      []Route{route("smart", []string{"a"})},
		BackoffBase: 100 * time.Millisecond,
		BackoffMax:  time.Second,
		Rand:        rand.New(rand.NewPCG(3, 4)),
	})
	if err != nil {
		t.Fatal(err)
	}
	for n, d := range []time.Duration{100, 200, 400, 800, 1000, 1000, 1000} {
		d *= time.Millisecond
		for range 100 {
			if got := r.backoff(n); got < d/2 || got >= d {
				t.Fatalf("backoff(%d) = %v, want in [%v, %v)", n, got, d/2, d)
			}
		}
	}
	if got := r.backoff(1000); got < 500*time.Millisecond || got >= time.Second {
		t.Fatalf("backoff(1000) = %v", got)
	}
}
