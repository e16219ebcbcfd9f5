package testkit

import (
	"os"
	"testing"
)

// RedisEnv names the variable that gives tests a Redis URL; bash .ci/run
// sets it.
const RedisEnv = "JUNCTION_TEST_REDIS"

// RedisURL returns $JUNCTION_TEST_REDIS, or skips t when it is not set.
func RedisURL(t testing.TB) string {
	t.Helper()
	u := os.Getenv(RedisEnv)
	if u == "" {
		t.Skip(RedisEnv + " is not set: set it to a Redis URL, e.g. redis://127.0.0.1:6379/0 (bash .ci/run does), to run the Redis tests")
	}
	return u
}
