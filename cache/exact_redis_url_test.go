package cache

import (
	"strings"
	"testing"
	"time"
)

// TestRedisExactURLErrorsNeverShowThePassword: a cache.exact.redis_url that
// does not parse gets an error without the password (net/url repeats the
// whole URL in its errors).
func TestRedisExactURLErrorsNeverShowThePassword(t *testing.T) {
	t.Parallel()
	for _, raw := range []string{
		"redis://:hunter2-pw@127.0.0.1:notaport/0",
		"redis://:hunter2-pw%zz@127.0.0.1:6379/0",
		"redis://:hunter2-pw@[::1:6379/0",
		"redis://:hunter2-pw@127.0.0.1:6379/notadb",
	} {
		_, err := newRedisExact(raw, time.Second)
		if err == nil {
			t.Fatalf("%s: parsed", raw)
		}
		if msg := err.Error(); strings.Contains(msg, "hunter2") || strings.Contains(msg, "%zz") || !strings.Contains(msg, "exact.redis_url") {
			t.Errorf("%s: %s", raw, msg)
		}
	}
}
