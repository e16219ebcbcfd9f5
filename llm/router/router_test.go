package router

import (
	"context"
	"errors"
	"math/rand/v2"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/junctionhq/junction/internal/testkit"
	"github.com/junctionhq/junction/llm/chat"
)

// newFakeClock returns an injected clock whose Sleep advances it at once.
func newFakeClock() *testkit.Clock {
	return testkit.NewClock(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
}

// stubProvider is a chat.Provider that is never called: attempts are
// scripted by the tests.
type stubProvider struct{}

func (stubProvider) Chat(context.Context, chat.Target, *chat.Request) (*chat.Response, error) {
	return nil, errors.New("stubProvider: not called in router tests")
}

var _ chat.Provider = stubProvider{}

// cand is a candidate of provider "p" for model model with API key key.
func cand(model, key string, weight float64) Candidate {
	return Candidate{
		Target:   chat.Target{Provider: "p", Model: model, APIKey: "sk-" + key, KeyName: key},
		Provider: stubProvider{},
		Weight:   weight,
	}
}

// doPlain is Do for attempts that return no value but their timing.
func (r *Router) doPlain(ctx context.Context, model string, extra []string, attempt func(context.Context, *Candidate) (time.Duration, error)) (Result[struct{}], error) {
	return Do(ctx, r, model, extra, noValue(attempt))
}

// doStreamPlain is DoStream for attempts that return no value.
func (r *Router) doStreamPlain(ctx context.Context, model string, extra []string, attempt func(context.Context, *Candidate) (time.Duration, error)) (Result[struct{}], error) {
	return DoStream(ctx, r, model, extra, noValue(attempt))
}

func noValue(attempt func(context.Context, *Candidate) (time.Duration, error)) Attempt[struct{}] {
	return func(ctx context.Context, c *Candidate) (struct{}, time.Duration, error) {
		ttfb, err := attempt(ctx, c)
		return struct{}{}, ttfb, err
	}
}

// route is a route over keys (each a target of model "m", weight 1).
func route(name string, keys []string, fallbacks ...string) Route {
	rt := Route{Name: name, Fallbacks: fallbacks}
	for _, k := range keys {
		rt.Targets = append(rt.Targets, cand("m", k, 1))
	}
	return rt
}

// smartWithBackup is the routes "smart" (key a) falling back to "backup"
// (key b), with others after them.
func smartWithBackup(others ...Route) []Route {
	return append([]Route{route("smart", []string{"a"}, "backup"), route("backup", []string{"b"})}, others...)
}

func newTestRouter(t testing.TB, clock *testkit.Clock, opts RouterOptions) *Router {
	t.Helper()
	opts.Now = clock.Now
	opts.Sleep = clock.Sleep
	if opts.Rand == nil {
		opts.Rand = rand.New(rand.NewPCG(1, 2))
	}
	r, err := NewRouter(opts)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// newBreakerRouter is a router over smartWithBackup that makes one attempt
// per target and opens a target's breaker after failures failures in a row,
// for open (0: the default).
func newBreakerRouter(t *testing.T, clock *testkit.Clock, failures int, open time.Duration) *Router {
	t.Helper()
	return newTestRouter(t, clock, RouterOptions{
		MaxAttempts:     1,
		BreakerFailures: failures,
		BreakerOpen:     open,
		Routes:          smartWithBackup(),
	})
}

// script answers attempts by key name and records the calls.
type script struct {
	mu    sync.Mutex // guards the fields below
	by    map[string]func(n int) error
	calls []string
	count map[string]int
}

func newScript(by map[string]func(n int) error) *script {
	return &script{by: by, count: map[string]int{}}
}

func (s *script) attempt(_ context.Context, c *Candidate) (time.Duration, error) {
	s.mu.Lock()
	key := c.Target.KeyName
	n := s.count[key]
	s.count[key]++
	s.calls = append(s.calls, key)
	f := s.by[key]
	s.mu.Unlock()
	if f == nil {
		return 0, nil
	}
	return 0, f(n)
}

func (s *script) Calls() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.calls)
}

func always(err error) func(int) error { return func(int) error { return err } }

func status(code int) *chat.UpstreamError {
	return &chat.UpstreamError{Provider: "p", Status: code, Message: http.StatusText(code)}
}

func retryAfter(code int, d time.Duration) *chat.UpstreamError {
	e := status(code)
	e.RetryAfter = d
	return e
}

var errNetwork = errors.New("dial tcp 10.0.0.1:443: connect: connection refused")

func TestRouterDo(t *testing.T) {
	quota := &chat.UpstreamError{Provider: "p", Status: 429, Code: "insufficient_quota", Message: "quota"}
	// Default backoffs: retry n waits in [100ms·2ⁿ/2, 100ms·2ⁿ).
	backoffs := func(n int) []time.Duration {
		var ds []time.Duration
		for i := range n {
			ds = append(ds, (100*time.Millisecond)<<i)
		}
		return ds
	}
	tests := []struct {
		name   string
		routes []Route
		opts   RouterOptions
		model  string
		extra  []string
		by     map[string]func(int) error
		// want
		calls     []string
		attempts  int
		fallbacks int
		served    string           // key of Result.Candidate on success
		err       func(error) bool // nil: success
		sleeps    []time.Duration  // exact waits; nil with backoff set: checked as backoffs
		backoff   int              // number of jittered backoff waits expected
	}{
		{
			name:      "500 fails over to the fallback",
			routes:    smartWithBackup(),
			model:     "smart",
			by:        map[string]func(int) error{"a": always(status(500))},
			calls:     []string{"a", "a", "a", "b"},
			attempts:  4,
			fallbacks: 1,
			served:    "b",
			backoff:   3,
		},
		{
			name:      "network error fails over",
			routes:    smartWithBackup(),
			model:     "smart",
			by:        map[string]func(int) error{"a": always(errNetwork)},
			calls:     []string{"a", "a", "a", "b"},
			attempts:  4,
			fallbacks: 1,
			served:    "b",
			backoff:   3,
		},
		{
			name:      "429 honours a short retry-after",
			routes:    smartWithBackup(),
			model:     "smart",
			by:        map[string]func(int) error{"a": always(retryAfter(429, 1500*time.Millisecond))},
			calls:     []string{"a", "a", "a", "b"},
			attempts:  4,
			fallbacks: 1,
			served:    "b",
			sleeps:    []time.Duration{1500 * time.Millisecond, 1500 * time.Millisecond, 1500 * time.Millisecond},
		},
		{
			name:     "every target of a route without fallbacks down",
			routes:   []Route{route("smart", []string{"a", "b"})},
			model:    "smart",
			by:       map[string]func(int) error{"a": always(status(503)), "b": always(status(503))},
			attempts: 3,
			err:      isExhausted("smart"),
			backoff:  2,
		},
		{
			name:      "a long retry-after skips without waiting",
			routes:    smartWithBackup(),
			model:     "smart",
			by:        map[string]func(int) error{"a": always(retryAfter(429, time.Minute))},
			calls:     []string{"a", "b"},
			attempts:  2,
			fallbacks: 1,
			served:    "b",
			sleeps:    []time.Duration{},
		},
		{
			name:      "an exhausted quota moves on without waiting",
			routes:    smartWithBackup(),
			model:     "smart",
			by:        map[string]func(int) error{"a": always(quota)},
			calls:     []string{"a", "b"},
			attempts:  2,
			fallbacks: 1,
			served:    "b",
			sleeps:    []time.Duration{},
		},
		{
			name:     "400 is returned at once",
			routes:   smartWithBackup(),
			model:    "smart",
			by:       map[string]func(int) error{"a": always(status(400))},
			calls:    []string{"a"},
			attempts: 1,
			err:      isStatus(400),
			sleeps:   []time.Duration{},
		},
		{
			name:     "401 is returned at once",
			routes:   []Route{route("smart", []string{"a"})},
			model:    "smart",
			by:       map[string]func(int) error{"a": always(status(401))},
			calls:    []string{"a"},
			attempts: 1,
			err:      isStatus(401),
			sleeps:   []time.Duration{},
		},
		{
			name:   "all targets down",
			routes: smartWithBackup(),
			model:  "smart",
			by: map[string]func(int) error{
				"a": always(status(500)),
				"b": always(status(502)),
			},
			calls:     []string{"a", "a", "a", "b", "b", "b"},
			attempts:  6,
			fallbacks: 1,
			err:       isExhausted("smart"),
			backoff:   5,
		},
		{
			name:   "request fallbacks come after the route's own",
			routes: smartWithBackup(route("other", []string{"o"})),
			opts:   RouterOptions{MaxAttempts: 1},
			model:  "smart",
			extra:  []string{"other"},
			by: map[string]func(int) error{
				"a": always(status(500)),
				"b": always(status(500)),
			},
			calls:     []string{"a", "b", "o"},
			attempts:  3,
			fallbacks: 2,
			served:    "o",
			backoff:   2,
		},
		{
			name:   "fallbacks are followed breadth-first",
			routes: []Route{route("smart", []string{"a"}, "b1", "b2"), route("b1", []string{"b"}, "c1"), route("b2", []string{"c"}), route("c1", []string{"d"})},
			opts:   RouterOptions{MaxAttempts: 1},
			model:  "smart",
			by: map[string]func(int) error{
				"a": always(status(500)),
				"b": always(status(500)),
				"c": always(status(500)),
			},
			calls:     []string{"a", "b", "c", "d"},
			attempts:  4,
			fallbacks: 3,
			served:    "d",
			backoff:   3,
		},
		{
			name:   "each route at most once",
			routes: []Route{route("smart", []string{"a"}, "backup"), route("backup", []string{"b"}, "smart", "backup")},
			opts:   RouterOptions{MaxAttempts: 1, MaxTotalAttempts: 100},
			model:  "smart",
			extra:  []string{"backup", "smart", "backup"},
			by: map[string]func(int) error{
				"a": always(status(500)),
				"b": always(status(500)),
			},
			calls:     []string{"a", "b"},
			attempts:  2,
			fallbacks: 1,
			err:       isExhausted("smart"),
			backoff:   1,
		},
		{
			name:     "total attempts bound the chain",
			routes:   smartWithBackup(),
			opts:     RouterOptions{MaxAttempts: 3, MaxTotalAttempts: 2},
			model:    "smart",
			by:       map[string]func(int) error{"a": always(status(500)), "b": always(status(500))},
			calls:    []string{"a", "a"},
			attempts: 2,
			err:      isExhausted("smart"),
			backoff:  1,
		},
		{
			name:     "unknown model",
			routes:   []Route{route("smart", []string{"a"})},
			model:    "nope",
			calls:    nil,
			attempts: 0,
			err:      isUnknown("nope"),
		},
		{
			name:     "unknown request fallback",
			routes:   []Route{route("smart", []string{"a"})},
			model:    "smart",
			extra:    []string{"nope"},
			calls:    nil,
			attempts: 0,
			err:      isUnknown("nope"),
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clock := newFakeClock()
			opts := tt.opts
			opts.Routes = tt.routes
			r := newTestRouter(t, clock, opts)
			s := newScript(tt.by)
			res, err := r.doPlain(context.Background(), tt.model, tt.extra, s.attempt)
			if tt.err == nil {
				if err != nil {
					t.Fatalf("Do: %v", err)
				}
				if res.Candidate == nil || res.Candidate.Target.KeyName != tt.served {
					t.Errorf("served by %+v, want key %q", res.Candidate, tt.served)
				}
			} else if !tt.err(err) {
				t.Fatalf("Do error = %v (%T)", err, err)
			}
			if tt.calls != nil && !slices.Equal(s.Calls(), tt.calls) {
				t.Errorf("calls = %v, want %v", s.Calls(), tt.calls)
			}
			if res.Attempts != tt.attempts || len(s.Calls()) != tt.attempts {
				t.Errorf("Attempts = %d (%d calls), want %d", res.Attempts, len(s.Calls()), tt.attempts)
			}
			if res.Fallbacks != tt.fallbacks {
				t.Errorf("Fallbacks = %d, want %d", res.Fallbacks, tt.fallbacks)
			}
			sleeps := clock.Sleeps()
			switch {
			case tt.sleeps != nil:
				if !slices.Equal(sleeps, tt.sleeps) {
					t.Errorf("sleeps = %v, want %v", sleeps, tt.sleeps)
				}
			default:
				if len(sleeps) != tt.backoff {
					t.Fatalf("sleeps = %v, want %d backoffs", sleeps, tt.backoff)
				}
				for i, d := range backoffs(tt.backoff) {
					d = min(d, 2*time.Second)
					if sleeps[i] < d/2 || sleeps[i] >= d {
						t.Errorf("backoff %d = %v, want in [%v, %v)", i, sleeps[i], d/2, d)
					}
				}
			}
		})
	}
}

func isStatus(code int) func(error) bool {
	return func(err error) bool {
		var ue *chat.UpstreamError
		return errors.As(err, &ue) && ue.Status == code
	}
}

func isExhausted(model string) func(error) bool {
	return func(err error) bool {
		var ee *ExhaustedError
		var ue *chat.UpstreamError
		return errors.As(err, &ee) && ee.Model == model && ee.Last != nil &&
			strings.Contains(err.Error(), `"`+model+`"`) && strings.Contains(err.Error(), ee.Last.Error()) &&
			errors.As(err, &ue)
	}
}

func isUnknown(model string) func(error) bool {
	return func(err error) bool {
		var ue *UnknownModelError
		return errors.As(err, &ue) && ue.Model == model && strings.Contains(err.Error(), model)
	}
}

func TestRouterPrefersAnotherTargetOnRetry(t *testing.T) {
	// With two targets, a failure on one is retried on the other.
	for range 50 {
		clock := newFakeClock()
		r := newTestRouter(t, clock, RouterOptions{Routes: []Route{route("smart", []string{"a", "b"})}, Rand: rand.New(rand.NewPCG(uint64(clock.Now().UnixNano()), 7))})
		var first string
		s := newScript(nil)
		s.by = map[string]func(int) error{"a": nil, "b": nil}
		attempt := func(ctx context.Context, c *Candidate) (time.Duration, error) {
			if first == "" {
				first = c.Target.KeyName
				_, _ = s.attempt(ctx, c)
				return 0, status(500)
			}
			return s.attempt(ctx, c)
		}
		res, err := r.doPlain(context.Background(), "smart", nil, attempt)
		if err != nil {
			t.Fatal(err)
		}
		if calls := s.Calls(); len(calls) != 2 || calls[0] == calls[1] || res.Attempts != 2 {
			t.Fatalf("calls = %v, Attempts = %d: want a retry on the other target", calls, res.Attempts)
		}
	}
}

func TestRouterLongRetryAfterCoolsDown(t *testing.T) {
	clock := newFakeClock()
	r := newTestRouter(t, clock, RouterOptions{Routes: smartWithBackup()})
	limited := true
	s := newScript(map[string]func(int) error{"a": func(int) error {
		if limited {
			return retryAfter(429, 20*time.Second)
		}
		return nil
	}})
	do := func() Result[struct{}] {
		t.Helper()
		res, err := r.doPlain(context.Background(), "smart", nil, s.attempt)
		if err != nil {
			t.Fatal(err)
		}
		return res
	}
	do() // a: 429, cooled for 20s; b serves
	limited = false
	clock.Advance(19 * time.Second)
	if res := do(); res.Candidate.Target.KeyName != "b" || res.Attempts != 1 {
		t.Fatalf("while a cools down: served by %s in %d attempts, want b in 1", res.Candidate.Target.KeyName, res.Attempts)
	}
	clock.Advance(time.Second)
	if res := do(); res.Candidate.Target.KeyName != "a" {
		t.Fatalf("after the cool-down: served by %s, want a", res.Candidate.Target.KeyName)
	}
	if got := clock.Sleeps(); len(got) != 0 {
		t.Errorf("sleeps = %v, want none", got)
	}
}

func TestRouterContextCancelled(t *testing.T) {
	clock := newFakeClock()
	r := newTestRouter(t, clock, RouterOptions{Routes: smartWithBackup()})

	t.Run("during an attempt", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		var calls int
		res, err := r.doPlain(ctx, "smart", nil, func(ctx context.Context, c *Candidate) (time.Duration, error) {
			calls++
			cancel()
			return 0, ctx.Err()
		})
		if !errors.Is(err, context.Canceled) || res.Attempts != 1 || calls != 1 {
			t.Fatalf("err = %v, Attempts = %d, calls = %d; want context.Canceled after 1", err, res.Attempts, calls)
		}
	})
	t.Run("during a backoff", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		r := newTestRouter(t, clock, RouterOptions{Routes: []Route{route("smart", []string{"a"})}})
		r.opts.Sleep = func(ctx context.Context, d time.Duration) error {
			cancel()
			return sleepContext(ctx, time.Hour)
		}
		var calls int
		_, err := r.doPlain(ctx, "smart", nil, func(ctx context.Context, c *Candidate) (time.Duration, error) {
			calls++
			return 0, status(503)
		})
		if !errors.Is(err, context.Canceled) || calls != 1 {
			t.Fatalf("err = %v, calls = %d; want context.Canceled after 1", err, calls)
		}
	})
	t.Run("before", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		res, err := r.doPlain(ctx, "smart", nil, func(context.Context, *Candidate) (time.Duration, error) {
			t.Fatal("attempt called")
			return 0, nil
		})
		if !errors.Is(err, context.Canceled) || res.Attempts != 0 {
			t.Fatalf("err = %v, Attempts = %d", err, res.Attempts)
		}
	})
}

func TestRouterUpstreamTime(t *testing.T) {
	clock := newFakeClock()
	r := newTestRouter(t, clock, RouterOptions{Routes: []Route{route("smart", []string{"a"})}})
	n := 0
	res, err := r.doPlain(context.Background(), "smart", nil, func(ctx context.Context, c *Candidate) (time.Duration, error) {
		clock.Advance(300 * time.Millisecond)
		if n++; n == 1 {
			return 0, status(500)
		}
		return 0, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if res.UpstreamTime != 600*time.Millisecond || res.Attempts != 2 {
		t.Fatalf("UpstreamTime = %v, Attempts = %d; want 600ms, 2", res.UpstreamTime, res.Attempts)
	}
}

func TestNewRouterValidates(t *testing.T) {
	good := route("smart", []string{"a"}, "backup")
	bad := []struct {
		name  string
		opts  RouterOptions
		wants []string
	}{
		{"empty route", RouterOptions{Routes: []Route{{Name: "smart"}}}, []string{"no targets"}},
		{"no name", RouterOptions{Routes: []Route{route("", []string{"a"})}}, []string{"no name"}},
		{"duplicate", RouterOptions{Routes: []Route{route("x", []string{"a"}), route("x", []string{"b"})}}, []string{"duplicate route name"}},
		{"unknown fallback", RouterOptions{Routes: []Route{good}}, []string{`unknown route "backup"`}},
		{"weights", RouterOptions{Routes: []Route{{Name: "w", Targets: []Candidate{cand("m", "a", 0), cand("m", "b", -1)}}}}, []string{"targets[0]: weight 0", "targets[1]: weight -1"}},
		{"strategy", RouterOptions{Routes: []Route{{Name: "s", Strategy: "fastest", Targets: []Candidate{cand("m", "a", 1)}}}}, []string{`strategy "fastest"`}},
		{"duplicate target", RouterOptions{Routes: []Route{route("d", []string{"a", "a"})}}, []string{"already a target"}},
		{"no provider", RouterOptions{Routes: []Route{{Name: "n", Targets: []Candidate{{Target: chat.Target{Provider: "p", Model: "m"}, Weight: 1}}}}}, []string{"no provider"}},
		{"negative", RouterOptions{MaxAttempts: -1, BreakerOpen: -time.Second, Routes: []Route{route("x", []string{"a"})}}, []string{"max_attempts", "breaker_open"}},
	}
	for _, tt := range bad {
		t.Run(tt.name, func(t *testing.T) {
			_, err := NewRouter(tt.opts)
			if err == nil {
				t.Fatal("no error")
			}
			for _, w := range tt.wants {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not say %q", err, w)
				}
			}
		})
	}

	// Cycles are fine.
	r, err := NewRouter(RouterOptions{Routes: []Route{route("b", []string{"x"}, "a"), route("a", []string{"y"}, "b", "a")}})
	if err != nil {
		t.Fatal(err)
	}
	if got := r.Routes(); !slices.Equal(got, []string{"a", "b"}) {
		t.Errorf("Routes() = %v", got)
	}
	rt, ok := r.Route("a")
	if !ok || rt.Name != "a" || rt.Strategy != "adaptive" || rt.Targets[0].Route != "a" {
		t.Errorf("Route(a) = %+v, %v", rt, ok)
	}
	if _, ok := r.Route("c"); ok {
		t.Error("Route(c) found")
	}
}

func TestRouterSharedTargetHealth(t *testing.T) {
	// The same key in two routes shares its breaker.
	clock := newFakeClock()
	r := newTestRouter(t, clock, RouterOptions{
		MaxAttempts:     1,
		BreakerFailures: 2,
		Routes: []Route{
			route("one", []string{"shared"}, "spare"),
			route("two", []string{"shared"}, "spare"),
			route("spare", []string{"s"}),
		},
	})
	s := newScript(map[string]func(int) error{"shared": always(status(500))})
	for _, model := range []string{"one", "two"} {
		if _, err := r.doPlain(context.Background(), model, nil, s.attempt); err != nil {
			t.Fatal(err)
		}
	}
	for _, st := range r.TargetStates() {
		if st.KeyName == "shared" && st.Breaker != BreakerStateOpen {
			t.Errorf("%s/%s: breaker %s, want open", st.Route, st.KeyName, st.Breaker)
		}
	}
	res, err := r.doPlain(context.Background(), "one", nil, s.attempt)
	if err != nil || res.Candidate.Target.KeyName != "s" || res.Attempts != 1 {
		t.Fatalf("res = %+v, err = %v: want s in one attempt", res, err)
	}
}

func TestRouterConcurrent(t *testing.T) {
	r, err := NewRouter(RouterOptions{
		Routes: []Route{
			route("smart", []string{"a", "b", "c"}, "backup"),
			route("backup", []string{"d"}),
		},
		Sleep: func(ctx context.Context, d time.Duration) error { return ctx.Err() },
	})
	if err != nil {
		t.Fatal(err)
	}
	attempt := func(ctx context.Context, c *Candidate) (time.Duration, error) {
		switch c.Target.KeyName {
		case "a":
			return time.Millisecond, status(503)
		case "b":
			if rand.IntN(2) == 0 {
				return 0, errNetwork
			}
		}
		return time.Duration(1+rand.IntN(3)) * time.Millisecond, nil
	}
	var wg sync.WaitGroup
	errs := make(chan error, 1000)
	for range 1000 {
		wg.Go(func() {
			res, err := r.doPlain(context.Background(), "smart", nil, attempt)
			if err != nil {
				errs <- err
				return
			}
			if res.Candidate.Target.KeyName == "a" {
				errs <- errors.New("served by a failing target")
			}
			_ = r.TargetStates()
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	for _, st := range r.TargetStates() {
		if st.InFlight != 0 {
			t.Errorf("%s: %d in flight after all returned", st.KeyName, st.InFlight)
		}
	}
}

func BenchmarkRouterDo(b *testing.B) {
	r, err := NewRouter(RouterOptions{Routes: []Route{route("smart", []string{"a", "b", "c"}, "backup"), route("backup", []string{"d"})}})
	if err != nil {
		b.Fatal(err)
	}
	attempt := noValue(func(ctx context.Context, c *Candidate) (time.Duration, error) { return time.Millisecond, nil })
	ctx := context.Background()
	b.Run("serial", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := Do(ctx, r, "smart", nil, attempt); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("parallel", func(b *testing.B) {
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if _, err := Do(ctx, r, "smart", nil, attempt); err != nil {
					b.Error(err)
					return
				}
			}
		})
	})
	b.Run("retry", func(b *testing.B) {
		// One retryable failure in four: the failure path too.
		r, err := NewRouter(RouterOptions{
			Routes: []Route{route("smart", []string{"a", "b", "c"})},
			Sleep:  func(context.Context, time.Duration) error { return nil },
		})
		if err != nil {
			b.Fatal(err)
		}
		var n int
		fail := status(503)
		attempt := noValue(func(ctx context.Context, c *Candidate) (time.Duration, error) {
			if n++; n%4 == 0 {
				return 0, fail
			}
			return time.Millisecond, nil
		})
		b.ReportAllocs()
		for b.Loop() {
			if _, err := Do(ctx, r, "smart", nil, attempt); err != nil {
				b.Fatal(err)
			}
		}
	})
}

func TestRouterAllCoolingDown(t *testing.T) {
	// Every target cools down: fail at once, saying how long to wait.
	clock := newFakeClock()
	r := newTestRouter(t, clock, RouterOptions{Routes: []Route{route("smart", []string{"a", "b"})}})
	s := newScript(map[string]func(int) error{
		"a": always(retryAfter(503, time.Minute)),
		"b": always(retryAfter(429, 2*time.Minute)),
	})
	res, err := r.doPlain(context.Background(), "smart", nil, s.attempt)
	if !isExhausted("smart")(err) || res.Attempts != 2 {
		t.Fatalf("err = %v, Attempts = %d; want exhausted after 2", err, res.Attempts)
	}
	clock.Advance(10 * time.Second)
	res, err = r.doPlain(context.Background(), "smart", nil, s.attempt)
	var ee *ExhaustedError
	var ue *chat.UpstreamError
	if !errors.As(err, &ee) || !errors.As(err, &ue) || res.Attempts != 0 || len(s.Calls()) != 2 {
		t.Fatalf("err = %v, Attempts = %d, calls %v; want an ExhaustedError without attempts", err, res.Attempts, s.Calls())
	}
	if ue.Status != 503 || ue.RetryAfter != 50*time.Second {
		t.Fatalf("Last = %d retry-after %v, want the 503 with 50s left", ue.Status, ue.RetryAfter)
	}
	if !strings.Contains(err.Error(), `"smart"`) {
		t.Errorf("error %q does not name the alias", err)
	}
}

// TestDoReturnsTheAnsweringAttemptsValue: the Result carries the value of
// the attempt that answered, not of the attempts that failed before it,
// and the zero value when every attempt failed.
func TestDoReturnsTheAnsweringAttemptsValue(t *testing.T) {
	clock := newFakeClock()
	r := newTestRouter(t, clock, RouterOptions{Routes: smartWithBackup()})
	attempt := func(_ context.Context, c *Candidate) (string, time.Duration, error) {
		if c.Target.KeyName == "a" {
			return "from a", 0, status(503)
		}
		return "from " + c.Target.KeyName, time.Millisecond, nil
	}
	for _, do := range []func(context.Context, *Router, string, []string, Attempt[string]) (Result[string], error){Do[string], DoStream[string]} {
		res, err := do(context.Background(), r, "smart", nil, attempt)
		if err != nil {
			t.Fatal(err)
		}
		res.Finish(nil)
		if res.Value != "from b" || res.Candidate.Target.KeyName != "b" {
			t.Errorf("value %q from %s, want the fallback's", res.Value, res.Candidate.Target.KeyName)
		}
	}
	res, err := Do(context.Background(), r, "smart", nil, func(context.Context, *Candidate) (string, time.Duration, error) {
		return "partial", 0, status(500)
	})
	if err == nil || res.Value != "" {
		t.Errorf("every attempt failed: value %q, err %v", res.Value, err)
	}
}
