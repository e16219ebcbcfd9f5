package gateway

import (
	"bytes"
	"context"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/junctionhq/junction/policy"
)

// HTTP-level tests of the admin API for access policies, prices and usage.

type checkResult struct {
	Allowed bool     `json:"allowed"`
	Subject string   `json:"subject"`
	Domain  string   `json:"domain"`
	Object  string   `json:"object"`
	Action  string   `json:"action"`
	Rule    []string `json:"rule"`
}

// check asks /admin/v1/policies/check for a key (id or name).
func (g *govGateway) check(t *testing.T, key, object, action string) checkResult {
	t.Helper()
	var c checkResult
	g.admin(t, http.MethodPost, "/admin/v1/policies/check", map[string]string{"key": key, "object": object, "action": action}).
		want(t, http.StatusOK).decode(t, &c)
	return c
}

// access is an access check and its expected answer.
type access struct {
	object, action string
	allowed        bool
}

// wantAccess checks each of cases for key k.
func (g *govGateway) wantAccess(t *testing.T, k govKey, cases []access) {
	t.Helper()
	for _, tc := range cases {
		if c := g.check(t, k.ID, tc.object, tc.action); c.Allowed != tc.allowed {
			t.Errorf("%s %s %s: allowed %v, want %v", k.Name, tc.action, tc.object, c.Allowed, tc.allowed)
		}
	}
}

func TestAdminPolicyAddListRemove(t *testing.T) {
	t.Parallel()
	g := newGovGateway(t, Config{})
	if r := g.admin(t, http.MethodGet, "/admin/v1/policies", nil).want(t, 200); !bytes.Contains(r.Body, []byte(`"data":[]`)) {
		t.Errorf("empty policy list: %s", r.Body)
	}

	// Object form.
	var got policy.Rule
	g.admin(t, http.MethodPost, "/admin/v1/policies",
		`{"subject":"role:reader","domain":"*","object":"tool:files/read_*","action":"call","effect":"allow"}`).
		want(t, http.StatusCreated).decode(t, &got)
	want1 := policy.Rule{Subject: "role:reader", Domain: "*", Object: "tool:files/read_*", Action: "call", Effect: "allow", Source: "api"}
	if got != want1 {
		t.Errorf("created %+v, want %+v", got, want1)
	}
	// List form, five fields.
	g.admin(t, http.MethodPost, "/admin/v1/policies", `["role:writer","research","tool:files/*","call","deny"]`).
		want(t, http.StatusCreated).decode(t, &got)
	want2 := policy.Rule{Subject: "role:writer", Domain: "research", Object: "tool:files/*", Action: "call", Effect: "deny", Source: "api"}
	if got != want2 {
		t.Errorf("created %+v, want %+v", got, want2)
	}
	// List form without the effect, and object form without it: allow.
	g.admin(t, http.MethodPost, "/admin/v1/policies", `["team:research","research","model:openai/*","use"]`).
		want(t, http.StatusCreated).decode(t, &got)
	want3 := policy.Rule{Subject: "team:research", Domain: "research", Object: "model:openai/*", Action: "use", Effect: "allow", Source: "api"}
	if got != want3 {
		t.Errorf("created %+v, want %+v", got, want3)
	}
	g.admin(t, http.MethodPost, "/admin/v1/policies", `{"subject":"key:alice","domain":"*","object":"*","action":"*"}`).
		want(t, http.StatusCreated).decode(t, &got)
	want4 := policy.Rule{Subject: "key:alice", Domain: "*", Object: "*", Action: "*", Effect: "allow", Source: "api"}
	if got != want4 {
		t.Errorf("created %+v, want %+v", got, want4)
	}
	// A client cannot claim a rule is file-managed.
	g.admin(t, http.MethodPost, "/admin/v1/policies",
		`{"subject":"role:x","domain":"*","object":"server:files","action":"list","effect":"allow","source":"file"}`).
		want(t, http.StatusCreated).decode(t, &got)
	want5 := policy.Rule{Subject: "role:x", Domain: "*", Object: "server:files", Action: "list", Effect: "allow", Source: "api"}
	if got != want5 {
		t.Errorf("created %+v, want %+v", got, want5)
	}

	// Listed in the order added.
	g.wantRules(t, "policies", want1, want2, want3, want4, want5)

	// Duplicates, in either form and with or without the default effect.
	for _, dup := range []string{
		`["role:reader","*","tool:files/read_*","call","allow"]`,
		`["role:reader","*","tool:files/read_*","call"]`,
		`{"subject":"team:research","domain":"research","object":"model:openai/*","action":"use","effect":"allow"}`,
	} {
		g.admin(t, http.MethodPost, "/admin/v1/policies", dup).wantError(t, http.StatusConflict, "conflict")
	}
	// The same line with the other effect is a different rule.
	g.admin(t, http.MethodPost, "/admin/v1/policies", `["role:reader","*","tool:files/read_*","call","deny"]`).want(t, http.StatusCreated)

	// DELETE with the same body as the policy line.
	r := g.admin(t, http.MethodDelete, "/admin/v1/policies", `["role:reader","*","tool:files/read_*","call","deny"]`).want(t, http.StatusNoContent)
	if len(r.Body) != 0 {
		t.Errorf("204 with a body: %q", r.Body)
	}
	g.admin(t, http.MethodDelete, "/admin/v1/policies",
		`{"subject":"role:reader","domain":"*","object":"tool:files/read_*","action":"call","effect":"allow"}`).want(t, http.StatusNoContent)
	// The default effect applies to DELETE too.
	g.admin(t, http.MethodDelete, "/admin/v1/policies", `["team:research","research","model:openai/*","use"]`).want(t, http.StatusNoContent)
	g.admin(t, http.MethodDelete, "/admin/v1/policies", `{"subject":"key:alice","domain":"*","object":"*","action":"*"}`).want(t, http.StatusNoContent)
	g.wantRules(t, "policies after deletes", want2, want5)

	// Deleting a missing rule: 404.
	for _, missing := range []string{
		`["role:reader","*","tool:files/read_*","call","allow"]`,
		`["role:writer","research","tool:files/*","call","allow"]`, // exists only as deny
		`["role:nobody","*","*","*"]`,
	} {
		g.admin(t, http.MethodDelete, "/admin/v1/policies", missing).wantError(t, http.StatusNotFound, "not_found")
	}
	g.admin(t, http.MethodDelete, "/admin/v1/policies", `["a","b"]`).wantError(t, http.StatusBadRequest, "invalid_request")
	g.admin(t, http.MethodDelete, "/admin/v1/policies", ``).wantError(t, http.StatusBadRequest, "invalid_json")
	// Rules derived from a key's models are not stored rules.
	g.createKey(t, map[string]any{"name": "bob"})
	g.admin(t, http.MethodDelete, "/admin/v1/policies", `["key:bob","_","model:*","use","allow"]`).wantError(t, http.StatusNotFound, "not_found")
	if rules := g.listRules(t); len(rules) != 2 {
		t.Errorf("the key's derived rules are listed: %+v", rules)
	}
}

func TestAdminPolicyInvalid(t *testing.T) {
	t.Parallel()
	g := newGovGateway(t, Config{})
	for _, tc := range []struct {
		name, body, code string
		want             []string
	}{
		{"subject without kind", `["reader","*","model:x","use","allow"]`, "invalid_request", []string{"policy.subject"}},
		{"unknown subject kind", `["user:bob","*","model:x","use","allow"]`, "invalid_request", []string{"policy.subject"}},
		{"subject with a bad name", `["role:a b","*","model:x","use","allow"]`, "invalid_request", []string{"policy.subject"}},
		{"empty subject", `{"subject":"","domain":"*","object":"model:x","action":"use"}`, "invalid_request", []string{"policy.subject"}},
		{"bad domain", `["role:r","bad domain","model:x","use","allow"]`, "invalid_request", []string{"policy.domain"}},
		{"empty domain", `["role:r","","model:x","use","allow"]`, "invalid_request", []string{"policy.domain"}},
		{"object without kind", `["role:r","*","gpt-4o","use","allow"]`, "invalid_request", []string{"policy.object"}},
		{"unknown object kind", `["role:r","*","file:/etc/passwd","use","allow"]`, "invalid_request", []string{"policy.object"}},
		{"object kind only", `["role:r","*","model:","use","allow"]`, "invalid_request", []string{"policy.object"}},
		{"object with a comma", `["role:r","*","model:a,b","use","allow"]`, "invalid_request", []string{"policy.object"}},
		{"object with a quote", `["role:r","*","model:a\"b","use","allow"]`, "invalid_request", []string{"policy.object"}},
		{"bad action", `["role:r","*","model:x","read","allow"]`, "invalid_request", []string{"policy.action"}},
		{"bad effect", `["role:r","*","model:x","use","maybe"]`, "invalid_request", []string{"policy.effect"}},
		{"everything wrong", `["x","a b","y","z","w"]`, "invalid_request",
			[]string{"policy.subject", "policy.domain", "policy.object", "policy.action", "policy.effect"}},
		{"three fields", `["role:r","*","model:x"]`, "invalid_request", []string{"4 or 5 fields"}},
		{"six fields", `["role:r","*","model:x","use","allow","extra"]`, "invalid_request", []string{"4 or 5 fields"}},
		{"not strings", `["role:r","*","model:x",1,"allow"]`, "invalid_request", nil},
		{"not a rule", `"role:r"`, "invalid_request", nil},
		{"not JSON", `[`, "invalid_json", nil},
		// A misspelt field must not silently become a default: "efect":
		// "deny" would otherwise store an allow rule.
		{"misspelt effect field", `{"subject":"role:r","domain":"*","object":"model:x","action":"use","efect":"deny"}`, "invalid_request", []string{"efect"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := g.admin(t, http.MethodPost, "/admin/v1/policies", tc.body).wantError(t, http.StatusBadRequest, tc.code)
			for _, w := range tc.want {
				if !strings.Contains(e.Message, w) {
					t.Errorf("message %q does not name %q", e.Message, w)
				}
			}
		})
	}
	if rules := g.listRules(t); len(rules) != 0 {
		t.Errorf("invalid rules were stored: %+v", rules)
	}
}

// A key's roles get the role's grants; a deny beats any allow.
func TestAdminPolicyCheckDenyOverridesAllow(t *testing.T) {
	t.Parallel()
	g := newGovGateway(t, Config{})
	g.createTeam(t, map[string]any{"name": "research"})
	// No direct grants: everything comes from the role.
	k := g.createKey(t, map[string]any{"name": "alice", "team": "research", "roles": []string{"analyst"}, "models": []string{}, "tools": []string{}})

	if c := g.check(t, k.ID, "model:openai/gpt-4o-mini", "use"); c.Allowed {
		t.Fatalf("a key without grants is allowed: %+v", c)
	}
	g.admin(t, http.MethodPost, "/admin/v1/policies", `["role:analyst","research","model:openai/*","use","allow"]`).want(t, http.StatusCreated)
	g.admin(t, http.MethodPost, "/admin/v1/policies", `["role:analyst","research","model:openai/gpt-4o","use","deny"]`).want(t, http.StatusCreated)

	for _, tc := range []struct {
		object, action string
		allowed        bool
	}{
		{"model:openai/gpt-4o", "use", false},
		{"model:openai/gpt-4o-mini", "use", true},
		{"model:openai/gpt-4.1", "use", true},
		{"model:openai/gpt-4o", "list", false}, // the allow is for use only
		{"model:openai/gpt-4o-mini", "list", false},
		{"model:anthropic/claude-sonnet-4-5", "use", false},
	} {
		c := g.check(t, k.ID, tc.object, tc.action)
		if c.Allowed != tc.allowed {
			t.Errorf("%s %s: allowed %v, want %v (%+v)", tc.action, tc.object, c.Allowed, tc.allowed, c)
		}
		if c.Subject != "key:alice" || c.Domain != "research" || c.Object != tc.object || c.Action != tc.action {
			t.Errorf("check echoes %+v", c)
		}
	}
	// The check by name answers the same, and explains an allow by its rule.
	c := g.check(t, "alice", "model:openai/gpt-4o-mini", "use")
	if !c.Allowed || !slices.Equal(c.Rule, []string{"role:analyst", "research", "model:openai/*", "use", "allow"}) {
		t.Errorf("check by name: %+v", c)
	}

	// A deny for everyone in every team beats the key's own grants too.
	bob := g.createKey(t, map[string]any{"name": "bob", "team": "research"}) // models ["*"]
	if !g.check(t, bob.ID, "model:openai/gpt-4o", "use").Allowed {
		t.Fatal("default models [*] do not allow gpt-4o")
	}
	g.admin(t, http.MethodPost, "/admin/v1/policies", `["team:research","*","model:openai/gpt-4o","*","deny"]`).want(t, http.StatusCreated)
	if g.check(t, bob.ID, "model:openai/gpt-4o", "use").Allowed {
		t.Error("team-wide deny does not override the key's own allow")
	}
	if !g.check(t, bob.ID, "model:openai/gpt-4o-mini", "use").Allowed {
		t.Error("team-wide deny of gpt-4o also denies gpt-4o-mini")
	}
	// Removing the denies restores access.
	g.admin(t, http.MethodDelete, "/admin/v1/policies", `["team:research","*","model:openai/gpt-4o","*","deny"]`).want(t, http.StatusNoContent)
	if !g.check(t, bob.ID, "model:openai/gpt-4o", "use").Allowed {
		t.Error("removing the team-wide deny did not restore the key's own allow")
	}
	if g.check(t, k.ID, "model:openai/gpt-4o", "use").Allowed {
		t.Error("the role's deny stopped applying")
	}
	g.admin(t, http.MethodDelete, "/admin/v1/policies", `["role:analyst","research","model:openai/gpt-4o","use","deny"]`).want(t, http.StatusNoContent)
	if !g.check(t, k.ID, "model:openai/gpt-4o", "use").Allowed {
		t.Error("removing the deny did not restore the allow")
	}
	g.admin(t, http.MethodPost, "/admin/v1/policies", `["team:research","*","model:openai/gpt-4o","*","deny"]`).want(t, http.StatusCreated)

	// The decision is the one Admit enforces.
	id, err := g.Policy().Authenticate(bob.Secret)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := g.Policy().Admit(context.Background(), id, policy.Work{Kind: policy.KindLLM, Model: "openai/gpt-4o", MaxTokens: 1}); err == nil {
		t.Error("Admit let a denied model through")
	}
	res, err := g.Policy().Admit(context.Background(), id, policy.Work{Kind: policy.KindLLM, Model: "openai/gpt-4o-mini", MaxTokens: 1})
	if err != nil {
		t.Fatalf("Admit refused an allowed model: %v", err)
	}
	res.Settle(context.Background(), policy.Outcome{})
}

// A rule in team A's domain never reaches a key of team B, even one holding
// the same role; a rule in domain * reaches every team.
func TestAdminPolicyCheckTeamDomains(t *testing.T) {
	t.Parallel()
	g := newGovGateway(t, Config{})
	g.createTeam(t, map[string]any{"name": "team-a"})
	g.createTeam(t, map[string]any{"name": "team-b"})
	noGrants := map[string]any{"roles": []string{"reader"}, "models": []string{}, "tools": []string{}}
	mk := func(name, team string) govKey {
		body := map[string]any{"name": name}
		for k, v := range noGrants {
			body[k] = v
		}
		if team != "" {
			body["team"] = team
		}
		return g.createKey(t, body)
	}
	a, b, none := mk("in-a", "team-a"), mk("in-b", "team-b"), mk("no-team", "")

	g.admin(t, http.MethodPost, "/admin/v1/policies", `["role:reader","team-a","model:openai/*","use","allow"]`).want(t, http.StatusCreated)
	g.admin(t, http.MethodPost, "/admin/v1/policies", `["team:team-b","team-b","server:search","list","allow"]`).want(t, http.StatusCreated)
	g.admin(t, http.MethodPost, "/admin/v1/policies", `["role:reader","*","tool:files/read_*","call","allow"]`).want(t, http.StatusCreated)

	for _, tc := range []struct {
		key            govKey
		object, action string
		allowed        bool
	}{
		{a, "model:openai/gpt-4o", "use", true},
		{b, "model:openai/gpt-4o", "use", false}, // same role, other team
		{none, "model:openai/gpt-4o", "use", false},
		{b, "server:search", "list", true}, // the team's own grant
		{a, "server:search", "list", false},
		{none, "server:search", "list", false},
		{a, "tool:files/read_file", "call", true}, // domain *: every team
		{b, "tool:files/read_file", "call", true},
		{none, "tool:files/read_file", "call", true},
	} {
		c := g.check(t, tc.key.ID, tc.object, tc.action)
		if c.Allowed != tc.allowed {
			t.Errorf("%s %s %s: allowed %v, want %v (%+v)", tc.key.Name, tc.action, tc.object, c.Allowed, tc.allowed, c)
		}
	}
	// A key without a team is checked in the no-team domain, which no team
	// name can spell.
	if c := g.check(t, none.ID, "tool:files/read_file", "call"); c.Domain == "team-a" || c.Domain == "team-b" {
		t.Errorf("no-team key checked in domain %q", c.Domain)
	}
	// Moving a key to the other team moves its grants with it.
	g.admin(t, http.MethodPatch, "/admin/v1/keys/"+b.ID, `{"team":"team-a"}`).want(t, http.StatusOK)
	if !g.check(t, b.ID, "model:openai/gpt-4o", "use").Allowed || g.check(t, b.ID, "server:search", "list").Allowed {
		t.Error("grants did not follow the key to its new team")
	}

	// Checking a subject in a domain directly.
	var c checkResult
	g.admin(t, http.MethodPost, "/admin/v1/policies/check",
		`{"subject":"role:reader","domain":"team-a","object":"model:openai/gpt-4o","action":"use"}`).want(t, 200).decode(t, &c)
	if !c.Allowed {
		t.Errorf("role:reader in team-a: %+v", c)
	}
	g.admin(t, http.MethodPost, "/admin/v1/policies/check",
		`{"subject":"role:reader","domain":"team-b","object":"model:openai/gpt-4o","action":"use"}`).want(t, 200).decode(t, &c)
	if c.Allowed {
		t.Errorf("role:reader in team-b: %+v", c)
	}
}

// Objects match with *, which spans any run of characters, slashes included.
func TestAdminPolicyCheckGlobs(t *testing.T) {
	t.Parallel()
	g := newGovGateway(t, Config{})
	k := g.createKey(t, map[string]any{"name": "alice", "roles": []string{"reader"}, "models": []string{}, "tools": []string{}})
	for _, line := range []string{
		`["role:reader","*","tool:files/read_*","call","allow"]`,
		`["role:reader","*","model:*-mini","use","allow"]`,
		`["role:reader","*","model:anthropic/claude-*-4-5","use","allow"]`,
		`["role:reader","*","server:*","list","allow"]`,
	} {
		g.admin(t, http.MethodPost, "/admin/v1/policies", line).want(t, http.StatusCreated)
	}
	g.wantAccess(t, k, []access{
		{"tool:files/read_file", "call", true},
		{"tool:files/read_", "call", true},
		{"tool:files/read_dir/nested", "call", true},
		{"tool:files/write_file", "call", false},
		{"tool:other/read_file", "call", false},
		{"tool:files/read_file", "use", false},
		{"model:openai/gpt-4o-mini", "use", true},
		{"model:openai/gpt-4o", "use", false},
		{"model:openai/gpt-4o-mini-2024-07-18", "use", false},
		{"model:anthropic/claude-sonnet-4-5", "use", true},
		{"model:anthropic/claude-haiku-4-5", "use", true},
		{"model:anthropic/claude-sonnet-4", "use", false},
		{"server:files", "list", true},
		{"server:anything/at/all", "list", true},
		{"server:files", "call", false},
	})

	// The key's own patterns are globs too, over models and tools.
	b := g.createKey(t, map[string]any{"name": "bob", "models": []string{"openai/gpt-4o*"}, "tools": []string{"search/*"}})
	g.wantAccess(t, b, []access{
		{"model:openai/gpt-4o", "use", true},
		{"model:openai/gpt-4o-mini", "use", true},
		{"model:openai/gpt-4o", "list", true},
		{"model:openai/gpt-5", "use", false},
		{"tool:search/web", "call", true},
		{"tool:files/read_file", "call", false},
		{"server:search", "list", true},
		{"server:files", "list", false},
	})
}

func TestAdminPolicyCheckErrors(t *testing.T) {
	t.Parallel()
	g := newGovGateway(t, Config{})
	g.createKey(t, map[string]any{"name": "alice"})
	for _, tc := range []struct {
		name, body, code string
		status           int
	}{
		{"unknown key", `{"key":"nobody","object":"model:x","action":"use"}`, "not_found", 404},
		{"no object", `{"key":"alice","action":"use"}`, "invalid_request", 400},
		{"no action", `{"key":"alice","object":"model:x"}`, "invalid_request", 400},
		{"no key or subject", `{"object":"model:x","action":"use"}`, "invalid_request", 400},
		{"unknown field", `{"key":"alice","object":"model:x","action":"use","team":"x"}`, "invalid_request", 400},
		{"not JSON", `{`, "invalid_json", 400},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g.admin(t, http.MethodPost, "/admin/v1/policies/check", tc.body).wantError(t, tc.status, tc.code)
		})
	}
}

func TestAdminPrices(t *testing.T) {
	t.Parallel()
	g := newGovGateway(t, Config{})
	list := adminList[policy.Price](t, g, "/admin/v1/prices")
	models := map[string]policy.Price{}
	for _, p := range list {
		models[p.Model] = p
	}
	for _, m := range []string{"gpt-4o", "gpt-4o-mini", "claude-sonnet-4-5", "text-embedding-3-small"} {
		if p, ok := models[m]; !ok || p.Source != "builtin" {
			t.Errorf("built-in price of %s: %+v (listed: %v)", m, p, ok)
		}
	}
	if p := models["gpt-4o"]; p.Input != 2.5 || p.Output != 10 {
		t.Errorf("gpt-4o price %+v, want $2.50 in / $10 out", p)
	}
	if !slices.IsSortedFunc(list, func(a, b policy.Price) int { return strings.Compare(a.Model, b.Model) }) {
		t.Error("prices are not sorted by model")
	}

	get := func(model string) policy.Price {
		t.Helper()
		var p policy.Price
		g.admin(t, http.MethodGet, "/admin/v1/prices/"+model, nil).want(t, 200).decode(t, &p)
		return p
	}
	// Provider-qualified and dated names resolve to the model's price.
	for _, m := range []string{"gpt-4o", "openai/gpt-4o", "openai/gpt-4o-2024-08-06", "gpt-4o-2024-08-06", "azure/gpt-4o"} {
		if p := get(m); p.Model != "gpt-4o" || p.Input != 2.5 || p.Output != 10 || p.Source != "builtin" {
			t.Errorf("price of %s: %+v, want gpt-4o's", m, p)
		}
	}
	if p := get("openai/gpt-4o-mini-2024-07-18"); p.Model != "gpt-4o-mini" {
		t.Errorf("dated gpt-4o-mini resolves to %+v", p)
	}
	g.admin(t, http.MethodGet, "/admin/v1/prices/acme/unknown-model", nil).wantError(t, http.StatusNotFound, "not_found")
	g.admin(t, http.MethodGet, "/admin/v1/prices/gpt-4oo", nil).wantError(t, http.StatusNotFound, "not_found")

	// POST overrides the built-in price.
	var set policy.Price
	g.admin(t, http.MethodPost, "/admin/v1/prices", `{"model":"gpt-4o","input_per_mtok":3,"output_per_mtok":12,"cached_input_per_mtok":1}`).
		want(t, http.StatusOK).decode(t, &set)
	if set.Model != "gpt-4o" || set.Input != 3 || set.Output != 12 || set.CachedInput == nil || *set.CachedInput != 1 || set.Source != "api" {
		t.Errorf("set price %+v", set)
	}
	if p := get("openai/gpt-4o-2024-08-06"); p.Input != 3 || p.Source != "api" {
		t.Errorf("dated model after the override: %+v", p)
	}
	// POST again replaces the override.
	g.admin(t, http.MethodPost, "/admin/v1/prices", `{"model":"gpt-4o","input_per_mtok":4,"output_per_mtok":16}`).want(t, http.StatusOK)
	if p := get("gpt-4o"); p.Input != 4 || p.Output != 16 || p.CachedInput != nil {
		t.Errorf("replaced price %+v", p)
	}
	// DELETE restores the built-in.
	g.admin(t, http.MethodDelete, "/admin/v1/prices/gpt-4o", nil).want(t, http.StatusNoContent)
	if p := get("openai/gpt-4o-2024-08-06"); p.Input != 2.5 || p.Output != 10 || p.Source != "builtin" {
		t.Errorf("after delete: %+v, want the built-in", p)
	}
	// A built-in price cannot be deleted; a deleted override is gone.
	g.admin(t, http.MethodDelete, "/admin/v1/prices/gpt-4o", nil).wantError(t, http.StatusNotFound, "not_found")
	g.admin(t, http.MethodDelete, "/admin/v1/prices/acme/nothing", nil).wantError(t, http.StatusNotFound, "not_found")

	// A new model, provider-qualified.
	g.admin(t, http.MethodPost, "/admin/v1/prices", `{"model":"acme/model-x","input_per_mtok":1,"output_per_mtok":2}`).want(t, http.StatusOK)
	if p := get("acme/model-x"); p.Input != 1 || p.Source != "api" {
		t.Errorf("new model price %+v", p)
	}
	if p := get("acme/model-x-2025-01-01"); p.Model != "acme/model-x" {
		t.Errorf("dated new model resolves to %+v", p)
	}
	g.admin(t, http.MethodDelete, "/admin/v1/prices/acme/model-x", nil).want(t, http.StatusNoContent)
	g.admin(t, http.MethodGet, "/admin/v1/prices/acme/model-x", nil).wantError(t, http.StatusNotFound, "not_found")

	for _, tc := range []struct {
		name, body, code string
		want             []string
	}{
		{"no model", `{"input_per_mtok":1,"output_per_mtok":1}`, "invalid_request", []string{"price.model"}},
		{"model with a space", `{"model":"a b","input_per_mtok":1,"output_per_mtok":1}`, "invalid_request", []string{"price.model"}},
		{"negative input", `{"model":"m","input_per_mtok":-1,"output_per_mtok":1}`, "invalid_request", []string{"price.input_per_mtok"}},
		{"huge output", `{"model":"m","input_per_mtok":1,"output_per_mtok":1e7}`, "invalid_request", []string{"price.output_per_mtok"}},
		{"negative cached", `{"model":"m","input_per_mtok":1,"output_per_mtok":1,"cached_input_per_mtok":-1}`, "invalid_request", []string{"price.cached_input_per_mtok"}},
		{"unknown field", `{"model":"m","input":1}`, "invalid_request", []string{"input"}},
		{"not JSON", `{`, "invalid_json", nil},
	} {
		t.Run("POST "+tc.name, func(t *testing.T) {
			e := g.admin(t, http.MethodPost, "/admin/v1/prices", tc.body).wantError(t, http.StatusBadRequest, tc.code)
			for _, w := range tc.want {
				if !strings.Contains(e.Message, w) {
					t.Errorf("message %q does not name %q", e.Message, w)
				}
			}
		})
	}
}

// A provider-specific override must not capture the dated snapshots of a
// different model that merely starts with the same name.
func TestAdminPriceOverrideDoesNotCaptureOtherModels(t *testing.T) {
	t.Parallel()
	g := newGovGateway(t, Config{})
	g.admin(t, http.MethodPost, "/admin/v1/prices", `{"model":"openai/gpt-4o","input_per_mtok":3,"output_per_mtok":12}`).want(t, http.StatusOK)
	for _, tc := range []struct{ model, want string }{
		{"openai/gpt-4o", "openai/gpt-4o"},
		{"openai/gpt-4o-2024-08-06", "openai/gpt-4o"},
		{"azure/gpt-4o", "gpt-4o"},
		{"openai/gpt-4o-mini", "gpt-4o-mini"},
		{"openai/gpt-4o-mini-2024-07-18", "gpt-4o-mini"},
	} {
		var p policy.Price
		g.admin(t, http.MethodGet, "/admin/v1/prices/"+tc.model, nil).want(t, 200).decode(t, &p)
		if p.Model != tc.want {
			t.Errorf("price of %s resolves to %q (%+v), want %q", tc.model, p.Model, p, tc.want)
		}
	}
}

type usageResult struct {
	GroupBy string     `json:"group_by"`
	From    *time.Time `json:"from"`
	To      *time.Time `json:"to"`
	Data    []UsageRow `json:"data"`
}

func (g *govGateway) usage(t *testing.T, query url.Values) usageResult {
	t.Helper()
	var u usageResult
	g.admin(t, http.MethodGet, "/admin/v1/usage?"+query.Encode(), nil).want(t, http.StatusOK).decode(t, &u)
	return u
}

func TestAdminUsageEmptyAndInvalid(t *testing.T) {
	t.Parallel()
	g := newGovGateway(t, Config{})
	for _, q := range []string{"", "?group_by=model", "?group_by=key", "?group_by=team", "?group_by=tool", "?group_by=day",
		"?from=2025-01-01&to=2025-02-01", "?key=nobody", "?team=x&model=y&kind=llm&tool=a/b&limit=5"} {
		r := g.admin(t, http.MethodGet, "/admin/v1/usage"+q, nil).want(t, http.StatusOK)
		var u usageResult
		r.decode(t, &u)
		if !bytes.Contains(r.Body, []byte(`"data":[]`)) || len(u.Data) != 0 {
			t.Errorf("usage%s with no data: %s, want {\"data\": []}", q, r.Body)
		}
	}
	for _, tc := range []struct{ name, query, want string }{
		{"bad group_by", "?group_by=customer", "group_by"},
		{"group_by case", "?group_by=Model", "group_by"},
		{"bad from", "?from=yesterday", "from"},
		{"bad from date", "?from=2025-13-01", "from"},
		{"bad to", "?to=2025/01/01", "to"},
		{"negative limit", "?limit=-1", "limit"},
		{"limit not a number", "?limit=ten", "limit"},
		{"from after to", "?from=2025-02-01&to=2025-01-01", "from"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := g.admin(t, http.MethodGet, "/admin/v1/usage"+tc.query, nil).wantError(t, http.StatusBadRequest, "invalid_request")
			if !strings.Contains(e.Message, tc.want) {
				t.Errorf("message %q does not name %q", e.Message, tc.want)
			}
		})
	}
	// from and to are echoed, dates as UTC midnight.
	u := g.usage(t, url.Values{"from": {"2025-01-01"}, "to": {"2025-01-02T03:04:05+02:00"}})
	if u.From == nil || !u.From.Equal(time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)) ||
		u.To == nil || !u.To.Equal(time.Date(2025, 1, 2, 1, 4, 5, 0, time.UTC)) {
		t.Errorf("from %v to %v", u.From, u.To)
	}
}

// Usage admitted and settled through the engine is reported by the admin
// API straight away, with gpt-4o's price: $2.50 in and $10 out per 1M tokens.
func TestAdminUsageReportsSettledWork(t *testing.T) {
	t.Parallel()
	g := newGovGateway(t, Config{})
	g.createTeam(t, map[string]any{"name": "research"})
	alice := g.createKey(t, map[string]any{"name": "alice", "team": "research"})
	bob := g.createKey(t, map[string]any{"name": "bob"})
	ctx := context.Background()

	run := func(secret string, w policy.Work, o policy.Outcome) float64 {
		t.Helper()
		id, err := g.Policy().Authenticate(secret)
		if err != nil {
			t.Fatalf("Authenticate: %v", err)
		}
		res, err := g.Policy().Admit(ctx, id, w)
		if err != nil {
			t.Fatalf("Admit: %v", err)
		}
		return res.Settle(ctx, o)
	}
	gpt4o := policy.Work{Kind: policy.KindLLM, Model: "openai/gpt-4o", PromptTokens: 100, MaxTokens: 50}
	used := policy.Outcome{Usage: policy.TokenUsage{PromptTokens: 100, CompletionTokens: 20}}
	const cost = (100*2.5 + 20*10.0) / 1e6 // $0.00045
	if got := run(alice.Secret, gpt4o, used); !approx(got, cost) {
		t.Fatalf("Settle cost %v, want %v", got, cost)
	}

	// Right after Settle: the admin query flushes queued usage first.
	u := g.usage(t, url.Values{"group_by": {"model"}})
	if u.GroupBy != "model" || len(u.Data) != 1 {
		t.Fatalf("usage by model right after one request: %+v", u)
	}
	if r := u.Data[0]; r.Group != "openai/gpt-4o" || r.Requests != 1 || r.Errors != 0 || r.PromptTokens != 100 ||
		r.CompletionTokens != 20 || r.CachedTokens != 0 || !approx(r.CostUSD, cost) {
		t.Errorf("usage by model: %+v, want openai/gpt-4o, 1 request, 100+20 tokens, $%v", r, cost)
	}
	u = g.usage(t, url.Values{"group_by": {"key"}})
	if len(u.Data) != 1 || u.Data[0].Group != alice.ID || u.Data[0].PromptTokens != 100 || u.Data[0].CompletionTokens != 20 || !approx(u.Data[0].CostUSD, cost) {
		t.Errorf("usage by key: %+v, want one row for %s", u.Data, alice.ID)
	}

	// More work: a second gpt-4o call by bob, a gpt-4o-mini call and a failed call by alice.
	run(bob.Secret, gpt4o, used)
	miniCost := run(alice.Secret, policy.Work{Kind: policy.KindLLM, Model: "openai/gpt-4o-mini", PromptTokens: 1000, MaxTokens: 10},
		policy.Outcome{Usage: policy.TokenUsage{PromptTokens: 1000, CompletionTokens: 10}})
	if want := (1000*0.15 + 10*0.6) / 1e6; !approx(miniCost, want) {
		t.Errorf("gpt-4o-mini cost %v, want %v", miniCost, want)
	}
	run(alice.Secret, gpt4o, policy.Outcome{Status: "error"})

	byModel := g.usage(t, url.Values{"group_by": {"model"}}).Data
	if len(byModel) != 2 {
		t.Fatalf("usage by model: %+v", byModel)
	}
	if r := byModel[0]; r.Group != "openai/gpt-4o" || r.Requests != 3 || r.Errors != 1 || r.PromptTokens != 200 || r.CompletionTokens != 40 || !approx(r.CostUSD, 2*cost) {
		t.Errorf("gpt-4o row: %+v", r)
	}
	if r := byModel[1]; r.Group != "openai/gpt-4o-mini" || r.Requests != 1 || r.PromptTokens != 1000 || !approx(r.CostUSD, miniCost) {
		t.Errorf("gpt-4o-mini row: %+v", r)
	}

	byKey := map[string]UsageRow{}
	for _, r := range g.usage(t, url.Values{"group_by": {"key"}}).Data {
		byKey[r.Group] = r
	}
	if r := byKey[alice.ID]; r.Requests != 3 || r.PromptTokens != 1100 || !approx(r.CostUSD, cost+miniCost) {
		t.Errorf("alice's usage: %+v", r)
	}
	if r := byKey[bob.ID]; r.Requests != 1 || r.PromptTokens != 100 || !approx(r.CostUSD, cost) {
		t.Errorf("bob's usage: %+v", r)
	}

	byTeam := g.usage(t, url.Values{"group_by": {"team"}}).Data
	teams := map[string]int64{}
	for _, r := range byTeam {
		teams[r.Group] = r.Requests
	}
	if teams["research"] != 3 || teams[""] != 1 {
		t.Errorf("usage by team: %+v", byTeam)
	}

	// Totals, and filters: by key name or id, team, model, time.
	total := g.usage(t, nil).Data
	if len(total) != 1 || total[0].Requests != 4 || total[0].Errors != 1 || !approx(total[0].CostUSD, 2*cost+miniCost) {
		t.Errorf("total usage: %+v", total)
	}
	for _, key := range []string{"alice", alice.ID} {
		if d := g.usage(t, url.Values{"key": {key}}).Data; len(d) != 1 || d[0].Requests != 3 {
			t.Errorf("usage of key=%s: %+v", key, d)
		}
	}
	if d := g.usage(t, url.Values{"team": {"research"}, "model": {"openai/gpt-4o"}}).Data; len(d) != 1 || d[0].Requests != 2 {
		t.Errorf("usage of research on gpt-4o: %+v", d)
	}
	today := time.Now().UTC().Format(time.DateOnly)
	if d := g.usage(t, url.Values{"group_by": {"day"}}).Data; len(d) != 1 || d[0].Group != today || d[0].Requests != 4 {
		t.Errorf("usage by day: %+v, want one row for %s", d, today)
	}
	if d := g.usage(t, url.Values{"from": {"2000-01-01"}, "group_by": {"key"}}).Data; len(d) != 2 {
		t.Errorf("usage from 2000: %+v", d)
	}
	if d := g.usage(t, url.Values{"from": {time.Now().Add(time.Hour).UTC().Format(time.RFC3339)}, "group_by": {"key"}}).Data; len(d) != 0 {
		t.Errorf("usage from the future: %+v", d)
	}
	if d := g.usage(t, url.Values{"group_by": {"key"}, "limit": {"1"}}).Data; len(d) != 1 {
		t.Errorf("usage with limit 1: %+v", d)
	}

	// A revoked key's usage stays, and its id still filters.
	g.admin(t, http.MethodDelete, "/admin/v1/keys/"+bob.ID, nil).want(t, http.StatusNoContent)
	if d := g.usage(t, url.Values{"key": {bob.ID}}).Data; len(d) != 1 || d[0].Requests != 1 {
		t.Errorf("usage of a revoked key: %+v", d)
	}
}
