package llm

import (
	"context"
	"testing"
	"time"
)

// breakerOf returns the breaker state of key in route rt.
func breakerOf(t *testing.T, r *Router, rt, key string) string {
	t.Helper()
	for _, st := range r.TargetStates() {
		if st.Route == rt && st.KeyName == key {
			return st.Breaker
		}
	}
	t.Fatalf("no target %s in %s", key, rt)
	return ""
}

func TestRouterBreaker(t *testing.T) {
	clock := newFakeClock()
	r := newTestRouter(t, clock, RouterOptions{
		MaxAttempts:     1,
		BreakerFailures: 3,
		BreakerOpen:     30 * time.Second,
		Routes:          []Route{route("smart", []string{"a"}, "backup"), route("backup", []string{"b"})},
	})
	var aFails bool
	s := newScript(map[string]func(int) error{"a": func(int) error {
		if aFails {
			return status(500)
		}
		return nil
	}})
	do := func(wantKey string, wantAttempts int) {
		t.Helper()
		before := len(s.Calls())
		res, err := r.Do(context.Background(), "smart", nil, s.attempt)
		if err != nil {
			t.Fatal(err)
		}
		if res.Candidate.Target.KeyName != wantKey || res.Attempts != wantAttempts {
			t.Fatalf("served by %s in %d attempts (calls %v), want %s in %d",
				res.Candidate.Target.KeyName, res.Attempts, s.Calls()[before:], wantKey, wantAttempts)
		}
	}

	aFails = true
	for range 3 {
		if got := breakerOf(t, r, "smart", "a"); got != BreakerStateClosed {
			t.Fatalf("breaker %s before %d failures", got, 3)
		}
		do("b", 2) // a fails, b serves
	}
	if got := breakerOf(t, r, "smart", "a"); got != BreakerStateOpen {
		t.Fatalf("after 3 failures: breaker %s, want open", got)
	}
	aFails = false // a has recovered, but its breaker is open
	do("b", 1)     // a excluded: straight to the fallback
	clock.Advance(29 * time.Second)
	do("b", 1)
	if got := breakerOf(t, r, "smart", "a"); got != BreakerStateOpen {
		t.Fatalf("before the open period ends: breaker %s, want open", got)
	}

	clock.Advance(time.Second)
	if got := breakerOf(t, r, "smart", "a"); got != BreakerStateHalfOpen {
		t.Fatalf("after the open period: breaker %s, want half-open", got)
	}
	do("a", 1) // the probe succeeds
	if got := breakerOf(t, r, "smart", "a"); got != BreakerStateClosed {
		t.Fatalf("after a good probe: breaker %s, want closed", got)
	}

	aFails = true
	for range 3 {
		do("b", 2)
	}
	if got := breakerOf(t, r, "smart", "a"); got != BreakerStateOpen {
		t.Fatalf("breaker %s, want open again", got)
	}
	clock.Advance(30 * time.Second)
	do("b", 2) // the probe fails
	if got := breakerOf(t, r, "smart", "a"); got != BreakerStateOpen {
		t.Fatalf("after a failed probe: breaker %s, want open", got)
	}
	clock.Advance(29 * time.Second)
	do("b", 1) // re-opened for a whole period by the failed probe
}

func TestBreakerIgnoresRequestErrors(t *testing.T) {
	clock := newFakeClock()
	r := newTestRouter(t, clock, RouterOptions{
		BreakerFailures: 2,
		Routes:          []Route{route("smart", []string{"a"})},
	})
	s := newScript(map[string]func(int) error{"a": always(status(400))})
	for range 10 {
		if _, err := r.Do(context.Background(), "smart", nil, s.attempt); !isStatus(400)(err) {
			t.Fatalf("err = %v, want the 400", err)
		}
	}
	if got := breakerOf(t, r, "smart", "a"); got != BreakerStateClosed {
		t.Fatalf("after 400s: breaker %s, want closed", got)
	}
}

func TestBreakerOneProbe(t *testing.T) {
	var b breaker
	open := int64(30 * time.Second)
	for range 2 {
		b.failed(0, 2, modeNormal)
	}
	if b.admits(int64(time.Second), open) {
		t.Fatal("open breaker admits")
	}
	now := open
	if !b.admits(now, open) {
		t.Fatal("breaker does not admit its probe after the open period")
	}
	mode, ok := b.acquire(now, open)
	if !ok || mode != modeProbe {
		t.Fatalf("acquire = %v, %v; want the probe", mode, ok)
	}
	if b.admits(now, open) {
		t.Fatal("admits a second request while the probe is in flight")
	}
	if _, ok := b.acquire(now, open); ok {
		t.Fatal("second probe acquired")
	}
	b.released(mode) // e.g. the client went away
	if mode, ok := b.acquire(now, open); !ok || mode != modeProbe {
		t.Fatal("the probe was not given back")
	}
	b.succeeded(modeProbe)
	if b.describe(now, open) != BreakerStateClosed {
		t.Fatalf("breaker %s after a good probe", b.describe(now, open))
	}
	// A success while closed ends the run of failures.
	b.failed(now, 2, modeNormal)
	b.succeeded(modeNormal)
	b.failed(now, 2, modeNormal)
	if b.describe(now, open) != BreakerStateClosed {
		t.Fatal("non-consecutive failures opened the breaker")
	}
}

func TestRouterLastResort(t *testing.T) {
	// Every target open: the one that opened first is tried anyway.
	clock := newFakeClock()
	r := newTestRouter(t, clock, RouterOptions{
		MaxAttempts:     1,
		BreakerFailures: 1,
		Routes:          []Route{route("smart", []string{"a"}, "backup"), route("backup", []string{"b"})},
	})
	down := true
	s := newScript(map[string]func(int) error{
		"a": func(int) error {
			if down {
				return status(500)
			}
			return nil
		},
		"b": always(status(500)),
	})
	if _, err := r.Do(context.Background(), "smart", nil, s.attempt); !isExhausted("smart")(err) {
		t.Fatalf("err = %v", err)
	}
	// a opened first (b after a backoff); both are open now.
	clock.Advance(time.Second)
	down = false
	res, err := r.Do(context.Background(), "smart", nil, s.attempt)
	if err != nil {
		t.Fatal(err)
	}
	if res.Candidate.Target.KeyName != "a" || res.Attempts != 1 {
		t.Fatalf("served by %s in %d attempts, want a in 1", res.Candidate.Target.KeyName, res.Attempts)
	}
	if got := breakerOf(t, r, "smart", "a"); got != BreakerStateClosed {
		t.Fatalf("after the last resort answered: breaker %s, want closed", got)
	}
	// b is still open, and the last resort failing keeps Do's error shape.
	res, err = r.Do(context.Background(), "backup", nil, s.attempt)
	if !isExhausted("backup")(err) || res.Attempts != 1 {
		t.Fatalf("err = %v, Attempts = %d", err, res.Attempts)
	}
}

func TestRouterPanickingAttemptGivesBackTheProbe(t *testing.T) {
	clock := newFakeClock()
	r := newTestRouter(t, clock, RouterOptions{
		MaxAttempts:     1,
		BreakerFailures: 1,
		Routes:          []Route{route("smart", []string{"a"}, "backup"), route("backup", []string{"b"})},
	})
	s := newScript(map[string]func(int) error{"a": always(status(500))})
	if _, err := r.Do(context.Background(), "smart", nil, s.attempt); err != nil {
		t.Fatal(err)
	}
	clock.Advance(30 * time.Second) // a half-opens
	func() {
		defer func() { _ = recover() }()
		_, _ = r.Do(context.Background(), "smart", nil, func(context.Context, *Candidate) (time.Duration, error) {
			panic("boom")
		})
	}()
	res, err := r.Do(context.Background(), "smart", nil, func(context.Context, *Candidate) (time.Duration, error) { return 0, nil })
	if err != nil || res.Candidate.Target.KeyName != "a" {
		t.Fatalf("res = %+v, err = %v: the probe was not given back", res, err)
	}
	for _, st := range r.TargetStates() {
		if st.InFlight != 0 {
			t.Errorf("%s: %d in flight", st.KeyName, st.InFlight)
		}
	}
}
