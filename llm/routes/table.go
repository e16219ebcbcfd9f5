// Package routes is the LLM path's route table: the routes the configured
// providers and model aliases give, and those made on demand for
// provider/model names, leased per request. It holds the configuration of
// providers, aliases and routing (the configuration file's llm part), builds
// the providers from it and the llm/router over them, and swaps both whole
// when the providers or the aliases change (the admin API, a reload), so the
// request path reads them without locks and a request in flight finishes
// with what it started on.
package routes

import (
	"context"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/junctionhq/junction/llm/chat"
	"github.com/junctionhq/junction/llm/router"
	"github.com/junctionhq/junction/policy"
)

// Options configure a Table.
type Options struct {
	// Config is the providers, aliases and routing defaults, with defaults
	// applied and valid (Config.ApplyDefaults, Config.Validate).
	Config Config
	// Providers overrides the providers built from Config, by name (tests).
	Providers map[string]chat.Provider
	// EmbeddingModel is the response cache's embedding model: a listed
	// name (see ondemand.go) besides those the configuration lists.
	EmbeddingModel string
	// Now, Sleep and OnFailure are the router's (router.RouterOptions).
	Now       func() time.Time
	Sleep     func(ctx context.Context, d time.Duration) error
	OnFailure func(c *router.Candidate, err error, inStream bool)
}

// Table is the route table of the LLM path: the providers in force, the
// model aliases, and the router whose routes they give.
type Table struct {
	routing RoutingConfig
	// overrides replace built providers by name (Options.Providers, tests).
	overrides      map[string]chat.Provider
	embeddingModel string
	router         *router.Router

	// provs is the provider set in force, swapped whole by SetProviders.
	provs atomic.Pointer[providerSet]
	// models are the model aliases in force, swapped whole by Reconfigure.
	models atomic.Pointer[[]ModelConfig]

	// mu guards demand, the routes built on demand for provider/model
	// names that are not aliases (ondemand.go), and serialises
	// SetProviders.
	mu     sync.Mutex
	demand onDemand
	// leases counts route leases, ordering unlisted routes by last use.
	leases atomic.Uint64
}

// Upstream is a configured provider: its configuration (defaults applied),
// the provider built from it, and the client wire format it takes as is
// (chat.FormatOpenAI..., "" for none).
type Upstream struct {
	Config   ProviderConfig
	Provider chat.Provider
	Format   string
}

// New builds the providers of opts.Config and a router over the routes of
// its aliases (each must be served by some provider key) and their direct
// provider/model fallbacks.
func New(opts Options) (*Table, error) {
	cfg := opts.Config
	t := &Table{routing: cfg.Routing, overrides: opts.Providers, embeddingModel: opts.EmbeddingModel, demand: newOnDemand()}
	t.models.Store(&cfg.Models)
	ps, err := t.buildProviderSet(cfg.Providers, nil, cfg.Models)
	if err != nil {
		return nil, err
	}
	t.provs.Store(ps)
	routes, err := buildRoutes(ps, cfg.Models, true)
	if err != nil {
		return nil, err
	}
	rc := cfg.Routing
	rt, err := router.NewRouter(router.RouterOptions{Routes: routes, MaxAttempts: rc.MaxAttempts, BackoffBase: rc.BackoffBase,
		BackoffMax: rc.BackoffMax, BreakerFailures: rc.BreakerFailures, BreakerOpen: rc.BreakerOpen,
		AuthCoolDown: rc.AuthCoolDown, Now: opts.Now, Sleep: opts.Sleep, OnFailure: opts.OnFailure})
	if err != nil {
		return nil, fmt.Errorf("llm: %w", err)
	}
	t.router = rt
	return t, nil
}

// Router is the router over the table's routes.
func (t *Table) Router() *router.Router { return t.router }

// Providers returns the providers in force, defaults applied. The result
// is shared: do not modify it.
func (t *Table) Providers() []ProviderConfig { return t.provs.Load().list }

// Aliases returns the model aliases in force. The result is shared: do not
// modify it.
func (t *Table) Aliases() []ModelConfig { return *t.models.Load() }

// Listed reports whether the configuration lists the model name (see
// ondemand.go): listed names keep their routes and name metric series.
func (t *Table) Listed(name string) bool { return t.provs.Load().listed[name] }

// Upstream returns the configured provider of a candidate: the one its
// route was built with, so a request in flight during SetProviders keeps
// the provider (and timeouts) it started with.
func (t *Table) Upstream(c *router.Candidate) *Upstream {
	if up, ok := c.Upstream.(*Upstream); ok {
		return up
	}
	return t.provs.Load().byName[c.Target.Provider]
}

// Resolve makes sure model has a route: an alias, or a provider/model of a
// configured provider (made on demand, see ondemand.go). It is for models
// the configuration names (the cache's embedding model), whose routes stay;
// requests lease theirs (Reach).
func (t *Table) Resolve(model string) (*router.Route, bool) {
	var l lease
	if err := t.leaseRoutes(&l, []string{model}); err != nil {
		return nil, false
	}
	l.release()
	return t.router.Route(model)
}

// Qualify returns the name a request's model stands for: a bare name
// (without '/') that is no alias but matches a provider's model_patterns
// becomes <provider>/<name>, of the first such provider in the
// configuration; every other name is returned as is. The result is what
// access is checked against and what gets a route, so a name made this way
// is an unlisted provider/model name like any other: its route is one of
// the bounded on-demand ones (ondemand.go).
func (t *Table) Qualify(model string) string {
	if model == "" || strings.Contains(model, "/") {
		return model
	}
	ps := t.provs.Load()
	if ps.listed[model] { // a listed bare name is an alias (or the embedding model's)
		return model
	}
	for _, pc := range ps.list {
		if len(pc.ModelPatterns) > 0 && policy.MatchAny(model, pc.ModelPatterns) {
			return pc.Name + "/" + model
		}
	}
	return model
}

// providerSet is the providers in force, never modified once published.
type providerSet struct {
	byName map[string]*Upstream
	list   []ProviderConfig // in the order given, defaults applied
	// listed are the model names the configuration lists (see ondemand.go):
	// the aliases, their targets and fallbacks, the providers' models and
	// the cache's embedding model.
	listed map[string]bool
}

// buildProviderSet makes the providers of list (defaults applied), reusing
// the entries of prev whose configuration did not change, so their
// connections survive. aliases are the model aliases it is for.
func (t *Table) buildProviderSet(list []ProviderConfig, prev *providerSet, aliases []ModelConfig) (*providerSet, error) {
	ps := &providerSet{byName: make(map[string]*Upstream, len(list)), list: list}
	for _, pc := range list {
		if prev != nil {
			if old := prev.byName[pc.Name]; old != nil && reflect.DeepEqual(old.Config, pc) {
				ps.byName[pc.Name] = old
				continue
			}
		}
		p, format, err := buildProvider(pc)
		if err != nil {
			return nil, err
		}
		if override, ok := t.overrides[pc.Name]; ok {
			p, format = override, formatOf(override, pc.Type)
		}
		ps.byName[pc.Name] = &Upstream{Config: pc, Provider: p, Format: format}
	}
	ps.listed = listedNames(list, aliases, t.embeddingModel)
	return ps, nil
}

// listedNames are the model names the configuration lists with the
// providers of list and the aliases: they may keep routes without limit
// (ondemand.go) and name metric series.
func listedNames(list []ProviderConfig, aliases []ModelConfig, embeddingModel string) map[string]bool {
	listed := map[string]bool{}
	for _, m := range aliases {
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
	if embeddingModel != "" {
		listed[embeddingModel] = true
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
	for _, k := range up.Config.Keys {
		if !policy.MatchAny(model, k.Models) {
			continue
		}
		keyWeights += k.Weight
		out = append(out, router.Candidate{Route: route, Provider: up.Provider, Weight: k.Weight, Upstream: up,
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

// buildRoutes makes the routes of aliases over ps, and the direct
// provider/model routes the aliases fall back to. With strict, an alias no
// provider key serves is an error (start-up); without, it is left out, and
// so are fallbacks to routes that do not exist (a provider was removed at
// run time).
func buildRoutes(ps *providerSet, aliases []ModelConfig, strict bool) ([]router.Route, error) {
	var routes []router.Route
	have := map[string]bool{}
	for _, m := range aliases {
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
	for _, m := range aliases {
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
