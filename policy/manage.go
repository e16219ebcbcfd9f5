package policy

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/junctionhq/junction/store"
	"github.com/junctionhq/junction/store/counters"
	"github.com/junctionhq/junction/store/resource"
)

// The admin operations. Each writes to the store and then rebuilds this
// replica's snapshot, so a change is in force here when the call returns and
// on every other replica as soon as the store's change notification reaches
// it. Reads come from the snapshot.

// TeamInput creates a team through the admin API: the fields of a team in
// the configuration file.
type TeamInput = TeamConfig

// KeyInput creates a virtual key. Models and Tools default to ["*"] when
// absent; an empty list grants nothing directly (grants then come from roles,
// the team and policies).
type KeyInput struct {
	Name      string            `json:"name"`
	Team      string            `json:"team,omitempty"`
	Customer  string            `json:"customer,omitempty"`
	Roles     []string          `json:"roles,omitempty"`
	Models    []string          `json:"models,omitempty"`
	Tools     []string          `json:"tools,omitempty"`
	Budget    *Budget           `json:"budget,omitempty"`
	Limits    Limits            `json:"limits,omitzero"`
	ExpiresAt *time.Time        `json:"expires_at,omitempty"`
	Enabled   *bool             `json:"enabled,omitempty"`
	Metadata  map[string]string `json:"metadata,omitempty"`
}

// Teams lists the teams, by name.
func (e *Engine) Teams() []Team {
	return byName(e.snap.Load().teams, func(t *Team) string { return t.Name })
}

// Team returns the named team.
func (e *Engine) Team(name string) (Team, error) { return valueOf(e.teams().Get(name)) }

// teams is the admin API's view of the teams, the file's and the API's.
func (e *Engine) teams() *resource.Kind[Team] {
	return snapshotKind(e, kindTeam,
		func(s *snapshot, name string) *Team { return s.teams[name] },
		func(t *Team) resource.Entry[Team] {
			return resource.Entry[Team]{ID: t.Name, Name: t.Name, Source: t.Source, Value: *t}
		})
}

// CreateTeam adds a team.
func (e *Engine) CreateTeam(ctx context.Context, in TeamInput) (Team, error) {
	if err := invalid(validateTeam("team", in.Name, in.Budget, in.Limits)); err != nil {
		return Team{}, err
	}
	t := Team{Name: in.Name, Budget: in.Budget, Limits: in.Limits, Metadata: in.Metadata}
	return valueOf(e.teams().Create(ctx, t.Name, t.Name, mustJSON(t)))
}

// UpdateTeam applies a JSON merge patch (RFC 7396) to a team's budget,
// limits and metadata.
func (e *Engine) UpdateTeam(ctx context.Context, name string, patch json.RawMessage) (Team, error) {
	got, err := e.teams().Update(ctx, name, func(cur resource.Entry[Team]) (json.RawMessage, error) {
		next, err := resource.PatchFields[Team](cur.Value, patch, invalidProblem, "name", "source", "created_at", "updated_at")
		if err != nil {
			return nil, err
		}
		if err := invalid(validateTeam("team", name, next.Budget, next.Limits)); err != nil {
			return nil, err
		}
		next.Name = name
		return mustJSON(next), nil
	})
	return got.Value, err
}

// DeleteTeam removes a team that no key belongs to.
func (e *Engine) DeleteTeam(ctx context.Context, name string) error {
	return e.teams().Delete(ctx, name, func(resource.Entry[Team]) error {
		for _, k := range e.snap.Load().keys {
			if k.Team == name {
				return fmt.Errorf("%w: team %q still has keys (for example %q); delete or move them first", ErrConflict, name, k.Name)
			}
		}
		return nil
	})
}

// Keys lists the virtual keys, by name.
func (e *Engine) Keys() []Key {
	return byName(e.snap.Load().keys, func(k *Key) string { return k.Name })
}

// Key returns the key with the given id (or, failing that, name).
func (e *Engine) Key(idOrName string) (Key, error) { return valueOf(e.keys().Get(idOrName)) }

// keys is the admin API's view of the virtual keys, the file's and the
// API's, found by id or, failing that, name.
func (e *Engine) keys() *resource.Kind[Key] {
	return snapshotKind(e, kindKey,
		func(s *snapshot, idOrName string) *Key {
			if k, ok := s.keys[idOrName]; ok {
				return k
			}
			return s.keyNames[idOrName]
		},
		func(k *Key) resource.Entry[Key] {
			return resource.Entry[Key]{ID: k.ID, Name: k.Name, Source: k.Source, Value: *k}
		})
}

// CreateKey makes a virtual key and returns it with its secret, which is
// not stored and cannot be shown again.
func (e *Engine) CreateKey(ctx context.Context, in KeyInput) (Key, string, error) {
	secret, err := NewKeySecret()
	if err != nil {
		return Key{}, "", err
	}
	k := keyFromInput(in)
	k.ID = newID("key_")
	if err := e.checkKey(k, true); err != nil {
		return Key{}, "", err
	}
	got, err := e.keys().Create(ctx, k.ID, k.Name, mustJSON(keySpec{Key: k.withHint(secret), Hash: hashHex(secret)}))
	return got.Value, secret, err
}

func keyFromInput(in KeyInput) Key {
	k := Key{
		Name: in.Name, Team: in.Team, Customer: in.Customer, Roles: in.Roles, Models: in.Models, Tools: in.Tools,
		Budget: in.Budget, Limits: in.Limits, ExpiresAt: in.ExpiresAt, Enabled: true, Metadata: in.Metadata,
	}
	if in.Enabled != nil {
		k.Enabled = *in.Enabled
	}
	k.normalize()
	return k
}

// normalize fills the defaults of a key's lists so the stored form is explicit.
func (k *Key) normalize() {
	if k.Models == nil {
		k.Models = []string{"*"}
	}
	if k.Tools == nil {
		k.Tools = []string{"*"}
	}
	if k.Roles == nil {
		k.Roles = []string{}
	}
	if k.ExpiresAt != nil {
		t := k.ExpiresAt.UTC()
		k.ExpiresAt = &t
	}
}

func (k Key) withHint(secret string) Key {
	k.Hint = secretHint(secret)
	return k
}

// checkKey validates a key about to be stored through the API, created
// when creating is set, else changed.
func (e *Engine) checkKey(k Key, creating bool) error {
	errs := validateKey("key", keyFields{k.Name, k.Team, k.Roles, k.Models, k.Tools, k.Budget, k.Limits})
	if k.Team != "" {
		if _, ok := e.snap.Load().teams[k.Team]; !ok {
			errs = append(errs, fmt.Errorf("key.team: team %q does not exist", k.Team))
		}
	}
	// A key created already expired is a mistake (a wrong year, a negative
	// duration) that would store a key that can never authenticate.
	// Changing an existing key's expiry to the past stays allowed: it is how
	// a key is expired now while its record is kept.
	if now := e.now(); creating && k.ExpiresAt != nil && !k.ExpiresAt.After(now) {
		errs = append(errs, fmt.Errorf("key.expires_at: %s is not in the future (now is %s): a key cannot be created already expired",
			k.ExpiresAt.UTC().Format(time.RFC3339), now.UTC().Format(time.RFC3339)))
	}
	return invalid(errs)
}

// UpdateKey applies a JSON merge patch (RFC 7396) to a key: team, customer,
// roles, models, tools, budget, limits, expires_at, enabled, metadata.
func (e *Engine) UpdateKey(ctx context.Context, idOrName string, patch json.RawMessage) (Key, error) {
	keys := e.keys()
	got, err := keys.Update(ctx, idOrName, func(cur resource.Entry[Key]) (json.RawMessage, error) {
		next, err := resource.PatchFields[Key](cur.Value, patch, invalidProblem, "id", "name", "hint", "source", "created_at", "updated_at")
		if err != nil {
			return nil, err
		}
		next.ID, next.Name, next.Hint = cur.ID, cur.Name, cur.Value.Hint
		next.normalize()
		if err := e.checkKey(next, false); err != nil {
			return nil, err
		}
		row, err := e.store.GetResource(ctx, kindKey, cur.ID)
		if err != nil {
			return nil, keys.Errors.Store(err, cur.Name)
		}
		var spec keySpec
		if err := json.Unmarshal(row.Spec, &spec); err != nil {
			return nil, fmt.Errorf("policy: key %s: %w", cur.Name, err)
		}
		return mustJSON(keySpec{Key: next, Hash: spec.Hash}), nil
	})
	return got.Value, err
}

// DeleteKey revokes a key: it stops authenticating at once on this replica
// and within a second on the others. Its usage records stay.
func (e *Engine) DeleteKey(ctx context.Context, idOrName string) error {
	return e.keys().Delete(ctx, idOrName, nil)
}

// Rules lists the stored access rules (not those derived from keys), in
// the order they were added.
func (e *Engine) Rules() []Rule { return slices.Clone(e.snap.Load().rules) }

// AddRule stores an access rule.
func (e *Engine) AddRule(ctx context.Context, r Rule) (Rule, error) {
	if r.Effect == "" {
		r.Effect = EffectAllow
	}
	if err := invalid(r.Validate("policy")); err != nil {
		return Rule{}, err
	}
	a := &adapter{ctx: ctx, store: e.store}
	if err := a.AddPolicy("p", "p", r.Line()); err != nil {
		return Rule{}, storeErr(err, fmt.Sprintf("policy %v", r.Line()))
	}
	r.Source = store.SourceAPI
	return r, e.Reload(ctx)
}

// RemoveRule deletes a stored access rule.
func (e *Engine) RemoveRule(ctx context.Context, r Rule) error {
	if r.Effect == "" {
		r.Effect = EffectAllow
	}
	a := &adapter{ctx: ctx, store: e.store}
	if err := a.RemovePolicy("p", "p", r.Line()); err != nil {
		if errors.Is(err, store.ErrReadOnly) {
			return ErrReadOnly
		}
		return storeErr(err, fmt.Sprintf("policy %v", r.Line()))
	}
	return e.Reload(ctx)
}

// SetPrice creates or replaces the price of a model through the API.
func (e *Engine) SetPrice(ctx context.Context, p Price) (Price, error) {
	if err := invalid(p.Validate("price")); err != nil {
		return Price{}, err
	}
	p.Source = ""
	row := store.Resource{Kind: kindPrice, ID: p.Model, Name: p.Model, Spec: mustJSON(p), Source: store.SourceAPI}
	existing, err := e.store.GetResource(ctx, kindPrice, p.Model)
	switch {
	case err == nil && existing.Source == store.SourceFile:
		return Price{}, ErrReadOnly
	case err == nil:
		_, err = e.store.UpdateResource(ctx, row)
	case errors.Is(err, store.ErrNotFound):
		_, err = e.store.CreateResource(ctx, row)
	}
	if err != nil {
		return Price{}, storeErr(err, "price "+p.Model)
	}
	if err := e.Reload(ctx); err != nil {
		return Price{}, err
	}
	got, _ := e.Prices().Lookup(p.Model)
	return *got, nil
}

// DeletePrice removes a price set through the API (the built-in one, if
// any, applies again).
func (e *Engine) DeletePrice(ctx context.Context, model string) error {
	existing, err := e.store.GetResource(ctx, kindPrice, model)
	if err != nil {
		return storeErr(err, "price "+model)
	}
	if existing.Source == store.SourceFile {
		return ErrReadOnly
	}
	if err := e.store.DeleteResource(ctx, kindPrice, model); err != nil {
		return storeErr(err, "price "+model)
	}
	return e.Reload(ctx)
}

// Usage aggregates recorded usage. It reads the store: an admin query, never
// on a request path.
func (e *Engine) Usage(ctx context.Context, q store.UsageQuery) ([]store.UsageRow, error) {
	rows, err := e.store.QueryUsage(ctx, q)
	if err != nil {
		return nil, err
	}
	return rows, nil
}

// FlushUsage waits until the usage records queued so far, and those in the
// spill file, are written (for tests and for admin queries that must see the
// latest usage). When the store refuses them it returns an error wrapping
// telemetry.ErrUsageBuffered: the records stay buffered and are retried.
func (e *Engine) FlushUsage(ctx context.Context) error {
	// Waiting for the queue to empty is not enough: the writer holds a
	// batch for up to the flush interval after taking it off the queue.
	return e.usage.Flush(ctx)
}

// BudgetState is a budget's current period.
type BudgetState struct {
	Scope        Scope      `json:"scope"`
	LimitUSD     float64    `json:"limit_usd"`
	SpentUSD     float64    `json:"spent_usd"` // spent and reserved by work in progress
	RemainingUSD float64    `json:"remaining_usd"`
	Period       Period     `json:"period,omitempty"`
	ResetsAt     *time.Time `json:"resets_at,omitempty"`
}

// LimitState is a rate limit's current window.
type LimitState struct {
	Scope     Scope     `json:"scope"`
	Dimension Dimension `json:"dimension"`
	Limit     int64     `json:"limit"`
	Used      int64     `json:"used"`
	Remaining int64     `json:"remaining"`
	ResetsAt  time.Time `json:"resets_at"`
}

// KeyState is the live budget and rate-limit state of a key and its team.
type KeyState struct {
	Key     Key           `json:"key"`
	Budgets []BudgetState `json:"budgets"`
	Limits  []LimitState  `json:"limits"`
}

// State reads the current counters of a key and its team.
func (e *Engine) State(ctx context.Context, idOrName string) (KeyState, error) {
	k, err := e.Key(idOrName)
	if err != nil {
		return KeyState{}, err
	}
	s := e.snap.Load()
	id := s.byKeyID[k.ID]
	if id == nil {
		return KeyState{}, fmt.Errorf("%w: key %q", ErrNotFound, idOrName)
	}
	now := e.now()
	type probe struct {
		scope  Scope
		dim    Dimension
		budget *Budget
		reset  time.Time
	}
	var (
		bs     []counters.Bucket
		probes []probe
	)
	minute := now.Truncate(rateWindow)
	scopes := []struct {
		scope  Scope
		names  counterNames
		limits Limits
		budget *Budget
	}{{ScopeKey, id.keyCounters, k.Limits, k.Budget}}
	if id.Team != nil {
		scopes = append(scopes, struct {
			scope  Scope
			names  counterNames
			limits Limits
			budget *Budget
		}{ScopeTeam, id.teamCounters, id.Team.Limits, id.Team.Budget})
	}
	for _, sc := range scopes {
		for _, l := range []struct {
			dim   Dimension
			name  string
			limit int64
		}{{DimRequests, sc.names.rpm, sc.limits.RPM}, {DimTokens, sc.names.tpm, sc.limits.TPM}, {DimToolCalls, sc.names.toolCalls, sc.limits.ToolCallsPerMin}} {
			if l.limit > 0 {
				bs = append(bs, counters.Bucket{Key: l.name, Window: minute.Unix(), Limit: l.limit})
				probes = append(probes, probe{scope: sc.scope, dim: l.dim, reset: minute.Add(rateWindow)})
			}
		}
		if sc.budget != nil {
			start, end := sc.budget.Period.Window(now)
			b := counters.Bucket{Key: sc.names.usd, Limit: sc.budget.Micros()}
			if !start.IsZero() {
				b.Window = start.Unix()
			}
			bs = append(bs, b)
			probes = append(probes, probe{scope: sc.scope, budget: sc.budget, reset: end})
		}
	}
	values := make([]int64, len(bs))
	if err := e.counters.Get(ctx, bs, values); err != nil {
		return KeyState{}, fmt.Errorf("%w: %v", ErrUnavailable, err)
	}
	for i, p := range probes {
		if p.budget == nil || values[i] != 0 {
			continue
		}
		// A budget's counter may be missing (not yet used since a restart,
		// or lost by Redis): show the spend its next admission rebuilds.
		if values[i], err = e.seeds.spend(ctx, budgetSeed(id, p.scope, bs[i], p.budget.Period, now)); err != nil {
			return KeyState{}, fmt.Errorf("%w: %v", ErrUnavailable, err)
		}
	}
	st := KeyState{Key: k, Budgets: []BudgetState{}, Limits: []LimitState{}}
	for i, p := range probes {
		if p.budget != nil {
			b := BudgetState{Scope: p.scope, LimitUSD: p.budget.USD, SpentUSD: float64(values[i]) / 1e6, Period: p.budget.Period}
			b.RemainingUSD = max(0, b.LimitUSD-b.SpentUSD)
			if !p.reset.IsZero() {
				r := p.reset
				b.ResetsAt = &r
			}
			st.Budgets = append(st.Budgets, b)
			continue
		}
		st.Limits = append(st.Limits, LimitState{Scope: p.scope, Dimension: p.dim, Limit: bs[i].Limit, Used: values[i],
			Remaining: max(0, bs[i].Limit-values[i]), ResetsAt: p.reset})
	}
	return st, nil
}

// SyncConfig makes the file-managed teams, keys, policies and prices in the
// store exactly those of cfg (adding, changing and removing), then reloads.
// Entries made through the API are left alone; a file entry whose name is
// taken by an API entry is an error.
func (e *Engine) SyncConfig(ctx context.Context, cfg Config) error {
	if err := invalid(cfg.Validate()); err != nil {
		return fmt.Errorf("policy: configuration: %w", err)
	}
	teams := make([]store.Resource, 0, len(cfg.Teams))
	for _, t := range cfg.Teams {
		spec := Team{Name: t.Name, Budget: t.Budget, Limits: t.Limits, Metadata: t.Metadata}
		teams = append(teams, store.Resource{Kind: kindTeam, ID: t.Name, Name: t.Name, Spec: mustJSON(spec), Source: store.SourceFile})
	}
	keys := make([]store.Resource, 0, len(cfg.Keys))
	for _, kc := range cfg.Keys {
		k := Key{ID: fileKeyID(kc.Name), Name: kc.Name, Team: kc.Team, Customer: kc.Customer, Roles: kc.Roles,
			Models: kc.Models, Tools: kc.Tools, Budget: kc.Budget, Limits: kc.Limits, ExpiresAt: kc.ExpiresAt,
			Enabled: !kc.Disabled, Metadata: kc.Metadata}
		k.normalize()
		keys = append(keys, store.Resource{Kind: kindKey, ID: k.ID, Name: k.Name,
			Spec: mustJSON(keySpec{Key: k.withHint(kc.Value), Hash: hashHex(kc.Value)}), Source: store.SourceFile})
	}
	prices := make([]store.Resource, 0, len(cfg.Prices))
	for _, p := range cfg.Prices {
		p.Source = ""
		prices = append(prices, store.Resource{Kind: kindPrice, ID: p.Model, Name: p.Model, Spec: mustJSON(p), Source: store.SourceFile})
	}
	rules := make([]store.PolicyRule, 0, len(cfg.Policies))
	for _, l := range cfg.Policies {
		r, _ := l.Rule()
		row, _ := ruleRow("p", r.Line(), store.SourceFile)
		rules = append(rules, row)
	}
	// Teams before keys (keys name teams), keys removed before teams would be
	// nicer for deletes, but the store does not enforce references.
	for _, step := range []struct {
		kind string
		rs   []store.Resource
	}{{kindTeam, teams}, {kindKey, keys}, {kindPrice, prices}} {
		if err := e.store.SyncFileResources(ctx, step.kind, step.rs); err != nil {
			return fmt.Errorf("policy: seed %ss from the configuration: %w", step.kind, err)
		}
	}
	if err := e.store.SyncFilePolicyRules(ctx, rules); err != nil {
		return fmt.Errorf("policy: seed policies from the configuration: %w", err)
	}
	return e.Reload(ctx)
}

func mustJSON(v any) json.RawMessage {
	b, err := json.Marshal(v)
	if err != nil {
		panic(fmt.Sprintf("policy: encode %T: %v", v, err)) // only our own plain structs are encoded
	}
	return b
}

// byName is the values of m, sorted by their name.
func byName[T any](m map[string]*T, name func(*T) string) []T {
	out := make([]T, 0, len(m))
	for _, v := range m {
		out = append(out, *v)
	}
	slices.SortFunc(out, func(a, b T) int { return cmpString(name(&a), name(&b)) })
	return out
}

func cmpString(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// snapshotKind is the admin API's view of one kind of resource: find looks
// an entry up in the current snapshot (nil when there is none) and entry
// describes it.
func snapshotKind[T any](e *Engine, kind string, find func(s *snapshot, idOrName string) *T, entry func(*T) resource.Entry[T]) *resource.Kind[T] {
	return &resource.Kind[T]{
		Store:  e.store,
		Kind:   kind,
		Errors: kindErrors(kind),
		Find: func(idOrName string) (resource.Entry[T], bool) {
			v := find(e.snap.Load(), idOrName)
			if v == nil {
				return resource.Entry[T]{}, false
			}
			return entry(v), true
		},
		Reload: e.Reload,
	}
}

// valueOf is an entry's value, with err.
func valueOf[T any](e resource.Entry[T], err error) (T, error) { return e.Value, err }

// kindErrors words the errors about entries of kind ("team", "key"): an
// entry that does not exist, one whose name is taken, and a change to an
// entry of the configuration file.
func kindErrors(kind string) resource.Errors {
	return resource.Errors{
		NotFound: func(name string) error { return fmt.Errorf("%w: %s %q", ErrNotFound, kind, name) },
		Conflict: func(name string) error { return fmt.Errorf("%w: %s %s already exists", ErrConflict, kind, name) },
		ReadOnly: ErrReadOnly,
	}
}

// storeErr maps store errors to policy errors.
func storeErr(err error, what string) error {
	errs := resource.Errors{
		NotFound: func(what string) error { return fmt.Errorf("%w: %s", ErrNotFound, what) },
		Conflict: func(what string) error { return fmt.Errorf("%w: %s already exists", ErrConflict, what) },
		ReadOnly: ErrReadOnly,
	}
	return errs.Store(err, what)
}

// invalidProblem is the *InvalidError of one problem.
func invalidProblem(problem string) error { return &InvalidError{Problems: []string{problem}} }
