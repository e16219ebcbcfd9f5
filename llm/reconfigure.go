package llm

import (
	"context"
	"fmt"
	"slices"
)

// A configuration reload (SIGHUP, POST /admin/v1/reload) changes the model
// aliases together with the providers: Reconfigure checks the new pair as
// the start-up would and only then puts it in force, through the same swap
// as SetProviders, so requests in flight finish on what they started with.

// aliases returns the model aliases in force. The result is shared: do not
// modify it.
func (s *Service) aliases() []ModelConfig { return *s.models.Load() }

// Reconfigure replaces the model aliases and the whole provider set at
// once. It checks them first with the configuration file's rules (every
// alias target and fallback names a provider of the set, and every alias is
// served by at least one provider key) and changes nothing when they fail:
// the error is an *InvalidProviderError listing every problem. Routing
// defaults are not changed.
func (s *Service) Reconfigure(ctx context.Context, providers []ProviderConfig, models []ModelConfig) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	c := Config{Providers: cloneProviders(providers), Models: cloneModels(models), Routing: s.cfg.Routing}
	c.ApplyDefaults()
	var problems []string
	for _, err := range c.Validate() {
		problems = append(problems, err.Error())
	}
	if len(problems) == 0 {
		ps, err := s.buildProviderSet(c.Providers, s.provs.Load())
		if err != nil {
			return &InvalidProviderError{Problems: []string{err.Error()}}
		}
		for i, m := range c.Models {
			if !servesAny(ps, m) {
				problems = append(problems, fmt.Sprintf("models[%d]: no provider key serves any target of %q", i, m.Name))
			}
		}
	}
	if len(problems) > 0 {
		return &InvalidProviderError{Problems: problems}
	}
	s.mu.Lock()
	s.models.Store(&c.Models)
	s.mu.Unlock()
	return s.SetProviders(ctx, providers)
}

// servesAny reports whether some provider key of ps serves a target of m.
func servesAny(ps *providerSet, m ModelConfig) bool {
	for _, t := range m.Targets {
		if len(ps.candidates(m.Name, t.Model, t.Weight)) > 0 {
			return true
		}
	}
	return false
}

// cloneModels copies list deeply enough for ApplyDefaults not to write into
// the caller's slices.
func cloneModels(list []ModelConfig) []ModelConfig {
	out := slices.Clone(list)
	for i := range out {
		out[i].Targets = slices.Clone(out[i].Targets)
		out[i].Fallbacks = slices.Clone(out[i].Fallbacks)
	}
	return out
}
