package gateway

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/junctionhq/junction/internal/testkit"
	"github.com/junctionhq/junction/policy"
	"github.com/junctionhq/junction/store/secret"
	"github.com/junctionhq/junction/store/storetest"
)

// startReplicas starts two gateways sharing one Postgres database (a schema
// of its own) and one Redis, as two replicas behind a load balancer would.
func startReplicas(t *testing.T) (a, b *testGateway) {
	t.Helper()
	redisURL := testkit.RedisURL(t)
	db := storetest.PostgresFromEnv(t)(t)
	var p [6]byte
	_, _ = rand.Read(p[:])
	prefix := "junction-test-" + hex.EncodeToString(p[:]) + ":"
	// Replicas share one secret key (a gateway with another refuses to start).
	secret := make([]byte, secret.KeySize)
	_, _ = rand.Read(secret)
	mutate := func(c *Config) {
		writeSecretKey(t, c.DataDir, secret)
		c.Store = db.Config
		// 500 admissions start at once below (over 100 ms under the race
		// detector on a shared CI machine): this checks exact counting
		// across replicas, not the 50 ms default bound meant for a hung Redis.
		c.Counters.Redis = &policy.RedisCountersConfig{URL: redisURL, Prefix: prefix, Timeout: 10 * time.Second}
	}
	return startGateway(t, mutate), startGateway(t, mutate)
}

func adminDo(t *testing.T, method, url string, body any) (*http.Response, []byte) {
	t.Helper()
	var buf bytes.Buffer
	if body != nil {
		_ = json.NewEncoder(&buf).Encode(body)
	}
	req := mustRequest(t, method, url, &buf)
	req.Header.Set("Authorization", "Bearer "+testAdminKey)
	req.Header.Set("Content-Type", "application/json")
	return do(t, req)
}

// propagationSlack bounds how long a change may take to reach the other
// replica in these tests: the change feed takes milliseconds (the test logs
// it), the slack is for a loaded CI machine under -race.
const propagationSlack = 5 * time.Second

// TestPolicyChangeReachesTheOtherReplica: a rule added through replica A's
// admin API is enforced by replica B (in milliseconds; logged).
func TestPolicyChangeReachesTheOtherReplica(t *testing.T) {
	a, b := startReplicas(t)
	resp, body := adminDo(t, http.MethodPost, a.URL+"/admin/v1/keys", map[string]any{"name": "agent", "roles": []string{"worker"}})
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("create key: %d %s", resp.StatusCode, body)
	}
	var created struct {
		ID     string `json:"id"`
		Secret string `json:"key"`
	}
	_ = json.Unmarshal(body, &created)

	// The key itself reaches B through the change feed.
	testkit.Eventually(t, propagationSlack, "B to accept the new key", func() bool {
		resp, _ := get(t, b.URL+"/v1/key", "Authorization", "Bearer "+created.Secret)
		return resp.StatusCode == http.StatusOK
	})
	id, err := b.Policy().Authenticate(created.Secret)
	if err != nil || !b.Policy().Allowed(id, "model:openai/gpt-4o", policy.ActionUse) {
		t.Fatalf("before the change B denies: %v", err)
	}

	start := time.Now()
	resp, body = adminDo(t, http.MethodPost, a.URL+"/admin/v1/policies",
		[]string{"role:worker", "*", "model:openai/gpt-4o", "use", "deny"})
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("add policy: %d %s", resp.StatusCode, body)
	}
	if a.Policy().Allowed(id, "model:openai/gpt-4o", policy.ActionUse) {
		t.Error("A does not enforce its own change at once")
	}
	testkit.Eventually(t, propagationSlack, "B to enforce the deny rule", func() bool {
		id, err := b.Policy().Authenticate(created.Secret)
		return err == nil && !b.Policy().Allowed(id, "model:openai/gpt-4o", policy.ActionUse)
	})
	t.Logf("B enforced the change %v after A's admin API answered", time.Since(start))
	// B's admin API says the same, with the deciding rule.
	resp, body = adminDo(t, http.MethodPost, b.URL+"/admin/v1/policies/check",
		map[string]string{"key": "agent", "object": "model:openai/gpt-4o", "action": "use"})
	var check checkResponse
	_ = json.Unmarshal(body, &check)
	if resp.StatusCode != http.StatusOK || check.Allowed {
		t.Errorf("B's check: %d %s", resp.StatusCode, body)
	}

	// Revoking on B stops the key on A within a second too.
	resp, _ = adminDo(t, http.MethodDelete, b.URL+"/admin/v1/keys/"+created.ID, nil)
	if resp.StatusCode != http.StatusNoContent {
		t.Fatalf("revoke: %d", resp.StatusCode)
	}
	testkit.Eventually(t, propagationSlack, "A to refuse the revoked key", func() bool {
		_, err := a.Policy().Authenticate(created.Secret)
		var ae *policy.AuthError
		return errors.As(err, &ae)
	})
}

// TestReplicasShareOneBudgetAndOneRateLimit: 500 concurrent admissions
// spread over two replicas sharing Postgres and Redis admit exactly what
// the limit allows.
func TestReplicasShareOneBudgetAndOneRateLimit(t *testing.T) {
	a, b := startReplicas(t)
	ctx := context.Background()
	for _, c := range []struct {
		name string
		in   policy.KeyInput
	}{
		{"budget", policy.KeyInput{Name: "budgeted", Budget: &policy.Budget{USD: 1, Period: policy.PeriodDay}}},
		{"rpm", policy.KeyInput{Name: "limited", Limits: policy.Limits{RPM: 100}}},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, secret, err := a.Policy().CreateKey(ctx, c.in)
			if err != nil {
				t.Fatal(err)
			}
			if err := b.Policy().Reload(ctx); err != nil {
				t.Fatal(err)
			}
			// gpt-4o-mini at $0.15/$0.60 per 1M tokens: 10000 prompt + 14167
			// completion tokens estimate just under one cent; settled at
			// exactly one cent, a $1 budget holds 100 calls.
			w := policy.Work{Kind: policy.KindLLM, Model: "openai/gpt-4o-mini", PromptTokens: 10000, MaxTokens: 14166}
			cent := 0.01
			var admitted, rejected atomic.Int64
			var wg sync.WaitGroup
			for i := range 500 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					e := a.Policy()
					if i%2 == 1 {
						e = b.Policy()
					}
					id, err := e.Authenticate(secret)
					if err != nil {
						t.Error(err)
						return
					}
					r, err := e.Admit(ctx, id, w)
					if err != nil {
						rejected.Add(1)
						return
					}
					admitted.Add(1)
					r.Settle(ctx, policy.Outcome{CostUSD: &cent})
				}()
			}
			wg.Wait()
			if admitted.Load() != 100 || rejected.Load() != 400 {
				t.Fatalf("admitted %d, rejected %d across two replicas; want exactly 100 and 400", admitted.Load(), rejected.Load())
			}
			st, err := b.Policy().State(ctx, c.in.Name)
			if err != nil {
				t.Fatal(err)
			}
			for _, bs := range st.Budgets {
				if bs.SpentUSD > 1+1e-9 {
					t.Errorf("overspent: $%v of $1", bs.SpentUSD)
				}
			}
		})
	}
}
