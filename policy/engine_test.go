package policy

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/junctionhq/junction/internal/testkit"
	"github.com/junctionhq/junction/store"
)

func TestAuthenticate(t *testing.T) {
	t.Parallel()
	clk := testkit.NewClock(t0)
	e, _ := testEngine(t, clk)
	ctx := context.Background()
	soon := t0.Add(time.Hour)
	_, live, _ := e.CreateKey(ctx, KeyInput{Name: "live"})
	_, expiring, _ := e.CreateKey(ctx, KeyInput{Name: "expiring", ExpiresAt: &soon})
	off := false
	_, disabled, err := e.CreateKey(ctx, KeyInput{Name: "disabled", Enabled: &off})
	if err != nil {
		t.Fatal(err)
	}
	check := func(name, token string, want AuthReason) {
		t.Helper()
		id, err := e.Authenticate(token)
		var ae *AuthError
		switch {
		case want == "" && err != nil:
			t.Errorf("%s: %v", name, err)
		case want == "" && id == nil:
			t.Errorf("%s: no identity", name)
		case want != "" && (!errors.As(err, &ae) || ae.Reason != want):
			t.Errorf("%s: err %v, want %s", name, err, want)
		}
	}
	check("live", live, "")
	check("expiring before expiry", expiring, "")
	check("disabled", disabled, AuthDisabled)
	check("unknown", "jk-nope", AuthInvalid)
	check("empty", "", AuthMissing)
	check("admin", "admin-key-for-tests-0123", "")
	clk.Advance(time.Hour) // expiry is inclusive
	check("expired", expiring, AuthExpired)
	check("live later", live, "")

	if id, _ := e.Authenticate("admin-key-for-tests-0123"); !id.Admin || !e.Allowed(id, "model:anything", "use") {
		t.Error("the admin key is not an all-powerful identity")
	}
	// Re-enabling through a patch takes effect at once.
	if _, err := e.UpdateKey(ctx, "disabled", []byte(`{"enabled": true}`)); err != nil {
		t.Fatal(err)
	}
	check("re-enabled", disabled, "")
	// Revoking takes effect at once.
	if err := e.DeleteKey(ctx, "live"); err != nil {
		t.Fatal(err)
	}
	check("revoked", live, AuthInvalid)
}

func TestAccessDecisions(t *testing.T) {
	t.Parallel()
	clk := testkit.NewClock(t0)
	e, _ := testEngine(t, clk)
	mustTeam(t, e, TeamInput{Name: "alpha"})
	mustTeam(t, e, TeamInput{Name: "beta"})
	none := []string{}
	// Keys that get nothing directly, so their grants come only from rules.
	a := mustKey(t, e, KeyInput{Name: "a", Team: "alpha", Roles: []string{"reader"}, Models: none, Tools: none})
	b := mustKey(t, e, KeyInput{Name: "b", Team: "beta", Roles: []string{"reader"}, Models: none, Tools: none})
	loner := mustKey(t, e, KeyInput{Name: "loner", Models: none, Tools: none})
	defaults := mustKey(t, e, KeyInput{Name: "defaults", Team: "alpha"})
	limited := mustKey(t, e, KeyInput{Name: "limited", Models: []string{"openai/gpt-4o-mini", "anthropic/*"}, Tools: []string{"files/read_*"}})

	mustRule(t, e, "role:reader", "*", "tool:files/read_*", "call", "allow")
	mustRule(t, e, "role:reader", "alpha", "model:openai/*", "use", "allow")
	mustRule(t, e, "role:reader", "alpha", "model:openai/gpt-4o", "use", "deny")
	mustRule(t, e, "team:beta", "beta", "server:github", "list", "allow")
	mustRule(t, e, "key:defaults", "alpha", "tool:shell/*", "*", "deny")

	cases := []struct {
		name        string
		id          *Identity
		obj, act    string
		wantAllowed bool
	}{
		{"role grant in every domain", a, "tool:files/read_file", "call", true},
		{"role grant in every domain, other team", b, "tool:files/read_file", "call", true},
		{"glob does not over-match", a, "tool:files/write_file", "call", false},
		{"team-domain grant", a, "model:openai/gpt-4o-mini", "use", true},
		{"deny overrides allow", a, "model:openai/gpt-4o", "use", false},
		{"another team never gets alpha's grants", b, "model:openai/gpt-4o-mini", "use", false},
		{"team grant", b, "server:github", "list", true},
		{"team grant is not alpha's", a, "server:github", "list", false},
		{"wrong action", a, "tool:files/read_file", "use", false},
		{"no team, no grants", loner, "tool:files/read_file", "call", false},
		{"default patterns allow everything", defaults, "model:anthropic/claude-haiku-4-5", "use", true},
		{"default tools", defaults, "tool:github/create_issue", "call", true},
		{"explicit deny on a default key", defaults, "tool:shell/exec", "call", false},
		{"key model pattern", limited, "model:openai/gpt-4o-mini", "use", true},
		{"key model pattern, not listed", limited, "model:openai/gpt-4o", "use", false},
		{"key model glob", limited, "model:anthropic/claude-sonnet-4-5", "use", true},
		{"key models are listable", limited, "model:anthropic/claude-sonnet-4-5", "list", true},
		{"key tool pattern", limited, "tool:files/read_text", "call", true},
		{"key tool pattern lists its server", limited, "server:files", "list", true},
		{"key tool pattern, other server", limited, "tool:github/create_issue", "call", false},
	}
	for _, c := range cases {
		for pass := range 2 { // the second pass answers from the decision cache
			if got := e.Allowed(c.id, c.obj, c.act); got != c.wantAllowed {
				t.Errorf("%s (pass %d): Allowed(%s, %s, %s) = %v, want %v", c.name, pass, c.id.Name(), c.obj, c.act, got, c.wantAllowed)
			}
		}
	}
	if e.Allowed(nil, "model:x", "use") {
		t.Error("a nil identity was allowed")
	}

	// A change invalidates cached decisions at once.
	if err := e.RemoveRule(context.Background(), Rule{Subject: "role:reader", Domain: "alpha", Object: "model:openai/gpt-4o", Action: "use", Effect: "deny"}); err != nil {
		t.Fatal(err)
	}
	if !e.Allowed(a, "model:openai/gpt-4o", "use") {
		t.Error("removing the deny rule did not take effect")
	}
	// Admit checks access too, with a typed rejection.
	_, err := e.Admit(context.Background(), b, Work{Kind: KindLLM, Model: "openai/gpt-4o"})
	var ae *AccessError
	if !errors.As(err, &ae) || ae.Object != "model:openai/gpt-4o" || ae.Action != "use" {
		t.Errorf("Admit: %v, want an AccessError", err)
	}
	_, err = e.Admit(context.Background(), b, Work{Kind: KindTool, Server: "files", Tool: "delete"})
	if !errors.As(err, &ae) || ae.Object != "tool:files/delete" || ae.Action != "call" {
		t.Errorf("Admit tool: %v, want an AccessError", err)
	}
	allowed, rule, err := e.Check("key:a", "alpha", "tool:files/read_x", "call")
	if err != nil || !allowed || len(rule) == 0 || rule[0] != "role:reader" {
		t.Errorf("Check = %v %v %v", allowed, rule, err)
	}
}

func TestBudgetPeriodsRollOver(t *testing.T) {
	t.Parallel()
	clk := testkit.NewClock(time.Date(2026, 12, 1, 23, 0, 0, 0, time.UTC))
	e, _ := testEngine(t, clk)
	ctx := context.Background()
	if _, err := e.SetPrice(ctx, Price{Model: "mock/m", Input: 1, Output: 1}); err != nil { // $1 per 1M tokens
		t.Fatal(err)
	}
	// 10 cents a day = 100000 micro-dollars = 100000 tokens.
	id := mustKey(t, e, KeyInput{Name: "daily", Budget: &Budget{USD: 0.10, Period: PeriodDay}})
	w := Work{Kind: KindLLM, Model: "mock/m", PromptTokens: 30000, MaxTokens: 10000} // reserves 40000 µ$
	spend := func() error {
		r, err := e.Admit(ctx, id, w)
		if err != nil {
			return err
		}
		r.Settle(ctx, Outcome{Usage: TokenUsage{PromptTokens: 30000, CompletionTokens: 10000}})
		return nil
	}
	for i := range 2 {
		if err := spend(); err != nil {
			t.Fatalf("spend %d: %v", i, err)
		}
	}
	err := spend() // 80000 spent + 40000 > 100000
	var be *BudgetError
	if !errors.As(err, &be) || be.Scope != ScopeKey || be.Period != PeriodDay ||
		!be.Reset.Equal(time.Date(2026, 12, 2, 0, 0, 0, 0, time.UTC)) || abs(be.SpentUSD-0.08) > 1e-9 {
		t.Fatalf("third spend: %v (%+v), want a BudgetError", err, be)
	}
	st, err := e.State(ctx, "daily")
	if err != nil || len(st.Budgets) != 1 || abs(st.Budgets[0].SpentUSD-0.08) > 1e-9 {
		t.Fatalf("State = %+v, %v", st, err)
	}
	clk.Advance(time.Hour) // midnight UTC: a new day, a new budget
	if err := spend(); err != nil {
		t.Fatalf("after the day rolled over: %v", err)
	}
	if st, _ := e.State(ctx, "daily"); abs(st.Budgets[0].SpentUSD-0.04) > 1e-9 {
		t.Errorf("spent in the new day = %v, want 0.04", st.Budgets[0].SpentUSD)
	}
}

func TestBudgetNeverResetsWithoutPeriod(t *testing.T) {
	t.Parallel()
	clk := testkit.NewClock(t0)
	e, _ := testEngine(t, clk)
	ctx := context.Background()
	id := mustKey(t, e, KeyInput{Name: "lifetime", Budget: &Budget{USD: 0.000010}}) // 10 µ$
	cost := 0.000004
	for i := range 3 {
		r, err := e.Admit(ctx, id, Work{Kind: KindLLM, Model: "unpriced/model"})
		if i == 2 {
			// 8 µ$ spent, and an unpriced request still reserves 1 µ$: fits; the
			// settled cost of 4 takes the total to 12, over the budget.
			if err != nil {
				t.Fatalf("admit %d: %v", i, err)
			}
		} else if err != nil {
			t.Fatalf("admit %d: %v", i, err)
		}
		r.Settle(ctx, Outcome{CostUSD: &cost})
	}
	clk.Advance(400 * 24 * time.Hour)
	var be *BudgetError
	if _, err := e.Admit(ctx, id, Work{Kind: KindLLM, Model: "unpriced/model"}); !errors.As(err, &be) {
		t.Fatalf("a spent lifetime budget admitted work a year later: %v", err)
	}
}

func TestRateLimits(t *testing.T) {
	t.Parallel()
	clk := testkit.NewClock(time.Date(2026, 12, 1, 10, 30, 15, 0, time.UTC))
	e, _ := testEngine(t, clk)
	ctx := context.Background()
	mustTeam(t, e, TeamInput{Name: "team", Limits: Limits{RPM: 5}})
	id := mustKey(t, e, KeyInput{Name: "k", Team: "team", Limits: Limits{RPM: 3, TPM: 1000, ToolCallsPerMin: 2}})
	other := mustKey(t, e, KeyInput{Name: "other", Team: "team"})
	llm := Work{Kind: KindLLM, Model: "m", PromptTokens: 100, MaxTokens: 100}
	for i := range 3 {
		r, err := e.Admit(ctx, id, llm)
		if err != nil {
			t.Fatalf("request %d: %v", i, err)
		}
		ls := r.RateLimits()
		if len(ls) != 3 || ls[0].Dimension != DimRequests || ls[0].Remaining != int64(2-i) {
			t.Errorf("request %d: limits %+v", i, ls)
		}
		r.Settle(ctx, Outcome{Usage: TokenUsage{PromptTokens: 100, CompletionTokens: 10}})
	}
	_, err := e.Admit(ctx, id, llm)
	var rl *RateLimitError
	if !errors.As(err, &rl) || rl.Scope != ScopeKey || rl.Dimension != DimRequests || rl.Limit != 3 ||
		rl.RetryAfter != 45*time.Second || !rl.Reset.Equal(time.Date(2026, 12, 1, 10, 31, 0, 0, time.UTC)) {
		t.Fatalf("4th request: %v %+v", err, rl)
	}
	// The team's limit is shared: 3 used by k, 2 more for other, then none.
	for i := range 2 {
		if _, err := e.Admit(ctx, other, llm); err != nil {
			t.Fatalf("other %d: %v", i, err)
		}
	}
	if _, err := e.Admit(ctx, other, llm); !errors.As(err, &rl) || rl.Scope != ScopeTeam {
		t.Fatalf("team limit: %v", err)
	}
	// Tool calls have their own per-minute limit and do not count as requests.
	for i := range 2 {
		admitAndSettle(t, e, id, Work{Kind: KindTool, Server: "s", Tool: "t"}, fmt.Sprintf("tool call %d", i))
	}
	if _, err := e.Admit(ctx, id, Work{Kind: KindTool, Server: "s", Tool: "t"}); !errors.As(err, &rl) || rl.Dimension != DimToolCalls {
		t.Fatalf("3rd tool call: %v", err)
	}
	// The next minute starts afresh.
	clk.Advance(45 * time.Second)
	admitAndSettle(t, e, id, llm, "next minute")
}

func TestTokensPerMinuteSettlesToActualUse(t *testing.T) {
	t.Parallel()
	clk := testkit.NewClock(t0)
	e, _ := testEngine(t, clk)
	ctx := context.Background()
	id := mustKey(t, e, KeyInput{Name: "k", Limits: Limits{TPM: 1000}})
	// Each request reserves 100 + 300 tokens but uses 100 + 50: without
	// settling, the third would be refused; with it, five fit.
	w := Work{Kind: KindLLM, Model: "m", PromptTokens: 100, MaxTokens: 300}
	for i := range 5 {
		r, err := e.Admit(ctx, id, w)
		if err != nil {
			t.Fatalf("request %d: %v (unused tokens were not returned)", i, err)
		}
		r.Settle(ctx, Outcome{Usage: TokenUsage{PromptTokens: 100, CompletionTokens: 50}})
		r.Settle(ctx, Outcome{Usage: TokenUsage{PromptTokens: 100, CompletionTokens: 50}}) // second settle is a no-op
	}
	st, _ := e.State(ctx, "k")
	if len(st.Limits) != 1 || st.Limits[0].Used != 750 {
		t.Fatalf("tokens used = %+v, want 750", st.Limits)
	}
	var rl *RateLimitError
	if _, err := e.Admit(ctx, id, w); !errors.As(err, &rl) || rl.Dimension != DimTokens || rl.Remaining != 250 {
		t.Fatalf("over the token limit: %v", err)
	}
}

func TestToolCosts(t *testing.T) {
	t.Parallel()
	clk := testkit.NewClock(t0)
	st := newTestStore(t)
	e, err := New(context.Background(), Options{Store: st, Now: clk.Now, Meter: MeterConfig{
		ToolCosts: []ToolCost{{Tool: "search/*", USD: 0.01}, {Tool: "*", USD: 0}}}})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close(context.Background())
	ctx := context.Background()
	id := mustKey(t, e, KeyInput{Name: "k", Budget: &Budget{USD: 0.025, Period: PeriodMonth}})
	for i := range 2 {
		r, err := e.Admit(ctx, id, Work{Kind: KindTool, Server: "search", Tool: "web"})
		if err != nil {
			t.Fatalf("search %d: %v", i, err)
		}
		if usd := r.Settle(ctx, Outcome{}); usd != 0.01 {
			t.Errorf("cost = %v", usd)
		}
	}
	var be *BudgetError
	if _, err := e.Admit(ctx, id, Work{Kind: KindTool, Server: "search", Tool: "web"}); !errors.As(err, &be) {
		t.Fatalf("third paid call: %v", err)
	}
	// Free tools still work with the budget nearly spent.
	if _, err := e.Admit(ctx, id, Work{Kind: KindTool, Server: "files", Tool: "read"}); err != nil {
		t.Fatalf("free tool: %v", err)
	}
}

func TestUsageRecorded(t *testing.T) {
	t.Parallel()
	clk := testkit.NewClock(t0)
	e, st := testEngine(t, clk)
	ctx := context.Background()
	mustTeam(t, e, TeamInput{Name: "research"})
	id := mustKey(t, e, KeyInput{Name: "k", Team: "research", Customer: "acme"})
	r, err := e.Admit(ctx, id, Work{Kind: KindLLM, Model: "fast", PriceModel: "openai/gpt-4o", PromptTokens: 1000, MaxTokens: 100, RequestID: "req-1"})
	if err != nil {
		t.Fatal(err)
	}
	if got := r.EstimatedCostUSD(); abs(got-(1000*2.5+100*10)/1e6) > 1e-9 {
		t.Errorf("estimate = %v", got)
	}
	clk.Advance(1500 * time.Millisecond)
	usd := r.Settle(ctx, Outcome{Model: "openai/gpt-4o-2024-08-06", Usage: TokenUsage{PromptTokens: 1000, CompletionTokens: 40}})
	if want := (1000*2.5 + 40*10) / 1e6; abs(usd-want) > 1e-9 {
		t.Errorf("settled cost = %v, want %v", usd, want)
	}
	r2, _ := e.Admit(ctx, id, Work{Kind: KindTool, Server: "files", Tool: "read"})
	r2.Settle(ctx, Outcome{Status: "error"})
	if err := e.Close(ctx); err != nil { // flushes
		t.Fatal(err)
	}
	rows, err := st.QueryUsage(ctx, store.UsageQuery{GroupBy: "model"})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]store.UsageRow{
		"openai/gpt-4o-2024-08-06": {Requests: 1, PromptTokens: 1000, CompletionTokens: 40, CostMicros: 2900},
		"":                         {Requests: 1, Errors: 1},
	}
	if len(rows) != len(want) {
		t.Fatalf("rows = %+v", rows)
	}
	for _, row := range rows {
		w := want[row.Group]
		w.Group = row.Group
		if row != w {
			t.Errorf("row %+v, want %+v", row, w)
		}
	}
	rows, _ = st.QueryUsage(ctx, store.UsageQuery{GroupBy: "team", KeyID: id.KeyID()})
	if len(rows) != 1 || rows[0].Group != "research" || rows[0].Requests != 2 {
		t.Errorf("by team = %+v", rows)
	}
}

func TestUsageQueueNeverBlocks(t *testing.T) {
	t.Parallel()
	clk := testkit.NewClock(t0)
	st := newTestStore(t)
	e, err := New(context.Background(), Options{Store: st, Now: clk.Now, Meter: MeterConfig{UsageQueue: 4, UsageBatch: 1000, UsageFlushInterval: time.Hour}})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	id := mustKey(t, e, KeyInput{Name: "k"})
	done := make(chan struct{})
	go func() {
		defer close(done)
		for range 100 {
			r, err := e.Admit(ctx, id, Work{Kind: KindLLM, Model: "m"})
			if err != nil {
				t.Error(err)
				return
			}
			r.Settle(ctx, Outcome{})
		}
	}()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("settling blocked on a full usage queue")
	}
	if err := e.Close(ctx); err != nil {
		t.Fatal(err)
	}
	s := e.Stats()
	if s.Usage.Dropped == 0 || s.Usage.Written+s.Usage.Dropped != 100 {
		t.Errorf("stats %+v: want drops counted and every record accounted for", s)
	}
	rows, _ := st.QueryUsage(ctx, store.UsageQuery{})
	if len(rows) != 1 || rows[0].Requests != s.Usage.Written {
		t.Errorf("stored %+v, written %d", rows, s.Usage.Written)
	}
}

func TestSyncConfig(t *testing.T) {
	t.Parallel()
	clk := testkit.NewClock(t0)
	e, _ := testEngine(t, clk)
	ctx := context.Background()
	secret := "jk-from-the-config-file-0123456789"
	cfg := Config{
		Teams:    []TeamConfig{{Name: "research", Budget: &Budget{USD: 100, Period: PeriodMonth}, Limits: Limits{RPM: 600}}},
		Keys:     []KeyConfig{{Name: "ci-bot", Value: secret, Team: "research", Models: []string{"fast"}}},
		Policies: []PolicyLine{{"role:reader", "*", "tool:files/read_*", "call", "allow"}},
		Prices:   []Price{{Model: "mock/m", Input: 1, Output: 2}},
	}
	if err := e.SyncConfig(ctx, cfg); err != nil {
		t.Fatal(err)
	}
	id, err := e.Authenticate(secret)
	if err != nil || id.TeamName() != "research" || id.Key.Source != store.SourceFile || id.Team.Limits.RPM != 600 {
		t.Fatalf("declared key: %+v %v", id, err)
	}
	if !e.Allowed(id, "model:fast", "use") || e.Allowed(id, "model:slow", "use") {
		t.Error("declared key's model patterns not applied")
	}
	if _, err := e.UpdateKey(ctx, "ci-bot", []byte(`{"enabled": false}`)); !errors.Is(err, ErrReadOnly) {
		t.Errorf("patching a file key: %v", err)
	}
	if err := e.DeleteTeam(ctx, "research"); !errors.Is(err, ErrReadOnly) {
		t.Errorf("deleting a file team: %v", err)
	}
	if err := e.RemoveRule(ctx, Rule{Subject: "role:reader", Domain: "*", Object: "tool:files/read_*", Action: "call"}); !errors.Is(err, ErrReadOnly) {
		t.Errorf("removing a file rule: %v", err)
	}
	if _, err := e.SetPrice(ctx, Price{Model: "mock/m", Input: 5}); !errors.Is(err, ErrReadOnly) {
		t.Errorf("overriding a file price: %v", err)
	}
	// An API key survives a re-sync that drops the file key.
	_, apiSecret, err := e.CreateKey(ctx, KeyInput{Name: "api-key"})
	if err != nil {
		t.Fatal(err)
	}
	cfg.Keys = nil
	if err := e.SyncConfig(ctx, cfg); err != nil {
		t.Fatal(err)
	}
	if _, err := e.Authenticate(secret); err == nil {
		t.Error("a key removed from the file still authenticates")
	}
	if _, err := e.Authenticate(apiSecret); err != nil {
		t.Errorf("the API key was lost: %v", err)
	}
	// A file key whose name an API key has taken is refused.
	cfg.Keys = []KeyConfig{{Name: "api-key", Value: secret}}
	if err := e.SyncConfig(ctx, cfg); err == nil {
		t.Error("a file key shadowing an API key was accepted")
	}
}

// TestRequestPathNeverReadsTheStore closes the database under a loaded
// engine: authentication, access decisions, admission and settlement keep
// working from memory. Only the first admission of a budget's period reads
// the store, to rebuild the spend (see TestSpendSurvivesRestart), so the
// key is used once before the store goes away.
func TestRequestPathNeverReadsTheStore(t *testing.T) {
	t.Parallel()
	clk := testkit.NewClock(t0)
	st := storetestStoreNoCleanup(t)
	e, err := New(context.Background(), Options{Store: st, Now: clk.Now, Meter: MeterConfig{UsageFlushInterval: time.Hour}})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	mustTeam(t, e, TeamInput{Name: "team", Budget: &Budget{USD: 10, Period: PeriodDay}, Limits: Limits{RPM: 100}})
	_, secret, err := e.CreateKey(ctx, KeyInput{Name: "k", Team: "team", Models: []string{"openai/*"}})
	if err != nil {
		t.Fatal(err)
	}
	if err := warmUp(ctx, e, secret); err != nil {
		t.Fatal(err)
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	for i := range 10 {
		id, err := e.Authenticate(secret)
		if err != nil {
			t.Fatalf("authenticate with the store closed: %v", err)
		}
		if e.Allowed(id, "model:anthropic/x", "use") {
			t.Fatal("wrong decision")
		}
		r, err := e.Admit(ctx, id, Work{Kind: KindLLM, Model: "openai/gpt-4o", PromptTokens: 10, MaxTokens: 10})
		if err != nil {
			t.Fatalf("admit %d with the store closed: %v", i, err)
		}
		r.Settle(ctx, Outcome{Usage: TokenUsage{PromptTokens: 10, CompletionTokens: 5}})
	}
	// The queued records cannot be written now; they are counted as dropped.
	_ = e.Close(ctx)
	if s := e.Stats(); s.Usage.Dropped != 10 {
		t.Errorf("stats %+v", s)
	}
}

// warmUp admits and settles one request of the key with secret and writes
// its usage record: the budget counters exist afterwards.
func warmUp(ctx context.Context, e *Engine, secret string) error {
	id, err := e.Authenticate(secret)
	if err != nil {
		return err
	}
	r, err := e.Admit(ctx, id, Work{Kind: KindLLM, Model: "openai/gpt-4o", PromptTokens: 10, MaxTokens: 10})
	if err != nil {
		return err
	}
	r.Settle(ctx, Outcome{Usage: TokenUsage{PromptTokens: 10, CompletionTokens: 5}})
	return e.FlushUsage(ctx)
}

func storetestStoreNoCleanup(t *testing.T) *store.Store {
	t.Helper()
	st, err := store.Open(context.Background(), store.Config{}, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// TestSettleAfterRollover settles work admitted just before a minute and a
// day ended: the correction goes to the windows it was reserved in, never
// to the new ones.
func TestSettleAfterRollover(t *testing.T) {
	t.Parallel()
	clk := testkit.NewClock(time.Date(2026, 12, 1, 23, 59, 30, 0, time.UTC))
	e, _ := testEngine(t, clk)
	ctx := context.Background()
	if _, err := e.SetPrice(ctx, Price{Model: "mock/m", Input: 1, Output: 1}); err != nil { // 1 µ$ a token
		t.Fatal(err)
	}
	id := mustKey(t, e, KeyInput{Name: "k", Limits: Limits{TPM: 1000}, Budget: &Budget{USD: 1, Period: PeriodDay}})
	w := Work{Kind: KindLLM, Model: "mock/m", PromptTokens: 100, MaxTokens: 300} // reserves 400 tokens, 400 µ$
	before, err := e.Admit(ctx, id, w)
	if err != nil {
		t.Fatal(err)
	}
	clk.Advance(time.Minute) // 00:00:30: a new minute and a new day
	after, err := e.Admit(ctx, id, w)
	if err != nil {
		t.Fatal(err)
	}
	if usd := before.Settle(ctx, Outcome{Usage: TokenUsage{PromptTokens: 100, CompletionTokens: 50}}); abs(usd-0.00015) > 1e-12 {
		t.Errorf("cost = %v, want 0.00015", usd)
	}
	st, err := e.State(ctx, "k")
	if err != nil {
		t.Fatal(err)
	}
	if len(st.Limits) != 1 || st.Limits[0].Used != 400 {
		t.Errorf("tokens in the new minute = %+v, want 400 (the unsettled admission only)", st.Limits)
	}
	if len(st.Budgets) != 1 || abs(st.Budgets[0].SpentUSD-0.0004) > 1e-12 {
		t.Errorf("spent in the new day = %+v, want $0.0004", st.Budgets)
	}
	after.Settle(ctx, Outcome{Usage: TokenUsage{PromptTokens: 100, CompletionTokens: 50}})
	if st, _ := e.State(ctx, "k"); st.Limits[0].Used != 150 || abs(st.Budgets[0].SpentUSD-0.00015) > 1e-12 {
		t.Errorf("after settling both: %+v %+v, want 150 tokens and $0.00015", st.Limits, st.Budgets)
	}
}

// TestSettlePricesTheOutcome checks that Settle prices what answered at the
// price in force when it settles: another model than the estimate's, or a
// price changed while the work ran.
func TestSettlePricesTheOutcome(t *testing.T) {
	t.Parallel()
	e, _ := testEngine(t, testkit.NewClock(t0))
	ctx := context.Background()
	for _, p := range []Price{{Model: "mock/cheap", Input: 1, Output: 1}, {Model: "mock/dear", Input: 10, Output: 10}} {
		if _, err := e.SetPrice(ctx, p); err != nil {
			t.Fatal(err)
		}
	}
	id := mustKey(t, e, KeyInput{Name: "k", Budget: &Budget{USD: 1, Period: PeriodDay}})
	w := Work{Kind: KindLLM, Model: "mock/cheap", PromptTokens: 100, MaxTokens: 100}
	used := TokenUsage{PromptTokens: 100, CompletionTokens: 100}
	tests := []struct {
		name    string
		between func()
		model   string
		want    float64
	}{
		{"the estimate's model and price", func() {}, "", 0.0002},
		{"another model answered", func() {}, "mock/dear", 0.002},
		{"the price changed meanwhile", func() {
			if _, err := e.SetPrice(ctx, Price{Model: "mock/cheap", Input: 2, Output: 2}); err != nil {
				t.Fatal(err)
			}
		}, "", 0.0004},
	}
	for _, tc := range tests {
		r, err := e.Admit(ctx, id, w)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		tc.between()
		if usd := r.Settle(ctx, Outcome{Model: tc.model, Usage: used}); abs(usd-tc.want) > 1e-12 {
			t.Errorf("%s: cost = %v, want %v", tc.name, usd, tc.want)
		}
	}
}

// TestAdmitFollowsChanges checks that what an identity remembers of its
// model (the access decision and the price) never outlives a change: a
// deny rule or a new price takes effect on the next admission, for the
// identity authenticated before the change and for a fresh one alike.
func TestAdmitFollowsChanges(t *testing.T) {
	t.Parallel()
	e, _ := testEngine(t, testkit.NewClock(t0))
	ctx := context.Background()
	if _, err := e.SetPrice(ctx, Price{Model: "mock/m", Input: 1, Output: 1}); err != nil {
		t.Fatal(err)
	}
	_, secret, err := e.CreateKey(ctx, KeyInput{Name: "k"})
	if err != nil {
		t.Fatal(err)
	}
	before, err := e.Authenticate(secret)
	if err != nil {
		t.Fatal(err)
	}
	w := Work{Kind: KindLLM, Model: "mock/m", PromptTokens: 100, MaxTokens: 100}
	estimate := func(id *Identity) (float64, error) {
		r, err := e.Admit(ctx, id, w)
		if err != nil {
			return 0, err
		}
		r.Settle(ctx, Outcome{})
		return r.EstimatedCostUSD(), nil
	}
	for range 2 { // the second admission is answered from the memo
		if usd, err := estimate(before); err != nil || abs(usd-0.0002) > 1e-12 {
			t.Fatalf("estimate = %v, %v; want 0.0002", usd, err)
		}
	}
	if _, err := e.SetPrice(ctx, Price{Model: "mock/m", Input: 3, Output: 3}); err != nil {
		t.Fatal(err)
	}
	fresh, err := e.Authenticate(secret)
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range []*Identity{before, fresh, before} {
		if usd, err := estimate(id); err != nil || abs(usd-0.0006) > 1e-12 {
			t.Fatalf("after the price change: estimate = %v, %v; want 0.0006", usd, err)
		}
	}
	mustRule(t, e, "key:k", "*", "model:mock/m", "use", "deny")
	for _, id := range []*Identity{before, fresh} {
		var ae *AccessError
		if _, err := estimate(id); !errors.As(err, &ae) {
			t.Fatalf("after the deny rule: err = %v, want an AccessError", err)
		}
	}
	// SkipAccess still prices from the current table.
	w.SkipAccess = true
	if usd, err := estimate(before); err != nil || abs(usd-0.0006) > 1e-12 {
		t.Fatalf("with SkipAccess: estimate = %v, %v; want 0.0006", usd, err)
	}
}

// TestEstimatePricedAtPriciestFallback protects budgets from fallbacks: a
// request whose first target is cheap but whose fallback is pricier reserves
// the pricier estimate, so a budget that only fits the cheap call refuses it.
func TestEstimatePricedAtPriciestFallback(t *testing.T) {
	t.Parallel()
	e, _ := testEngine(t, testkit.NewClock(t0))
	ctx := context.Background()
	id := mustKey(t, e, KeyInput{Name: "k", Budget: &Budget{USD: 0.002, Period: PeriodDay}})
	w := Work{Kind: KindLLM, Model: "cheap", PriceModel: "openai/gpt-4o-mini", PromptTokens: 1000, MaxTokens: 100}
	r, err := e.Admit(ctx, id, w)
	if err != nil {
		t.Fatalf("cheap only: %v", err)
	}
	cheap := r.EstimatedCostUSD()
	r.Settle(ctx, Outcome{Status: "error"})

	w.AltPriceModels = []string{"openai/gpt-4o", "unknown/model"}
	var be *BudgetError
	if r, err := e.Admit(ctx, id, w); !errors.As(err, &be) {
		t.Fatalf("with a gpt-4o fallback: err = %v, estimate %v (cheap estimate %v); want a budget error", err, r.EstimatedCostUSD(), cheap)
	}
}
