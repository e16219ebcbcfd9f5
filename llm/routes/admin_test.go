package routes

import (
	"context"
	"errors"
	"strings"
	"testing"
)

// TestReconfigureChecksAliasesFirst: a reload whose alias no provider key
// serves changes nothing; a good one puts the new aliases in force, listed
// names and routes alike.
func TestReconfigureChecksAliasesFirst(t *testing.T) {
	tab := newTestTable(t)
	ctx := context.Background()
	providers := tab.Providers()
	picky := append([]ProviderConfig(nil), providers...)
	picky[2].Keys = []ProviderKeyConfig{{Name: "k", Value: "sk-cheap", Models: []string{"gpt-4o"}}} // cheap serves gpt-4o only
	err := tab.Reconfigure(ctx, picky, []ModelConfig{{Name: "tiered", Targets: []TargetConfig{{Model: "cheap/gpt-4o-mini"}}}})
	var inv *InvalidProviderError
	if !errors.As(err, &inv) || !errors.Is(err, ErrInvalidProvider) || !strings.Contains(err.Error(), `models[0]: no provider key serves any target of "tiered"`) {
		t.Fatalf("unserved alias: %v", err)
	}
	if _, ok := tab.Router().Route("fast"); !ok || len(tab.Aliases()) != 2 {
		t.Fatal("a refused reload changed the aliases")
	}

	if err := tab.Reconfigure(ctx, providers, []ModelConfig{{Name: "smart", Targets: []TargetConfig{{Model: "claude/claude-sonnet-4-5"}}}}); err != nil {
		t.Fatal(err)
	}
	if _, ok := tab.Router().Route("fast"); ok {
		t.Error("the removed alias still has its route")
	}
	if !tab.Listed("smart") || !tab.Listed("claude/claude-sonnet-4-5") || tab.Listed("fast") {
		t.Errorf("listed after the reload: smart %v, its target %v, fast %v",
			tab.Listed("smart"), tab.Listed("claude/claude-sonnet-4-5"), tab.Listed("fast"))
	}
	r, ok := tab.Resolve("smart")
	if !ok {
		t.Fatal("the new alias has no route")
	}
	if up := tab.Upstream(&r.Targets[0]); up == nil || up.Config.Name != "claude" || up.Config.Type != TypeAnthropic {
		t.Errorf("upstream of the new alias's target: %+v", up)
	}
}

// TestValidateProviderNamesFieldsAndAliases: problems name their fields
// without the providers[N] prefix, and a provider may not hide an alias
// named provider/model.
func TestValidateProviderNamesFieldsAndAliases(t *testing.T) {
	tab := newTestTable(t)
	if err := tab.Reconfigure(context.Background(), tab.Providers(),
		[]ModelConfig{{Name: "team/default", Targets: []TargetConfig{{Model: "mock/gpt-4o-mini"}}}}); err != nil {
		t.Fatal(err)
	}
	err := tab.ValidateProvider(ProviderConfig{Name: "team", Type: "smoke"})
	var inv *InvalidProviderError
	if !errors.As(err, &inv) || len(inv.Problems) != 3 {
		t.Fatalf("ValidateProvider: %v", err)
	}
	for i, want := range []string{"type:", "keys:", `name: "team" would hide the model alias "team/default"`} {
		if !strings.HasPrefix(inv.Problems[i], want) {
			t.Errorf("problem %d: %q, want it to start with %q", i, inv.Problems[i], want)
		}
	}
	good := tab.WithDefaults(ProviderConfig{Name: "more", Keys: []ProviderKeyConfig{{Value: "sk-more"}}})
	if err := tab.ValidateProvider(good); err != nil {
		t.Errorf("a good provider: %v", err)
	}
	if good.Type != TypeOpenAI || good.Keys[0].Name != "key1" || good.Keys[0].Weight != 1 || good.Timeouts.FirstByte != DefaultFirstByteTimeout {
		t.Errorf("WithDefaults: %+v", good)
	}
}
