package gateway

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/junctionhq/junction/internal/testkit"
	"github.com/redis/go-redis/v9"
)

// TestGoRedisLinesGoToTheJSONLog: what go-redis logs by itself (a pool
// that cannot dial) reaches the gateway's structured log at warn level,
// never stderr as a plain line, and shows no URL credentials.
func TestGoRedisLinesGoToTheJSONLog(t *testing.T) {
	g := startGateway(t, nil)
	addr := testkit.ClosedAddr(t) // nothing listens there
	opts, err := redis.ParseURL("redis://:s3cret-pw@" + addr + "/0")
	if err != nil {
		t.Fatal(err)
	}
	client := redis.NewClient(opts)
	t.Cleanup(func() { _ = client.Close() })
	if err := client.Ping(context.Background()).Err(); err == nil {
		t.Fatal("ping of a closed port succeeded")
	}
	logs := g.Logs.String()
	var found bool
	for line := range strings.Lines(logs) {
		var entry map[string]any
		if err := json.Unmarshal([]byte(line), &entry); err != nil {
			t.Fatalf("a log line is not JSON: %q", line)
		}
		if entry["component"] == "go-redis" {
			found = true
			msg, _ := entry["message"].(string)
			if entry["level"] != "warn" || !strings.Contains(msg, "failed to dial") {
				t.Errorf("go-redis line: %s", line)
			}
		}
	}
	if !found {
		t.Fatalf("go-redis's line is not in the gateway's log:\n%s", logs)
	}
	if strings.Contains(logs, "s3cret") {
		t.Errorf("the log shows the Redis password:\n%s", logs)
	}
}

func TestRedisLogRedactsURLCredentials(t *testing.T) {
	g := startGateway(t, nil)
	redisLog{}.Printf(context.Background(), "sentinel: cannot reach %s", "redis://:s3cret-pw@10.0.0.5:26379")
	if logs := g.Logs.String(); strings.Contains(logs, "s3cret") || !strings.Contains(logs, "redis://[redacted]@10.0.0.5:26379") {
		t.Errorf("logs:\n%s", logs)
	}
}
