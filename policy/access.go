package policy

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/junctionhq/junction/internal/glob"

	"github.com/casbin/casbin/v2"
	"github.com/casbin/casbin/v2/model"
	"github.com/casbin/casbin/v2/persist"

	"github.com/junctionhq/junction/store"
)

// casbinModel is RBAC with domains, where the domain is the team. A key is
// linked to its roles and to its team inside its team's domain, so a key of
// team A never gets grants made in team B's domain. Policies with domain *
// apply in every team. Objects match with globMatch; deny wins.
const casbinModel = `
[request_definition]
r = sub, dom, obj, act

[policy_definition]
p = sub, dom, obj, act, eft

[role_definition]
g = _, _, _

[policy_effect]
e = some(where (p.eft == allow)) && !some(where (p.eft == deny))

[matchers]
m = g(r.sub, p.sub, r.dom) && (p.dom == "*" || p.dom == r.dom) && objMatch(r.obj, p.obj) && (p.act == "*" || p.act == r.act)
`

// noTeamDomain is the domain of keys without a team. Team names cannot start
// with an underscore, so it never collides with one.
const noTeamDomain = "_"

// adapter is Casbin's persistence for Junction's store: it loads the stored
// rules (plus the rules derived from keys, which are not stored as rules) and
// writes rule changes through to the store. Rules are only ever p lines with
// five fields; role links are derived from keys.
type adapter struct {
	ctx     context.Context
	store   *store.Store
	derived [][]string // p and g lines derived from keys, loaded after the stored rules
	rules   []store.PolicyRule
}

var _ persist.Adapter = (*adapter)(nil)

// LoadPolicy implements persist.Adapter. The rules come from the store unless
// the adapter was given a list already read in the same snapshot.
func (a *adapter) LoadPolicy(m model.Model) error {
	rules := a.rules
	if rules == nil {
		var err error
		if rules, err = a.store.ListPolicyRules(a.ctx); err != nil {
			return err
		}
	}
	for _, r := range rules {
		if r.PType != "p" {
			continue
		}
		if err := persist.LoadPolicyArray(append([]string{"p"}, r.V[:5]...), m); err != nil {
			return fmt.Errorf("policy: load rule %d: %w", r.ID, err)
		}
	}
	for _, line := range a.derived {
		if err := persist.LoadPolicyArray(line, m); err != nil {
			return fmt.Errorf("policy: load derived rule %v: %w", line, err)
		}
	}
	return nil
}

// SavePolicy implements persist.Adapter. Junction never saves a whole model:
// rules are added and removed one at a time through the admin API.
func (a *adapter) SavePolicy(model.Model) error {
	return errors.New("policy: saving a whole Casbin model is not supported; add or remove rules")
}

// AddPolicy implements persist.Adapter by storing the rule.
func (a *adapter) AddPolicy(sec, ptype string, rule []string) error {
	r, err := ruleRow(ptype, rule, store.SourceAPI)
	if err != nil {
		return err
	}
	_, err = a.store.AddPolicyRule(a.ctx, r)
	return err
}

// RemovePolicy implements persist.Adapter by deleting the stored rule.
func (a *adapter) RemovePolicy(sec, ptype string, rule []string) error {
	r, err := ruleRow(ptype, rule, "")
	if err != nil {
		return err
	}
	return a.store.RemovePolicyRule(a.ctx, r.PType, r.V)
}

// RemoveFilteredPolicy implements persist.Adapter. Filtered removal is not
// exposed by Junction.
func (a *adapter) RemoveFilteredPolicy(string, string, int, ...string) error {
	return errors.New("policy: filtered removal is not supported")
}

func ruleRow(ptype string, rule []string, source string) (store.PolicyRule, error) {
	if len(rule) > 6 {
		return store.PolicyRule{}, fmt.Errorf("policy: rule has %d fields, at most 6", len(rule))
	}
	r := store.PolicyRule{PType: ptype, Source: source}
	copy(r.V[:], rule)
	return r, nil
}

// newEnforcer builds a Casbin enforcer over a's rules.
func newEnforcer(a *adapter) (*casbin.SyncedEnforcer, error) {
	m, err := model.NewModelFromString(casbinModel)
	if err != nil {
		return nil, fmt.Errorf("policy: casbin model: %w", err)
	}
	e, err := casbin.NewSyncedEnforcer(m, a)
	if err != nil {
		return nil, fmt.Errorf("policy: load rules: %w", err)
	}
	e.AddFunction("objMatch", func(args ...any) (any, error) {
		if len(args) != 2 {
			return false, errors.New("objMatch needs 2 arguments")
		}
		s, _ := args[0].(string)
		p, _ := args[1].(string)
		return glob.Match(s, p), nil
	})
	e.EnableAutoSave(false)
	return e, nil
}

// decisionKey identifies one access decision. The identity stands for its
// subject and domain (an identity of an older snapshot just makes entries of
// its own, with the same answers), and the object is kept in parts (kind
// "tool:", a server, b tool), so a cached lookup hashes little and needs no
// string built.
type decisionKey struct {
	id              *Identity
	kind, a, b, act string
}

// maxDecisions bounds the decision cache; past it the cache starts over.
const maxDecisions = 1 << 16

// decisions caches Casbin's answers for one snapshot. A new snapshot comes
// with an empty cache, so every change invalidates every cached decision.
type decisions struct {
	mu sync.RWMutex // guards m
	m  map[decisionKey]bool
}

func (d *decisions) get(k decisionKey) (allowed, ok bool) {
	d.mu.RLock()
	allowed, ok = d.m[k]
	d.mu.RUnlock()
	return allowed, ok
}

func (d *decisions) put(k decisionKey, allowed bool) {
	d.mu.Lock()
	if len(d.m) >= maxDecisions {
		d.m = make(map[decisionKey]bool, 1024)
	}
	d.m[k] = allowed
	d.mu.Unlock()
}

// derivedLines are the Casbin lines a key implies: role and team links in its
// domain, and allow rules for its model and tool patterns.
func derivedLines(k *Key) [][]string {
	sub, dom := k.Subject(), keyDomain(k)
	var lines [][]string
	for _, role := range k.Roles {
		lines = append(lines, []string{"g", sub, "role:" + role, dom})
	}
	if k.Team != "" {
		lines = append(lines, []string{"g", sub, "team:" + k.Team, dom})
	}
	for _, m := range k.Models {
		lines = append(lines, []string{"p", sub, dom, "model:" + m, ActionUse, EffectAllow})
		lines = append(lines, []string{"p", sub, dom, "model:" + m, ActionList, EffectAllow})
	}
	for _, t := range k.Tools {
		lines = append(lines, []string{"p", sub, dom, "tool:" + t, "*", EffectAllow})
		server, _, _ := cutServer(t)
		lines = append(lines, []string{"p", sub, dom, "server:" + server, ActionList, EffectAllow})
	}
	return lines
}

// cutServer splits a "server/tool" pattern; a pattern without a slash names
// servers only ("*" stays "*").
func cutServer(pattern string) (server, tool string, ok bool) {
	for i := 0; i < len(pattern); i++ {
		if pattern[i] == '/' {
			return pattern[:i], pattern[i+1:], true
		}
	}
	return pattern, "", false
}

func keyDomain(k *Key) string {
	if k.Team == "" {
		return noTeamDomain
	}
	return k.Team
}
