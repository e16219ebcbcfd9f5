package cache

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/junctionhq/junction/store/counters"
)

// redisExact is the exact tier in Redis, shared by every replica.
//
// Keys (every key of one tenant shares the hash tag {T}, T a hash of the
// tenant, so each tenant lives in one cluster slot and its writes are one
// MULTI):
//
//	jc:{T}:e:<hash of model, tools, request hash>  the encoded Entry, with PX expiry
//	jc:{T}:m:<hash of model>                       sorted set of that model's entry keys, score = expiry (unix ms)
//	jc:{T}:models                                  hash: model hash -> model
//	jc:tenants                                     set of tenants (for Purge by model)
//
// The sorted sets lose their expired members on every write, and expire
// themselves after their newest member, so they stay bounded.
type redisExact struct {
	client  redis.UniversalClient
	timeout time.Duration
	now     func() time.Time
}

const redisTenants = "jc:tenants"

func newRedisExact(rawURL string, timeout time.Duration) (*redisExact, error) {
	opt, err := counters.ParseRedisURL(rawURL) // its errors never hold the password
	if err != nil {
		return nil, fmt.Errorf("cache: exact.redis_url: %w", err)
	}
	opt.DialTimeout, opt.ReadTimeout, opt.WriteTimeout = 4*timeout, timeout, timeout
	opt.PoolTimeout = timeout
	// One retry at most: a lookup must stay within the timeout, not back off.
	opt.MaxRetries = 1
	return newRedisExactClient(redis.NewClient(opt), timeout, time.Now), nil
}

func newRedisExactClient(c redis.UniversalClient, timeout time.Duration, now func() time.Time) *redisExact {
	return &redisExact{client: c, timeout: timeout, now: now}
}

func (r *redisExact) name() string { return BackendRedis }

func hashHex(n int, parts ...string) string {
	h := sha256.New()
	for _, p := range parts {
		h.Write([]byte(p))
		h.Write([]byte{0})
	}
	return hex.EncodeToString(h.Sum(nil)[:n])
}

func tenantTag(tenant string) string { return "jc:{" + hashHex(8, tenant) + "}:" }

func (r *redisExact) keys(s Scope, key string) (entry, zset, models, modelHash string) {
	tag := tenantTag(s.Tenant)
	modelHash = hashHex(8, s.Model)
	return tag + "e:" + hashHex(16, s.Model, s.Tools, key), tag + "m:" + modelHash, tag + "models", modelHash
}

func (r *redisExact) wrap(op string, err error) error {
	return &BackendError{Backend: BackendRedis, Op: op, Err: err}
}

func (r *redisExact) get(ctx context.Context, s Scope, key string) (*Entry, error) {
	ctx, cancel := context.WithTimeout(ctx, r.timeout)
	defer cancel()
	entryKey, _, _, _ := r.keys(s, key)
	b, err := r.client.Get(ctx, entryKey).Bytes()
	if errors.Is(err, redis.Nil) {
		return nil, nil
	}
	if err != nil {
		return nil, r.wrap("get", err)
	}
	e, err := DecodeEntry(b)
	if err != nil {
		return nil, r.wrap("decode", err)
	}
	return &e, nil
}

func (r *redisExact) set(ctx context.Context, s Scope, key string, e Entry, ttl time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, r.timeout)
	defer cancel()
	entryKey, zset, models, modelHash := r.keys(s, key)
	now := r.now()
	expiry := now.Add(ttl).UnixMilli()
	_, err := r.client.TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.Set(ctx, entryKey, EncodeEntry(e), ttl)
		p.ZAdd(ctx, zset, redis.Z{Score: float64(expiry), Member: entryKey})
		p.ZRemRangeByScore(ctx, zset, "-inf", "("+strconv.FormatInt(now.UnixMilli(), 10))
		p.HSet(ctx, models, modelHash, s.Model)
		// Redis expiry is in whole seconds here: round up.
		keep := ttl.Truncate(time.Second) + time.Second
		for _, k := range []string{zset, models} {
			p.ExpireNX(ctx, k, keep)
			p.ExpireGT(ctx, k, keep)
		}
		return nil
	})
	if err != nil {
		return r.wrap("set", err)
	}
	if err := r.client.SAdd(ctx, redisTenants, s.Tenant).Err(); err != nil {
		return r.wrap("set", err)
	}
	return nil
}

// tenants lists the tenants f selects.
func (r *redisExact) tenants(ctx context.Context, f Filter) ([]string, error) {
	if f.Tenant != "" {
		return []string{f.Tenant}, nil
	}
	return r.client.SMembers(ctx, redisTenants).Result()
}

func (r *redisExact) purge(ctx context.Context, f Filter) (int64, error) {
	tenants, err := r.tenants(ctx, f)
	if err != nil {
		return 0, r.wrap("purge", err)
	}
	var n int64
	for _, t := range tenants {
		m, err := r.purgeTenant(ctx, t, f.Model)
		n += m
		if err != nil {
			return n, r.wrap("purge", err)
		}
	}
	return n, nil
}

func (r *redisExact) purgeTenant(ctx context.Context, tenant, model string) (int64, error) {
	tag := tenantTag(tenant)
	models, err := r.client.HGetAll(ctx, tag+"models").Result()
	if err != nil {
		return 0, err
	}
	var n int64
	for mh, name := range models {
		if model != "" && name != model {
			continue
		}
		zset := tag + "m:" + mh
		members, err := r.client.ZRange(ctx, zset, 0, -1).Result()
		if err != nil {
			return n, err
		}
		for len(members) > 0 {
			chunk := members[:min(len(members), 500)]
			members = members[len(chunk):]
			d, err := r.client.Del(ctx, chunk...).Result()
			if err != nil {
				return n, err
			}
			n += d
		}
		if err := r.client.Del(ctx, zset).Err(); err != nil {
			return n, err
		}
		if err := r.client.HDel(ctx, tag+"models", mh).Err(); err != nil {
			return n, err
		}
	}
	left, err := r.client.HLen(ctx, tag+"models").Result()
	if err == nil && left == 0 {
		err = r.client.SRem(ctx, redisTenants, tenant).Err()
	}
	return n, err
}

// stats counts the live entries from the sorted sets; bytes are unknown.
func (r *redisExact) stats(ctx context.Context) (int64, int64) {
	ctx, cancel := context.WithTimeout(ctx, 4*r.timeout)
	defer cancel()
	tenants, err := r.tenants(ctx, Filter{})
	if err != nil {
		return -1, -1
	}
	now := "(" + strconv.FormatInt(r.now().UnixMilli(), 10)
	var total int64
	for _, t := range tenants {
		tag := tenantTag(t)
		models, err := r.client.HKeys(ctx, tag+"models").Result()
		if err != nil {
			return -1, -1
		}
		for _, mh := range models {
			c, err := r.client.ZCount(ctx, tag+"m:"+mh, now, "+inf").Result()
			if err != nil {
				return -1, -1
			}
			total += c
		}
	}
	return total, -1
}

func (r *redisExact) close() error { return r.client.Close() }
