package policy

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/junctionhq/junction/internal/testkit"
	"github.com/junctionhq/junction/store/counters"
	"github.com/junctionhq/junction/store/counters/redistest"
)

// proxiedEngine is an engine on clk whose counters live in the test Redis
// behind a fault proxy, with mock/m priced at 1 µ$ a token and a key with
// a $0.01 daily budget and a tokens-per-minute limit of 1e6.
func proxiedEngine(t *testing.T, clk *testkit.Clock) (*Engine, *Identity, *redistest.Proxy) {
	t.Helper()
	url := testkit.RedisURL(t)
	p := redistest.NewProxy(t, url)
	c, err := counters.NewRedis(context.Background(), counters.RedisOptions{URL: p.URL(), Prefix: randomPrefix(), Timeout: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	e := engineOn(t, newTestStore(t), c, clk)
	microPrice(t, e)
	id := mustKey(t, e, KeyInput{Name: "k", Budget: &Budget{USD: 0.01, Period: PeriodDay}, Limits: Limits{TPM: 1_000_000}})
	return e, id, p
}

// waitStats polls e's stats until cond holds, for up to 15 s.
func waitStats(t *testing.T, e *Engine, what string, cond func(Stats) bool) {
	t.Helper()
	testkit.EventuallyNoError(t, 15*time.Second, what, func() error {
		if s := e.Stats(); !cond(s) {
			return fmt.Errorf("stats %+v", s)
		}
		return nil
	})
}

// TestFailedSettlementChargesAreRetried: a settlement that cannot reach
// Redis does not lose what the work used beyond its reservation (more
// tokens, a higher cost): the charge is retried once Redis is back, so
// the tokens-per-minute limit and the budget count it. Refunds are not
// queued.
func TestFailedSettlementChargesAreRetried(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	clk := testkit.NewClock(t0)
	e, id, p := proxiedEngine(t, clk)

	r, err := e.Admit(ctx, id, spend1000) // reserves 1000 tokens and 1000 µ$
	if err != nil {
		t.Fatal(err)
	}
	p.Down()
	cost := 0.005
	r.Settle(ctx, Outcome{Usage: TokenUsage{PromptTokens: 500, CompletionTokens: 2500}, CostUSD: &cost}) // +2000 tokens, +4000 µ$
	if s := e.Stats(); s.ChargesQueued != 2 {
		t.Fatalf("after a failed settlement: %+v, want 2 charges queued", s)
	}
	p.Up()
	waitStats(t, e, "the charges to be applied", func(s Stats) bool { return s.ChargesQueued == 0 && s.ChargesRetried == 2 })

	r, err = e.Admit(ctx, id, spend1000)
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range r.RateLimits() {
		if l.Dimension == DimTokens && l.Remaining != 1_000_000-3000-1000 {
			t.Errorf("tokens remaining %d, want %d: the failed settlement's extra tokens are not counted", l.Remaining, 1_000_000-3000-1000)
		}
	}
	r.Settle(ctx, Outcome{Usage: TokenUsage{PromptTokens: 500, CompletionTokens: 500}})
	// $0.005 + $0.001 spent of $0.01: four more spends of $0.001.
	if n := spendUntilRefused(t, e, id, spend1000, 20); n != 4 {
		t.Errorf("%d more spends admitted, want 4: the failed settlement's extra cost is not counted", n)
	}

	// A refund (less used than reserved) that fails is not retried: it
	// could have been applied, and applying it twice would under-count.
	clk.Advance(24 * time.Hour) // a new budget day
	r, err = e.Admit(ctx, id, spend1000)
	if err != nil {
		t.Fatal(err)
	}
	p.Down()
	r.Settle(ctx, Outcome{Usage: TokenUsage{PromptTokens: 100, CompletionTokens: 100}})
	if s := e.Stats(); s.ChargesQueued != 0 {
		t.Errorf("a refund was queued: %+v", s)
	}
	p.Up()
}

// TestFailedSettlementChargesAreGivenUpAfterSettleRetry: a charge that
// cannot be applied for meter.settle_retry is dropped and counted.
func TestFailedSettlementChargesAreGivenUpAfterSettleRetry(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	clk := testkit.NewClock(t0)
	e, id, p := proxiedEngine(t, clk)
	r, err := e.Admit(ctx, id, spend1000)
	if err != nil {
		t.Fatal(err)
	}
	p.Down()
	r.Settle(ctx, Outcome{Usage: TokenUsage{PromptTokens: 500, CompletionTokens: 700}}) // +200 tokens, +200 µ$
	if s := e.Stats(); s.ChargesQueued != 2 {
		t.Fatalf("%+v, want 2 charges queued", s)
	}
	clk.Advance(DefaultSettleRetry + time.Second)
	waitStats(t, e, "the charges to be given up", func(s Stats) bool { return s.ChargesQueued == 0 && s.ChargesGivenUp == 2 })
	if s := e.Stats(); s.ChargesRetried != 0 {
		t.Errorf("%+v: applied while Redis is down", s)
	}
}
