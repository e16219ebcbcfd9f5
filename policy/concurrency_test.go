package policy

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/junctionhq/junction/internal/testkit"
	"github.com/junctionhq/junction/store"
	"github.com/junctionhq/junction/store/counters"
	"github.com/junctionhq/junction/telemetry"
)

// redisCounters opens Redis counters with a prefix of their own, or skips.
func redisCounters(t testing.TB, prefix string) counters.Counters {
	t.Helper()
	url := testkit.RedisURL(t)
	// Hundreds of admissions start at once here (over 100 ms under the race
	// detector): allow more than the 50 ms default bound, which is meant to
	// fail fast on a hung Redis, not to measure this machine.
	c, err := counters.NewRedis(context.Background(), counters.RedisOptions{URL: url, Prefix: prefix, Timeout: 10 * time.Second})
	if err != nil {
		t.Fatalf("redis: %v", err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

func randomPrefix() string {
	var b [6]byte
	_, _ = rand.Read(b[:])
	return "junction-test-" + hex.EncodeToString(b[:]) + ":"
}

// admitConcurrently fires n admissions at once, spread over the engines
// (each holding its own identity for the same key), and counts admissions
// and typed rejections. Every admitted call is settled at exactly its
// estimate, so settlement moves nothing and the test sees pure admission.
func admitConcurrently(t *testing.T, n int, ids []*Identity, engines []*Engine, w Work, cost float64) (admitted, rejected int64) {
	t.Helper()
	var wg sync.WaitGroup
	var ok, no atomic.Int64
	start := make(chan struct{})
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			e, id := engines[i%len(engines)], ids[i%len(ids)]
			r, err := e.Admit(context.Background(), id, w)
			var be *BudgetError
			var rl *RateLimitError
			switch {
			case err == nil:
				ok.Add(1)
				r.Settle(context.Background(), Outcome{CostUSD: &cost})
			case errors.As(err, &be), errors.As(err, &rl):
				no.Add(1)
			default:
				t.Errorf("admit: %v", err)
			}
		}()
	}
	close(start)
	wg.Wait()
	return ok.Load(), no.Load()
}

// TestConcurrentAdmissionsHoldTheBudget is the concurrency proof: 500
// concurrent admissions against a budget that allows exactly 100 calls
// admit exactly 100 and spend exactly the budget, in memory, on Redis, and
// on Redis shared by two engines (two replicas).
func TestConcurrentAdmissionsHoldTheBudget(t *testing.T) {
	t.Parallel()
	const calls, allowed = 500, 100
	const perCall = 0.01 // USD: a tool call priced at one cent
	setups := []struct {
		name     string
		counters func(t *testing.T) []counters.Counters
	}{
		{"memory", func(t *testing.T) []counters.Counters {
			return []counters.Counters{counters.NewMemory(counters.MemoryOptions{})}
		}},
		{"redis", func(t *testing.T) []counters.Counters {
			return []counters.Counters{redisCounters(t, randomPrefix())}
		}},
		{"redis, two replicas", func(t *testing.T) []counters.Counters {
			p := randomPrefix()
			return []counters.Counters{redisCounters(t, p), redisCounters(t, p)}
		}},
	}
	for _, s := range setups {
		for _, scope := range []string{"key budget", "team budget", "key rpm", "team rpm"} {
			t.Run(s.name+"/"+scope, func(t *testing.T) {
				cs := s.counters(t)
				st := newTestStore(t)
				clk := testkit.NewClock(t0)
				var engines []*Engine
				for _, c := range cs {
					e, err := New(context.Background(), Options{Store: st, Counters: c, Now: clk.Now,
						Meter: MeterConfig{ToolCosts: []ToolCost{{Tool: "paid/*", USD: perCall}}}})
					if err != nil {
						t.Fatal(err)
					}
					t.Cleanup(func() { _ = e.Close(context.Background()) })
					engines = append(engines, e)
				}
				team := TeamInput{Name: "t"}
				key := KeyInput{Name: "k", Team: "t"}
				w := Work{Kind: KindTool, Server: "paid", Tool: "x"}
				switch scope {
				case "key budget":
					key.Budget = &Budget{USD: allowed * perCall, Period: PeriodDay}
				case "team budget":
					team.Budget = &Budget{USD: allowed * perCall, Period: PeriodMonth}
				case "key rpm":
					key.Limits.RPM = allowed
					w = Work{Kind: KindLLM, Model: "unpriced/m"}
				case "team rpm":
					team.Limits.RPM = allowed
					w = Work{Kind: KindLLM, Model: "unpriced/m"}
				}
				mustTeam(t, engines[0], team)
				_, secret, err := engines[0].CreateKey(context.Background(), key)
				if err != nil {
					t.Fatal(err)
				}
				var ids []*Identity
				for _, e := range engines {
					if err := e.Reload(context.Background()); err != nil {
						t.Fatal(err)
					}
					id, err := e.Authenticate(secret)
					if err != nil {
						t.Fatal(err)
					}
					ids = append(ids, id)
				}
				cost := perCall
				if w.Kind == KindLLM {
					cost = 0
				}
				admitted, rejected := admitConcurrently(t, calls, ids, engines, w, cost)
				if admitted != allowed || rejected != calls-allowed {
					t.Fatalf("admitted %d, rejected %d; want exactly %d and %d", admitted, rejected, allowed, calls-allowed)
				}
				state, err := engines[len(engines)-1].State(context.Background(), "k")
				if err != nil {
					t.Fatal(err)
				}
				for _, b := range state.Budgets {
					if abs(b.SpentUSD-allowed*perCall) > 1e-9 {
						t.Errorf("%s budget spent $%v, want exactly $%v (overspend %v)", b.Scope, b.SpentUSD, allowed*perCall, b.SpentUSD-allowed*perCall)
					}
				}
				for _, l := range state.Limits {
					if l.Used != allowed {
						t.Errorf("%s %s used %d, want %d", l.Scope, l.Dimension, l.Used, allowed)
					}
				}
			})
		}
	}
}

// admitSettleCases are the shapes of governed identity the admission
// benchmarks cover, from the cheapest to the worst case.
var admitSettleCases = []struct {
	name string
	// team, when set, is the key's team.
	team *TeamInput
	key  KeyInput
	work Work
}{
	// One counter: a key with only a request limit.
	{name: "1-counter", key: KeyInput{Name: "k", Limits: Limits{RPM: 1 << 40}},
		work: Work{Kind: KindLLM, Model: "openai/gpt-4o-mini", PromptTokens: 500, MaxTokens: 200}},
	// The common case: a key with a daily budget and a request limit.
	{name: "key-budget-rpm", key: KeyInput{Name: "k", Budget: &Budget{USD: 1e9, Period: PeriodDay}, Limits: Limits{RPM: 1 << 40}},
		work: Work{Kind: KindLLM, Model: "openai/gpt-4o-mini", PromptTokens: 500, MaxTokens: 200}},
	// The worst case: a key and its team, each with a budget and request
	// and token limits (six counters).
	{name: "6-counters",
		team: &TeamInput{Name: "team", Budget: &Budget{USD: 1e9, Period: PeriodMonth}, Limits: Limits{RPM: 1 << 40, TPM: 1 << 50}},
		key:  KeyInput{Name: "k", Team: "team", Budget: &Budget{USD: 1e9, Period: PeriodDay}, Limits: Limits{RPM: 1 << 40, TPM: 1 << 50}},
		work: Work{Kind: KindLLM, Model: "openai/gpt-4o-mini", PromptTokens: 500, MaxTokens: 200}},
	// A priced tool call against a key's tool-call limit and budget.
	{name: "tool-call", key: KeyInput{Name: "k", Budget: &Budget{USD: 1e9, Period: PeriodDay}, Limits: Limits{ToolCallsPerMin: 1 << 40}},
		work: Work{Kind: KindTool, Server: "paid", Tool: "search"}},
}

// BenchmarkAdmitSettle measures one admission and its settlement with a
// cached access decision: the request path's whole governance cost. It runs
// as a gateway does, on the real clock. The usage records go to a
// discarding writer, so the number is the request path alone;
// BenchmarkUsageWrite measures the batched writes behind it. The redis
// cases skip without JUNCTION_TEST_REDIS.
func BenchmarkAdmitSettle(b *testing.B) {
	backends := []struct {
		name string
		open func(b *testing.B) counters.Counters
	}{
		{"memory", func(*testing.B) counters.Counters { return counters.NewMemory(counters.MemoryOptions{}) }},
		{"redis", func(b *testing.B) counters.Counters { return redisCounters(b, randomPrefix()) }},
	}
	for _, be := range backends {
		for _, c := range admitSettleCases {
			b.Run(be.name+"/"+c.name, func(b *testing.B) {
				e := benchEngine(b, be.open(b))
				if c.team != nil {
					mustTeam(b, e, *c.team)
				}
				id := mustKey(b, e, c.key)
				out := Outcome{Usage: TokenUsage{PromptTokens: 500, CompletionTokens: 120}}
				ctx := context.Background()
				if r, err := e.Admit(ctx, id, c.work); err != nil {
					b.Fatal(err) // and the access decision is now cached
				} else {
					r.Settle(ctx, out)
				}
				b.ReportAllocs()
				cpu := processCPU()
				for b.Loop() {
					r, err := e.Admit(ctx, id, c.work)
					if err != nil {
						b.Fatal(err)
					}
					r.Settle(ctx, out)
				}
				reportCPU(b, cpu)
			})
		}
	}
}

// BenchmarkAdmitSettleParallel is the six-counter case admitted from every
// core at once against the same key and team, so every admission contends
// for the same counters.
func BenchmarkAdmitSettleParallel(b *testing.B) {
	c := admitSettleCases[2]
	e := benchEngine(b, counters.NewMemory(counters.MemoryOptions{}))
	mustTeam(b, e, *c.team)
	id := mustKey(b, e, c.key)
	out := Outcome{Usage: TokenUsage{PromptTokens: 500, CompletionTokens: 120}}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		ctx := context.Background()
		for pb.Next() {
			r, err := e.Admit(ctx, id, c.work)
			if err != nil {
				b.Error(err)
				return
			}
			r.Settle(ctx, out)
		}
	})
}

// reportCPU reports the CPU time that every thread of the process (the GC
// and the usage writer included) spent per op since start (a processCPU
// reading): unlike ns/op, which is wall time, it does not grow when other
// processes compete for the cores.
func reportCPU(b *testing.B, start time.Duration) {
	if start > 0 && b.N > 0 {
		b.ReportMetric(float64(processCPU()-start)/float64(b.N), "cpu-ns/op")
	}
}

// benchEngine is an engine on the real clock over c whose usage records
// are discarded, with a priced tool server "paid".
func benchEngine(b *testing.B, c counters.Counters) *Engine {
	b.Helper()
	e, err := New(context.Background(), Options{Store: newTestStore(b), Counters: c,
		Meter:     MeterConfig{ToolCosts: []ToolCost{{Tool: "paid/*", USD: 0.001}}},
		usageSink: telemetry.UsageSinkFunc(func(context.Context, []store.UsageRecord) error { return nil })})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		if err := e.Close(context.Background()); err != nil {
			b.Errorf("Close: %v", err)
		}
	})
	return e
}

// BenchmarkUsageWrite is the store's cost per usage record when written in
// the usage log's batches (SQLite).
func BenchmarkUsageWrite(b *testing.B) {
	st := newTestStore(b)
	batch := make([]store.UsageRecord, telemetry.DefaultUsageBatch)
	for i := range batch {
		batch[i] = store.UsageRecord{Time: t0, RequestID: "req", KeyID: "key_x", KeyName: "k", Team: "t", Kind: "llm",
			Model: "openai/gpt-4o-mini", PromptTokens: 500, CompletionTokens: 120, CostMicros: 147, Status: "ok"}
	}
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if err := st.InsertUsage(ctx, batch); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(batch)), "ns/record")
}

// BenchmarkAllowedCached is one cached access decision.
func BenchmarkAllowedCached(b *testing.B) {
	e, _ := testEngine(b, testkit.NewClock(t0))
	id := mustKey(b, e, KeyInput{Name: "k", Models: []string{"openai/*"}})
	if !e.Allowed(id, "model:openai/gpt-4o", "use") {
		b.Fatal("not allowed")
	}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		e.Allowed(id, "model:openai/gpt-4o", "use")
	}
}
