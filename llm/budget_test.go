package llm

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/junctionhq/junction/llm/llmtest"
	"github.com/junctionhq/junction/policy"
	"github.com/junctionhq/junction/store"
	"github.com/junctionhq/junction/store/counters"
)

// TestReservationPricedAtPriciestReachableTarget: on every path, a request
// whose first target is cheap but which may fall back to a pricier one
// (through the alias's fallbacks or its own) reserves at the pricier
// price, so a budget that fits only the cheap estimate refuses it before
// any provider call.
func TestReservationPricedAtPriciestReachableTarget(t *testing.T) {
	e := newTestEnv(t, func(o *Options) { o.Tools = agentHub{} })
	// 1,000 completion tokens: $0.0006 at gpt-4o-mini, $0.01 at gpt-4o.
	id := e.key(t, policy.KeyInput{Name: "small-budget", Budget: &policy.Budget{USD: 0.005}})
	withMax := func(body string) string { return strings.Replace(body, `"max_tokens":16`, `"max_tokens":1000`, 1) }
	// About 50,000 tokens of input: $0.001 at text-embedding-3-small, $0.0065 at -large.
	bigInput := `{"model":%q,"fallbacks":%s,"input":"` + strings.Repeat("word ", 40000) + `"}`
	cases := []struct{ name, path, body string }{
		{"chat via alias", chatPath, withMax(chatBody(chatPath, "tiered"))},
		{"chat via request fallback", chatPath, withMax(chatBody(chatPath, "cheap/gpt-4o-mini", "pricey/gpt-4o"))},
		{"messages via alias", "/v1/messages", withMax(chatBody("/v1/messages", "tiered"))},
		{"agent loop via alias", chatPath, withMax(agentBody("tiered"))},
		{"embeddings via alias", "/v1/embeddings", fmt.Sprintf(bigInput, "tiered-embed", "null")},
		{"embeddings via request fallback", "/v1/embeddings", fmt.Sprintf(bigInput, "cheap/text-embedding-3-small", `["pricey/text-embedding-3-large"]`)},
	}
	for _, c := range cases {
		e.up.ResetStats()
		rec := e.post(id, c.path, c.body)
		if rec.Code != http.StatusPaymentRequired {
			t.Errorf("%s: %d %.300s", c.name, rec.Code, rec.Body)
		}
		if n := e.up.Stats().Requests; n != 0 {
			t.Errorf("%s: %d provider calls", c.name, n)
		}
	}
	// Without a pricier target to reach, the same budget admits the cheap one.
	if rec := e.post(id, chatPath, withMax(chatBody(chatPath, "cheap/gpt-4o-mini"))); rec.Code != http.StatusOK {
		t.Errorf("cheap alone: %d %s", rec.Code, rec.Body)
	}
}

// budgetReplica is one llm.Service with its own store and policy engine,
// sharing ctr with its peers, for the budget key.
type budgetReplica struct {
	s      *Service
	engine *policy.Engine
	id     *policy.Identity
}

// budgetKey is the virtual key of the overshoot test.
const budgetKey = "jk-overshoot-test-key-000000000000"

func newBudgetReplica(t *testing.T, upURL string, ctr counters.Counters, budgetUSD float64) *budgetReplica {
	t.Helper()
	r, stop := startBudgetReplica(t, t.TempDir(), upURL, ctr, budgetUSD)
	t.Cleanup(stop)
	return r
}

// startBudgetReplica is newBudgetReplica on the SQLite store in dir; stop
// shuts it down as the gateway does (the engine flushes its usage records,
// then the store closes), so that another replica can start on dir.
func startBudgetReplica(t *testing.T, dir, upURL string, ctr counters.Counters, budgetUSD float64) (*budgetReplica, func()) {
	t.Helper()
	ctx := context.Background()
	st, err := store.Open(ctx, store.Config{}, dir)
	if err != nil {
		t.Fatal(err)
	}
	engine, err := policy.New(ctx, policy.Options{Store: st, Counters: ctr})
	if err != nil {
		_ = st.Close()
		t.Fatal(err)
	}
	stop := func() {
		_ = engine.Close(ctx)
		_ = st.Close()
	}
	if err := engine.SyncConfig(ctx, policy.Config{Keys: []policy.KeyConfig{{Name: "overshoot", Value: budgetKey,
		Budget: &policy.Budget{USD: budgetUSD}}}}); err != nil {
		stop()
		t.Fatal(err)
	}
	id, err := engine.Authenticate(budgetKey)
	if err != nil {
		stop()
		t.Fatal(err)
	}
	noSleep := func(ctx context.Context, _ time.Duration) error { return ctx.Err() }
	s, err := New(Options{Policy: engine, Config: testConfig(upURL), Sleep: noSleep})
	if err != nil {
		stop()
		t.Fatal(err)
	}
	return &budgetReplica{s: s, engine: engine, id: id}, stop
}

// overshootResult is what one run of the overshoot scenario measured.
type overshootResult struct {
	served, refused, failed int64
	spentUSD                float64
	maxRequestUSD           float64 // the most one served request cost
	servedUSD               float64 // what the served requests cost, summed
}

// runOvershoot sends n concurrent requests for the alias tiered (its cheap
// first target failing, its pricier fallback answering), spread over the
// replicas, and reads the spend from the shared counters.
func runOvershoot(t *testing.T, up *llmtest.Server, replicas []*budgetReplica, n int) overshootResult {
	t.Helper()
	if err := up.SetBehavior(cheapKey, llmtest.Behavior{FailPercent: 100, FailStatus: 503}); err != nil {
		t.Fatal(err)
	}
	if err := up.SetBehavior(priceyKey, llmtest.Behavior{ReplyTokens: 40}); err != nil {
		t.Fatal(err)
	}
	body := `{"model":"tiered","max_tokens":64,"messages":[{"role":"user","content":"tell me about the weather in three sentences"}]}`
	var (
		res     overshootResult
		mu      sync.Mutex
		wg      sync.WaitGroup
		served  atomic.Int64
		refused atomic.Int64
		failed  atomic.Int64
	)
	start := make(chan struct{})
	for i := range n {
		wg.Go(func() {
			r := replicas[i%len(replicas)]
			<-start
			rec := postAs(r, body)
			switch rec.Code {
			case http.StatusOK:
				served.Add(1)
				cost := usageCost(r, rec)
				mu.Lock()
				res.maxRequestUSD = max(res.maxRequestUSD, cost)
				res.servedUSD += cost
				mu.Unlock()
			case http.StatusPaymentRequired:
				refused.Add(1)
			default:
				failed.Add(1)
				t.Errorf("status %d: %s", rec.Code, rec.Body)
			}
		})
	}
	close(start)
	wg.Wait()
	res.served, res.refused, res.failed = served.Load(), refused.Load(), failed.Load()
	st, err := replicas[0].engine.State(context.Background(), "overshoot")
	if err != nil {
		t.Fatal(err)
	}
	res.spentUSD = st.Budgets[0].SpentUSD
	return res
}

func postAs(r *budgetReplica, body string) *httptest.ResponseRecorder {
	req := httptest.NewRequest(http.MethodPost, chatPath, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	rec := httptest.NewRecorder()
	serveAs(r.s, r.id, rec, req)
	return rec
}

// usageCost prices a served response's usage as the meter does.
func usageCost(r *budgetReplica, rec *httptest.ResponseRecorder) float64 {
	u := openAIFormat{}.responseUsage(rec.Body.Bytes())
	p, ok := r.engine.Prices().Lookup(rec.Header().Get("X-Junction-Target"))
	if !ok {
		return 0
	}
	return (float64(u.PromptTokens)*p.Input + float64(u.CompletionTokens)*p.Output) / 1e6
}

// checkOvershoot asserts the spend stays within the budget plus one
// request's worth, and reports the ratio.
func checkOvershoot(t *testing.T, label string, res overshootResult, budget float64) {
	t.Helper()
	ratio := res.spentUSD / budget
	t.Logf("%s: %d served, %d refused (402), %d failed; spent $%.6f of $%.4f (%.2f× the budget); one request at most $%.6f",
		label, res.served, res.refused, res.failed, res.spentUSD, budget, ratio, res.maxRequestUSD)
	if res.served == 0 || res.refused == 0 {
		t.Errorf("%s: the scenario did not reach the budget (served %d, refused %d)", label, res.served, res.refused)
	}
	if res.spentUSD > budget+res.maxRequestUSD+1e-9 {
		t.Errorf("%s: spent $%.6f on a $%.4f budget (%.2f×), more than one request ($%.6f) over", label, res.spentUSD, budget, ratio, res.maxRequestUSD)
	}
}

// TestFallbackOvershootStaysWithinBudgetOneReplica: 400 concurrent requests
// on a $0.01 budget, the cheap first target failing and the pricier
// fallback answering, spend at most the budget plus one request's worth.
func TestFallbackOvershootStaysWithinBudgetOneReplica(t *testing.T) {
	const budget = 0.01
	up := llmtest.NewServer()
	t.Cleanup(up.Close)
	r := newBudgetReplica(t, up.URL, counters.NewMemory(counters.MemoryOptions{}), budget)
	checkOvershoot(t, "one replica", runOvershoot(t, up, []*budgetReplica{r}, 400), budget)
}

// TestFallbackOvershootStaysWithinBudgetTwoReplicas is the same on two
// replicas sharing Redis counters (JUNCTION_TEST_REDIS).
func TestFallbackOvershootStaysWithinBudgetTwoReplicas(t *testing.T) {
	url := os.Getenv("JUNCTION_TEST_REDIS")
	if url == "" {
		t.Skip("JUNCTION_TEST_REDIS is not set; skipping the two-replica budget test")
	}
	const budget = 0.01
	var b [6]byte
	_, _ = rand.Read(b[:])
	prefix := "junction-llm-test-" + hex.EncodeToString(b[:]) + ":"
	up := llmtest.NewServer()
	t.Cleanup(up.Close)
	var replicas []*budgetReplica
	for range 2 {
		ctr, err := counters.NewRedis(context.Background(), counters.RedisOptions{URL: url, Prefix: prefix,
			Timeout: 10 * time.Second})
		if err != nil {
			t.Fatalf("redis: %v", err)
		}
		t.Cleanup(func() { _ = ctr.Close() })
		replicas = append(replicas, newBudgetReplica(t, up.URL, ctr, budget))
	}
	checkOvershoot(t, "two replicas", runOvershoot(t, up, replicas, 400), budget)
}

// TestFallbackOvershootHoldsAcrossARestart: the overshoot scenario split by
// a restart. 200 concurrent requests, a restart on the same store with new
// in-memory counters (which start empty), then 200 more: the spend over both
// lives stays within the budget plus one request's worth, because the new
// process rebuilds the budget's spend from the usage records.
func TestFallbackOvershootHoldsAcrossARestart(t *testing.T) {
	const budget = 0.01
	up := llmtest.NewServer()
	t.Cleanup(up.Close)
	dir := t.TempDir()

	first, stop := startBudgetReplica(t, dir, up.URL, counters.NewMemory(counters.MemoryOptions{}), budget)
	before := runOvershoot(t, up, []*budgetReplica{first}, 200)
	stop() // a graceful restart: usage records flushed, counters gone

	second, stop := startBudgetReplica(t, dir, up.URL, counters.NewMemory(counters.MemoryOptions{}), budget)
	defer stop()
	after := runOvershoot(t, up, []*budgetReplica{second}, 200)
	t.Logf("before the restart: %d served, spent $%.6f; after: %d served", before.served, before.spentUSD, after.served)
	if before.refused == 0 {
		t.Fatalf("the first life did not reach the budget (served %d)", before.served)
	}
	// What both lives really spent: every served answer, priced.
	total := overshootResult{served: before.served + after.served, refused: after.refused,
		spentUSD: before.servedUSD + after.servedUSD, maxRequestUSD: max(before.maxRequestUSD, after.maxRequestUSD)}
	checkOvershoot(t, "across a restart", total, budget)
	// The second life's counter starts from the first life's records.
	if after.spentUSD < total.spentUSD-1e-9 {
		t.Errorf("the budget counts $%.6f spent after the restart, less than the $%.6f served: the spend was not rebuilt", after.spentUSD, total.spentUSD)
	}
}
