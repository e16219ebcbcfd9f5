package counters

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/junctionhq/junction/internal/testkit"
	"github.com/junctionhq/junction/store/counters/redistest"
)

// faultTimeout is the call bound the fault tests configure, and faultSlack
// what they allow a call to take: far above the bound (a loaded CI machine
// with the race detector), far below the seconds a hung Redis used to cost.
const (
	faultTimeout = 50 * time.Millisecond
	faultSlack   = time.Second
)

// openProxied returns a Redis store reached through a fault proxy in front
// of $JUNCTION_TEST_REDIS, with the fault tests' call bound.
func openProxied(t *testing.T) (*Redis, *redistest.Proxy) {
	t.Helper()
	p := redistest.NewProxy(t, testkit.RedisURL(t))
	r, err := NewRedis(t.Context(), RedisOptions{URL: p.URL(), Prefix: testPrefix(t), Timeout: faultTimeout})
	if err != nil {
		t.Fatalf("NewRedis through the proxy: %v", err)
	}
	t.Cleanup(func() { _ = r.Close() })
	return r, p
}

// callAll makes each kind of call once and returns how long each took and
// its error.
func callAll(ctx context.Context, r *Redis) map[string]struct {
	d   time.Duration
	err error
} {
	out := map[string]struct {
		d   time.Duration
		err error
	}{}
	values := make([]int64, 1)
	for name, call := range map[string]func() error{
		"Reserve": func() error { _, err := r.Reserve(ctx, []Bucket{bk("a", 100, 1)}, values); return err },
		"Adjust":  func() error { return r.Adjust(ctx, []Bucket{bk("a", -1, -1)}) },
		"Get":     func() error { return r.Get(ctx, []Bucket{bk("a", 0, 0)}, values) },
		"Ping":    func() error { return r.Ping(ctx) },
	} {
		start := time.Now()
		err := call()
		out[name] = struct {
			d   time.Duration
			err error
		}{time.Since(start), err}
	}
	return out
}

// TestRedisCallsAreBoundedWhenRedisHangs: a Redis that accepts connections
// and never answers costs each call about the configured bound, not the
// 5-15 s of go-redis' defaults, also when many calls wait at once (the
// connection pool must not queue them behind each other), and the store
// works again when Redis answers again.
func TestRedisCallsAreBoundedWhenRedisHangs(t *testing.T) {
	r, p := openProxied(t)
	for name, res := range callAll(t.Context(), r) {
		if res.err != nil {
			t.Fatalf("%s before the fault: %v", name, res.err)
		}
	}
	p.Hang()
	for name, res := range callAll(t.Context(), r) {
		if res.err == nil {
			t.Errorf("%s against a hung Redis succeeded", name)
		}
		if res.d > faultSlack {
			t.Errorf("%s against a hung Redis took %v, want about %v", name, res.d, faultTimeout)
		}
		t.Logf("%s against a hung Redis: %v after %v", name, res.err, res.d)
	}

	// Many callers at once: each is bounded on its own.
	const callers = 200
	var wg sync.WaitGroup
	var mu sync.Mutex
	var slowest time.Duration
	failures := 0
	for range callers {
		wg.Go(func() {
			start := time.Now()
			_, err := r.Reserve(t.Context(), []Bucket{bk("b", 100, 1)}, make([]int64, 1))
			d := time.Since(start)
			mu.Lock()
			defer mu.Unlock()
			slowest = max(slowest, d)
			if err != nil {
				failures++
			}
		})
	}
	wg.Wait()
	if failures != callers || slowest > faultSlack {
		t.Errorf("%d concurrent Reserves against a hung Redis: %d failed, the slowest took %v; want all failed within %v",
			callers, failures, slowest, faultSlack)
	}
	t.Logf("%d concurrent Reserves against a hung Redis: slowest %v", callers, slowest)

	p.Up()
	waitRedis(t, r)
}

// TestRedisCallsFailFastWhenRedisIsDown: with Redis gone (connection
// refused) every call fails at once, and the store recovers when it is back.
func TestRedisCallsFailFastWhenRedisIsDown(t *testing.T) {
	r, p := openProxied(t)
	p.Down()
	for name, res := range callAll(t.Context(), r) {
		if res.err == nil {
			t.Errorf("%s against a Redis that is down succeeded", name)
		}
		if res.d > faultSlack {
			t.Errorf("%s against a Redis that is down took %v", name, res.d)
		}
	}
	p.Up()
	waitRedis(t, r)
}

// waitRedis waits until r answers again after a fault.
func waitRedis(t *testing.T, r *Redis) {
	t.Helper()
	testkit.Eventually(t, 5*time.Second, "Reserve to succeed once Redis answers again", func() bool {
		_, err := r.Reserve(t.Context(), []Bucket{bk("c", 100, 1)}, make([]int64, 1))
		return err == nil
	})
}

// TestNewRedisFailsWithinTimeoutOnHungServer: start-up against a Redis
// that never answers fails within the bound with a clear error.
func TestNewRedisFailsWithinTimeoutOnHungServer(t *testing.T) {
	hung := redistest.NewHung(t)
	start := time.Now()
	r, err := NewRedis(t.Context(), RedisOptions{URL: hung.URL(), Timeout: faultTimeout})
	d := time.Since(start)
	if err == nil {
		_ = r.Close()
		t.Fatal("NewRedis against a hung server succeeded")
	}
	if d > faultSlack {
		t.Errorf("NewRedis against a hung server took %v, want about %v", d, faultTimeout)
	}
	t.Logf("NewRedis against a hung server: %v after %v", err, d)
}

// TestRedisTimeoutOption: the default bound applies when none is given,
// and a negative one is refused.
func TestRedisTimeoutOption(t *testing.T) {
	if _, err := NewRedis(t.Context(), RedisOptions{URL: "redis://127.0.0.1:6379/0", Timeout: -time.Second}); err == nil {
		t.Error("NewRedis with a negative Timeout succeeded")
	}
	r, err := NewRedis(t.Context(), RedisOptions{URL: testkit.RedisURL(t), Prefix: testPrefix(t)})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if r.timeout != DefaultRedisTimeout {
		t.Errorf("timeout = %v, want the default %v", r.timeout, DefaultRedisTimeout)
	}
}
