package gateway

import (
	"context"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/junctionhq/junction/internal/testkit"
	"github.com/junctionhq/junction/llm"
	"github.com/junctionhq/junction/llm/llmtest"
	"github.com/junctionhq/junction/policy"
	"github.com/junctionhq/junction/store"
	"github.com/junctionhq/junction/store/storetest"
	"github.com/junctionhq/junction/telemetry"
)

// TestAdminUsageAnswers503WhenDatabaseFreezes: with Postgres frozen (the
// connection accepted, nothing answered), /admin/v1/usage and the other
// admin routes that query the store answer 503 with Retry-After within the
// admin timeout instead of hanging, and answer normally once it thaws.
func TestAdminUsageAnswers503WhenDatabaseFreezes(t *testing.T) {
	proxy, db := storetest.ProxyPostgres(t, storetest.PostgresFromEnv(t)(t))
	const timeout = time.Second
	g := startGateway(t, func(c *Config) {
		c.Store = db.Config
		c.HTTP.AdminTimeout = timeout
	})
	if resp, body := adminDo(t, http.MethodGet, g.URL+"/admin/v1/usage", nil); resp.StatusCode != http.StatusOK {
		t.Fatalf("usage before the freeze: %d %s", resp.StatusCode, body)
	}
	proxy.Freeze()
	client := &http.Client{Timeout: 15 * time.Second}
	for _, path := range []string{"/admin/v1/usage", "/admin/v1/usage?group_by=model"} {
		req := mustRequest(t, http.MethodGet, g.URL+path, nil)
		req.Header.Set("Authorization", "Bearer "+testAdminKey)
		begin := time.Now()
		resp, err := client.Do(req)
		if err != nil {
			t.Fatalf("%s on a frozen database: %v after %v", path, err, time.Since(begin))
		}
		var body errorBody
		_ = json.NewDecoder(resp.Body).Decode(&body)
		resp.Body.Close()
		took := time.Since(begin)
		if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") == "" || body.Error.Code == "" {
			t.Errorf("%s: %d, Retry-After %q, error %+v; want 503 with Retry-After and an error body",
				path, resp.StatusCode, resp.Header.Get("Retry-After"), body.Error)
		}
		if took > timeout+2*time.Second {
			t.Errorf("%s answered after %v; the admin timeout is %v", path, took, timeout)
		}
	}
	// The status route is how an admin finds out what is wrong: it answers
	// within the bound, with the store's check failed.
	begin := time.Now()
	resp, body := adminDo(t, http.MethodGet, g.URL+"/admin/v1/status", nil)
	var status struct {
		Checks map[string]struct{ Status, Error string }
	}
	_ = json.Unmarshal(body, &status)
	if resp.StatusCode != http.StatusOK || status.Checks["store"].Status != "unavailable" || status.Checks["store"].Error == "" {
		t.Errorf("/admin/v1/status on a frozen database: %d %s", resp.StatusCode, body)
	}
	if took := time.Since(begin); took > timeout+2*time.Second {
		t.Errorf("/admin/v1/status answered after %v; the admin timeout is %v", took, timeout)
	}
	proxy.Thaw()
	testkit.Eventually(t, 10*time.Second, "usage to answer after the thaw", func() bool {
		resp, _ := adminDo(t, http.MethodGet, g.URL+"/admin/v1/usage", nil)
		return resp.StatusCode == http.StatusOK
	})
}

// TestUsageMetricsExposed: the usage writer's records written, dropped,
// waiting in memory and waiting in the spill file are exported.
func TestUsageMetricsExposed(t *testing.T) {
	g := startGateway(t, nil)
	_, body := get(t, g.URL+"/metrics")
	for _, name := range []string{"junction_usage_records_dropped_total 0", "junction_usage_records_written_total ",
		"junction_usage_records_queued ", "junction_usage_records_spilled "} {
		if !strings.Contains(string(body), "\n"+name) {
			t.Errorf("metrics lack %q", name)
		}
	}
}

// TestGatewayShutdownDuringPostgresOutageKeepsUsage: requests served while
// Postgres is away are settled; a shutdown during the outage leaves their
// usage records in the data dir's spill file, and the next start writes
// them.
func TestGatewayShutdownDuringPostgresOutageKeepsUsage(t *testing.T) {
	proxy, db := storetest.ProxyPostgres(t, storetest.PostgresFromEnv(t)(t))
	mock := llmtest.NewServer(llmtest.WithSeed(7))
	t.Cleanup(mock.Close)
	dataDir := t.TempDir()
	mutate := func(c *Config) {
		c.DataDir = dataDir
		c.Store = db.Config
		c.Providers = []llm.ProviderConfig{{Name: "mock", Type: llm.TypeOpenAI, BaseURL: mock.URL + "/v1",
			Keys: []llm.ProviderKeyConfig{{Value: "sk-main"}}}}
	}
	g := startGateway(t, mutate)
	key, secret, err := g.Policy().CreateKey(context.Background(), policy.KeyInput{Name: "caller"})
	if err != nil {
		t.Fatal(err)
	}
	proxy.Stop()
	const n = 40
	for i := range n {
		req := mustRequest(t, http.MethodPost, g.URL+"/v1/chat/completions",
			strings.NewReader(`{"model":"mock/gpt-4o-mini","messages":[{"role":"user","content":"hi"}]}`))
		req.Header.Set("Authorization", "Bearer "+secret)
		req.Header.Set("Content-Type", "application/json")
		if resp, body := do(t, req); resp.StatusCode != http.StatusOK {
			t.Fatalf("request %d during the outage: %d %s", i, resp.StatusCode, body)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = g.Shutdown(ctx) // the store is down: closing it may complain
	if _, err := os.Stat(filepath.Join(dataDir, telemetry.UsageSpillFile)); err != nil {
		t.Fatalf("no spill file in the data dir after a shutdown during the outage: %v", err)
	}

	proxy.Start()
	again := startGateway(t, mutate)
	if err := again.Policy().FlushUsage(context.Background()); err != nil {
		t.Fatal(err)
	}
	rows, err := again.Policy().Usage(context.Background(), store.UsageQuery{KeyID: key.ID})
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 1 || rows[0].Requests != n {
		t.Fatalf("usage after the restart: %+v, want %d requests", rows, n)
	}
}
