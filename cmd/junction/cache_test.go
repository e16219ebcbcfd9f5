package main

import (
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/junctionhq/junction/cache"
	"github.com/junctionhq/junction/gateway"
	"github.com/junctionhq/junction/internal/testkit"
	"github.com/junctionhq/junction/llm"
	"github.com/junctionhq/junction/llm/llmtest"
	"github.com/junctionhq/junction/llm/respcache"
	"github.com/junctionhq/junction/policy"
)

func TestCacheStatsAndPurge(t *testing.T) {
	t.Parallel()
	mock := llmtest.NewServer()
	t.Cleanup(mock.Close)
	cfg := gateway.Config{DataDir: t.TempDir(), AdminKey: testAdminKey,
		Providers: []llm.ProviderConfig{{Name: "mock", BaseURL: mock.URL + "/v1", Keys: []llm.ProviderKeyConfig{{Value: "sk"}}}},
		Teams:     []policy.TeamConfig{{Name: "eng"}},
		Cache:     cache.Config{Enabled: true}}
	base := startGatewayWith(t, cfg)
	u := "--url=" + base

	out := mustCLI(t, "keys", "create", u, "--name", "bot", "--team", "eng")
	secret := secretRE.FindStringSubmatch(out)[1]
	ask := func() string {
		req, _ := http.NewRequest(http.MethodPost, base+"/v1/chat/completions",
			strings.NewReader(`{"model":"mock/gpt-4o-mini","messages":[{"role":"user","content":"cache me"}]}`))
		req.Header.Set("Authorization", "Bearer "+secret)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("status %d", resp.StatusCode)
		}
		return resp.Header.Get(respcache.HeaderCache)
	}
	ask()
	// The answer is stored in the background: wait until it is.
	testkit.Eventually(t, 10*time.Second, "the answer to be served from the cache", func() bool { return ask() == respcache.HitExact })

	// The exact tier answers first; the semantic tier's entry is written
	// beside it in the background: wait for both.
	testkit.EventuallyNoError(t, 10*time.Second, "the semantic tier's entry", func() error {
		out = mustCLI(t, "cache", "stats", u)
		if row := rowWith(out, "semantic"); len(row) != 6 || row[2] != "1" {
			return fmt.Errorf("cache stats:\n%s", out)
		}
		return nil
	})
	row := rowWith(out, "exact")
	if len(row) != 6 || row[1] != "memory" || row[2] != "1" || row[4] != "1" {
		t.Fatalf("exact row %q in:\n%s", row, out)
	}
	if row := rowWith(out, "semantic"); len(row) != 6 || row[1] != "memory" || row[2] != "1" {
		t.Fatalf("semantic row %q in:\n%s", row, out)
	}
	if !strings.Contains(out, "Saved since start:") {
		t.Errorf("no savings line:\n%s", out)
	}
	if r := cli(t, "cache", "purge", u, "--team", "eng", "--key", "bot"); r.code != exitUsage {
		t.Errorf("two filters: exit %d", r.code)
	}
	out = mustCLI(t, "cache", "purge", u, "--team", "other")
	if !strings.Contains(out, "Deleted 0 cached answers.") {
		t.Errorf("purge other team: %q", out)
	}
	out = mustCLI(t, "cache", "purge", u, "--team", "eng", "--model", "mock/gpt-4o-mini")
	if !strings.Contains(out, "Deleted 2 cached answers.") { // one per tier
		t.Errorf("purge: %q", out)
	}
	if got := ask(); got != respcache.Miss {
		t.Errorf("after purge: %s", got)
	}
	out = mustCLI(t, "cache", "stats", u, "--json")
	if !strings.Contains(out, `"enabled":true`) {
		t.Errorf("json stats: %s", out)
	}
	if !slices.Contains(strings.Fields(mustCLI(t, "help")), "cache") {
		t.Error("help does not list cache")
	}
}
