package counters

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
)

// DefaultPrefix is the key prefix used when [RedisOptions.Prefix] is empty.
const DefaultPrefix = "junction:"

// DefaultRedisTimeout bounds each call when [RedisOptions.Timeout] is 0. A
// counter call is one round trip to a Redis next to the gateway (well under a
// millisecond when healthy), and every limited request waits for it, so a
// Redis that does not answer must cost tens of milliseconds, not seconds.
const DefaultRedisTimeout = 50 * time.Millisecond

// RedisOptions configures [NewRedis]. Set exactly one of URL and Client.
type RedisOptions struct {
	// URL is a redis://, rediss:// or unix:// URL as accepted by go-redis
	// ParseURL, e.g. redis://:password@10.0.0.5:6379/0?dial_timeout=2s. The
	// client built from it honours context deadlines and is closed by Close;
	// its dial, read, write and pool timeouts default to Timeout (a URL
	// parameter such as dial_timeout=1s overrides one).
	URL string
	// Prefix starts every key; empty means [DefaultPrefix]. Unless it already
	// holds a Redis Cluster hash tag ("{...}"), it is made into one: "junction:"
	// becomes "{junction}:". Replicas that must share counters use the same
	// Prefix.
	Prefix string
	// Client, instead of URL, is a ready client (single node, cluster or
	// sentinel-backed). The caller owns it: Close does not close it. Its
	// socket timeouts are its own; set ContextTimeoutEnabled on it so that
	// Timeout bounds the socket operations too.
	Client redis.UniversalClient
	// Timeout bounds every call (Reserve, Adjust, Get, Ping), retries and
	// waiting for a pooled connection included; a call that runs out gets an
	// error wrapping context.DeadlineExceeded, which the caller treats as
	// "unavailable". 0 means DefaultRedisTimeout; negative is invalid.
	Timeout time.Duration
}

// Redis is the shared back-end: counters live in one Redis (server, sentinel
// group or cluster) that any number of gateway replicas use at once, so they
// enforce one rate limit and one budget exactly.
//
// Each bucket is the string key <prefix><Key>:<Window>, e.g.
// "{junction}:key:3f2a:rpm:1767225600". Reserve and Adjust are one Lua script
// each (EVALSHA, one round trip; the scripts are loaded by NewRedis, and EVAL
// is the fallback after a SCRIPT FLUSH or failover), Get is one MGET. A window's
// key gets its TTL (PEXPIRE, in whole milliseconds rounded up) when it is
// created, so old windows disappear by themselves.
//
// Keys and hash tags: a script may only touch keys of one cluster slot, and
// one admission combines unrelated Keys (a virtual key's rate limit, its
// team's budget), so the whole prefix is the hash tag and every counter lives
// in one slot. That makes every Reserve possible on Redis Cluster, at the cost
// of sharding: all counters of one Prefix are held and served by one primary
// (with its replicas for failover). Counters are small and a Redis primary
// runs these scripts at well over 10^4/s; deployments that outgrow one node
// can split traffic over several Prefixes.
//
// Every call is bounded by [RedisOptions.Timeout] (50 ms by default): a Redis
// that is down or hung costs a call that long and an error, never seconds,
// and callers waiting for a pooled connection give up just as soon.
//
// Adjust needs SET ... KEEPTTL, so Redis 6.0 or newer (or Valkey).
type Redis struct {
	client  redis.UniversalClient
	owned   bool          // client was built from URL, so Close closes it
	prefix  string        // full key prefix including the hash tag, e.g. "{junction}:"
	timeout time.Duration // bound of each call
	closed  atomic.Bool
}

// NewRedis connects to Redis, checks it with PING and loads the scripts, so a
// wrong address, password or a server without scripting fails here with a
// clear error rather than on the first request.
//
// The connection check and the script loading are bounded by the Timeout of
// opts too, so a Redis that accepts connections and never answers fails here
// within it.
func NewRedis(ctx context.Context, opts RedisOptions) (*Redis, error) {
	if opts.Timeout < 0 {
		return nil, fmt.Errorf("counters: redis: Timeout %s is negative", opts.Timeout)
	}
	r := &Redis{prefix: keyPrefix(opts.Prefix), timeout: opts.Timeout}
	if r.timeout == 0 {
		r.timeout = DefaultRedisTimeout
	}
	where := "server"
	switch {
	case opts.URL != "" && opts.Client != nil:
		return nil, errors.New("counters: redis: set either URL or Client, not both")
	case opts.Client != nil:
		r.client = opts.Client
	case opts.URL != "":
		o, err := ParseRedisURL(opts.URL)
		if err != nil {
			return nil, fmt.Errorf("counters: redis: parse URL: %w", err)
		}
		tightTimeouts(o, r.timeout)
		where = o.Addr
		r.client, r.owned = redis.NewClient(o), true
	default:
		return nil, errors.New("counters: redis: URL or Client is required")
	}
	if err := r.ping(ctx); err != nil {
		_ = r.closeOwned()
		return nil, fmt.Errorf("counters: redis: ping %s: %w", where, err)
	}
	for _, s := range []*redis.Script{reserveScript, adjustScript} {
		cctx, cancel := context.WithTimeout(ctx, r.timeout)
		err := s.Load(cctx, r.client).Err()
		cancel()
		if err != nil {
			_ = r.closeOwned()
			return nil, fmt.Errorf("counters: redis: load scripts on %s: %w", where, err)
		}
	}
	return r, nil
}

// tightTimeouts makes a client built from a URL give up as soon as a call's
// bound d has passed: context deadlines apply to the socket, and the dial,
// read, write and pool-wait timeouts the URL leaves unset are d (go-redis
// defaults them to seconds, and retries a timed-out command up to three
// times, so a hung Redis held each call for 5-15 s and every goroutine
// waiting on the pool with it).
func tightTimeouts(o *redis.Options, d time.Duration) {
	o.ContextTimeoutEnabled = true
	for _, t := range []*time.Duration{&o.DialTimeout, &o.ReadTimeout, &o.WriteTimeout, &o.PoolTimeout} {
		if *t == 0 {
			*t = d
		}
	}
}

// Ping checks that Redis answers, within the call bound. The gateway's
// readiness check uses it.
func (r *Redis) Ping(ctx context.Context) error {
	if r.closed.Load() {
		return ErrClosed
	}
	if err := r.ping(ctx); err != nil {
		return fmt.Errorf("counters: redis ping: %w", err)
	}
	return nil
}

// ping sends PING within the call bound.
func (r *Redis) ping(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, r.timeout)
	defer cancel()
	return r.client.Ping(ctx).Err()
}

// keyPrefix returns the key prefix for Prefix p: p itself when it holds a
// hash tag, else p made into one ("junction:" → "{junction}:").
func keyPrefix(p string) string {
	if p == "" {
		p = DefaultPrefix
	}
	if open := strings.IndexByte(p, '{'); open >= 0 && strings.IndexByte(p[open+1:], '}') > 0 {
		return p
	}
	tag := strings.TrimSuffix(p, ":")
	if tag == "" {
		tag = p
	}
	return "{" + tag + "}:"
}

// key returns the Redis key of b's window.
func (r *Redis) key(b *Bucket) string {
	var digits [20]byte
	w := strconv.AppendInt(digits[:0], b.Window, 10)
	var sb strings.Builder
	sb.Grow(len(r.prefix) + len(b.Key) + 1 + len(w))
	sb.WriteString(r.prefix)
	sb.WriteString(b.Key)
	sb.WriteByte(':')
	sb.Write(w)
	return sb.String()
}

// ttlMillis returns ttl in whole milliseconds, rounded up so that a positive
// TTL never becomes "no expiry".
func ttlMillis(ttl time.Duration) int64 {
	if ttl <= 0 {
		return 0
	}
	return int64((ttl + time.Millisecond - 1) / time.Millisecond)
}

// luaExact holds the helpers both scripts use to compare non-negative int64
// values exactly: Lua numbers are doubles, exact only up to 2^53, while
// budgets in micro-dollars may go beyond. Each decimal string is split into
// hi*10^9 + lo, two parts a double holds exactly.
const luaExact = `
local MAX = '9223372036854775807'
local function split(s)
  local n = #s
  if n <= 9 then return 0, tonumber(s) end
  return tonumber(string.sub(s, 1, n - 9)), tonumber(string.sub(s, n - 8))
end
-- over reports whether v + a > l for non-negative integers written in decimal.
local function over(v, a, l)
  local vh, vl = split(v)
  local ah, al = split(a)
  local lh, ll = split(l)
  local sh, sl = vh + ah, vl + al
  if sl >= 1e9 then sh, sl = sh + 1, sl - 1e9 end
  return sh > lh or (sh == lh and sl > ll)
end
-- current returns the value of counter KEYS[i] given its GET/MGET reply.
local function current(i, v)
  if not v then return '0' end
  if not string.find(v, '^%d+$') then
    error('counter ' .. KEYS[i] .. ' holds "' .. v .. '", not a non-negative integer')
  end
  return v
end
`

// reserveScript checks every counter and, only if all stay within their
// limit, increments them all.
//
// KEYS[i] is bucket i's key; ARGV[5i-4] to ARGV[5i] are its Amount (>= 0),
// Limit (>= 0; unlimited is sent as MaxInt64), TTL in milliseconds (0 =
// none), Missing (0 start at zero, 1 report, 2 start at Init) and Init. It
// returns {rejected, v1, ..., vn}: rejected is -1 when all were incremented,
// -2 when a bucket with Missing 1 has no key (then nothing was written, and
// vi is -1 for each such bucket), else the 0-based index of the first bucket
// over its limit (then only the missing keys of buckets with Missing 2 were
// written, at their Init); vi is bucket i's value before the call, as a
// decimal string, which the caller adds Amount to. PEXPIRE is set on keys
// that have no TTL yet. Everything is validated before the first write, so
// an error leaves the counters untouched.
var reserveScript = redis.NewScript(luaExact + `
local cur = redis.call('MGET', unpack(KEYS))
local out = {-1}
for i = 1, #KEYS do
  local missing = ARGV[5*i-1]
  if cur[i] then
    out[i + 1] = current(i, cur[i])
  elseif missing == '1' then
    out[1], out[i + 1] = -2, '-1'
  elseif missing == '2' then
    out[i + 1] = ARGV[5*i]
  else
    out[i + 1] = '0'
  end
end
if out[1] == -2 then return out end
for i = 1, #KEYS do
  if out[1] == -1 and over(out[i + 1], ARGV[5*i-4], ARGV[5*i-3]) then out[1] = i - 1 end
end
for i = 1, #KEYS do
  local k, ttl = KEYS[i], ARGV[5*i-2]
  local seed = not cur[i] and ARGV[5*i-1] == '2'
  if seed then redis.call('SET', k, ARGV[5*i]) end
  if out[1] == -1 then redis.call('INCRBY', k, ARGV[5*i-4]) end
  if (seed or out[1] == -1) and ttl ~= '0' and (not cur[i] or redis.call('PTTL', k) == -1) then
    redis.call('PEXPIRE', k, ttl)
  end
end
return out
`)

// adjustScript adds ARGV[i] (any sign) to KEYS[i] where that key exists,
// flooring at 0 and saturating at MaxInt64, keeping each key's TTL. Missing
// keys are not created. It returns 0.
var adjustScript = redis.NewScript(luaExact + `
local cur = redis.call('MGET', unpack(KEYS))
for i = 1, #KEYS do
  if cur[i] then current(i, cur[i]) end
end
for i = 1, #KEYS do
  if cur[i] then
    local k, a = KEYS[i], ARGV[i]
    if string.sub(a, 1, 1) ~= '-' and over(cur[i], a, MAX) then
      redis.call('SET', k, MAX, 'KEEPTTL')
    elseif redis.call('INCRBY', k, a) < 0 then
      redis.call('SET', k, '0', 'KEEPTTL')
    end
  end
end
return 0
`)

// Reserve implements [Counters.Reserve] in one round trip.
func (r *Redis) Reserve(ctx context.Context, bs []Bucket, values []int64) (int, error) {
	if err := checkReserve(bs, values, true); err != nil {
		return -1, fmt.Errorf("counters: redis reserve: %w", err)
	}
	if r.closed.Load() {
		return -1, ErrClosed
	}
	if len(bs) == 0 {
		return -1, nil
	}
	keys := make([]string, len(bs))
	args := make([]any, 0, 5*len(bs))
	for i := range bs {
		b := &bs[i]
		keys[i] = r.key(b)
		args = append(args, b.Amount, limitOf(b), ttlMillis(b.TTL), int64(b.Missing), b.Init)
	}
	ctx, cancel := context.WithTimeout(ctx, r.timeout)
	defer cancel()
	reply, err := reserveScript.Run(ctx, r.client, keys, args...).Slice()
	if err != nil {
		return -1, fmt.Errorf("counters: redis reserve: %w", err)
	}
	if len(reply) != 1+len(bs) {
		return -1, fmt.Errorf("counters: redis reserve: script replied with %d elements, want %d", len(reply), 1+len(bs))
	}
	rejected, ok := reply[0].(int64)
	if !ok || rejected < -2 || rejected >= int64(len(bs)) {
		return -1, fmt.Errorf("counters: redis reserve: script replied with rejected index %v", reply[0])
	}
	if rejected == -2 {
		return -1, missingReply(bs, keys, reply[1:], values)
	}
	for i := range bs {
		v, err := parseValue(reply[1+i])
		if err != nil {
			return -1, fmt.Errorf("counters: redis reserve: %s: %w", keys[i], err)
		}
		if rejected < 0 {
			v += bs[i].Amount // the script checked it does not overflow
		}
		values[i] = v
	}
	return int(rejected), nil
}

// missingReply fills values from the values of a reserve script that found
// counters missing (-1 for those) and returns the error wrapping ErrMissing.
func missingReply(bs []Bucket, keys []string, reply []any, values []int64) error {
	for i := range bs {
		if reply[i] == "-1" && bs[i].Missing == ReportMissing {
			values[i] = -1
			continue
		}
		v, err := parseValue(reply[i])
		if err != nil {
			return fmt.Errorf("counters: redis reserve: %s: %w", keys[i], err)
		}
		values[i] = v
	}
	return fmt.Errorf("counters: redis reserve: %w", ErrMissing)
}

// Adjust implements [Counters.Adjust] in one round trip (none when every
// Amount is 0).
func (r *Redis) Adjust(ctx context.Context, bs []Bucket) error {
	if err := checkAdjust(bs); err != nil {
		return fmt.Errorf("counters: redis adjust: %w", err)
	}
	if r.closed.Load() {
		return ErrClosed
	}
	var keys []string
	var args []any
	for i := range bs {
		b := &bs[i]
		if b.Amount == 0 {
			continue
		}
		if keys == nil {
			keys = make([]string, 0, len(bs)-i)
			args = make([]any, 0, len(bs)-i)
		}
		keys = append(keys, r.key(b))
		args = append(args, b.Amount)
	}
	if len(keys) == 0 {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, r.timeout)
	defer cancel()
	if err := adjustScript.Run(ctx, r.client, keys, args...).Err(); err != nil {
		return fmt.Errorf("counters: redis adjust: %w", err)
	}
	return nil
}

// Get implements [Counters.Get] with one MGET.
func (r *Redis) Get(ctx context.Context, bs []Bucket, values []int64) error {
	if err := checkGet(bs, values); err != nil {
		return fmt.Errorf("counters: redis get: %w", err)
	}
	if r.closed.Load() {
		return ErrClosed
	}
	if len(bs) == 0 {
		return nil
	}
	keys := make([]string, len(bs))
	for i := range bs {
		keys[i] = r.key(&bs[i])
	}
	ctx, cancel := context.WithTimeout(ctx, r.timeout)
	defer cancel()
	reply, err := r.client.MGet(ctx, keys...).Result()
	if err != nil {
		return fmt.Errorf("counters: redis get: %w", err)
	}
	if len(reply) != len(bs) {
		return fmt.Errorf("counters: redis get: MGET replied with %d elements, want %d", len(reply), len(bs))
	}
	for i := range bs {
		v, err := parseValue(reply[i])
		if err != nil {
			return fmt.Errorf("counters: redis get: %s: %w", keys[i], err)
		}
		values[i] = v
	}
	return nil
}

// Close closes the client when NewRedis built it from URL (a Client passed
// in stays open). It is idempotent.
func (r *Redis) Close() error {
	if r.closed.Swap(true) {
		return nil
	}
	if err := r.closeOwned(); err != nil {
		return fmt.Errorf("counters: redis close: %w", err)
	}
	return nil
}

// closeOwned closes the client if r built it.
func (r *Redis) closeOwned() error {
	if !r.owned {
		return nil
	}
	return r.client.Close()
}

// parseValue converts one counter as replied by Redis (nil for a missing key,
// else a decimal string) to its value.
func parseValue(v any) (int64, error) {
	switch v := v.(type) {
	case nil:
		return 0, nil
	case string:
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 0 {
			return 0, fmt.Errorf("counter holds %q, not a non-negative integer", v)
		}
		return n, nil
	case int64:
		if v < 0 {
			return 0, fmt.Errorf("counter holds %d, a negative value", v)
		}
		return v, nil
	}
	return 0, fmt.Errorf("unexpected reply type %T", v)
}
