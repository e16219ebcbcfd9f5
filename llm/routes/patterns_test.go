package routes

import (
	"strings"
	"testing"
)

// TestModelPatternsValidate: a pattern is a non-empty glob of bare names:
// one with '/' or a space is refused, with its YAML path.
func TestModelPatternsValidate(t *testing.T) {
	cfg := Config{Providers: []ProviderConfig{{Name: "claude", Type: TypeAnthropic, Keys: []ProviderKeyConfig{{Value: "sk"}},
		ModelPatterns: []string{"claude-*", "claude/*", "", "a b", "*"}}}}
	errs := cfg.Validate()
	var got []string
	for _, err := range errs {
		got = append(got, err.Error())
	}
	all := strings.Join(got, "\n")
	for _, want := range []string{"providers[0].model_patterns[1]", "providers[0].model_patterns[2]", "providers[0].model_patterns[3]"} {
		if !strings.Contains(all, want) {
			t.Errorf("no error for %s in:\n%s", want, all)
		}
	}
	if len(errs) != 3 {
		t.Errorf("%d errors, want 3:\n%s", len(errs), all)
	}
}

// TestQualify: bare names matching a provider's patterns become
// provider/name, the first matching provider winning; aliases, names with
// '/' and names no pattern matches are kept as they are.
func TestQualify(t *testing.T) {
	tab := newTestTable(t)
	ps := tab.provs.Load()
	list := append([]ProviderConfig(nil), ps.list...)
	for i := range list {
		switch list[i].Name {
		case "mock":
			list[i].ModelPatterns = []string{"gpt-*", "fast*"}
		case "claude":
			list[i].ModelPatterns = []string{"claude-*"}
		case "cheap":
			list[i].ModelPatterns = []string{"gpt-4*"}
		}
	}
	next, err := tab.buildProviderSet(list, ps, tab.Aliases())
	if err != nil {
		t.Fatal(err)
	}
	tab.provs.Store(next)
	for in, want := range map[string]string{
		"claude-haiku-4-5": "claude/claude-haiku-4-5",
		"gpt-4o":           "mock/gpt-4o", // mock comes before cheap
		"fast":             "fast",        // the alias
		"fast-2":           "mock/fast-2",
		"gpt-4o/x":         "gpt-4o/x",
		"cheap/gpt-4o":     "cheap/gpt-4o",
		"llama-3":          "llama-3",
		"":                 "",
	} {
		if got := tab.Qualify(in); got != want {
			t.Errorf("Qualify(%q) = %q, want %q", in, got, want)
		}
	}
}
