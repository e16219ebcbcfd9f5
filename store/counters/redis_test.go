package counters

import (
	"context"
	"errors"
	"math"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/junctionhq/junction/internal/testkit"
)

func TestKeyPrefix(t *testing.T) {
	tests := []struct{ prefix, want string }{
		{"", "{junction}:"},
		{"junction:", "{junction}:"},
		{"prod:junction:", "{prod:junction}:"},
		{"x", "{x}:"},
		{":", "{:}:"},
		{"{junction}:", "{junction}:"},
		{"app:{counters}:", "app:{counters}:"},
		{"{}:", "{{}}:"},
	}
	for _, tc := range tests {
		if got := keyPrefix(tc.prefix); got != tc.want {
			t.Errorf("keyPrefix(%q) = %q, want %q", tc.prefix, got, tc.want)
		}
	}
}

func TestRedisKey(t *testing.T) {
	r := &Redis{prefix: keyPrefix("")}
	tests := []struct {
		b    Bucket
		want string
	}{
		{Bucket{Key: "key:3f2a:rpm", Window: 1767225600}, "{junction}:key:3f2a:rpm:1767225600"},
		{Bucket{Key: "team:9:budget"}, "{junction}:team:9:budget:0"},
		{Bucket{Key: "k", Window: -5}, "{junction}:k:-5"},
		{Bucket{Key: "k", Window: math.MinInt64}, "{junction}:k:-9223372036854775808"},
	}
	for _, tc := range tests {
		if got := r.key(&tc.b); got != tc.want {
			t.Errorf("key(%+v) = %q, want %q", tc.b, got, tc.want)
		}
	}
}

func TestTTLMillis(t *testing.T) {
	tests := []struct {
		ttl  time.Duration
		want int64
	}{
		{0, 0},
		{-time.Second, 0},
		{time.Nanosecond, 1},
		{time.Millisecond, 1},
		{time.Millisecond + 1, 2},
		{2 * time.Minute, 120_000},
	}
	for _, tc := range tests {
		if got := ttlMillis(tc.ttl); got != tc.want {
			t.Errorf("ttlMillis(%s) = %d, want %d", tc.ttl, got, tc.want)
		}
	}
}

func TestNewRedisErrors(t *testing.T) {
	tests := []struct {
		name    string
		opts    RedisOptions
		want    string // the error must contain it
		mustNot string // and must not contain it
	}{
		{name: "nothing to connect to", opts: RedisOptions{}, want: "counters: redis: URL or Client is required"},
		{
			name: "both URL and client",
			opts: RedisOptions{URL: "redis://127.0.0.1:6379/0", Client: redis.NewClient(&redis.Options{})},
			want: "set either URL or Client, not both",
		},
		{name: "bad scheme", opts: RedisOptions{URL: "http://127.0.0.1:6379"}, want: "counters: redis: parse URL: redis: invalid URL scheme: http"},
		{
			name:    "unparseable URL keeps the password out of the error",
			opts:    RedisOptions{URL: "redis://user:s3cret@host:notaport/0"},
			want:    "counters: redis: parse URL:",
			mustNot: "s3cret",
		},
		{
			name:    "unreachable server",
			opts:    RedisOptions{URL: "redis://:s3cret@127.0.0.1:1/0?dial_timeout=1s&max_retries=-1"},
			want:    "counters: redis: ping 127.0.0.1:1:",
			mustNot: "s3cret",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if tc.opts.Client != nil {
				defer tc.opts.Client.Close()
			}
			r, err := NewRedis(t.Context(), tc.opts)
			if err == nil {
				_ = r.Close()
				t.Fatal("NewRedis succeeded, want an error")
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err = %q, want it to contain %q", err, tc.want)
			}
			if tc.mustNot != "" && strings.Contains(err.Error(), tc.mustNot) {
				t.Errorf("err = %q leaks %q", err, tc.mustNot)
			}
		})
	}
}

// commandLog is a go-redis hook recording the commands a client sends.
type commandLog struct {
	mu   sync.Mutex
	cmds []string
}

func (l *commandLog) DialHook(next redis.DialHook) redis.DialHook { return next }

func (l *commandLog) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		l.mu.Lock()
		l.cmds = append(l.cmds, cmd.Name())
		l.mu.Unlock()
		return next(ctx, cmd)
	}
}

func (l *commandLog) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		l.mu.Lock()
		l.cmds = append(l.cmds, "pipeline")
		l.mu.Unlock()
		return next(ctx, cmds)
	}
}

// take returns the commands recorded since the last call.
func (l *commandLog) take() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	cmds := l.cmds
	l.cmds = nil
	return cmds
}

// TestRedisRoundTrips checks that each call is exactly one command — one
// round trip — and that a client passed in survives Close.
func TestRedisRoundTrips(t *testing.T) {
	client := rawRedis(t)
	log := &commandLog{}
	client.AddHook(log)
	r, err := NewRedis(t.Context(), RedisOptions{Client: client, Prefix: testPrefix(t)})
	if err != nil {
		t.Fatalf("NewRedis: %v", err)
	}
	log.take()
	ctx := t.Context()
	bs := []Bucket{bk("a", 10, 1), bk("b", -1, 5), bw("c", 60, 100, 7)}
	values := make([]int64, len(bs))
	calls := []struct {
		name string
		call func() error
		want []string
	}{
		{"admitted Reserve", func() error { _, err := r.Reserve(ctx, bs, values); return err }, []string{"evalsha"}},
		{"rejected Reserve", func() error {
			_, err := r.Reserve(ctx, []Bucket{bk("a", 1, 1), bk("b", -1, 1)}, values)
			return err
		}, []string{"evalsha"}},
		{"Adjust", func() error { return r.Adjust(ctx, []Bucket{bk("a", 0, -1), bk("b", 0, 0), bk("c", 0, 3)}) }, []string{"evalsha"}},
		{"Adjust of zero amounts", func() error { return r.Adjust(ctx, []Bucket{bk("a", 0, 0)}) }, nil},
		{"Get", func() error { return r.Get(ctx, bs, values) }, []string{"mget"}},
		{"empty Reserve", func() error { _, err := r.Reserve(ctx, nil, nil); return err }, nil},
	}
	for _, c := range calls {
		if err := c.call(); err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		if got := log.take(); !slices.Equal(got, c.want) {
			t.Errorf("%s sent %v, want %v", c.name, got, c.want)
		}
	}
	if err := r.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := client.Ping(ctx).Err(); err != nil {
		t.Errorf("the caller's client no longer works after Close: %v", err)
	}
}

// TestRedisTTL checks the expiry set on window keys, without waiting for it.
func TestRedisTTL(t *testing.T) {
	raw := rawRedis(t)
	r := openRedis(t, testkit.RedisURL(t), testPrefix(t))
	ctx := t.Context()
	values := make([]int64, 1)
	reserve := func(b Bucket) {
		t.Helper()
		if rejected, err := r.Reserve(ctx, []Bucket{b}, values); err != nil || rejected != -1 {
			t.Fatalf("Reserve(%+v) = %d, %v", b, rejected, err)
		}
	}
	pttl := func(b Bucket) time.Duration {
		t.Helper()
		d, err := raw.PTTL(ctx, r.key(&b)).Result()
		if err != nil {
			t.Fatalf("PTTL: %v", err)
		}
		return d
	}

	withTTL := Bucket{Key: "ttl", Window: 60, TTL: time.Hour, Limit: -1, Amount: 1}
	reserve(withTTL)
	if d := pttl(withTTL); d <= 59*time.Minute || d > time.Hour {
		t.Errorf("new key with TTL 1h: PTTL = %s, want about 1h", d)
	}

	noTTL := Bucket{Key: "forever", Limit: -1, Amount: 1}
	reserve(noTTL)
	if d := pttl(noTTL); d != -1 {
		t.Errorf("key with TTL 0: PTTL = %v, want -1 (no expiry)", d)
	}
	short := noTTL
	short.TTL = 10 * time.Second
	reserve(short)
	if d := pttl(short); d <= 0 || d > 10*time.Second {
		t.Errorf("key given a TTL later: PTTL = %s, want at most 10s", d)
	}
	long := noTTL
	long.TTL = time.Hour
	reserve(long)
	if d := pttl(long); d <= 0 || d > 10*time.Second {
		t.Errorf("a later, longer TTL extended the key: PTTL = %s, want at most 10s", d)
	}

	// A counter rebuilt by a rejected call gets its TTL too.
	rebuilt := Bucket{Key: "rebuilt", Window: 60, TTL: time.Hour, Limit: 10, Amount: 1, Missing: StartAtInit, Init: 10}
	if rejected, err := r.Reserve(ctx, []Bucket{rebuilt}, values); err != nil || rejected != 0 {
		t.Fatalf("Reserve(%+v) = %d, %v; want rejected", rebuilt, rejected, err)
	}
	if d := pttl(rebuilt); d <= 59*time.Minute || d > time.Hour {
		t.Errorf("counter rebuilt by a rejected call: PTTL = %s, want about 1h", d)
	}

	// Adjust keeps the TTL, also where it floors or saturates.
	for _, amount := range []int64{5, -100, math.MaxInt64, 1} {
		if err := r.Adjust(ctx, []Bucket{{Key: "ttl", Window: 60, Amount: amount}}); err != nil {
			t.Fatalf("Adjust(%d): %v", amount, err)
		}
		if d := pttl(withTTL); d <= 59*time.Minute || d > time.Hour {
			t.Errorf("after Adjust(%d): PTTL = %s, want the original TTL kept", amount, d)
		}
	}
}

// TestRedisCorruptValue checks that a key holding something other than a
// counter fails the whole call before anything is written.
func TestRedisCorruptValue(t *testing.T) {
	raw := rawRedis(t)
	r := openRedis(t, testkit.RedisURL(t), testPrefix(t))
	ctx := t.Context()
	good, bad := bk("good", -1, 1), bk("bad", -1, 1)
	for key, value := range map[string]string{r.key(&good): "5", r.key(&bad): "not a number"} {
		if err := raw.Set(ctx, key, value, time.Hour).Err(); err != nil {
			t.Fatalf("SET %s: %v", key, err)
		}
	}
	_, err := r.Reserve(ctx, []Bucket{good, bad}, make([]int64, 2))
	if err == nil || !strings.Contains(err.Error(), "counters: redis reserve:") || !strings.Contains(err.Error(), "not a non-negative integer") {
		t.Errorf("Reserve over a corrupt key: err = %v", err)
	}
	if err := r.Adjust(ctx, []Bucket{good, bad}); err == nil || !strings.Contains(err.Error(), "counters: redis adjust:") {
		t.Errorf("Adjust over a corrupt key: err = %v", err)
	}
	if err := r.Get(ctx, []Bucket{good, bad}, make([]int64, 2)); err == nil || !strings.Contains(err.Error(), "counters: redis get:") {
		t.Errorf("Get over a corrupt key: err = %v", err)
	}
	if v, err := raw.Get(ctx, r.key(&good)).Result(); err != nil || v != "5" {
		t.Errorf("the good key = %q, %v after the failed calls, want it untouched at 5", v, err)
	}
}

// TestRedisContext checks that a cancelled context fails the call with a
// wrapped context error.
func TestRedisContext(t *testing.T) {
	r := openRedis(t, testkit.RedisURL(t), testPrefix(t))
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	_, err := r.Reserve(ctx, []Bucket{bk("a", -1, 1)}, make([]int64, 1))
	if !errors.Is(err, context.Canceled) || !strings.HasPrefix(err.Error(), "counters: redis reserve:") {
		t.Errorf("Reserve with a cancelled context: err = %v, want a wrapped context.Canceled", err)
	}
}
