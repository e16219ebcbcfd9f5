package counters

import (
	"context"
	"strings"
	"testing"
)

// badRedisURLs are Redis URLs that do not parse, each with a password
// ("hunter2-pw" or a fragment the parser might quote).
var badRedisURLs = []string{
	"redis://:hunter2-pw@127.0.0.1:notaport/0",
	"redis://:hunter2-pw@127.0.0.1:6379/notadb",
	"redis://:hunter2-pw%zz@127.0.0.1:6379/0",
	"redis://user:hunter2-pw@127.0.0.1:6379/0?dial_timeout=soon",
	"redis://user:hunter2-pw@127.0.0.1:6379/0?unknown_option=1",
	"redis://:hunter2 pw@127.0.0.1:6379/0",
	"ftp://:hunter2-pw@127.0.0.1:6379",
	"redis://:hunter2-pw@[::1:6379/0",
}

// TestRedisURLErrorsNeverShowThePassword: a Redis URL that does not parse
// gets an error saying why, without the password or a fragment of it
// (net/url repeats the whole URL, or quotes a bad escape from it).
func TestRedisURLErrorsNeverShowThePassword(t *testing.T) {
	for _, raw := range badRedisURLs {
		_, err := ParseRedisURL(raw)
		if err == nil {
			t.Errorf("%s: parsed", raw)
			continue
		}
		assertNoPassword(t, raw, err.Error())
		_, err = NewRedis(context.Background(), RedisOptions{URL: raw})
		if err == nil {
			t.Fatalf("%s: NewRedis succeeded", raw)
		}
		assertNoPassword(t, raw, err.Error())
	}
}

func assertNoPassword(t *testing.T, raw, msg string) {
	t.Helper()
	for _, leak := range []string{"hunter2", "pw%zz", "%zz", "-pw"} {
		if strings.Contains(msg, leak) {
			t.Errorf("%s: the error shows %q: %s", raw, leak, msg)
		}
	}
	if len(msg) < 10 {
		t.Errorf("%s: the error says too little: %q", raw, msg)
	}
}

func TestRedactURLCredentials(t *testing.T) {
	cases := map[string]string{
		"dial redis://:s3cret@10.0.0.5:6379/0 failed":       "dial redis://[redacted]@10.0.0.5:6379/0 failed",
		"rediss://user:pw@host and redis://h:1":             "rediss://[redacted]@host and redis://h:1",
		"redis: connection pool: failed to dial after 5":    "redis: connection pool: failed to dial after 5",
		"user@example.com wrote to redis://10.0.0.5:6379/0": "user@example.com wrote to redis://10.0.0.5:6379/0",
	}
	for in, want := range cases {
		if got := RedactURLCredentials(in); got != want {
			t.Errorf("RedactURLCredentials(%q) = %q, want %q", in, got, want)
		}
	}
}
