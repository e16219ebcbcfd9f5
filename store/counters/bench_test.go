package counters

import (
	"context"
	"testing"
	"time"

	"github.com/junctionhq/junction/internal/testkit"
)

// admission is the shape of one governed request: a per-key rate limit and a
// team budget in micro-dollars, reserved up front and settled afterwards.
func admission() (reserve, settle []Bucket) {
	reserve = []Bucket{
		{Key: "key:3f2a:rpm", Window: 1767225600, TTL: 2 * time.Minute, Limit: 1 << 62, Amount: 1},
		{Key: "team:9:budget:1mo", Window: 1767225600, TTL: 32 * 24 * time.Hour, Limit: 1 << 62, Amount: 10_000},
	}
	settle = []Bucket{
		{Key: "key:3f2a:rpm", Window: 1767225600},
		{Key: "team:9:budget:1mo", Window: 1767225600, Amount: -7_500},
	}
	return reserve, settle
}

// benchReserveAdjust measures one admission and its settlement per op,
// with a Slot on every bucket when slots is set.
func benchReserveAdjust(b *testing.B, c Counters, slots bool) {
	ctx := context.Background()
	reserve, settle := admission()
	if slots {
		for i := range reserve {
			reserve[i].Slot = NewSlot(reserve[i].Key)
			settle[i].Slot = reserve[i].Slot
		}
	}
	values := make([]int64, len(reserve))
	b.ReportAllocs()
	for b.Loop() {
		if rejected, err := c.Reserve(ctx, reserve, values); err != nil || rejected != -1 {
			b.Fatalf("Reserve = %d, %v", rejected, err)
		}
		if err := c.Adjust(ctx, settle); err != nil {
			b.Fatalf("Adjust: %v", err)
		}
	}
}

func BenchmarkMemoryReserveAdjust(b *testing.B) {
	benchReserveAdjust(b, openMemory(b, nil), false)
}

// BenchmarkMemoryReserveAdjustSlots is the same admission with a Slot on
// every bucket, as the governance layer calls it: no Key is hashed.
func BenchmarkMemoryReserveAdjustSlots(b *testing.B) {
	benchReserveAdjust(b, openMemory(b, nil), true)
}

// BenchmarkMemoryReserveAdjustParallel shows the cost under contention: every
// goroutine admits against the same two counters, behind the one mutex.
func BenchmarkMemoryReserveAdjustParallel(b *testing.B) {
	m := openMemory(b, nil)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		ctx := context.Background()
		reserve, settle := admission()
		values := make([]int64, len(reserve))
		for pb.Next() {
			if rejected, err := m.Reserve(ctx, reserve, values); err != nil || rejected != -1 {
				b.Errorf("Reserve = %d, %v", rejected, err)
				return
			}
			if err := m.Adjust(ctx, settle); err != nil {
				b.Errorf("Adjust: %v", err)
				return
			}
		}
	})
}

func BenchmarkRedisReserveAdjust(b *testing.B) {
	benchReserveAdjust(b, openRedis(b, testkit.RedisURL(b), testPrefix(b)), false)
}
