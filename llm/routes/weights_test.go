package routes

import (
	"context"
	"math"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/junctionhq/junction/llm/router"
)

func TestTargetWeightsSplitTrafficAndKeyWeightsSplitATargetsShare(t *testing.T) {
	// Alias "mix" sends to a/m and b/m; provider a's keys are aKeys, b's
	// bKeys (weight 0: the default). A key's share of all traffic
	// is its target's share times its share of its provider's key weights.
	cases := []struct {
		name             string
		aWeight, bWeight float64
		aKeys, bKeys     []keyWeight
	}{
		{"3:1, one key against three", 3, 1, []keyWeight{{"a1", 1}}, []keyWeight{{"b1", 1}, {"b2", 1}, {"b3", 1}}},
		{"3:1, uneven key weights", 3, 1, []keyWeight{{"a1", 5}}, []keyWeight{{"b1", 1}, {"b2", 2}, {"b3", 5}}},
		{"1:1, two keys against one heavy key", 1, 1, []keyWeight{{"a1", 1}, {"a2", 3}}, []keyWeight{{"b1", 10}}},
		{"1:4, default weights", 0, 4, []keyWeight{{"a1", 0}, {"a2", 0}}, []keyWeight{{"b1", 0}}},
	}
	for _, c := range cases {
		for _, strategy := range []string{"weighted", "adaptive"} {
			t.Run(c.name+", "+strategy, func(t *testing.T) {
				cfg := Config{
					Providers: []ProviderConfig{weightedProvider("a", c.aKeys), weightedProvider("b", c.bKeys)},
					Models: []ModelConfig{{Name: "mix", Strategy: strategy,
						Targets: []TargetConfig{{Model: "a/m", Weight: c.aWeight}, {Model: "b/m", Weight: c.bWeight}}}},
				}
				cfg.ApplyDefaults()
				got := keyShares(t, cfg, 4000)
				targets := cfg.Models[0].Targets
				total := targets[0].Weight + targets[1].Weight
				for i, pc := range cfg.Providers {
					var keyWeights, targetGot float64
					for _, k := range pc.Keys {
						keyWeights += k.Weight
						targetGot += got[k.Name]
					}
					targetWant := targets[i].Weight / total
					if math.Abs(targetGot-targetWant) > 0.025 {
						t.Errorf("target %s/m: share %.3f, want %.3f ± 0.025 (key shares %v)", pc.Name, targetGot, targetWant, got)
					}
					for _, k := range pc.Keys {
						if want := targetWant * k.Weight / keyWeights; math.Abs(got[k.Name]-want) > 0.025 {
							t.Errorf("key %s: share %.3f, want %.3f ± 0.025", k.Name, got[k.Name], want)
						}
					}
				}
			})
		}
	}
}

// keyWeight is a provider key's name and weight.
type keyWeight struct {
	name   string
	weight float64
}

// weightedProvider is provider name with keys.
func weightedProvider(name string, keys []keyWeight) ProviderConfig {
	pc := ProviderConfig{Name: name}
	for _, k := range keys {
		pc.Keys = append(pc.Keys, ProviderKeyConfig{Name: k.name, Value: "sk-" + k.name, Weight: k.weight})
	}
	return pc
}

// keyShares routes n requests to the alias "mix" of cfg (defaults applied)
// through routes built as the Table builds them, with a seeded random
// source, and returns each key's share of them.
func keyShares(t *testing.T, cfg Config, n int) map[string]float64 {
	t.Helper()
	ps := &providerSet{byName: map[string]*Upstream{}}
	for _, pc := range cfg.Providers {
		ps.byName[pc.Name] = &Upstream{Config: pc, Provider: stubProvider{}}
	}
	routes, err := buildRoutes(ps, cfg.Models, true)
	if err != nil {
		t.Fatal(err)
	}
	// Every attempt succeeds at once: the clock never moves and nothing sleeps.
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	r, err := router.NewRouter(router.RouterOptions{Routes: routes, Now: func() time.Time { return now }, Rand: rand.New(rand.NewPCG(11, 12))})
	if err != nil {
		t.Fatal(err)
	}
	count := map[string]int{}
	for range n {
		res, err := router.Do(context.Background(), r, "mix", nil, func(context.Context, *router.Candidate) (struct{}, time.Duration, error) {
			return struct{}{}, 0, nil
		})
		if err != nil {
			t.Fatal(err)
		}
		count[res.Candidate.Target.KeyName]++
	}
	out := map[string]float64{}
	for k, c := range count {
		out[k] = float64(c) / float64(n)
	}
	return out
}
