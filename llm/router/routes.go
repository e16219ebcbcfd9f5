package router

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"time"
)

// The route table: routes by name, each with its fallback chain and the
// shared health state of its targets, replaced whole when routes change.

// routeTable is the router's routes; replaced whole (copy on write) when a
// route is added, so that readers need no lock.
type routeTable struct {
	routes map[string]*routeEntry
	names  []string // sorted
}

// routeEntry is a route as the router holds it.
type routeEntry struct {
	pub      Route
	backends []*backend // parallel to pub.Targets
	weights  []float64  // parallel to pub.Targets
	weighted bool
	// chain is this route then its fallbacks, breadth-first, each once.
	chain []*routeEntry
}

// NewRouter validates opts and builds a router. It reports every problem
// at once: duplicate or empty route names, routes without targets or with
// more than 64, targets without a provider, model or positive weight,
// duplicate targets in a route, unknown fallbacks and strategies, negative
// limits. Fallback cycles are fine: a request tries each route at most
// once.
func NewRouter(opts RouterOptions) (*Router, error) {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf("llm: router: "+format, args...)) }
	setDefault := func(name string, v *int, d int) {
		switch {
		case *v < 0:
			bad("%s: %d is negative", name, *v)
		case *v == 0:
			*v = d
		}
	}
	setDefaultDuration := func(name string, v *time.Duration, d time.Duration) {
		switch {
		case *v < 0:
			bad("%s: %v is negative", name, *v)
		case *v == 0:
			*v = d
		}
	}
	setDefault("max_attempts", &opts.MaxAttempts, 3)
	setDefault("max_total_attempts", &opts.MaxTotalAttempts, 6)
	setDefault("breaker_failures", &opts.BreakerFailures, 5)
	setDefaultDuration("backoff_base", &opts.BackoffBase, 100*time.Millisecond)
	setDefaultDuration("backoff_max", &opts.BackoffMax, 2*time.Second)
	setDefaultDuration("max_retry_after", &opts.MaxRetryAfter, 5*time.Second)
	setDefaultDuration("breaker_open", &opts.BreakerOpen, 30*time.Second)
	setDefaultDuration("auth_cooldown", &opts.AuthCoolDown, DefaultAuthCoolDown)
	opts.AuthCoolDown = max(opts.AuthCoolDown, opts.BreakerOpen)
	if opts.BackoffMax < opts.BackoffBase {
		opts.BackoffMax = opts.BackoffBase
	}
	if opts.BreakerFailures > math.MaxInt32 {
		opts.BreakerFailures = math.MaxInt32
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Sleep == nil {
		opts.Sleep = sleepContext
	}

	r := &Router{
		epoch:    opts.Now(),
		openFor:  int64(opts.BreakerOpen),
		backends: make(map[targetKey]*backend),
	}
	tab := &routeTable{routes: make(map[string]*routeEntry, len(opts.Routes))}
	backends := r.backends
	for ri := range opts.Routes {
		src := &opts.Routes[ri]
		path := fmt.Sprintf("routes[%d]", ri)
		if src.Name != "" {
			path = fmt.Sprintf("routes[%d] (%s)", ri, src.Name)
		}
		switch {
		case src.Name == "":
			bad("%s: no name", path)
		case tab.routes[src.Name] != nil:
			bad("%s: duplicate route name", path)
		}
		var weighted bool
		switch src.Strategy {
		case "", "adaptive":
		case "weighted":
			weighted = true
		default:
			bad("%s: strategy %q is not adaptive or weighted", path, src.Strategy)
		}
		switch {
		case len(src.Targets) == 0:
			bad("%s: no targets", path)
		case len(src.Targets) > maxTargets:
			bad("%s: %d targets, at most %d", path, len(src.Targets), maxTargets)
		}
		e := &routeEntry{
			pub: Route{
				Name:      src.Name,
				Targets:   slices.Clone(src.Targets),
				Fallbacks: slices.Clone(src.Fallbacks),
				Strategy:  src.Strategy,
				Demand:    src.Demand,
			},
			weighted: weighted,
		}
		if e.pub.Strategy == "" {
			e.pub.Strategy = "adaptive"
		}
		for ti := range e.pub.Targets {
			c := &e.pub.Targets[ti]
			tpath := fmt.Sprintf("%s.targets[%d]", path, ti)
			if c.Route == "" {
				c.Route = src.Name
			} else if c.Route != src.Name {
				bad("%s: belongs to route %q", tpath, c.Route)
			}
			if c.Provider == nil {
				bad("%s: no provider", tpath)
			}
			if c.Target.Provider == "" || c.Target.Model == "" {
				bad("%s: target needs a provider name and a model", tpath)
			}
			if !(c.Weight > 0) || math.IsInf(c.Weight, 1) {
				bad("%s: weight %v is not positive", tpath, c.Weight)
			}
			key := targetKey{c.Target.Provider, c.Target.Model, c.Target.KeyName}
			b := backends[key]
			if b == nil {
				b = &backend{key: key}
				backends[key] = b
			}
			if slices.Contains(e.backends, b) {
				bad("%s: %s/%s with key %q is already a target of the route", tpath, key.provider, key.model, key.keyName)
			}
			e.backends = append(e.backends, b)
			e.weights = append(e.weights, c.Weight)
		}
		if src.Name != "" && tab.routes[src.Name] == nil {
			tab.routes[src.Name] = e
			tab.names = append(tab.names, src.Name)
		}
	}
	for ri := range opts.Routes {
		for fi, f := range opts.Routes[ri].Fallbacks {
			if tab.routes[f] == nil {
				bad("routes[%d] (%s).fallbacks[%d]: unknown route %q", ri, opts.Routes[ri].Name, fi, f)
			}
		}
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	for _, e := range tab.routes {
		e.chain = tab.chainOf(e)
	}
	slices.Sort(tab.names)
	r.opts = opts
	r.tab.Store(tab)
	return r, nil
}

// chainOf lists e and its fallbacks, breadth-first, each route once.
func (tab *routeTable) chainOf(e *routeEntry) []*routeEntry {
	chain := []*routeEntry{e}
	for i := 0; i < len(chain); i++ {
		for _, f := range chain[i].pub.Fallbacks {
			if next := tab.routes[f]; !slices.Contains(chain, next) {
				chain = append(chain, next)
			}
		}
	}
	return slices.Clip(chain)
}

// AddRoute adds a route after construction (the LLM path makes
// provider/model routes on demand). Its targets share health with the same
// targets of other routes; its fallbacks must name existing routes. Readers
// never wait: the route table is replaced whole.
func (r *Router) AddRoute(src Route) error { return r.EditRoutes([]Route{src}, nil) }

// EditRoutes adds routes and removes the routes named by remove, in one
// replacement of the route table. A removed route must be one no other
// route falls back to (the on-demand provider/model routes the LLM path
// evicts); the health state of targets no remaining route names is
// dropped. Nothing changes when a route to add is invalid.
func (r *Router) EditRoutes(add []Route, remove []string) error {
	r.addMu.Lock()
	defer r.addMu.Unlock()
	old := r.tab.Load()
	tab := &routeTable{routes: make(map[string]*routeEntry, len(old.routes)+len(add)), names: make([]string, 0, len(old.names)+len(add))}
	for k, v := range old.routes {
		tab.routes[k] = v
	}
	for _, name := range remove {
		delete(tab.routes, name)
	}
	created := map[targetKey]*backend{}
	entries := make([]*routeEntry, 0, len(add))
	for _, src := range add {
		e, err := r.newEntry(tab, src, created)
		if err != nil {
			return err
		}
		tab.routes[src.Name] = e
		entries = append(entries, e)
	}
	for _, e := range entries {
		e.chain = tab.chainOf(e)
	}
	for k := range tab.routes {
		tab.names = append(tab.names, k)
	}
	slices.Sort(tab.names)
	for k, b := range created {
		r.backends[k] = b
	}
	if len(remove) > 0 {
		r.dropUnusedBackends(tab)
	}
	r.tab.Store(tab)
	return nil
}

// ReplaceRoutes swaps the whole route table for routes (validated as
// NewRouter does). Targets that remain keep their health and breaker
// state, unless fresh says their provider's definition changed (a new key
// value must not inherit the breaker the old one opened); the state of
// targets that are gone is dropped.
func (r *Router) ReplaceRoutes(routes []Route, fresh func(provider string) bool) error {
	opts := r.opts
	opts.Routes = routes
	built, err := NewRouter(opts)
	if err != nil {
		return err
	}
	tab := built.tab.Load()
	r.addMu.Lock()
	defer r.addMu.Unlock()
	keep := make(map[targetKey]*backend, len(built.backends))
	for k, b := range built.backends {
		if old := r.backends[k]; old != nil && !fresh(k.provider) {
			b = old
		}
		keep[k] = b
	}
	for _, e := range tab.routes {
		for i, b := range e.backends {
			e.backends[i] = keep[b.key]
		}
	}
	r.backends = keep
	r.tab.Store(tab)
	return nil
}

// newEntry validates src against tab and makes its entry. Its targets take
// the backends of the same targets elsewhere, or new ones recorded in
// created. r.addMu is held.
func (r *Router) newEntry(tab *routeTable, src Route, created map[targetKey]*backend) (*routeEntry, error) {
	switch {
	case src.Name == "":
		return nil, errors.New("llm: router: route without a name")
	case tab.routes[src.Name] != nil:
		return nil, fmt.Errorf("llm: router: route %q exists", src.Name)
	case len(src.Targets) == 0 || len(src.Targets) > maxTargets:
		return nil, fmt.Errorf("llm: router: route %q: %d targets, want 1 to %d", src.Name, len(src.Targets), maxTargets)
	}
	for _, f := range src.Fallbacks {
		if tab.routes[f] == nil {
			return nil, fmt.Errorf("llm: router: route %q: unknown fallback %q", src.Name, f)
		}
	}
	e := &routeEntry{pub: Route{Name: src.Name, Targets: slices.Clone(src.Targets), Fallbacks: slices.Clone(src.Fallbacks),
		Strategy: src.Strategy, Demand: src.Demand}, weighted: src.Strategy == "weighted"}
	if e.pub.Strategy == "" {
		e.pub.Strategy = "adaptive"
	}
	for ti := range e.pub.Targets {
		c := &e.pub.Targets[ti]
		c.Route = src.Name
		if c.Provider == nil || c.Target.Provider == "" || c.Target.Model == "" || !(c.Weight > 0) || math.IsInf(c.Weight, 1) {
			return nil, fmt.Errorf("llm: router: route %q: target %d needs a provider, a model and a positive weight", src.Name, ti)
		}
		key := targetKey{c.Target.Provider, c.Target.Model, c.Target.KeyName}
		b := r.backends[key]
		if b == nil {
			b = created[key]
		}
		if b == nil {
			b = &backend{key: key}
			created[key] = b
		}
		if slices.Contains(e.backends, b) {
			return nil, fmt.Errorf("llm: router: route %q: duplicate target %s/%s", src.Name, key.provider, key.model)
		}
		e.backends = append(e.backends, b)
		e.weights = append(e.weights, c.Weight)
	}
	return e, nil
}

// dropUnusedBackends forgets the health state of targets no route of tab
// names. r.addMu is held.
func (r *Router) dropUnusedBackends(tab *routeTable) {
	used := make(map[*backend]bool, len(r.backends))
	for _, e := range tab.routes {
		for _, b := range e.backends {
			used[b] = true
		}
	}
	for k, b := range r.backends {
		if !used[b] {
			delete(r.backends, k)
		}
	}
}

// Reach lists every target the routes named can send a request to: for
// each route in order, its chain (its targets, then its fallbacks' targets,
// breadth-first), as provider/model, each once. Unknown names are skipped.
func (r *Router) Reach(names ...string) []string {
	tab := r.tab.Load()
	var (
		out     []string
		visited []*routeEntry
		seen    map[string]bool // out as a set, once it is long
	)
	for _, name := range names {
		e := tab.routes[name]
		if e == nil {
			continue
		}
		for _, ce := range e.chain {
			if slices.Contains(visited, ce) {
				continue
			}
			visited = append(visited, ce)
			for i := range ce.pub.Targets {
				t := &ce.pub.Targets[i].Target
				m := t.Provider + "/" + t.Model
				if seen[m] || (seen == nil && slices.Contains(out, m)) {
					continue
				}
				out = append(out, m)
				if seen == nil && len(out) > 16 {
					seen = make(map[string]bool, 2*len(out))
					for _, o := range out {
						seen[o] = true
					}
				} else if seen != nil {
					seen[m] = true
				}
			}
		}
	}
	return out
}

// HealthOf returns a token of the health state (latency and error
// estimates, cool-down, breaker) the router keeps for the target
// provider/model with the API key named keyName, or nil when it keeps
// none. Tokens compare equal as long as the router keeps the same state: a
// target that starts afresh (ReplaceRoutes) gets a new one.
func (r *Router) HealthOf(provider, model, keyName string) any {
	r.addMu.Lock()
	defer r.addMu.Unlock()
	if b := r.backends[targetKey{provider, model, keyName}]; b != nil {
		return b
	}
	return nil
}

// TrackedTargets returns the number of targets whose health state the
// router keeps: the targets of its routes, each once.
func (r *Router) TrackedTargets() int {
	r.addMu.Lock()
	defer r.addMu.Unlock()
	return len(r.backends)
}

// Route returns the route named name. The Route is the router's own,
// shared by every caller: read it, do not modify it.
func (r *Router) Route(name string) (*Route, bool) {
	e, ok := r.tab.Load().routes[name]
	if !ok {
		return nil, false
	}
	return &e.pub, true
}

// Routes returns the route names, sorted.
func (r *Router) Routes() []string { return slices.Clone(r.tab.Load().names) }

// TargetStates returns the state of every target of every route, by route
// name, then in the route's order. A target shared by routes appears in
// each, with the same state.
func (r *Router) TargetStates() []TargetState {
	now := r.stamp(r.opts.Now())
	var out []TargetState
	for _, name := range r.tab.Load().names {
		e := r.tab.Load().routes[name]
		for i, b := range e.backends {
			out = append(out, TargetState{
				Route:       name,
				Provider:    e.pub.Targets[i].Target.Provider,
				Model:       e.pub.Targets[i].Target.Model,
				KeyName:     e.pub.Targets[i].Target.KeyName,
				Breaker:     b.breaker.describe(now, r.openFor),
				LatencyEWMA: time.Duration(b.latency.Load()),
				ErrorRate:   math.Float64frombits(b.errRate.Load()),
				InFlight:    int(b.inFlight.Load()),
			})
		}
	}
	return out
}
