package router

import (
	"context"
	"errors"
	"fmt"
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
	r := newBreakerRouter(t, clock, 3, 30*time.Second)
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
		res, err := r.doPlain(context.Background(), "smart", nil, s.attempt)
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
		if _, err := r.doPlain(context.Background(), "smart", nil, s.attempt); !isStatus(400)(err) {
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

func TestRouterFailsFastWhenEveryBreakerIsOpen(t *testing.T) {
	// Every target of the chain open: Do fails at once without calling
	// the upstream, saying when to come back; after the open period one
	// request at a time probes.
	clock := newFakeClock()
	r := newBreakerRouter(t, clock, 1, 30*time.Second)
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
	aOpened := clock.Now()
	if _, err := r.doPlain(context.Background(), "smart", nil, s.attempt); !isExhausted("smart")(err) {
		t.Fatalf("err = %v", err)
	}
	// a opened first, b after a backoff; both are open now.
	clock.Advance(time.Second)
	halfOpen := aOpened.Add(30 * time.Second).Sub(clock.Now())
	for range 300 {
		res, err := r.doPlain(context.Background(), "smart", nil, s.attempt)
		var ee *ExhaustedError
		if !errors.As(err, &ee) || res.Attempts != 0 || !errors.Is(err, ErrCircuitOpen) {
			t.Fatalf("err = %v, Attempts = %d; want a fast ExhaustedError", err, res.Attempts)
		}
		if ee.RetryAfter != halfOpen {
			t.Fatalf("RetryAfter = %v, want %v (until a half-opens)", ee.RetryAfter, halfOpen)
		}
	}
	if calls := s.Calls(); len(calls) != 2 {
		t.Fatalf("calls %v: an open breaker let requests through", calls)
	}

	// a half-opens: one probe goes through; a request arriving while it is
	// in flight fails fast instead of piling onto the target.
	clock.Advance(halfOpen)
	down = false
	var during error
	res, err := r.doPlain(context.Background(), "smart", nil, func(ctx context.Context, c *Candidate) (time.Duration, error) {
		_, during = r.doPlain(context.Background(), "smart", nil, s.attempt)
		return s.attempt(ctx, c)
	})
	if err != nil || res.Candidate.Target.KeyName != "a" || res.Attempts != 1 {
		t.Fatalf("probe: served by %v in %d attempts, err %v; want a in 1", res.Candidate, res.Attempts, err)
	}
	if !errors.Is(during, ErrCircuitOpen) {
		t.Fatalf("a second request during the probe: %v, want ErrCircuitOpen", during)
	}
	if calls := s.Calls(); len(calls) != 3 {
		t.Fatalf("calls %v: want exactly one probe", calls)
	}
	if got := breakerOf(t, r, "smart", "a"); got != BreakerStateClosed {
		t.Fatalf("after the probe answered: breaker %s, want closed", got)
	}
	// b is still open: asked directly, it fails fast too.
	res, err = r.doPlain(context.Background(), "backup", nil, s.attempt)
	if !errors.Is(err, ErrCircuitOpen) || res.Attempts != 0 {
		t.Fatalf("err = %v, Attempts = %d", err, res.Attempts)
	}
}

func TestStreamOutcomeSettlesTheTarget(t *testing.T) {
	clock := newFakeClock()
	broken := errors.New("the upstream cut the stream")
	newRouter := func() *Router {
		return newTestRouter(t, clock, RouterOptions{
			BreakerFailures: 3,
			Routes:          []Route{route("smart", []string{"a"})},
		})
	}
	open := func(r *Router) Result[struct{}] {
		t.Helper()
		res, err := r.doStreamPlain(context.Background(), "smart", nil, func(context.Context, *Candidate) (time.Duration, error) { return 0, nil })
		if err != nil {
			t.Fatal(err)
		}
		return res
	}
	state := func(r *Router) TargetState { return r.TargetStates()[0] }

	t.Run("broken streams open the breaker", func(t *testing.T) {
		r := newRouter()
		for range 3 {
			res := open(r)
			if st := state(r); st.InFlight != 1 || st.Breaker != BreakerStateClosed {
				t.Fatalf("while relayed: %+v", st)
			}
			res.Finish(broken)
			res.Finish(nil) // only the first report counts
		}
		if st := state(r); st.InFlight != 0 || st.Breaker != BreakerStateOpen || st.ErrorRate == 0 {
			t.Fatalf("after 3 broken streams: %+v, want open with errors", st)
		}
	})
	t.Run("cancelled streams are no failure", func(t *testing.T) {
		r := newRouter()
		for range 5 {
			open(r).Finish(fmt.Errorf("relay: %w", context.Canceled))
		}
		if st := state(r); st.InFlight != 0 || st.Breaker != BreakerStateClosed || st.ErrorRate != 0 {
			t.Fatalf("after 5 cancelled streams: %+v, want closed without errors", st)
		}
	})
	t.Run("a probe holds the target until its stream ends", func(t *testing.T) {
		r := newRouter()
		for range 3 {
			open(r).Finish(broken)
		}
		clock.Advance(30 * time.Second)
		probe := open(r)
		if _, err := r.doStreamPlain(context.Background(), "smart", nil, func(context.Context, *Candidate) (time.Duration, error) {
			t.Fatal("a second request reached the target during the probe's stream")
			return 0, nil
		}); !errors.Is(err, ErrCircuitOpen) {
			t.Fatalf("during the probe: %v", err)
		}
		probe.Finish(broken) // the stream broke: open again, for a whole period
		clock.Advance(29 * time.Second)
		if _, err := r.doStreamPlain(context.Background(), "smart", nil, nil); !errors.Is(err, ErrCircuitOpen) {
			t.Fatalf("after a failed probe: %v", err)
		}
		clock.Advance(time.Second)
		open(r).Finish(nil)
		if st := state(r); st.Breaker != BreakerStateClosed || st.InFlight != 0 {
			t.Fatalf("after a good probe: %+v", st)
		}
	})
	t.Run("Do results need no Finish", func(t *testing.T) {
		r := newRouter()
		res, err := r.doPlain(context.Background(), "smart", nil, func(context.Context, *Candidate) (time.Duration, error) { return 0, nil })
		if err != nil {
			t.Fatal(err)
		}
		res.Finish(broken) // a no-op
		if st := state(r); st.InFlight != 0 || st.ErrorRate != 0 {
			t.Fatalf("%+v", st)
		}
	})
}

func TestRouterPanickingAttemptGivesBackTheProbe(t *testing.T) {
	clock := newFakeClock()
	r := newBreakerRouter(t, clock, 1, 0)
	s := newScript(map[string]func(int) error{"a": always(status(500))})
	if _, err := r.doPlain(context.Background(), "smart", nil, s.attempt); err != nil {
		t.Fatal(err)
	}
	clock.Advance(30 * time.Second) // a half-opens
	func() {
		defer func() { _ = recover() }()
		_, _ = r.doPlain(context.Background(), "smart", nil, func(context.Context, *Candidate) (time.Duration, error) {
			panic("boom")
		})
	}()
	res, err := r.doPlain(context.Background(), "smart", nil, func(context.Context, *Candidate) (time.Duration, error) { return 0, nil })
	if err != nil || res.Candidate.Target.KeyName != "a" {
		t.Fatalf("res = %+v, err = %v: the probe was not given back", res, err)
	}
	for _, st := range r.TargetStates() {
		if st.InFlight != 0 {
			t.Errorf("%s: %d in flight", st.KeyName, st.InFlight)
		}
	}
}
