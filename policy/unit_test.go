package policy

import (
	"strings"
	"testing"
	"time"
)

func TestPeriodWindows(t *testing.T) {
	t.Parallel()
	at := time.Date(2026, 12, 3, 15, 4, 5, 0, time.UTC) // a Thursday
	cases := []struct {
		p          Period
		start, end time.Time
	}{
		{PeriodHour, time.Date(2026, 12, 3, 15, 0, 0, 0, time.UTC), time.Date(2026, 12, 3, 16, 0, 0, 0, time.UTC)},
		{PeriodDay, time.Date(2026, 12, 3, 0, 0, 0, 0, time.UTC), time.Date(2026, 12, 4, 0, 0, 0, 0, time.UTC)},
		{PeriodWeek, time.Date(2026, 11, 30, 0, 0, 0, 0, time.UTC), time.Date(2026, 12, 7, 0, 0, 0, 0, time.UTC)},
		{PeriodMonth, time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC), time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC)},
		{PeriodNone, time.Time{}, time.Time{}},
	}
	for _, c := range cases {
		s, e := c.p.Window(at)
		if !s.Equal(c.start) || !e.Equal(c.end) {
			t.Errorf("%q.Window = %v..%v, want %v..%v", c.p, s, e, c.start, c.end)
		}
	}
	// A Sunday belongs to the week that started the Monday before.
	s, _ := PeriodWeek.Window(time.Date(2026, 12, 6, 23, 0, 0, 0, time.UTC))
	if !s.Equal(time.Date(2026, 11, 30, 0, 0, 0, 0, time.UTC)) {
		t.Errorf("Sunday's week starts %v", s)
	}
	for _, in := range []string{"", "none", "1h", "1d", "1w", "1mo"} {
		if _, err := ParsePeriod(in); err != nil {
			t.Errorf("ParsePeriod(%q): %v", in, err)
		}
	}
	for _, in := range []string{"1m", "daily", "2d"} {
		if _, err := ParsePeriod(in); err == nil {
			t.Errorf("ParsePeriod(%q) accepted", in)
		}
	}
}

func TestPriceLookup(t *testing.T) {
	t.Parallel()
	builtin, err := loadBuiltinPrices()
	if err != nil {
		t.Fatal(err)
	}
	if len(builtin) < 30 {
		t.Fatalf("only %d builtin prices", len(builtin))
	}
	override := []Price{{Model: "openai/gpt-4o", Input: 1, Output: 2}, {Model: "my-model", Input: 3, Output: 4}}
	tbl := newPriceTable(builtin, override)
	cases := []struct {
		model      string
		wantIn     float64
		wantOK     bool
		wantSource string
	}{
		{"gpt-4o", 2.50, true, SourceBuiltin},
		{"azure/gpt-4o", 2.50, true, SourceBuiltin},
		{"openai/gpt-4o", 1, true, ""},                             // provider-specific override
		{"openai/gpt-4o-2024-08-06", 1, true, ""},                  // dated snapshot of the override
		{"groq/gpt-4o-mini-2024-07-18", 0.15, true, SourceBuiltin}, // longest prefix wins over gpt-4o
		{"anthropic/claude-sonnet-4-5-20250929", 3, true, SourceBuiltin},
		{"vllm/my-model", 3, true, ""},
		{"mock/unknown-model", 0, false, ""},
		{"gpt-4", 0, false, ""}, // gpt-4o does not match gpt-4
	}
	for _, c := range cases {
		p, ok := tbl.Lookup(c.model)
		if ok != c.wantOK {
			t.Errorf("Lookup(%q) ok = %v, want %v", c.model, ok, c.wantOK)
			continue
		}
		if ok && (p.Input != c.wantIn || p.Source != c.wantSource) {
			t.Errorf("Lookup(%q) = %+v, want input %v source %q", c.model, p, c.wantIn, c.wantSource)
		}
	}
	// 1000 prompt tokens (200 of them cached) and 500 completion tokens of gpt-4o.
	usd, ok := tbl.Cost("gpt-4o", TokenUsage{PromptTokens: 1000, CachedTokens: 200, CompletionTokens: 500})
	want := (800*2.50 + 200*1.25 + 500*10.0) / 1e6
	if !ok || abs(usd-want) > 1e-12 {
		t.Errorf("Cost = %v, %v; want %v", usd, ok, want)
	}
	// Anthropic cache writes have their own price.
	usd, _ = tbl.Cost("claude-sonnet-4-5", TokenUsage{PromptTokens: 1000, CacheWriteTokens: 1000})
	if want := 1000 * 3.75 / 1e6; abs(usd-want) > 1e-12 {
		t.Errorf("cache write cost = %v, want %v", usd, want)
	}
}

func abs(f float64) float64 {
	if f < 0 {
		return -f
	}
	return f
}

func TestRuleValidation(t *testing.T) {
	t.Parallel()
	good := [][]string{
		{"role:reader", "*", "tool:files/read_*", "call", "allow"},
		{"key:ci-bot", "research", "model:openai/*", "use", "deny"},
		{"team:research", "research", "server:github", "list"},
		{"role:all", "*", "*", "*", "allow"},
	}
	for _, l := range good {
		r, err := RuleFromLine(l)
		if err != nil {
			t.Fatalf("%v: %v", l, err)
		}
		if errs := r.Validate("p"); len(errs) > 0 {
			t.Errorf("%v: %v", l, errs)
		}
	}
	bad := []struct {
		line []string
		want string
	}{
		{[]string{"reader", "*", "model:*", "use"}, "p.subject"},
		{[]string{"role:reader", "", "model:*", "use"}, "p.domain"},
		{[]string{"role:reader", "*", "models:*", "use"}, "p.object"},
		{[]string{"role:reader", "*", "model:*", "read"}, "p.action"},
		{[]string{"role:reader", "*", "model:*", "use", "maybe"}, "p.effect"},
		{[]string{"role:reader", "*", "model:a,b", "use"}, "commas"},
	}
	for _, c := range bad {
		r, _ := RuleFromLine(c.line)
		errs := r.Validate("p")
		if len(errs) == 0 || !strings.Contains(errs[0].Error(), c.want) {
			t.Errorf("%v: errors %v, want one mentioning %q", c.line, errs, c.want)
		}
	}
	if _, err := RuleFromLine([]string{"a", "b"}); err == nil {
		t.Error("a 2-field line was accepted")
	}
}

func TestConfigValidate(t *testing.T) {
	t.Parallel()
	c := Config{
		Teams: []TeamConfig{{Name: "research"}, {Name: "research"}, {Name: "_bad"}},
		Keys: []KeyConfig{
			{Name: "ci", Value: "short"},
			{Name: "ok", Value: "jk-0123456789abcdefghijklmn", Team: "missing"},
			{Name: "dup", Value: "jk-0123456789abcdefghijklmn"},
		},
		Policies: []PolicyLine{{"role:x", "*", "model:*", "fly"}},
		Prices:   []Price{{Model: "m", Input: -1}},
		Meter:    MeterConfig{ToolCosts: []ToolCost{{Tool: ""}}},
	}
	errs := c.Validate()
	var all []string
	for _, e := range errs {
		all = append(all, e.Error())
	}
	joined := strings.Join(all, "\n")
	for _, want := range []string{
		"teams[1].name: team \"research\" is declared twice",
		"teams[2].name",
		"keys[0].value",
		"keys[1].team: team \"missing\" is not declared",
		"keys[2].value: the same secret",
		"policies[0].action",
		"prices[0].input_per_mtok",
		"meter.tool_costs[0].tool: required",
	} {
		if !strings.Contains(joined, want) {
			t.Errorf("missing problem %q in:\n%s", want, joined)
		}
	}
}

func TestKeySecrets(t *testing.T) {
	t.Parallel()
	a, err := NewKeySecret()
	if err != nil {
		t.Fatal(err)
	}
	b, _ := NewKeySecret()
	if !strings.HasPrefix(a, KeyPrefix) || len(a) < len(KeyPrefix)+43 || a == b {
		t.Fatalf("secrets %q %q", a, b)
	}
	if h := secretHint(a); !strings.HasPrefix(a, strings.TrimSuffix(h, "…")) || len(h) > len(KeyPrefix)+4+len("…") {
		t.Errorf("hint %q of %q", h, a)
	}
}
