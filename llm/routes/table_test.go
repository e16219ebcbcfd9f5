package routes

import (
	"context"
	"errors"
	"testing"

	"github.com/junctionhq/junction/llm/chat"
)

// stubProvider is a chat.Provider that is never called: the tests look at
// routes, not at answers.
type stubProvider struct{}

func (stubProvider) Chat(context.Context, chat.Target, *chat.Request) (*chat.Response, error) {
	return nil, errors.New("stubProvider: not called in route table tests")
}

// newTestTable is a Table over providers mock (listing gpt-4o-mini and
// text-embedding-3-small), claude (Anthropic), cheap and pricey, and the
// aliases fast (mock/gpt-4o-mini, falling back to mock/gpt-4o) and tiered
// (cheap/gpt-4o-mini, falling back to pricey/gpt-4o). Every provider is a
// stubProvider.
func newTestTable(t *testing.T) *Table {
	t.Helper()
	key := func(v string) []ProviderKeyConfig { return []ProviderKeyConfig{{Name: "k", Value: v}} }
	const url = "http://127.0.0.1:1"
	cfg := Config{
		Providers: []ProviderConfig{
			{Name: "mock", BaseURL: url + "/v1", Keys: key("sk-mock"), Models: []string{"gpt-4o-mini", "text-embedding-3-small"}},
			{Name: "claude", Type: TypeAnthropic, BaseURL: url, Keys: key("sk-ant")},
			{Name: "cheap", BaseURL: url + "/v1", Keys: key("sk-cheap")},
			{Name: "pricey", BaseURL: url + "/v1", Keys: key("sk-pricey")},
		},
		Models: []ModelConfig{
			{Name: "fast", Targets: []TargetConfig{{Model: "mock/gpt-4o-mini"}}, Fallbacks: []string{"mock/gpt-4o"}},
			{Name: "tiered", Targets: []TargetConfig{{Model: "cheap/gpt-4o-mini"}}, Fallbacks: []string{"pricey/gpt-4o"}},
		},
	}
	cfg.ApplyDefaults()
	if errs := cfg.Validate(); len(errs) > 0 {
		t.Fatal(errs)
	}
	stubs := map[string]chat.Provider{}
	for _, p := range cfg.Providers {
		stubs[p.Name] = stubProvider{}
	}
	tab, err := New(Options{Config: cfg, Providers: stubs})
	if err != nil {
		t.Fatal(err)
	}
	return tab
}

// request leases the routes of model and fallbacks as a request does, and
// lets them go.
func request(t *testing.T, tab *Table, model string, fallbacks ...string) error {
	t.Helper()
	var r Reach
	if err := tab.Reach(&r, model, fallbacks); err != nil {
		return err
	}
	r.Release()
	return nil
}

func TestReachPricesTheDearestTargets(t *testing.T) {
	tab := newTestTable(t)
	var r, r2 Reach
	if err := tab.Reach(&r, "tiered", nil); err != nil {
		t.Fatal(err)
	}
	defer r.Release()
	if r.Price != "cheap/gpt-4o-mini" || len(r.Alts) != 1 || r.Alts[0] != "pricey/gpt-4o" {
		t.Errorf("tiered: price %s, alts %v", r.Price, r.Alts)
	}
	if err := tab.Reach(&r2, "mock/gpt-4o", []string{"claude/claude-haiku-4-5", "fast"}); err != nil {
		t.Fatal(err)
	}
	defer r2.Release()
	want := []string{"claude/claude-haiku-4-5", "mock/gpt-4o-mini"}
	if r2.Price != "mock/gpt-4o" || len(r2.Alts) != 2 || r2.Alts[0] != want[0] || r2.Alts[1] != want[1] {
		t.Errorf("with request fallbacks: price %s, alts %v, want %v", r2.Price, r2.Alts, want)
	}
}
