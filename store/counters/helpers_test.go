package counters

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"testing"
	"time"

	"github.com/junctionhq/junction/internal/testkit"
	"github.com/redis/go-redis/v9"
)

// backend makes fresh, empty counter stores of one kind.
type backend struct {
	name string
	// open returns a new empty store, closed when t ends.
	open func(t *testing.T) Counters
	// replicas returns n stores sharing one set of counters, all closed when
	// t ends. For Memory they are the same store: its replicas share a process.
	replicas func(t *testing.T, n int) []Counters
}

// backends returns Memory and Redis; the Redis one skips the test when
// JUNCTION_TEST_REDIS is not set.
func backends() []backend {
	return []backend{
		{
			name: "memory",
			open: func(t *testing.T) Counters { return openMemory(t, nil) },
			replicas: func(t *testing.T, n int) []Counters {
				m := openMemory(t, nil)
				cs := make([]Counters, n)
				for i := range cs {
					cs[i] = m
				}
				return cs
			},
		},
		{
			name: "redis",
			open: func(t *testing.T) Counters { return openRedis(t, testkit.RedisURL(t), testPrefix(t)) },
			replicas: func(t *testing.T, n int) []Counters {
				url, prefix := testkit.RedisURL(t), testPrefix(t)
				cs := make([]Counters, n)
				for i := range cs {
					cs[i] = openRedis(t, url, prefix)
				}
				return cs
			},
		},
	}
}

// forEachBackend runs test once per back-end as a subtest.
func forEachBackend(t *testing.T, test func(t *testing.T, be backend)) {
	for _, be := range backends() {
		t.Run(be.name, func(t *testing.T) { test(t, be) })
	}
}

// openMemory returns a new Memory on clock now (nil for time.Now), closed when
// t ends.
func openMemory(t testing.TB, now func() time.Time) *Memory {
	t.Helper()
	m := NewMemory(MemoryOptions{Now: now})
	testkit.CloseAtEnd(t, "Memory.Close", m)
	return m
}

// testPrefix returns a random key prefix for t and deletes every key under it
// when t ends.
func testPrefix(t testing.TB) string {
	t.Helper()
	var b [8]byte
	_, _ = rand.Read(b[:]) // never fails (crypto/rand documents it)
	prefix := "junction-test-" + hex.EncodeToString(b[:]) + ":"
	url := testkit.RedisURL(t)
	t.Cleanup(func() { deleteKeys(t, url, keyPrefix(prefix)) })
	return prefix
}

// deleteKeys removes every key starting with keyPrefix from the Redis at url.
func deleteKeys(t testing.TB, url, keyPrefix string) {
	t.Helper()
	o, err := redis.ParseURL(url)
	if err != nil {
		t.Errorf("cleanup: parse %s: %v", testkit.RedisEnv, err)
		return
	}
	c := redis.NewClient(o)
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	iter := c.Scan(ctx, 0, keyPrefix+"*", 1000).Iterator()
	var keys []string
	for iter.Next(ctx) {
		keys = append(keys, iter.Val())
	}
	if err := iter.Err(); err != nil {
		t.Errorf("cleanup: scan %s*: %v", keyPrefix, err)
		return
	}
	if len(keys) > 0 {
		if err := c.Del(ctx, keys...).Err(); err != nil {
			t.Errorf("cleanup: delete %d keys under %s: %v", len(keys), keyPrefix, err)
		}
	}
}

// contentionTimeout is the call bound of the stores openRedis makes. The
// tests using them check exact arithmetic under hundreds of simultaneous
// calls on a shared CI machine (with the race detector, 500 calls at once
// take over 100 ms), not latency, so they allow far more than
// DefaultRedisTimeout; the bound itself is tested in redis_fault_test.go.
const contentionTimeout = 10 * time.Second

// openRedis returns a new Redis store on url with prefix, closed when t ends.
func openRedis(t testing.TB, url, prefix string) *Redis {
	t.Helper()
	r, err := NewRedis(context.Background(), RedisOptions{URL: url, Prefix: prefix, Timeout: contentionTimeout})
	if err != nil {
		t.Fatalf("NewRedis: %v", err)
	}
	testkit.CloseAtEnd(t, "Redis.Close", r)
	return r
}

// rawRedis returns a plain client on $JUNCTION_TEST_REDIS for inspecting keys,
// closed when t ends.
func rawRedis(t testing.TB) *redis.Client {
	t.Helper()
	o, err := redis.ParseURL(testkit.RedisURL(t))
	if err != nil {
		t.Fatalf("parse %s: %v", testkit.RedisEnv, err)
	}
	c := redis.NewClient(o)
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// newFakeClock returns a clock standing at a fixed instant.
func newFakeClock() *testkit.Clock {
	return testkit.NewClock(time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC))
}
