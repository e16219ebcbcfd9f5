package llm

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"

	"github.com/junctionhq/junction/llm/chat"
	"github.com/junctionhq/junction/llm/router"
	"github.com/junctionhq/junction/policy"
)

// Providers can change while the gateway runs (the admin API adds, updates
// and removes them): SetProviders swaps the provider set and the router's
// route table, each as one atomic pointer, so the request path reads both
// without locks and a request in flight finishes with what it started on.

// providerSet is the providers in force, never modified once published.
type providerSet struct {
	byName map[string]*upstream
	list   []ProviderConfig // in the order given, defaults applied
	// listed are the model names the configuration lists (see ondemand.go):
	// the aliases, their targets and fallbacks, the providers' models and
	// the cache's embedding model.
	listed map[string]bool
}

// buildProviderSet makes the providers of list (defaults applied), reusing
// the entries of prev whose configuration did not change, so their
// connections survive.
func (s *Service) buildProviderSet(list []ProviderConfig, prev *providerSet) (*providerSet, error) {
	ps := &providerSet{byName: make(map[string]*upstream, len(list)), list: list}
	for _, pc := range list {
		if prev != nil {
			if old := prev.byName[pc.Name]; old != nil && reflect.DeepEqual(old.cfg, pc) {
				ps.byName[pc.Name] = old
				continue
			}
		}
		p, format, err := buildProvider(pc)
		if err != nil {
			return nil, err
		}
		if override, ok := s.overrides[pc.Name]; ok {
			p, format = override, formatOf(override, pc.Type)
		}
		ps.byName[pc.Name] = &upstream{cfg: pc, provider: p, format: format}
	}
	ps.listed = s.listedNames(list)
	return ps, nil
}

// listedNames are the model names the configuration lists with the
// providers of list: they may keep routes without limit (ondemand.go) and
// name metric series.
func (s *Service) listedNames(list []ProviderConfig) map[string]bool {
	listed := map[string]bool{}
	for _, m := range s.aliases() {
		listed[m.Name] = true
		for _, t := range m.Targets {
			listed[t.Model] = true
		}
		for _, f := range m.Fallbacks {
			listed[f] = true
		}
	}
	for _, p := range list {
		for _, m := range p.Models {
			listed[p.Name+"/"+m] = true
		}
	}
	if s.embeddingModel != "" {
		listed[s.embeddingModel] = true
	}
	return listed
}

// candidates are the targets serving provider/model: one per API key of the
// provider whose model patterns match. The target's weight is its share of
// the route's traffic, whatever its number of keys; the keys split that
// share by their own weights: a key's candidate weighs
// weight × key weight / (sum of the matching keys' weights). So targets
// A (weight 3, one key) and B (weight 1, three keys) split 3:1, and B's
// keys 1:1:1 within its quarter.
func (ps *providerSet) candidates(route, target string, weight float64) []router.Candidate {
	prov, model, _ := strings.Cut(target, "/")
	up := ps.byName[prov]
	if up == nil {
		return nil
	}
	var out []router.Candidate
	var keyWeights float64
	for _, k := range up.cfg.Keys {
		if !policy.MatchAny(model, k.Models) {
			continue
		}
		keyWeights += k.Weight
		out = append(out, router.Candidate{Route: route, Provider: up.provider, Weight: k.Weight, Upstream: up,
			Target: chat.Target{Provider: prov, Model: model, APIKey: k.Value, KeyName: k.Name}})
	}
	for i := range out {
		out[i].Weight = weight * (out[i].Weight / keyWeights)
	}
	return out
}

func (ps *providerSet) isDirect(model string) bool {
	prov, m, ok := strings.Cut(model, "/")
	return ok && m != "" && ps.byName[prov] != nil
}

func (ps *providerSet) directRoute(model string) (router.Route, bool) {
	r := router.Route{Name: model, Targets: ps.candidates(model, model, 1)}
	return r, len(r.Targets) > 0
}

// buildRoutes makes the alias routes of the configuration over ps, and the
// direct provider/model routes the aliases fall back to. With strict, an
// alias no provider key serves is an error (start-up); without, it is left
// out, and so are fallbacks to routes that do not exist (a provider was
// removed at run time).
func (s *Service) buildRoutes(ps *providerSet, strict bool) ([]router.Route, error) {
	var routes []router.Route
	have := map[string]bool{}
	for _, m := range s.aliases() {
		r := router.Route{Name: m.Name, Fallbacks: m.Fallbacks, Strategy: m.Strategy}
		for _, t := range m.Targets {
			r.Targets = append(r.Targets, ps.candidates(m.Name, t.Model, t.Weight)...)
		}
		if len(r.Targets) == 0 {
			if strict {
				return nil, fmt.Errorf("llm: model %q: no provider key serves any of its targets", m.Name)
			}
			continue
		}
		routes = append(routes, r)
		have[m.Name] = true
	}
	// Direct provider/model fallbacks named by aliases need their routes too.
	for _, m := range s.aliases() {
		for _, f := range m.Fallbacks {
			if ps.isDirect(f) && !have[f] {
				if r, ok := ps.directRoute(f); ok {
					routes = append(routes, r)
					have[f] = true
				}
			}
		}
	}
	if !strict {
		for i := range routes {
			routes[i].Fallbacks = slices.DeleteFunc(slices.Clone(routes[i].Fallbacks), func(f string) bool { return !have[f] })
		}
	}
	return routes, nil
}

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
func (s *Service) ValidateProvider(pc ProviderConfig) error {
	c := Config{Providers: []ProviderConfig{pc}}
	var problems []string
	for _, err := range c.Validate() {
		problems = append(problems, strings.TrimPrefix(strings.TrimPrefix(err.Error(), "providers[0]"), "."))
	}
	for _, m := range s.aliases() {
		if prov, _, ok := strings.Cut(m.Name, "/"); ok && prov == pc.Name && pc.Name != "" {
			problems = append(problems, fmt.Sprintf("name: %q would hide the model alias %q", pc.Name, m.Name))
		}
	}
	if len(problems) == 0 {
		// What SetProviders would build must build (it holds no resources).
		if _, _, err := buildProvider(s.WithDefaults(pc)); err != nil {
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
func (s *Service) WithDefaults(pc ProviderConfig) ProviderConfig {
	c := Config{Providers: cloneProviders([]ProviderConfig{pc}), Routing: s.cfg.Routing}
	c.ApplyDefaults()
	return c.Providers[0]
}

// Providers returns the providers in force, defaults applied. The result
// is shared: do not modify it.
func (s *Service) Providers() []ProviderConfig { return s.provs.Load().list }

// SetProviders replaces the whole provider set (the file's and the API's)
// and rebuilds the routes over it: the model aliases of the configuration
// (an alias whose targets are all gone is removed until a provider serves
// it again), their direct fallbacks and the provider/model routes made on
// demand so far, as far as the new providers still serve them (sorted
// again into listed and unlisted names, see ondemand.go). Providers
// whose definition did not change keep their connections and the health
// and breaker state of their targets; a changed provider starts afresh.
// It checks every provider first and changes nothing when one is invalid
// (an *InvalidProviderError) or two share a name.
func (s *Service) SetProviders(ctx context.Context, providers []ProviderConfig) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	c := Config{Providers: cloneProviders(providers), Routing: s.cfg.Routing}
	c.ApplyDefaults()
	if errs := c.Validate(); len(errs) > 0 {
		e := &InvalidProviderError{}
		for _, err := range errs {
			e.Problems = append(e.Problems, err.Error())
		}
		return e
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	ps, err := s.buildProviderSet(c.Providers, s.provs.Load())
	if err != nil {
		return err
	}
	routes, err := s.buildRoutes(ps, false)
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
	kept, demand := s.demand.carryOver(ps, have)
	routes = append(routes, kept...)
	prev := s.provs.Load()
	changed := func(provider string) bool { return ps.byName[provider] != prev.byName[provider] }
	// Publish the providers first: a request that finds a route of the old
	// table still carries its own provider entries (Candidate.Upstream).
	s.provs.Store(ps)
	if err := s.router.ReplaceRoutes(routes, changed); err != nil {
		return fmt.Errorf("llm: set providers: %w", err)
	}
	s.demand = demand
	return nil
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
