package counters

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"testing"
	"time"
)

// memStep is one call against a Memory on a fake clock: advance the clock by
// wait, then call op and check like a behaviour step.
type memStep struct {
	wait time.Duration
	step
}

func at(wait time.Duration, s step) memStep { return memStep{wait: wait, step: s} }

// ttlBucket is a bucket of Key key in window 0 with the given TTL.
func ttlBucket(key string, ttl time.Duration, limit, amount int64) Bucket {
	return Bucket{Key: key, TTL: ttl, Limit: limit, Amount: amount}
}

func TestMemoryTTL(t *testing.T) {
	const minute = time.Minute
	tests := []struct {
		name  string
		steps []memStep
	}{
		{"a window lives until its TTL, then reads 0 and starts over", []memStep{
			at(0, admit(vals(1), ttlBucket("a", minute, 1, 1))),
			at(0, reject(0, vals(1), ttlBucket("a", minute, 1, 1))),
			at(minute-time.Nanosecond, get(vals(1), ttlBucket("a", minute, 1, 0))),
			at(time.Nanosecond, get(vals(0), ttlBucket("a", minute, 1, 0))),
			at(0, admit(vals(1), ttlBucket("a", minute, 1, 1))),
		}},
		{"the TTL counts from creation and later writes do not extend it", []memStep{
			at(0, admit(vals(1), ttlBucket("a", minute, -1, 1))),
			at(minute/2, admit(vals(2), ttlBucket("a", minute, -1, 1))),
			at(minute/2-time.Nanosecond, adjust(vals(5), ttlBucket("a", minute, -1, 3))),
			at(time.Nanosecond, get(vals(0), ttlBucket("a", minute, -1, 0))),
		}},
		{"a counter created without TTL gets one from the first call that has one", []memStep{
			at(0, admit(vals(1), ttlBucket("a", 0, -1, 1))),
			at(time.Hour, admit(vals(2), ttlBucket("a", 10*time.Second, -1, 1))),
			at(10*time.Second, get(vals(0), ttlBucket("a", 0, -1, 0))),
		}},
		{"TTL 0 never expires", []memStep{
			at(0, admit(vals(7), ttlBucket("forever", 0, -1, 7))),
			at(100*365*24*time.Hour, get(vals(7), ttlBucket("forever", 0, -1, 0))),
		}},
		{"adjust does not revive an expired window", []memStep{
			at(0, admit(vals(10), ttlBucket("a", minute, -1, 10))),
			at(minute, adjust(vals(0), ttlBucket("a", minute, -1, 5))),
			at(0, admit(vals(1), ttlBucket("a", minute, -1, 1))),
		}},
		{"an expired window is fresh for Reserve even with the same Window", []memStep{
			at(0, admit(vals(3), ttlBucket("a", minute, 3, 3))),
			at(2*minute, admit(vals(3), ttlBucket("a", minute, 3, 3))),
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			clock := newFakeClock()
			m := openMemory(t, clock.Now)
			for i, s := range tc.steps {
				clock.Advance(s.wait)
				runStep(t, m, i, s.step)
			}
		})
	}
}

// TestMemoryOlderWindow covers the Reserve that raced a rollover: it carries
// the previous Window after another call already started the next one. It is
// checked and counted in the newer window, so it can neither reset that
// counter nor escape its limit; the older window itself is forgotten.
func TestMemoryOlderWindow(t *testing.T) {
	m := openMemory(t, nil)
	ctx := t.Context()
	values := make([]int64, 1)
	reserve := func(w, amount int64) int {
		t.Helper()
		rejected, err := m.Reserve(ctx, []Bucket{bw("a", w, 3, amount)}, values)
		if err != nil {
			t.Fatalf("Reserve(window %d, %d): %v", w, amount, err)
		}
		return rejected
	}
	read := func(w int64) int64 {
		t.Helper()
		got := make([]int64, 1)
		if err := m.Get(ctx, []Bucket{bw("a", w, 0, 0)}, got); err != nil {
			t.Fatalf("Get(window %d): %v", w, err)
		}
		return got[0]
	}
	if r := reserve(200, 2); r != -1 || values[0] != 2 {
		t.Fatalf("Reserve(window 200, 2) = %d, %v; want -1, [2]", r, values)
	}
	if r := reserve(100, 1); r != -1 || values[0] != 3 {
		t.Fatalf("Reserve(window 100, 1) = %d, %v; want -1, [3] (counted in window 200)", r, values)
	}
	if r := reserve(100, 1); r != 0 || values[0] != 3 {
		t.Fatalf("Reserve(window 100, 1) over the limit = %d, %v; want 0, [3]", r, values)
	}
	if got := read(200); got != 3 {
		t.Errorf("window 200 = %d, want 3", got)
	}
	if got := read(100); got != 0 {
		t.Errorf("window 100 = %d, want 0 (forgotten)", got)
	}
	if err := m.Adjust(ctx, []Bucket{bw("a", 100, 0, -3)}); err != nil {
		t.Fatalf("Adjust: %v", err)
	}
	if got := read(200); got != 3 {
		t.Errorf("after Adjust of window 100, window 200 = %d, want 3 (left alone)", got)
	}
}

// runStep performs s on c and checks it, like TestBehaviour; i numbers it in
// failure messages.
func runStep(t *testing.T, c Counters, i int, s step) {
	t.Helper()
	ctx := t.Context()
	switch s.op {
	case opReserve:
		values := make([]int64, len(s.bs))
		rejected, err := c.Reserve(ctx, s.bs, values)
		if err != nil {
			t.Fatalf("step %d: Reserve: %v", i, err)
		}
		if rejected != s.rejected || !slices.Equal(values, s.want) {
			t.Fatalf("step %d: Reserve = %d, %v; want %d, %v", i, rejected, values, s.rejected, s.want)
		}
	case opAdjust:
		if err := c.Adjust(ctx, s.bs); err != nil {
			t.Fatalf("step %d: Adjust: %v", i, err)
		}
	}
	got := make([]int64, len(s.bs))
	if err := c.Get(ctx, s.bs, got); err != nil {
		t.Fatalf("step %d: Get: %v", i, err)
	}
	if !slices.Equal(got, s.want) {
		t.Fatalf("step %d: Get after the step = %v, want %v", i, got, s.want)
	}
}

// TestMemorySweepOnInsert checks that new Keys pay for removing dead ones, so
// a map whose Keys churn stays bounded without any goroutine.
func TestMemorySweepOnInsert(t *testing.T) {
	const n = 10_000
	clock := newFakeClock()
	m := openMemory(t, clock.Now)
	fill(t, m, "old", n, time.Second)
	if got := len(m.entries); got != n {
		t.Fatalf("after %d inserts the map holds %d entries, want %d (nothing has expired yet)", n, got, n)
	}
	clock.Advance(2 * time.Second)
	fill(t, m, "new", n, time.Hour)
	t.Logf("after %d inserts with %d dead entries to find, %d remain", n, n, len(m.entries)-n)
	// Every insert examines 4 entries: the dead share settles near a quarter.
	if got, most := len(m.entries), n+n/4; got > most {
		t.Errorf("after %d more inserts the map holds %d entries (%d dead), want at most %d",
			n, got, got-n, most)
	}
}

// TestMemorySweepTrickle checks that writes to existing Keys alone
// eventually clear out dead entries too.
func TestMemorySweepTrickle(t *testing.T) {
	const n = 10_000
	clock := newFakeClock()
	m := openMemory(t, clock.Now)
	fill(t, m, "old", n, time.Second)
	live := []Bucket{{Key: "live", Limit: -1, Amount: 1}}
	values := make([]int64, 1)
	if _, err := m.Reserve(t.Context(), live, values); err != nil {
		t.Fatalf("Reserve: %v", err)
	}
	clock.Advance(2 * time.Second)
	for w := 1; ; w++ {
		if _, err := m.Reserve(t.Context(), live, values); err != nil {
			t.Fatalf("Reserve: %v", err)
		}
		if len(m.entries) == 1 {
			t.Logf("%d writes removed %d dead entries", w, n)
			return
		}
		if w == 1_000_000 {
			t.Fatalf("after %d writes %d dead entries remain", w, len(m.entries)-1)
		}
	}
}

// fill reserves 1 on n new Keys named prefix0..prefix<n-1> with ttl.
func fill(t *testing.T, m *Memory, prefix string, n int, ttl time.Duration) {
	t.Helper()
	values := make([]int64, 1)
	for i := range n {
		bs := []Bucket{{Key: fmt.Sprintf("%s%d", prefix, i), TTL: ttl, Limit: -1, Amount: 1}}
		if _, err := m.Reserve(t.Context(), bs, values); err != nil {
			t.Fatalf("Reserve %s: %v", bs[0].Key, err)
		}
	}
}

// TestMemoryAllocs checks the fast-path promise: once a Key's entry exists,
// Reserve, Adjust and Get allocate nothing, also across window rollovers and
// the amortised sweeps.
func TestMemoryAllocs(t *testing.T) {
	m := openMemory(t, nil)
	ctx := context.Background()
	window := int64(1767225600)
	res := []Bucket{
		{Key: "key:3f2a:rpm", Window: window, TTL: 2 * time.Minute, Limit: math.MaxInt32, Amount: 1},
		{Key: "team:9:budget:1mo", Window: 1767225600, TTL: 32 * 24 * time.Hour, Limit: 1 << 50, Amount: 10_000},
	}
	settle := []Bucket{
		{Key: "key:3f2a:rpm", Window: window},
		{Key: "team:9:budget:1mo", Window: 1767225600, Amount: -7_500},
	}
	values := make([]int64, len(res))
	cycle := func() {
		if rejected, err := m.Reserve(ctx, res, values); err != nil || rejected != -1 {
			t.Fatalf("Reserve = %d, %v", rejected, err)
		}
		if err := m.Adjust(ctx, settle); err != nil {
			t.Fatalf("Adjust: %v", err)
		}
		if err := m.Get(ctx, res, values); err != nil {
			t.Fatalf("Get: %v", err)
		}
	}
	cycle()
	if allocs := testing.AllocsPerRun(1000, cycle); allocs != 0 {
		t.Errorf("Reserve+Adjust+Get allocate %v times per call, want 0", allocs)
	}
	rollover := func() {
		window += 60
		res[0].Window, settle[0].Window = window, window
		cycle()
	}
	if allocs := testing.AllocsPerRun(1000, rollover); allocs != 0 {
		t.Errorf("with a window rollover every call: %v allocations per call, want 0", allocs)
	}
	for i := range res {
		res[i].Slot = NewSlot(res[i].Key)
		settle[i].Slot = res[i].Slot
	}
	if allocs := testing.AllocsPerRun(1000, cycle); allocs != 0 {
		t.Errorf("with Slots: %v allocations per call, want 0", allocs)
	}
}

// withSlots returns the behaviour scenarios with every bucket carrying the
// Slot of its Key, one Slot per Key shared by all steps of a scenario, the
// way the governance layer passes them.
func withSlots(steps []step) []step {
	slots := map[string]*Slot{}
	out := make([]step, len(steps))
	for i, s := range steps {
		s.bs = slices.Clone(s.bs)
		for j := range s.bs {
			k := s.bs[j].Key
			if slots[k] == nil {
				slots[k] = NewSlot(k)
			}
			s.bs[j].Slot = slots[k]
		}
		out[i] = s
	}
	return out
}

// TestMemoryBehaviourWithSlots runs every behaviour scenario with Slots: a
// Slot only saves the lookup, it never changes a result.
func TestMemoryBehaviourWithSlots(t *testing.T) {
	for _, tc := range behaviour {
		t.Run(tc.name, func(t *testing.T) {
			m := openMemory(t, nil)
			for i, s := range withSlots(tc.steps) {
				runStep(t, m, i, s)
			}
		})
	}
	t.Run("TTL scenarios", func(t *testing.T) {
		clock := newFakeClock()
		m := openMemory(t, clock.Now)
		steps := []memStep{
			at(0, admit(vals(1), ttlBucket("a", time.Minute, 1, 1))),
			at(time.Minute, get(vals(0), ttlBucket("a", time.Minute, 1, 0))),
			at(0, admit(vals(1), ttlBucket("a", time.Minute, 1, 1))),
		}
		plain := make([]step, len(steps))
		for i, s := range steps {
			plain[i] = s.step
		}
		for i, s := range withSlots(plain) {
			clock.Advance(steps[i].wait)
			runStep(t, m, i, s)
		}
	})
}

// TestMemorySlotAfterSweep checks that a Slot whose counter expired and was
// swept away does not keep a counter of its own: the next call through the
// Slot and the next call without it see the same fresh counter.
func TestMemorySlotAfterSweep(t *testing.T) {
	clock := newFakeClock()
	m := openMemory(t, clock.Now)
	slot := NewSlot("a")
	withSlot := []Bucket{{Key: "a", TTL: time.Second, Limit: -1, Amount: 5, Slot: slot}}
	runStep(t, m, 0, admit(vals(5), withSlot...))
	clock.Advance(2 * time.Second)
	for i := 0; m.entries["a"] != nil; i++ {
		if i == 100_000 {
			t.Fatal("the expired counter of a was never swept")
		}
		fill(t, m, fmt.Sprintf("filler%d-", i), 1, time.Hour)
	}
	withSlot[0].Amount = 1
	runStep(t, m, 1, admit(vals(1), withSlot...))
	runStep(t, m, 2, admit(vals(2), Bucket{Key: "a", TTL: time.Second, Limit: -1, Amount: 1}))
	runStep(t, m, 3, admit(vals(3), withSlot...))
	if got := slot.entry.Load(); got != m.entries["a"] {
		t.Errorf("the Slot holds %p, the map %p: they must be the same counter", got, m.entries["a"])
	}
}

// TestMemorySlotMisuse checks that a Slot made for another Key, or one used
// with two Memories, never mixes counters up.
func TestMemorySlotMisuse(t *testing.T) {
	t.Run("a Slot of another Key is ignored", func(t *testing.T) {
		m := openMemory(t, nil)
		slotB := NewSlot("b")
		runStep(t, m, 0, admit(vals(2), Bucket{Key: "b", Limit: -1, Amount: 2, Slot: slotB}))
		runStep(t, m, 1, admit(vals(1), Bucket{Key: "a", Limit: -1, Amount: 1, Slot: slotB}))
		runStep(t, m, 2, admit(vals(2, 3), Bucket{Key: "a", Limit: -1, Amount: 1}, Bucket{Key: "b", Limit: -1, Amount: 1, Slot: slotB}))
	})
	t.Run("one Slot with two Memories", func(t *testing.T) {
		m1, m2 := openMemory(t, nil), openMemory(t, nil)
		slot := NewSlot("a")
		for i := range 3 {
			b := Bucket{Key: "a", Limit: -1, Amount: 1, Slot: slot}
			runStep(t, m1, 2*i, admit(vals(int64(i+1)), b))
			runStep(t, m2, 2*i+1, admit(vals(int64(i+1)), b))
		}
	})
	t.Run("a Key listed twice is found through Slots too", func(t *testing.T) {
		m := openMemory(t, nil)
		slot := NewSlot("a")
		a := Bucket{Key: "a", Limit: -1, Amount: 1, Slot: slot}
		plain := Bucket{Key: "a", Limit: -1, Amount: 1}
		values := make([]int64, 3)
		for _, bs := range [][]Bucket{
			{a, {Key: "b", Limit: -1, Amount: 1}, plain}, // a has no counter yet
			{a, a},
		} {
			if _, err := m.Reserve(t.Context(), bs, values); !errors.Is(err, ErrInvalidInput) {
				t.Fatalf("Reserve(%v): err = %v, want ErrInvalidInput", bs, err)
			}
		}
		runStep(t, m, 0, get(vals(0, 0), a, Bucket{Key: "b"}))
		runStep(t, m, 1, admit(vals(1), a))
		for _, bs := range [][]Bucket{{a, a}, {plain, a}, {a, {Key: "b", Limit: -1, Amount: 1}, plain}} {
			if _, err := m.Reserve(t.Context(), bs, values); !errors.Is(err, ErrInvalidInput) {
				t.Fatalf("Reserve(%v) with a counted: err = %v, want ErrInvalidInput", bs, err)
			}
		}
		for _, bs := range [][]Bucket{{a, a}, {plain, a}, {a, {Key: "b", Amount: 1}, plain}} {
			if err := m.Adjust(t.Context(), bs); !errors.Is(err, ErrInvalidInput) {
				t.Fatalf("Adjust(%v): err = %v, want ErrInvalidInput", bs, err)
			}
		}
		runStep(t, m, 2, get(vals(1, 0), a, Bucket{Key: "b"}))
	})
	t.Run("many buckets in one call", func(t *testing.T) {
		m := openMemory(t, nil)
		var bs []Bucket
		var want []int64
		for i := range 20 {
			k := fmt.Sprintf("k%d", i)
			bs = append(bs, Bucket{Key: k, Limit: -1, Amount: int64(i), Slot: NewSlot(k)})
			want = append(want, int64(i))
		}
		runStep(t, m, 0, admit(want, bs...))
		bs = append(bs, bs[7])
		if _, err := m.Reserve(t.Context(), bs, make([]int64, len(bs))); !errors.Is(err, ErrInvalidInput) {
			t.Fatalf("21 buckets with one Key twice: err = %v, want ErrInvalidInput", err)
		}
	})
}

// TestMemoryDefaultClock checks that the default clock (the wall clock at
// NewMemory advanced by the monotonic clock) tells the time.
func TestMemoryDefaultClock(t *testing.T) {
	m := openMemory(t, nil)
	before := time.Now().UnixNano()
	got := m.now()
	after := time.Now().UnixNano()
	if got < before-int64(time.Millisecond) || got > after+int64(time.Millisecond) {
		t.Errorf("now = %d, want between %d and %d", got, before, after)
	}
}
