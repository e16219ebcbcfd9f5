package policy

import (
	"context"
	"errors"
	"math"
	"os"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/junctionhq/junction/internal/testkit"
	"github.com/junctionhq/junction/store"
	"github.com/junctionhq/junction/store/counters"
)

// Tests of budgets and limits that hold: across restarts and lost counters,
// against absurd numbers, and for requests that name no max_tokens.

// microPrice prices "mock/m" at one micro-dollar a token, so that tokens
// and micro-dollars read the same.
func microPrice(t testing.TB, e *Engine) {
	t.Helper()
	if _, err := e.SetPrice(context.Background(), Price{Model: "mock/m", Input: 1, Output: 1}); err != nil {
		t.Fatal(err)
	}
}

// budgetOn is the team "team" and its key "k", with budget on the one
// scope names.
func budgetOn(scope Scope, budget *Budget) (TeamInput, KeyInput) {
	team, key := TeamInput{Name: "team"}, KeyInput{Name: "k", Team: "team"}
	if scope == ScopeKey {
		key.Budget = budget
	} else {
		team.Budget = budget
	}
	return team, key
}

// pricedEngine is an engine at t0 whose model mock/m costs 1 µ$ a token.
func pricedEngine(t testing.TB) *Engine {
	t.Helper()
	e, _ := testEngine(t, testkit.NewClock(t0))
	microPrice(t, e)
	return e
}

// spend1000 reserves and spends exactly 1000 µ$ on mock/m.
var spend1000 = Work{Kind: KindLLM, Model: "mock/m", PromptTokens: 500, MaxTokens: 500}

// spendOnce admits w and settles it at the estimate's tokens.
func spendOnce(ctx context.Context, e *Engine, id *Identity, w Work) error {
	r, err := e.Admit(ctx, id, w)
	if err != nil {
		return err
	}
	r.Settle(ctx, Outcome{Usage: TokenUsage{PromptTokens: w.PromptTokens, CompletionTokens: w.MaxTokens}})
	return nil
}

// admitAndSettle admits w, failing t (naming what) if it is refused, and
// settles it with no usage.
func admitAndSettle(t *testing.T, e *Engine, id *Identity, w Work, what string) {
	t.Helper()
	r, err := e.Admit(context.Background(), id, w)
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	r.Settle(context.Background(), Outcome{})
}

// spendUntilRefused spends w until the budget refuses it, at most limit
// times, and returns how many were admitted.
func spendUntilRefused(t *testing.T, e *Engine, id *Identity, w Work, limit int) int {
	t.Helper()
	for i := range limit {
		err := spendOnce(context.Background(), e, id, w)
		var be *BudgetError
		switch {
		case errors.As(err, &be):
			return i
		case err != nil:
			t.Fatalf("spend %d: %v", i, err)
		}
	}
	return limit
}

// TestSpendSurvivesRestart restarts the gateway (a new engine on the same
// store, with fresh in-process counters) in the middle of a budget period:
// the spend carries on from the usage records instead of starting at $0,
// for key and team budgets, and the budget refuses at the same point it
// would have without the restart. A new period still starts afresh.
func TestSpendSurvivesRestart(t *testing.T) {
	t.Parallel()
	for _, scope := range []Scope{ScopeKey, ScopeTeam} {
		t.Run(string(scope), func(t *testing.T) {
			ctx := context.Background()
			clk := testkit.NewClock(t0)
			st := newTestStore(t)
			first := engineOn(t, st, counters.NewMemory(counters.MemoryOptions{Now: clk.Now}), clk)
			microPrice(t, first)
			budget := &Budget{USD: 0.01, Period: PeriodDay} // ten spends of 1000 µ$
			team, key := budgetOn(scope, budget)
			mustTeam(t, first, team)
			_, secret, err := first.CreateKey(ctx, key)
			if err != nil {
				t.Fatal(err)
			}
			id, _ := first.Authenticate(secret)
			for i := range 6 {
				if err := spendOnce(ctx, first, id, spend1000); err != nil {
					t.Fatalf("spend %d before the restart: %v", i, err)
				}
			}
			if err := first.Close(ctx); err != nil {
				t.Fatal(err)
			}

			clk.Advance(time.Hour)
			second := engineOn(t, st, counters.NewMemory(counters.MemoryOptions{Now: clk.Now}), clk)
			id, err = second.Authenticate(secret)
			if err != nil {
				t.Fatal(err)
			}
			state, err := second.State(ctx, "k")
			if err != nil || len(state.Budgets) != 1 || abs(state.Budgets[0].SpentUSD-0.006) > 1e-12 {
				t.Fatalf("after the restart, State = %+v, %v; want $0.006 spent", state.Budgets, err)
			}
			if n := spendUntilRefused(t, second, id, spend1000, 20); n != 4 {
				t.Fatalf("after the restart %d more spends were admitted, want 4 (6 of 10 were spent before)", n)
			}
			var be *BudgetError
			if err := spendOnce(ctx, second, id, spend1000); !errors.As(err, &be) || be.Scope != scope || abs(be.SpentUSD-0.01) > 1e-12 {
				t.Fatalf("over the budget: %v, want a %s BudgetError with $0.01 spent", err, scope)
			}

			clk.Advance(24 * time.Hour) // the next day, on a third process
			if err := second.Close(ctx); err != nil {
				t.Fatal(err)
			}
			third := engineOn(t, st, counters.NewMemory(counters.MemoryOptions{Now: clk.Now}), clk)
			id, _ = third.Authenticate(secret)
			if n := spendUntilRefused(t, third, id, spend1000, 20); n != 10 {
				t.Fatalf("in a new day %d spends were admitted, want the whole budget's 10", n)
			}
		})
	}
}

// deleteRedisKeys deletes every counter under prefix, as a Redis restarted
// without persistence would have.
func deleteRedisKeys(t *testing.T, prefix string) int {
	t.Helper()
	o, err := redis.ParseURL(os.Getenv("JUNCTION_TEST_REDIS"))
	if err != nil {
		t.Fatal(err)
	}
	c := redis.NewClient(o)
	defer c.Close()
	ctx := context.Background()
	keys, err := c.Keys(ctx, "{"+strings.TrimSuffix(prefix, ":")+"}:*").Result()
	if err != nil {
		t.Fatal(err)
	}
	if len(keys) > 0 {
		if err := c.Del(ctx, keys...).Err(); err != nil {
			t.Fatal(err)
		}
	}
	return len(keys)
}

// TestSpendSurvivesRedisLoss deletes the counters from Redis in the middle
// of a period, as a Redis without persistence does when it restarts: the
// next admission rebuilds the spend from the usage records, including the
// records this process has not written yet, and the budget still holds.
func TestSpendSurvivesRedisLoss(t *testing.T) {
	t.Parallel()
	for _, scope := range []Scope{ScopeKey, ScopeTeam} {
		t.Run(string(scope), func(t *testing.T) {
			ctx := context.Background()
			prefix := randomPrefix()
			c := redisCounters(t, prefix)
			clk := testkit.NewClock(t0)
			st := newTestStore(t)
			// Records wait in the queue: only the rebuild writes them.
			e, err := New(ctx, Options{Store: st, Counters: c, Now: clk.Now, Meter: MeterConfig{UsageFlushInterval: time.Hour}})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = e.Close(context.Background()) })
			microPrice(t, e)
			budget := &Budget{USD: 0.01, Period: PeriodMonth}
			team, key := budgetOn(scope, budget)
			mustTeam(t, e, team)
			id := mustKey(t, e, key)
			for i := range 7 {
				if err := spendOnce(ctx, e, id, spend1000); err != nil {
					t.Fatalf("spend %d: %v", i, err)
				}
			}
			if n := deleteRedisKeys(t, prefix); n == 0 {
				t.Fatal("no counters in Redis to delete")
			}
			if n := spendUntilRefused(t, e, id, spend1000, 20); n != 3 {
				t.Fatalf("after Redis lost the counters %d spends were admitted, want 3 (7 of 10 were spent before)", n)
			}
			// Lost again after the budget was spent: still refused.
			deleteRedisKeys(t, prefix)
			var be *BudgetError
			if err := spendOnce(ctx, e, id, spend1000); !errors.As(err, &be) {
				t.Fatalf("after a second loss: %v, want a BudgetError", err)
			}
		})
	}
}

// TestConcurrentSpendAcrossRestartHoldsTheBudget is the restart scenario
// under load: 400 concurrent requests spend a $0.01 budget, the gateway
// restarts (its in-process counters, or Redis's, are lost), and 400 more
// race on the new process, on one replica and on two sharing Redis. The
// total spend across the restart stays within the budget plus one
// request's worth.
func TestConcurrentSpendAcrossRestartHoldsTheBudget(t *testing.T) {
	t.Parallel()
	memory := func(t *testing.T, _ string, clk *testkit.Clock) counters.Counters {
		return counters.NewMemory(counters.MemoryOptions{Now: clk.Now})
	}
	shared := func(t *testing.T, prefix string, _ *testkit.Clock) counters.Counters { return redisCounters(t, prefix) }
	setups := []struct {
		name     string
		replicas int
		// counters returns the counters of one replica of a process run.
		counters func(t *testing.T, prefix string, clk *testkit.Clock) counters.Counters
		// lost says whether the counters die with the process.
		lost bool
	}{
		{"memory", 1, memory, false},
		{"redis without persistence", 1, shared, true},
		{"redis without persistence, two replicas", 2, shared, true},
	}
	const perRequest, budgetMicros, calls = 1000, 10000, 400
	for _, s := range setups {
		t.Run(s.name, func(t *testing.T) {
			ctx := context.Background()
			prefix, clk, st := randomPrefix(), testkit.NewClock(t0), newTestStore(t)
			run := func() []*Engine {
				var es []*Engine
				for range s.replicas {
					es = append(es, engineOn(t, st, s.counters(t, prefix, clk), clk))
				}
				return es
			}
			first := run()
			microPrice(t, first[0])
			_, secret, err := first[0].CreateKey(ctx, KeyInput{Name: "k", Budget: &Budget{USD: 0.01, Period: PeriodDay}})
			if err != nil {
				t.Fatal(err)
			}
			race := func(es []*Engine) int64 {
				var ids []*Identity
				for _, e := range es {
					if err := e.Reload(ctx); err != nil {
						t.Fatal(err)
					}
					id, err := e.Authenticate(secret)
					if err != nil {
						t.Fatal(err)
					}
					ids = append(ids, id)
				}
				admitted, _ := admitConcurrently(t, calls, ids, es, spend1000, perRequest/1e6)
				for _, e := range es {
					if err := e.Close(ctx); err != nil {
						t.Fatal(err)
					}
				}
				return admitted
			}
			before := race(first)
			if s.lost {
				deleteRedisKeys(t, prefix)
			}
			after := race(run())
			rows, err := st.QueryUsage(ctx, store.UsageQuery{KeyID: keyID(t, first[0], "k")})
			if err != nil {
				t.Fatal(err)
			}
			spent := rows[0].CostMicros
			t.Logf("admitted %d before and %d after the restart; spent %d µ$ of %d", before, after, spent, budgetMicros)
			if spent > budgetMicros+perRequest {
				t.Fatalf("spent %d µ$ across the restart on a budget of %d (%.2f×)", spent, budgetMicros, float64(spent)/budgetMicros)
			}
			if before != budgetMicros/perRequest {
				t.Errorf("before the restart %d were admitted, want exactly %d", before, budgetMicros/perRequest)
			}
		})
	}
}

// keyID is the id of the named key.
func keyID(t *testing.T, e *Engine, name string) string {
	t.Helper()
	k, err := e.Key(name)
	if err != nil {
		t.Fatal(err)
	}
	return k.ID
}

// TestSpendRebuildReadsTheStoreOnlyOnAMiss counts the store reads that
// rebuild spend: one when the budget's counter is first needed, none for
// the admissions after it, and none for a key whose budget is spent
// (refusing it must not cost a database query per request).
func TestSpendRebuildReadsTheStoreOnlyOnAMiss(t *testing.T) {
	t.Parallel()
	e := pricedEngine(t)
	ctx := context.Background()
	var reads atomic.Int64
	sum := e.seeds.sum
	e.seeds.sum = func(ctx context.Context, q store.SpendQuery) (int64, error) {
		reads.Add(1)
		return sum(ctx, q)
	}
	id := mustKey(t, e, KeyInput{Name: "k", Budget: &Budget{USD: 1, Period: PeriodDay}})
	for i := range 50 {
		if err := spendOnce(ctx, e, id, spend1000); err != nil {
			t.Fatal(err)
		}
		if n := reads.Load(); n != 1 {
			t.Fatalf("after %d admissions the store was read %d times, want once", i+1, n)
		}
	}
	// A request dearer than the whole budget, on a fresh counter: refused,
	// and refused again without another read.
	broke := mustKey(t, e, KeyInput{Name: "broke", Budget: &Budget{USD: 0.0001, Period: PeriodDay}})
	for range 20 {
		var be *BudgetError
		if err := spendOnce(ctx, e, broke, spend1000); !errors.As(err, &be) {
			t.Fatalf("dear request: %v, want a BudgetError", err)
		}
	}
	if n := reads.Load(); n != 2 {
		t.Fatalf("20 refusals of a fresh budget read the store %d times in all, want 2 (one per budget)", n)
	}
}

// TestSpendRebuildSharesOneRead races admissions on a budget whose counter
// is missing: they share the read that rebuilds it.
func TestSpendRebuildSharesOneRead(t *testing.T) {
	t.Parallel()
	e := pricedEngine(t)
	var reads atomic.Int64
	release := make(chan struct{})
	sum := e.seeds.sum
	e.seeds.sum = func(ctx context.Context, q store.SpendQuery) (int64, error) {
		reads.Add(1)
		<-release
		return sum(ctx, q)
	}
	id := mustKey(t, e, KeyInput{Name: "k", Budget: &Budget{USD: 1, Period: PeriodDay}})
	var wg sync.WaitGroup
	errs := make(chan error, 20)
	for range 20 {
		wg.Go(func() { errs <- spendOnce(context.Background(), e, id, spend1000) })
	}
	// Release the read only once all 20 are inside spend: the first one
	// reading, the others waiting for its answer.
	testkit.Eventually(t, 10*time.Second, "20 admissions in the spend rebuild", func() bool {
		return goroutinesIn("policy.(*spendSeeds).spend(") == 20
	})
	close(release)
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if n := reads.Load(); n != 1 {
		t.Errorf("20 concurrent admissions read the store %d times, want once", n)
	}
}

// TestSpendRebuildFailsClosed checks that a budget whose spend cannot be
// rebuilt denies (ErrUnavailable, so 503) rather than admitting from $0,
// and that a hung database costs at most the rebuild timeout.
func TestSpendRebuildFailsClosed(t *testing.T) {
	t.Parallel()
	clk := testkit.NewClock(t0)
	st := storetestStoreNoCleanup(t)
	e, err := New(context.Background(), Options{Store: st, Now: clk.Now, Meter: MeterConfig{SpendRebuildTimeout: 50 * time.Millisecond}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = e.Close(context.Background()) })
	ctx := context.Background()
	microPrice(t, e)
	id := mustKey(t, e, KeyInput{Name: "k", Budget: &Budget{USD: 1, Period: PeriodDay}, Limits: Limits{RPM: 100}})
	free := mustKey(t, e, KeyInput{Name: "free", Limits: Limits{RPM: 100}})

	sum := e.seeds.sum
	e.seeds.sum = func(ctx context.Context, _ store.SpendQuery) (int64, error) {
		<-ctx.Done() // a database that does not answer
		return 0, ctx.Err()
	}
	start := time.Now()
	if _, err := e.Admit(ctx, id, spend1000); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("with a hung database: %v, want ErrUnavailable", err)
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("the hung database held the request %s, want about the 50ms timeout", d)
	}
	if err := spendOnce(ctx, e, free, spend1000); err != nil {
		t.Errorf("a key without a budget needs no rebuild: %v", err)
	}

	e.seeds.sum = sum
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := e.Admit(ctx, id, spend1000); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("with the database closed: %v, want ErrUnavailable", err)
	}
}

// TestHugeNumbersCannotOverflowTheEstimate sends the numbers that used to
// wrap the estimate round to almost nothing (max_tokens of 1e18 reserved
// $0.000001 on gpt-4o): every one is refused by a $0.001 budget, and the
// reservation it would have made is at least the budget.
func TestHugeNumbersCannotOverflowTheEstimate(t *testing.T) {
	t.Parallel()
	e, err := New(context.Background(), Options{Store: newTestStore(t), Now: testkit.NewClock(t0).Now,
		Meter: MeterConfig{ToolCosts: []ToolCost{{Tool: "dear/*", USD: 1e300}}}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = e.Close(context.Background()) })
	ctx := context.Background()
	if _, err := e.SetPrice(ctx, Price{Model: "acme/huge", Input: 1e6, Output: 1e6}); err != nil {
		t.Fatal(err)
	}
	id := mustKey(t, e, KeyInput{Name: "k", Budget: &Budget{USD: 0.001, Period: PeriodDay}})
	for _, tc := range []struct {
		name string
		w    Work
	}{
		{"max_tokens 1e18", Work{Kind: KindLLM, Model: "openai/gpt-4o", PromptTokens: 10, MaxTokens: 1e18}},
		{"max_tokens MaxInt64", Work{Kind: KindLLM, Model: "openai/gpt-4o", PromptTokens: 10, MaxTokens: math.MaxInt64}},
		{"prompt MaxInt64", Work{Kind: KindLLM, Model: "openai/gpt-4o", PromptTokens: math.MaxInt64, MaxTokens: 10}},
		{"both MaxInt64", Work{Kind: KindLLM, Model: "openai/gpt-4o", PromptTokens: math.MaxInt64, MaxTokens: math.MaxInt64}},
		{"priciest model, MaxInt64", Work{Kind: KindLLM, Model: "acme/huge", PromptTokens: math.MaxInt64, MaxTokens: math.MaxInt64}},
		{"fallback MaxInt64", Work{Kind: KindLLM, Model: "openai/gpt-4o-mini", AltPriceModels: []string{"acme/huge"},
			PromptTokens: math.MaxInt64, MaxTokens: math.MaxInt64}},
		{"embedding MaxInt64", Work{Kind: KindLLM, Model: "openai/text-embedding-3-small", PromptTokens: math.MaxInt64, MaxTokens: -1}},
		{"tool priced 1e300 USD", Work{Kind: KindTool, Server: "dear", Tool: "x"}},
	} {
		var be *BudgetError
		_, err := e.Admit(ctx, id, tc.w)
		if !errors.As(err, &be) {
			t.Errorf("%s: %v, want a BudgetError", tc.name, err)
			continue
		}
		if be.CostUSD < 0.001 {
			t.Errorf("%s: would have reserved $%v, less than the $0.001 budget", tc.name, be.CostUSD)
		}
	}
	// The estimate of an absurd max_tokens is capped at the model's output
	// limit, not wrapped: gpt-4o writes at most 16384 tokens at $10/M.
	r, err := e.Admit(ctx, AdminIdentity(), Work{Kind: KindLLM, Model: "openai/gpt-4o", MaxTokens: 1e18})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := r.EstimatedCostUSD(), 16384*10/1e6; abs(got-want) > 1e-12 {
		t.Errorf("gpt-4o with max_tokens 1e18 is estimated at $%v, want $%v (its 16384-token output limit)", got, want)
	}
}

// TestRunawayUsageSettlesSaturated settles usage no model can produce (an
// upstream reporting MaxInt64 or negative tokens): the cost saturates
// instead of wrapping negative, so it never refunds spend, and the budget
// stays spent.
func TestRunawayUsageSettlesSaturated(t *testing.T) {
	t.Parallel()
	e := pricedEngine(t)
	ctx := context.Background()
	id := mustKey(t, e, KeyInput{Name: "k", Budget: &Budget{USD: 0.01, Period: PeriodDay}})
	for range 3 {
		if err := spendOnce(ctx, e, id, spend1000); err != nil {
			t.Fatal(err)
		}
	}
	spent := func() float64 {
		st, err := e.State(ctx, "k")
		if err != nil {
			t.Fatal(err)
		}
		return st.Budgets[0].SpentUSD
	}
	// Negative usage costs nothing and gives nothing back.
	r, err := e.Admit(ctx, id, spend1000)
	if err != nil {
		t.Fatal(err)
	}
	if usd := r.Settle(ctx, Outcome{Usage: TokenUsage{PromptTokens: -1e15, CompletionTokens: -5, CachedTokens: -7}}); usd != 0 {
		t.Errorf("negative usage cost $%v, want 0", usd)
	}
	if got := spent(); abs(got-0.003) > 1e-12 {
		t.Fatalf("after settling negative usage $%v is spent, want $0.003 (nothing refunded)", got)
	}
	// Runaway usage costs the most there is, and the budget is spent.
	r, err = e.Admit(ctx, id, spend1000)
	if err != nil {
		t.Fatal(err)
	}
	huge := TokenUsage{PromptTokens: math.MaxInt64, CompletionTokens: math.MaxInt64, CachedTokens: math.MaxInt64, CacheWriteTokens: math.MaxInt64}
	if usd := r.Settle(ctx, Outcome{Usage: huge}); usd < 0.01 {
		t.Errorf("runaway usage cost $%v", usd)
	}
	var be *BudgetError
	if err := spendOnce(ctx, e, id, spend1000); !errors.As(err, &be) {
		t.Fatalf("after runaway usage: %v, want a BudgetError", err)
	}
	// A runaway nominal cost likewise.
	other := mustKey(t, e, KeyInput{Name: "other", Budget: &Budget{USD: 0.01, Period: PeriodDay}})
	if r, err = e.Admit(ctx, other, spend1000); err != nil {
		t.Fatal(err)
	}
	dear := 1e300
	if usd := r.Settle(ctx, Outcome{CostUSD: &dear}); usd < 0.01 {
		t.Errorf("a cost of $1e300 settled as $%v", usd)
	}
	if err := spendOnce(ctx, e, other, spend1000); !errors.As(err, &be) {
		t.Fatalf("after a runaway cost: %v, want a BudgetError", err)
	}
	// A negative nominal cost refunds nothing.
	third := mustKey(t, e, KeyInput{Name: "third", Budget: &Budget{USD: 0.002, Period: PeriodDay}})
	if err := spendOnce(ctx, e, third, spend1000); err != nil {
		t.Fatal(err)
	}
	if r, err = e.Admit(ctx, third, spend1000); err != nil {
		t.Fatal(err)
	}
	refund := -1.0
	if usd := r.Settle(ctx, Outcome{CostUSD: &refund}); usd != 0 {
		t.Errorf("a cost of $-1 settled as $%v, want 0", usd)
	}
	if st, _ := e.State(ctx, "third"); abs(st.Budgets[0].SpentUSD-0.001) > 1e-12 {
		t.Errorf("after a negative cost $%v is spent, want $0.001", st.Budgets[0].SpentUSD)
	}
}

// TestToolSpendSurvivesRestart checks that priced tool calls count against
// a budget across a restart like model calls do.
func TestToolSpendSurvivesRestart(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	clk := testkit.NewClock(t0)
	st := newTestStore(t)
	open := func() *Engine {
		e, err := New(ctx, Options{Store: st, Now: clk.Now, Meter: MeterConfig{ToolCosts: []ToolCost{{Tool: "paid/*", USD: 0.01}}}})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = e.Close(context.Background()) })
		return e
	}
	first := open()
	mustTeam(t, first, TeamInput{Name: "team", Budget: &Budget{USD: 0.05, Period: PeriodMonth}})
	_, secret, err := first.CreateKey(ctx, KeyInput{Name: "k", Team: "team"})
	if err != nil {
		t.Fatal(err)
	}
	call := Work{Kind: KindTool, Server: "paid", Tool: "search"}
	id, _ := first.Authenticate(secret)
	for range 3 {
		if err := spendOnce(ctx, first, id, call); err != nil {
			t.Fatal(err)
		}
	}
	if err := first.Close(ctx); err != nil {
		t.Fatal(err)
	}
	second := open()
	id, _ = second.Authenticate(secret)
	if n := spendUntilRefused(t, second, id, call, 10); n != 2 {
		t.Fatalf("after the restart %d paid tool calls were admitted, want 2 (3 of 5 were spent before)", n)
	}
}

// TestHugeLimitsAndBudgets checks the edges of what keys may be given: the
// largest rate limits are enforced without overflow, and budgets and limits
// beyond the ranges are refused as invalid, not stored.
func TestHugeLimitsAndBudgets(t *testing.T) {
	t.Parallel()
	e, _ := testEngine(t, testkit.NewClock(t0))
	ctx := context.Background()
	most := int64(math.MaxInt64)
	id := mustKey(t, e, KeyInput{Name: "k", Limits: Limits{RPM: most, TPM: most, ToolCallsPerMin: most}, Budget: &Budget{USD: 1e12}})
	for range 3 {
		r, err := e.Admit(ctx, id, Work{Kind: KindLLM, Model: "unpriced/m", PromptTokens: math.MaxInt64 / 8, MaxTokens: 10})
		if err != nil {
			t.Fatal(err)
		}
		for _, l := range r.RateLimits() {
			if l.Remaining < 0 || l.Remaining > l.Limit {
				t.Errorf("%s remaining %d of %d", l.Dimension, l.Remaining, l.Limit)
			}
		}
		r.Settle(ctx, Outcome{Usage: TokenUsage{PromptTokens: math.MaxInt64 / 8, CompletionTokens: 10}})
	}
	var inv *InvalidError
	for _, in := range []KeyInput{
		{Name: "b1", Budget: &Budget{USD: 1e300}},
		{Name: "b2", Budget: &Budget{USD: math.Inf(1)}},
		{Name: "b3", Budget: &Budget{USD: -0.01}},
		{Name: "l1", Limits: Limits{RPM: -1}},
		{Name: "l2", Limits: Limits{TPM: math.MinInt64}},
	} {
		if _, _, err := e.CreateKey(ctx, in); !errors.As(err, &inv) {
			t.Errorf("CreateKey(%+v): %v, want an InvalidError", in, err)
		}
	}
	if _, err := e.UpdateKey(ctx, "k", []byte(`{"limits":{"rpm":1e30}}`)); !errors.As(err, &inv) {
		t.Errorf("an rpm of 1e30: %v, want an InvalidError", err)
	}
}

// TestTokensPerMinuteAdmitsRequestsWithoutMaxTokens protects keys with a
// small tokens-per-minute limit: a request that names no max_tokens used to
// count as 4096 tokens and so was refused ("retry in 59s") for ever under a
// limit of 1000. It is counted by its prompt, admitted while its prompt
// fits, and settled to what it used.
func TestTokensPerMinuteAdmitsRequestsWithoutMaxTokens(t *testing.T) {
	t.Parallel()
	e := pricedEngine(t)
	ctx := context.Background()
	id := mustKey(t, e, KeyInput{Name: "k", Limits: Limits{TPM: 1000}, Budget: &Budget{USD: 1, Period: PeriodDay}})
	w := Work{Kind: KindLLM, Model: "mock/m", PromptTokens: 100}
	admitted := 0
	for range 20 {
		r, err := e.Admit(ctx, id, w)
		var rl *RateLimitError
		if errors.As(err, &rl) {
			if rl.Requested != 0 || rl.RetryAfter <= 0 {
				t.Fatalf("a full window must say when to retry: %+v", rl)
			}
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		// The budget still reserves the default completion.
		if got, want := r.EstimatedCostUSD(), (100+DefaultMaxTokens)/1e6; abs(got-want) > 1e-12 {
			t.Fatalf("budget estimate $%v, want $%v", got, want)
		}
		r.Settle(ctx, Outcome{Usage: TokenUsage{PromptTokens: 100, CompletionTokens: 150}})
		admitted++
	}
	if admitted != 4 { // 4 × 250 tokens fill the 1000
		t.Fatalf("%d requests without max_tokens were admitted in a minute of 1000 tokens, want 4", admitted)
	}
}

// TestRequestLargerThanTheTokenLimitSaysSo checks the request that can never
// fit in a tokens-per-minute limit, whatever it waits: it is refused with a
// message saying so, no Retry-After, and without using up the key's other
// limits.
func TestRequestLargerThanTheTokenLimitSaysSo(t *testing.T) {
	t.Parallel()
	e, _ := testEngine(t, testkit.NewClock(t0))
	ctx := context.Background()
	mustTeam(t, e, TeamInput{Name: "team", Limits: Limits{TPM: 2000}})
	id := mustKey(t, e, KeyInput{Name: "k", Team: "team", Limits: Limits{RPM: 1, TPM: 1000}})
	for _, tc := range []struct {
		name      string
		w         Work
		scope     Scope
		requested int64
	}{
		{"prompt over the key's limit", Work{Kind: KindLLM, Model: "m", PromptTokens: 1500}, ScopeKey, 1500},
		{"max_tokens over the key's limit", Work{Kind: KindLLM, Model: "m", PromptTokens: 10, MaxTokens: 995}, ScopeKey, 1005},
		{"huge max_tokens", Work{Kind: KindLLM, Model: "m", PromptTokens: 10, MaxTokens: math.MaxInt64}, ScopeKey, 10 + maxCompletionEstimate},
	} {
		_, err := e.Admit(ctx, id, tc.w)
		var rl *RateLimitError
		if !errors.As(err, &rl) || rl.Scope != tc.scope || rl.Dimension != DimTokens || rl.Requested != tc.requested {
			t.Fatalf("%s: %v (%+v), want a too-large %s token error for %d", tc.name, err, rl, tc.scope, tc.requested)
		}
		if msg := rl.Error(); !strings.Contains(msg, "request too large") || !strings.Contains(msg, "can never be admitted") {
			t.Errorf("%s: message %q does not say the request can never fit", tc.name, msg)
		}
		if h := rl.Headers(); h["Retry-After"] != "" || h["X-Ratelimit-Limit-tokens"] != "1000" {
			t.Errorf("%s: headers %v, want the limit and no Retry-After", tc.name, h)
		}
	}
	// The team's limit is checked the same way: 1500 fits no key limit
	// here, so use a key without one.
	other := mustKey(t, e, KeyInput{Name: "other", Team: "team"})
	var rl *RateLimitError
	if _, err := e.Admit(ctx, other, Work{Kind: KindLLM, Model: "m", PromptTokens: 2500}); !errors.As(err, &rl) || rl.Scope != ScopeTeam || rl.Requested != 2500 {
		t.Fatalf("over the team's limit: %v", err)
	}
	// None of the refusals used the key's one request of the minute.
	admitAndSettle(t, e, id, Work{Kind: KindLLM, Model: "m", PromptTokens: 10, MaxTokens: 10}, "a fitting request after the refusals")
}

// TestKeyCannotBeCreatedExpired checks that creating a key whose expiry
// has passed is refused as invalid input (400), while expiring an existing
// key by changing its expiry stays possible.
func TestKeyCannotBeCreatedExpired(t *testing.T) {
	t.Parallel()
	clk := testkit.NewClock(t0)
	e, _ := testEngine(t, clk)
	ctx := context.Background()
	for _, at := range []time.Time{t0.Add(-time.Hour), t0, time.Date(2001, 1, 1, 0, 0, 0, 0, time.UTC)} {
		var inv *InvalidError
		_, _, err := e.CreateKey(ctx, KeyInput{Name: "k", ExpiresAt: &at})
		if !errors.As(err, &inv) || !strings.Contains(err.Error(), "key.expires_at") {
			t.Errorf("expires_at %s: %v, want an InvalidError naming key.expires_at", at, err)
		}
	}
	if len(e.Keys()) != 0 {
		t.Fatalf("refused keys were stored: %+v", e.Keys())
	}
	soon := t0.Add(time.Second)
	if _, _, err := e.CreateKey(ctx, KeyInput{Name: "k", ExpiresAt: &soon}); err != nil {
		t.Fatalf("a key expiring in a second: %v", err)
	}
	clk.Advance(time.Minute) // the key has expired; changing something else is fine
	if _, err := e.UpdateKey(ctx, "k", []byte(`{"metadata":{"a":"b"}}`)); err != nil {
		t.Fatalf("updating an expired key's metadata: %v", err)
	}
	if _, err := e.UpdateKey(ctx, "k", []byte(`{"expires_at":"2001-01-01T00:00:00Z"}`)); err != nil {
		t.Fatalf("expiring a key by a change: %v", err)
	}
}

// TestBudgetErrorShowsSmallAmounts checks that a budget of a tenth of a
// cent reads as $0.001, not $0.00.
func TestBudgetErrorShowsSmallAmounts(t *testing.T) {
	t.Parallel()
	e := pricedEngine(t)
	ctx := context.Background()
	id := mustKey(t, e, KeyInput{Name: "k", Budget: &Budget{USD: 0.001, Period: PeriodDay}})
	if err := spendOnce(ctx, e, id, Work{Kind: KindLLM, Model: "mock/m", PromptTokens: 250, MaxTokens: 250}); err != nil {
		t.Fatal(err)
	}
	_, err := e.Admit(ctx, id, Work{Kind: KindLLM, Model: "mock/m", PromptTokens: 600, MaxTokens: 150})
	var be *BudgetError
	if !errors.As(err, &be) {
		t.Fatalf("%v, want a BudgetError", err)
	}
	for _, want := range []string{"budget of $0.001 per 1d", "has $0.0005 left", "may cost up to $0.00075"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("%q does not say %q", err, want)
		}
	}
}

func TestFormatUSD(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		usd  float64
		want string
	}{
		{0, "$0.00"}, {10, "$10.00"}, {1.5, "$1.50"}, {0.25, "$0.25"}, {0.001, "$0.001"}, {0.0005, "$0.0005"},
		{0.000001, "$0.000001"}, {0.0000004, "$0.00"}, {1234.5678, "$1234.5678"}, {0.0006000000000000001, "$0.0006"},
		{1e12, "$1000000000000.00"},
	} {
		if got := formatUSD(tc.usd); got != tc.want {
			t.Errorf("formatUSD(%v) = %q, want %q", tc.usd, got, tc.want)
		}
	}
}

// goroutinesIn counts the goroutines with frame (a function name and its
// opening parenthesis, as stack traces print it) on their stack.
func goroutinesIn(frame string) int {
	buf := make([]byte, 1<<20)
	for {
		n := runtime.Stack(buf, true)
		if n < len(buf) {
			return strings.Count(string(buf[:n]), frame)
		}
		buf = make([]byte, 2*len(buf))
	}
}
