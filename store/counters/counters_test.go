package counters

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// op is the method a step calls.
type op int

const (
	opReserve op = iota
	opAdjust
	opGet
)

// step is one call in a behaviour scenario.
type step struct {
	op op
	bs []Bucket
	// rejected is what Reserve must return (-1 = admitted).
	rejected int
	// want is what Reserve must report in values and, after every step, what
	// Get must read for bs.
	want []int64
}

// Constructors keeping the scenarios readable. Every bucket gets a TTL of an
// hour so that no test key outlives a crashed run in Redis for long.

// bk is a bucket of Key key in window 0.
func bk(key string, limit, amount int64) Bucket {
	return Bucket{Key: key, Limit: limit, Amount: amount, TTL: time.Hour}
}

// bw is a bucket of Key key in window w.
func bw(key string, w, limit, amount int64) Bucket {
	return Bucket{Key: key, Window: w, Limit: limit, Amount: amount, TTL: time.Hour}
}

func admit(want []int64, bs ...Bucket) step {
	return step{op: opReserve, bs: bs, rejected: -1, want: want}
}

func reject(i int, want []int64, bs ...Bucket) step {
	return step{op: opReserve, bs: bs, rejected: i, want: want}
}

func adjust(want []int64, bs ...Bucket) step { return step{op: opAdjust, bs: bs, want: want} }

func get(want []int64, bs ...Bucket) step { return step{op: opGet, bs: bs, want: want} }

func vals(v ...int64) []int64 { return v }

// behaviour is what every back-end must do alike. Each scenario runs on a
// fresh, empty store.
var behaviour = []struct {
	name  string
	steps []step
}{
	{"exact limit is reached, then rejected", []step{
		admit(vals(1), bk("a", 3, 1)),
		admit(vals(2), bk("a", 3, 1)),
		admit(vals(3), bk("a", 3, 1)),
		reject(0, vals(3), bk("a", 3, 1)),
		get(vals(3), bk("a", 3, 0)),
	}},
	{"amount larger than what is left is rejected, a smaller one fits", []step{
		admit(vals(7), bk("a", 10, 7)),
		reject(0, vals(7), bk("a", 10, 4)),
		admit(vals(10), bk("a", 10, 3)),
		reject(0, vals(10), bk("a", 10, 1)),
	}},
	{"amount above the limit on a fresh counter creates nothing", []step{
		reject(0, vals(0), bk("a", 5, 6)),
		get(vals(0), bk("a", 5, 0)),
	}},
	{"zero limit admits only zero", []step{
		admit(vals(0), bk("a", 0, 0)),
		reject(0, vals(0), bk("a", 0, 1)),
	}},
	{"rejection reports the first bucket over its limit and changes nothing", []step{
		admit(vals(1, 1, 1), bk("a", 5, 1), bk("b", 1, 1), bk("c", -1, 1)),
		reject(1, vals(1, 1, 1), bk("a", 5, 1), bk("b", 1, 1), bk("c", -1, 1)),
		reject(0, vals(1, 1, 1), bk("a", 1, 1), bk("b", 1, 1), bk("c", -1, 1)),
		reject(2, vals(1, 1, 1), bk("c", -1, 1), bk("a", 5, 1), bk("b", 1, 1)),
		get(vals(1, 1, 1), bk("a", 0, 0), bk("b", 0, 0), bk("c", 0, 0)),
		admit(vals(2, 2), bk("a", 5, 1), bk("c", -1, 1)),
	}},
	{"negative limit is unlimited", []step{
		admit(vals(1_000_000), bk("u", -1, 1_000_000)),
		admit(vals(2_000_000), bk("u", -1, 1_000_000)),
		admit(vals(2_000_000_000_000), bk("u", math.MinInt64, 1_999_998_000_000)),
	}},
	{"unlimited stops at MaxInt64", []step{
		admit(vals(math.MaxInt64-1), bk("u", -1, math.MaxInt64-1)),
		admit(vals(math.MaxInt64), bk("u", -1, 1)),
		reject(0, vals(math.MaxInt64), bk("u", -1, 1)),
		admit(vals(math.MaxInt64), bk("u", -1, 0)),
	}},
	{"limits beyond 2^53 are exact", []step{
		admit(vals(1<<60), bk("big", 1<<60+1, 1<<60)),
		admit(vals(1<<60+1), bk("big", 1<<60+1, 1)),
		reject(0, vals(1<<60+1), bk("big", 1<<60+1, 1)),
		admit(vals(999_999_999_999_999_999), bk("m", 999_999_999_999_999_999, 999_999_999_999_999_999)),
		reject(0, vals(999_999_999_999_999_999), bk("m", 999_999_999_999_999_999, 1)),
	}},
	{"a new window starts at 0", []step{
		admit(vals(3), bw("w", 100, 3, 3)),
		reject(0, vals(3), bw("w", 100, 3, 1)),
		get(vals(0), bw("w", 160, 3, 0)),
		admit(vals(1), bw("w", 160, 3, 1)),
		admit(vals(3), bw("w", 160, 3, 2)),
		reject(0, vals(3), bw("w", 160, 3, 1)),
		admit(vals(1, 4), bw("w", 220, 3, 1), bk("never-resets", -1, 4)),
	}},
	{"adjust settles down and up, floored at 0", []step{
		admit(vals(10), bk("a", -1, 10)),
		adjust(vals(6), bk("a", 0, -4)),
		adjust(vals(0), bk("a", 0, -100)),
		adjust(vals(5), bk("a", 0, 5)),
		admit(vals(8), bk("a", 8, 3)),
		reject(0, vals(8), bk("a", 8, 1)),
	}},
	{"adjust ignores limits, and a later reserve sees the excess", []step{
		admit(vals(5), bk("a", 5, 5)),
		adjust(vals(15), bk("a", 5, 10)),
		reject(0, vals(15), bk("a", 5, 0)),
		adjust(vals(4), bk("a", 5, -11)),
		admit(vals(5), bk("a", 5, 1)),
	}},
	{"adjust never creates a counter", []step{
		adjust(vals(0), bk("missing", -1, 5)),
		admit(vals(1), bk("missing", -1, 1)),
	}},
	{"adjust leaves a window that rolled over alone and does not create the new one", []step{
		admit(vals(10), bw("a", 1, -1, 10)),
		adjust(vals(0), bw("a", 2, -1, 5)),
		admit(vals(1), bw("a", 2, -1, 1)),
	}},
	{"adjust touches only the existing counters of a mixed call", []step{
		admit(vals(4), bk("a", -1, 4)),
		adjust(vals(2, 0), bk("a", -1, -2), bk("m", -1, 3)),
		adjust(vals(2), bk("a", -1, 0)),
	}},
	{"adjust saturates at MaxInt64", []step{
		admit(vals(math.MaxInt64-5), bk("s", -1, math.MaxInt64-5)),
		adjust(vals(math.MaxInt64), bk("s", -1, 10)),
		adjust(vals(math.MaxInt64-1), bk("s", -1, -1)),
	}},
	{"get reads absent counters as 0, in order, repeats allowed", []step{
		get(vals(0, 0), bk("x", 0, 0), bw("y", 7, 0, 0)),
		admit(vals(3, 9), bk("x", -1, 3), bw("y", 7, -1, 9)),
		get(vals(9, 3, 0, 9), bw("y", 7, 0, 0), bk("x", 0, 0), bw("y", 8, 0, 0), bw("y", 7, 0, 0)),
	}},
	{"empty calls are admitted no-ops", []step{
		admit(nil),
		adjust(nil),
		get(nil),
	}},
}

func TestBehaviour(t *testing.T) {
	forEachBackend(t, func(t *testing.T, be backend) {
		for _, tc := range behaviour {
			t.Run(tc.name, func(t *testing.T) {
				c := be.open(t)
				for i, s := range tc.steps {
					runStep(t, c, i, s)
				}
			})
		}
	})
}

// seeded is a bucket of Key key in window w that reports or rebuilds a
// missing counter.
func seeded(key string, w, limit, amount int64, missing Missing, init int64) Bucket {
	return Bucket{Key: key, Window: w, Limit: limit, Amount: amount, TTL: time.Hour, Missing: missing, Init: init}
}

// TestMissingCounterIsReportedThenRebuilt protects budgets across a lost
// counter (a restart, a Redis without persistence): a bucket that asks to
// hear of a missing counter stops the call without changing anything, and
// the call repeated with the rebuilt value starts the counter there,
// atomically, whether it admits or rejects, and never overwrites a counter
// that exists.
func TestMissingCounterIsReportedThenRebuilt(t *testing.T) {
	forEachBackend(t, func(t *testing.T, be backend) {
		c := be.open(t)
		ctx := t.Context()
		values := make([]int64, 2)
		check := func(step string, bs []Bucket, wantRejected int, wantErr error, want ...int64) {
			t.Helper()
			rejected, err := c.Reserve(ctx, bs, values)
			if !errors.Is(err, wantErr) || (err == nil) != (wantErr == nil) {
				t.Fatalf("%s: err = %v, want %v", step, err, wantErr)
			}
			if rejected != wantRejected || !slices.Equal(values[:len(bs)], want) {
				t.Fatalf("%s: Reserve = %d, %v; want %d, %v", step, rejected, values[:len(bs)], wantRejected, want)
			}
		}
		read := func(bs ...Bucket) []int64 {
			t.Helper()
			got := make([]int64, len(bs))
			if err := c.Get(ctx, bs, got); err != nil {
				t.Fatal(err)
			}
			return got
		}
		rpm := bw("rpm", 60, 10, 1)
		check("existing rate counter", []Bucket{rpm}, -1, nil, 1)
		check("missing budget", []Bucket{rpm, seeded("usd", 100, 1000, 50, ReportMissing, 0)}, -1, ErrMissing, 1, -1)
		if got := read(rpm, bw("usd", 100, 0, 0)); !slices.Equal(got, []int64{1, 0}) {
			t.Fatalf("a reported miss changed counters: %v", got)
		}
		check("rebuilt at 900", []Bucket{rpm, seeded("usd", 100, 1000, 50, StartAtInit, 900)}, -1, nil, 2, 950)
		check("existing counter ignores Init", []Bucket{seeded("usd", 100, 1000, 10, StartAtInit, 0)}, -1, nil, 960)
		check("existing counter is not reported", []Bucket{seeded("usd", 100, 1000, 10, ReportMissing, 0)}, -1, nil, 970)
		check("over the limit", []Bucket{seeded("usd", 100, 1000, 31, ReportMissing, 0)}, 0, nil, 970)

		// A rebuilt value already over the limit is stored although the
		// call is rejected, so the next call finds it.
		check("new window rebuilt over its limit", []Bucket{rpm, seeded("usd", 200, 1000, 1, StartAtInit, 1200)}, 1, nil, 2, 1200)
		check("the rejected rebuild was kept", []Bucket{seeded("usd", 200, 1000, 0, ReportMissing, 0)}, 0, nil, 1200)
		if got := read(rpm); got[0] != 2 {
			t.Fatalf("a rejected call changed the rate counter: %v", got)
		}
		// A rejected call creates no counter that starts at zero.
		check("rejected fresh rate counter", []Bucket{bw("fresh", 60, 1, 5), seeded("usd", 300, 1000, 1, StartAtInit, 7)}, 0, nil, 0, 7)
		check("fresh rate counter still missing", []Bucket{seeded("fresh", 60, 1, 0, ReportMissing, 0)}, -1, ErrMissing, -1)
	})
}

func TestBadInput(t *testing.T) {
	a, b := bk("a", 10, 1), bk("b", 10, 1)
	tests := []struct {
		name string
		call func(c Counters) error
	}{
		{"reserve with values shorter than buckets", func(c Counters) error {
			_, err := c.Reserve(t.Context(), []Bucket{a, b}, make([]int64, 1))
			return err
		}},
		{"reserve with nil values", func(c Counters) error {
			_, err := c.Reserve(t.Context(), []Bucket{a}, nil)
			return err
		}},
		{"reserve with a negative amount", func(c Counters) error {
			_, err := c.Reserve(t.Context(), []Bucket{a, bk("b", 10, -1)}, make([]int64, 2))
			return err
		}},
		{"reserve with a negative TTL", func(c Counters) error {
			_, err := c.Reserve(t.Context(), []Bucket{a, {Key: "b", Limit: 10, Amount: 1, TTL: -time.Second}}, make([]int64, 2))
			return err
		}},
		{"reserve with an empty key", func(c Counters) error {
			_, err := c.Reserve(t.Context(), []Bucket{a, bk("", 10, 1)}, make([]int64, 2))
			return err
		}},
		{"reserve with a key listed twice", func(c Counters) error {
			_, err := c.Reserve(t.Context(), []Bucket{a, b, bw("a", 60, 10, 1)}, make([]int64, 3))
			return err
		}},
		{"reserve with a negative Init", func(c Counters) error {
			_, err := c.Reserve(t.Context(), []Bucket{a, {Key: "b", Limit: 10, Amount: 1, Missing: StartAtInit, Init: -5}}, make([]int64, 2))
			return err
		}},
		{"reserve with an unknown Missing", func(c Counters) error {
			_, err := c.Reserve(t.Context(), []Bucket{a, {Key: "b", Limit: 10, Amount: 1, Missing: 9}}, make([]int64, 2))
			return err
		}},
		{"adjust with an empty key", func(c Counters) error {
			return c.Adjust(t.Context(), []Bucket{a, bk("", 10, 1)})
		}},
		{"adjust with a key listed twice", func(c Counters) error {
			return c.Adjust(t.Context(), []Bucket{a, b, a})
		}},
		{"get with values shorter than buckets", func(c Counters) error {
			return c.Get(t.Context(), []Bucket{a, b}, make([]int64, 1))
		}},
		{"get with an empty key", func(c Counters) error {
			return c.Get(t.Context(), []Bucket{{}}, make([]int64, 1))
		}},
	}
	forEachBackend(t, func(t *testing.T, be backend) {
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				c := be.open(t)
				// Seed a so that Adjust would visibly change it.
				if _, err := c.Reserve(t.Context(), []Bucket{a}, make([]int64, 1)); err != nil {
					t.Fatalf("seed Reserve: %v", err)
				}
				err := tc.call(c)
				if !errors.Is(err, ErrInvalidInput) {
					t.Fatalf("err = %v, want one matching ErrInvalidInput", err)
				}
				got := make([]int64, 2)
				if err := c.Get(t.Context(), []Bucket{a, b}, got); err != nil {
					t.Fatalf("Get: %v", err)
				}
				if !slices.Equal(got, []int64{1, 0}) {
					t.Errorf("after the bad call a, b = %v, want [1 0]: nothing may change", got)
				}
			})
		}
	})
}

func TestClose(t *testing.T) {
	forEachBackend(t, func(t *testing.T, be backend) {
		c := be.open(t)
		bs := []Bucket{bk("a", -1, 1)}
		if _, err := c.Reserve(t.Context(), bs, make([]int64, 1)); err != nil {
			t.Fatalf("Reserve: %v", err)
		}
		for i := range 2 {
			if err := c.Close(); err != nil {
				t.Fatalf("Close #%d: %v", i+1, err)
			}
		}
		if _, err := c.Reserve(t.Context(), bs, make([]int64, 1)); !errors.Is(err, ErrClosed) {
			t.Errorf("Reserve after Close: err = %v, want ErrClosed", err)
		}
		if err := c.Adjust(t.Context(), bs); !errors.Is(err, ErrClosed) {
			t.Errorf("Adjust after Close: err = %v, want ErrClosed", err)
		}
		if err := c.Get(t.Context(), bs, make([]int64, 1)); !errors.Is(err, ErrClosed) {
			t.Errorf("Get after Close: err = %v, want ErrClosed", err)
		}
	})
}

// TestConcurrentReserve proves admission is atomic: 500 goroutines race for a
// limit of 100 (plus an unlimited bucket in the same call), through one store
// or through two replicas sharing the counters. Exactly 100 must win, and the
// values they saw must be exactly 1..100 times the amount, each once.
func TestConcurrentReserve(t *testing.T) {
	const goroutines, admits = 500, 100
	tests := []struct {
		name     string
		replicas int
		amount   int64
	}{
		{"rate limit", 1, 1},
		{"budget in micro-dollars", 1, 10_000},
		{"rate limit across two replicas", 2, 1},
		{"budget across two replicas", 2, 10_000},
	}
	forEachBackend(t, func(t *testing.T, be backend) {
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				cs := be.replicas(t, tc.replicas)
				limit := admits * tc.amount
				bs := []Bucket{bw("limited", 1767225600, limit, tc.amount), bw("unlimited", 1767225600, -1, 1)}
				var (
					admitted atomic.Int64
					start    = make(chan struct{})
					wg       sync.WaitGroup
					seen     = make([]int64, goroutines) // the limited value each winner saw; 0 for losers
					errs     = make(chan error, goroutines)
				)
				for g := range goroutines {
					wg.Go(func() {
						values := make([]int64, len(bs))
						<-start
						rejected, err := cs[g%len(cs)].Reserve(t.Context(), bs, values)
						switch {
						case err != nil:
							errs <- err
						case rejected == -1:
							admitted.Add(1)
							seen[g] = values[0]
						case rejected != 0:
							errs <- errors.New("rejected by the unlimited bucket")
						}
					})
				}
				close(start)
				wg.Wait()
				close(errs)
				for err := range errs {
					t.Fatalf("Reserve: %v", err)
				}
				if n := admitted.Load(); n != admits {
					t.Errorf("admitted %d of %d, want exactly %d", n, goroutines, admits)
				}
				var wins []int64
				for _, v := range seen {
					if v != 0 {
						wins = append(wins, v)
					}
				}
				slices.Sort(wins)
				for i, v := range wins {
					if want := int64(i+1) * tc.amount; v != want {
						t.Fatalf("winner %d saw %d, want %d: two admissions saw the same value", i, v, want)
					}
				}
				for i, c := range cs {
					got := make([]int64, 2)
					if err := c.Get(t.Context(), bs, got); err != nil {
						t.Fatalf("replica %d: Get: %v", i, err)
					}
					if want := []int64{limit, admits}; !slices.Equal(got, want) {
						t.Errorf("replica %d: final values = %v, want %v", i, got, want)
					}
				}
			})
		}
	})
}

// TestConcurrentReserveAdjust interleaves reservations and settlements from
// many goroutines; the counter must end where the arithmetic says.
func TestConcurrentReserveAdjust(t *testing.T) {
	const goroutines, rounds = 50, 40
	forEachBackend(t, func(t *testing.T, be backend) {
		cs := be.replicas(t, 2)
		var wg sync.WaitGroup
		errs := make(chan error, goroutines)
		for g := range goroutines {
			wg.Go(func() {
				c := cs[g%2]
				values := make([]int64, 2)
				for range rounds {
					// Reserve 10 on each, settle the first at 3 (-7) and the second at 12 (+2).
					res := []Bucket{bk("spend", -1, 10), bk("tokens", 1<<40, 10)}
					rejected, err := c.Reserve(t.Context(), res, values)
					if err == nil && rejected != -1 {
						err = fmt.Errorf("reservation rejected by bucket %d, values %v", rejected, values)
					}
					if err != nil {
						errs <- err
						return
					}
					if err := c.Adjust(t.Context(), []Bucket{bk("spend", 0, -7), bk("tokens", 0, 2)}); err != nil {
						errs <- err
						return
					}
				}
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatal(err)
		}
		got := make([]int64, 2)
		if err := cs[0].Get(t.Context(), []Bucket{bk("spend", 0, 0), bk("tokens", 0, 0)}, got); err != nil {
			t.Fatalf("Get: %v", err)
		}
		if want := []int64{goroutines * rounds * 3, goroutines * rounds * 12}; !slices.Equal(got, want) {
			t.Errorf("final values = %v, want %v", got, want)
		}
	})
}
