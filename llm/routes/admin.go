package routes

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
)

// Providers and aliases can change while the gateway runs: the admin API
// adds, updates and removes providers (SetProviders), a configuration
// reload (SIGHUP, POST /admin/v1/reload) changes the aliases with them
// (Reconfigure). Either swaps the provider set and the router's route
// table, each as one atomic pointer.

// ErrInvalidProvider matches (with errors.Is) every *InvalidProviderError.
var ErrInvalidProvider = errors.New("llm: invalid provider")

// InvalidProviderError lists every problem of a provider definition, each
// naming its field.
type InvalidProviderError struct {
	Problems []string
}

// Error lists the problems.
func (e *InvalidProviderError) Error() string {
	if len(e.Problems) == 1 {
		return e.Problems[0]
	}
	return fmt.Sprintf("%d problems: %s", len(e.Problems), strings.Join(e.Problems, "; "))
}

// Unwrap makes errors.Is(err, ErrInvalidProvider) true.
func (e *InvalidProviderError) Unwrap() error { return ErrInvalidProvider }

// ValidateProvider checks one provider definition with the configuration
// file's rules (field paths without the providers[N] prefix), and that its
// name does not hide a model alias. It returns nil or an
// *InvalidProviderError.
func (t *Table) ValidateProvider(pc ProviderConfig) error {
	c := Config{Providers: []ProviderConfig{pc}}
	var problems []string
	for _, err := range c.Validate() {
		problems = append(problems, strings.TrimPrefix(strings.TrimPrefix(err.Error(), "providers[0]"), "."))
	}
	for _, m := range t.Aliases() {
		if prov, _, ok := strings.Cut(m.Name, "/"); ok && prov == pc.Name && pc.Name != "" {
			problems = append(problems, fmt.Sprintf("name: %q would hide the model alias %q", pc.Name, m.Name))
		}
	}
	if len(problems) == 0 {
		// What SetProviders would build must build (it holds no resources).
		if _, _, err := buildProvider(t.WithDefaults(pc)); err != nil {
			problems = append(problems, err.Error())
		}
	}
	if len(problems) == 0 {
		return nil
	}
	return &InvalidProviderError{Problems: problems}
}

// WithDefaults returns pc with the configuration's defaults filled in
// (type, key names, weights and models, timeouts), as SetProviders holds it.
func (t *Table) WithDefaults(pc ProviderConfig) ProviderConfig {
	c := Config{Providers: cloneProviders([]ProviderConfig{pc}), Routing: t.routing}
	c.ApplyDefaults()
	return c.Providers[0]
}

// SetProviders replaces the whole provider set (the file's and the API's)
// and rebuilds the routes over it: the model aliases (an alias whose
// targets are all gone is removed until a provider serves it again), their
// direct fallbacks and the provider/model routes made on demand so far, as
// far as the new providers still serve them (sorted again into listed and
// unlisted names, see ondemand.go). Providers whose definition did not
// change keep their connections and the health and breaker state of their
// targets; a changed provider starts afresh. It checks every provider first
// and changes nothing when one is invalid (an *InvalidProviderError) or two
// share a name.
func (t *Table) SetProviders(ctx context.Context, providers []ProviderConfig) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	c := Config{Providers: cloneProviders(providers), Routing: t.routing}
	c.ApplyDefaults()
	if errs := c.Validate(); len(errs) > 0 {
		e := &InvalidProviderError{}
		for _, err := range errs {
			e.Problems = append(e.Problems, err.Error())
		}
		return e
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	aliases := t.Aliases()
	ps, err := t.buildProviderSet(c.Providers, t.provs.Load(), aliases)
	if err != nil {
		return err
	}
	routes, err := buildRoutes(ps, aliases, false)
	if err != nil {
		return err
	}
	// Keep the provider/model routes made on demand that the new set still
	// serves: a request resolves its route and then looks it up again by
	// name, so a reload that changes nothing must not drop it in between.
	have := make(map[string]bool, len(routes))
	for _, r := range routes {
		have[r.Name] = true
	}
	kept, demand := t.demand.carryOver(ps, have)
	routes = append(routes, kept...)
	prev := t.provs.Load()
	changed := func(provider string) bool { return ps.byName[provider] != prev.byName[provider] }
	// Publish the providers first: a request that finds a route of the old
	// table still carries its own provider entries (Candidate.Upstream).
	t.provs.Store(ps)
	if err := t.router.ReplaceRoutes(routes, changed); err != nil {
		return fmt.Errorf("llm: set providers: %w", err)
	}
	t.demand = demand
	return nil
}

// Reconfigure replaces the model aliases and the whole provider set at
// once. It checks them first with the configuration file's rules (every
// alias target and fallback names a provider of the set, and every alias is
// served by at least one provider key) and changes nothing when they fail:
// the error is an *InvalidProviderError listing every problem. Routing
// defaults are not changed. Requests in flight finish on what they started
// with, as with SetProviders.
func (t *Table) Reconfigure(ctx context.Context, providers []ProviderConfig, models []ModelConfig) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	c := Config{Providers: cloneProviders(providers), Models: cloneModels(models), Routing: t.routing}
	c.ApplyDefaults()
	var problems []string
	for _, err := range c.Validate() {
		problems = append(problems, err.Error())
	}
	if len(problems) == 0 {
		ps, err := t.buildProviderSet(c.Providers, t.provs.Load(), c.Models)
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
	t.mu.Lock()
	t.models.Store(&c.Models)
	t.mu.Unlock()
	return t.SetProviders(ctx, providers)
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

// cloneProviders copies list deeply enough for ApplyDefaults not to write
// into the caller's slices.
func cloneProviders(list []ProviderConfig) []ProviderConfig {
	out := slices.Clone(list)
	for i := range out {
		out[i].Keys = slices.Clone(out[i].Keys)
		for j := range out[i].Keys {
			out[i].Keys[j].Models = slices.Clone(out[i].Keys[j].Models)
		}
	}
	return out
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
