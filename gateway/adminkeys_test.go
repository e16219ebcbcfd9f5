package gateway

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/junctionhq/junction/policy"
)

// HTTP-level tests of the governance admin API (teams, keys, file-managed
// entries). The helpers here are shared by adminpolicies_test.go and
// authenticate_test.go.

// govGateway is a real in-process gateway over SQLite in a temp dir, served
// by httptest.
type govGateway struct {
	*Gateway
	srv     *httptest.Server
	stopped bool
}

// newGovGateway builds a gateway from cfg (DataDir defaults to a fresh temp
// dir, AdminKey to testAdminKey) and serves its handler. It is shut down when
// the test ends, or earlier by stop.
func newGovGateway(t *testing.T, cfg Config) *govGateway {
	t.Helper()
	if cfg.DataDir == "" {
		cfg.DataDir = t.TempDir()
	}
	if cfg.AdminKey == "" {
		cfg.AdminKey = testAdminKey
	}
	gw, err := New(context.Background(), cfg, Options{Logger: zerolog.Nop(), Version: "test", Terminal: io.Discard})
	if err != nil {
		t.Fatalf("gateway.New: %v", err)
	}
	g := &govGateway{Gateway: gw, srv: httptest.NewServer(gw.Handler())}
	t.Cleanup(func() { g.stop(t) })
	return g
}

// stop closes the server and shuts the gateway down (flushing usage and
// closing the store), so another gateway may open the same data dir.
func (g *govGateway) stop(t *testing.T) {
	t.Helper()
	if g.stopped {
		return
	}
	g.stopped = true
	g.srv.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := g.Shutdown(ctx); err != nil {
		t.Errorf("shutdown: %v", err)
	}
}

// govResp is a finished HTTP exchange.
type govResp struct {
	Status int
	Header http.Header
	Body   []byte
	what   string // "METHOD path", for messages
}

// send makes a request. body is nil (no body), a string or []byte (sent
// raw) or any other value (sent as JSON). header adds headers.
func (g *govGateway) send(t *testing.T, method, path string, body any, header http.Header) govResp {
	t.Helper()
	var r io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		r = strings.NewReader(b)
	case []byte:
		r = bytes.NewReader(b)
	default:
		enc, err := json.Marshal(b)
		if err != nil {
			t.Fatalf("encode request body: %v", err)
		}
		r = bytes.NewReader(enc)
	}
	req, err := http.NewRequest(method, g.srv.URL+path, r)
	if err != nil {
		t.Fatal(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	for k, vs := range header {
		for _, v := range vs {
			req.Header.Add(k, v)
		}
	}
	resp, err := g.srv.Client().Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: read body: %v", method, path, err)
	}
	return govResp{Status: resp.StatusCode, Header: resp.Header, Body: b, what: method + " " + path}
}

// admin makes a request with the admin key.
func (g *govGateway) admin(t *testing.T, method, path string, body any) govResp {
	t.Helper()
	return g.send(t, method, path, body, http.Header{"Authorization": {"Bearer " + testAdminKey}})
}

// caller makes a request presenting a virtual key as a bearer token.
func (g *govGateway) caller(t *testing.T, method, path, secret string) govResp {
	t.Helper()
	return g.send(t, method, path, nil, http.Header{"Authorization": {"Bearer " + secret}})
}

// want fails the test unless the response has status.
func (r govResp) want(t *testing.T, status int) govResp {
	t.Helper()
	if r.Status != status {
		t.Fatalf("%s: status %d, want %d; body: %s", r.what, r.Status, status, r.Body)
	}
	return r
}

// decode unmarshals the body into v, which it zeroes first so that fields
// the body leaves out (omitempty) do not keep an earlier value.
func (r govResp) decode(t *testing.T, v any) {
	t.Helper()
	reflect.ValueOf(v).Elem().SetZero()
	if err := json.Unmarshal(r.Body, v); err != nil {
		t.Fatalf("%s: decode %T: %v; body: %s", r.what, v, err, r.Body)
	}
}

// wantError checks an OpenAI-shaped error {"error":{"message","type","code"}}
// with status and code, and returns it.
func (r govResp) wantError(t *testing.T, status int, code string) errorDetail {
	t.Helper()
	r.want(t, status)
	if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Errorf("%s: error Content-Type %q, want application/json", r.what, ct)
	}
	var shape map[string]map[string]any
	if err := json.Unmarshal(r.Body, &shape); err != nil {
		t.Fatalf("%s: error body is not {\"error\": {...}}: %v; body: %s", r.what, err, r.Body)
	}
	if len(shape) != 1 || shape["error"] == nil {
		t.Fatalf("%s: error body must have exactly the key \"error\": %s", r.what, r.Body)
	}
	for _, f := range []string{"message", "type", "code"} {
		if s, _ := shape["error"][f].(string); s == "" {
			t.Errorf("%s: error.%s is missing or empty: %s", r.what, f, r.Body)
		}
	}
	var e errorBody
	r.decode(t, &e)
	if e.Error.Code != code {
		t.Errorf("%s: error code %q, want %q; body: %s", r.what, e.Error.Code, code, r.Body)
	}
	return e.Error
}

// govKey is the body of a key creation: the key and its secret.
type govKey struct {
	policy.Key
	Secret string `json:"key"`
}

func (g *govGateway) createTeam(t *testing.T, body any) policy.Team {
	t.Helper()
	var team policy.Team
	g.admin(t, http.MethodPost, "/admin/v1/teams", body).want(t, http.StatusCreated).decode(t, &team)
	return team
}

func (g *govGateway) createKey(t *testing.T, body any) govKey {
	t.Helper()
	var k govKey
	g.admin(t, http.MethodPost, "/admin/v1/keys", body).want(t, http.StatusCreated).decode(t, &k)
	if k.ID == "" || !strings.HasPrefix(k.Secret, policy.KeyPrefix) {
		t.Fatalf("created key lacks an id or a jk- secret: %+v", k)
	}
	return k
}

// adminList GETs an admin list endpoint and returns its data.
func adminList[T any](t *testing.T, g *govGateway, path string) []T {
	t.Helper()
	var l struct{ Data []T }
	g.admin(t, http.MethodGet, path, nil).want(t, http.StatusOK).decode(t, &l)
	return l.Data
}

func (g *govGateway) listTeams(t *testing.T) []policy.Team {
	return adminList[policy.Team](t, g, "/admin/v1/teams")
}

func (g *govGateway) listKeys(t *testing.T, query string) []policy.Key {
	return adminList[policy.Key](t, g, "/admin/v1/keys"+query)
}

func (g *govGateway) listRules(t *testing.T) []policy.Rule {
	return adminList[policy.Rule](t, g, "/admin/v1/policies")
}

// wantRules checks that the policy list is want, in order; what names the
// list in the message.
func (g *govGateway) wantRules(t *testing.T, what string, want ...policy.Rule) {
	t.Helper()
	if rules := g.listRules(t); !slices.Equal(rules, want) {
		t.Errorf("%s %+v, want %+v", what, rules, want)
	}
}

func teamNames(ts []policy.Team) []string {
	out := []string{}
	for _, t := range ts {
		out = append(out, t.Name)
	}
	return out
}

func keyNames(ks []policy.Key) []string {
	out := []string{}
	for _, k := range ks {
		out = append(out, k.Name)
	}
	return out
}

func TestAdminTeamCreate(t *testing.T) {
	t.Parallel()
	g := newGovGateway(t, Config{})
	team := g.createTeam(t, map[string]any{
		"name":     "research",
		"budget":   map[string]any{"usd": 100, "period": "1mo"},
		"limits":   map[string]any{"rpm": 600, "tpm": 200000, "tool_calls_per_min": 30},
		"metadata": map[string]string{"owner": "alice"},
	})
	want := policy.Team{Name: "research", Budget: &policy.Budget{USD: 100, Period: policy.PeriodMonth},
		Limits: policy.Limits{RPM: 600, TPM: 200000, ToolCallsPerMin: 30}, Metadata: map[string]string{"owner": "alice"}, Source: "api"}
	if team.CreatedAt.IsZero() || team.UpdatedAt.IsZero() {
		t.Errorf("created team lacks timestamps: %+v", team)
	}
	team.CreatedAt, team.UpdatedAt = time.Time{}, time.Time{}
	if !teamEqual(team, want) {
		t.Errorf("created team = %+v, want %+v", team, want)
	}

	// The minimal team: a name only.
	bare := g.createTeam(t, map[string]any{"name": "ops"})
	if bare.Budget != nil || bare.Limits != (policy.Limits{}) || bare.Source != "api" {
		t.Errorf("bare team = %+v", bare)
	}

	// Duplicate name: 409 in OpenAI's error shape.
	e := g.admin(t, http.MethodPost, "/admin/v1/teams", map[string]any{"name": "research"}).wantError(t, http.StatusConflict, "conflict")
	if !strings.Contains(e.Message, "research") {
		t.Errorf("conflict message does not name the team: %q", e.Message)
	}

	// The duplicate changed nothing.
	var got policy.Team
	g.admin(t, http.MethodGet, "/admin/v1/teams/research", nil).want(t, http.StatusOK).decode(t, &got)
	if got.Budget == nil || got.Budget.USD != 100 {
		t.Errorf("team after a refused duplicate: %+v", got)
	}
}

func teamEqual(a, b policy.Team) bool {
	ab, _ := json.Marshal(a)
	bb, _ := json.Marshal(b)
	return bytes.Equal(ab, bb)
}

func TestAdminTeamCreateInvalid(t *testing.T) {
	t.Parallel()
	g := newGovGateway(t, Config{})
	cases := []struct {
		name string
		body string
		code string   // expected error code
		want []string // words the message must contain (the field)
	}{
		{"empty name", `{"name":""}`, "invalid_request", []string{"team.name"}},
		{"missing name", `{}`, "invalid_request", []string{"team.name"}},
		{"name with space", `{"name":"bad name"}`, "invalid_request", []string{"team.name"}},
		{"name with slash", `{"name":"a/b"}`, "invalid_request", []string{"team.name"}},
		{"name starting with underscore", `{"name":"_x"}`, "invalid_request", []string{"team.name"}},
		{"name too long", `{"name":"` + strings.Repeat("a", 129) + `"}`, "invalid_request", []string{"team.name"}},
		{"negative rpm", `{"name":"t","limits":{"rpm":-1}}`, "invalid_request", []string{"team.limits.rpm"}},
		{"negative tpm", `{"name":"t","limits":{"tpm":-5}}`, "invalid_request", []string{"team.limits.tpm"}},
		{"negative tool calls", `{"name":"t","limits":{"tool_calls_per_min":-1}}`, "invalid_request", []string{"team.limits.tool_calls_per_min"}},
		{"negative budget", `{"name":"t","budget":{"usd":-1}}`, "invalid_request", []string{"team.budget.usd"}},
		{"huge budget", `{"name":"t","budget":{"usd":1e13}}`, "invalid_request", []string{"team.budget.usd"}},
		{"several problems", `{"name":"bad name","limits":{"rpm":-1}}`, "invalid_request", []string{"team.name", "team.limits.rpm"}},
		// A period the type refuses fails while decoding: still a 400 naming it.
		{"bad period", `{"name":"t","budget":{"usd":1,"period":"2d"}}`, "invalid_request", []string{"period", "2d"}},
		{"period not a string", `{"name":"t","budget":{"usd":1,"period":1}}`, "invalid_request", []string{"period"}},
		{"unknown field", `{"name":"t","colour":"red"}`, "invalid_request", []string{"colour"}},
		{"source cannot be set", `{"name":"t","source":"file"}`, "invalid_request", []string{"source"}},
		{"rpm not a number", `{"name":"t","limits":{"rpm":"many"}}`, "invalid_request", []string{"rpm"}},
		{"not JSON", `{"name":`, "invalid_json", nil},
		{"empty body", ``, "invalid_json", nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := g.admin(t, http.MethodPost, "/admin/v1/teams", tc.body).wantError(t, http.StatusBadRequest, tc.code)
			if e.Type != "invalid_request_error" {
				t.Errorf("type %q", e.Type)
			}
			for _, w := range tc.want {
				if !strings.Contains(e.Message, w) {
					t.Errorf("message %q does not name %q", e.Message, w)
				}
			}
		})
	}
	if names := teamNames(g.listTeams(t)); len(names) != 0 {
		t.Errorf("refused creations made teams: %v", names)
	}
}

func TestAdminTeamPeriods(t *testing.T) {
	t.Parallel()
	g := newGovGateway(t, Config{})
	for i, tc := range []struct{ in, want string }{
		{"1h", "1h"}, {"1d", "1d"}, {"1w", "1w"}, {"1mo", "1mo"}, {"none", ""}, {"", ""},
	} {
		name := "p" + string(rune('a'+i))
		team := g.createTeam(t, map[string]any{"name": name, "budget": map[string]any{"usd": 1, "period": tc.in}})
		if team.Budget == nil || string(team.Budget.Period) != tc.want {
			t.Errorf("period %q: team budget %+v, want period %q", tc.in, team.Budget, tc.want)
		}
	}
}

func TestAdminTeamListGetPatchDelete(t *testing.T) {
	t.Parallel()
	g := newGovGateway(t, Config{})
	if names := teamNames(g.listTeams(t)); len(names) != 0 {
		t.Fatalf("fresh gateway has teams %v", names)
	}
	// An empty list is [] rather than null.
	if body := g.admin(t, http.MethodGet, "/admin/v1/teams", nil).want(t, 200).Body; !bytes.Contains(body, []byte(`"data":[]`)) {
		t.Errorf("empty team list: %s", body)
	}
	for _, n := range []string{"zeta", "alpha", "mid"} {
		g.createTeam(t, map[string]any{"name": n, "budget": map[string]any{"usd": 10, "period": "1d"}, "limits": map[string]any{"rpm": 5}})
	}
	if names := teamNames(g.listTeams(t)); !slices.Equal(names, []string{"alpha", "mid", "zeta"}) {
		t.Errorf("team list %v, want sorted by name", names)
	}

	var one policy.Team
	g.admin(t, http.MethodGet, "/admin/v1/teams/mid", nil).want(t, 200).decode(t, &one)
	if one.Name != "mid" || one.Budget == nil || one.Budget.USD != 10 || one.Limits.RPM != 5 {
		t.Errorf("GET team: %+v", one)
	}
	g.admin(t, http.MethodGet, "/admin/v1/teams/nope", nil).wantError(t, http.StatusNotFound, "not_found")

	patch := func(body string) govResp {
		t.Helper()
		return g.admin(t, http.MethodPatch, "/admin/v1/teams/mid", body)
	}
	// Change the budget's amount: a merge patch keeps the period and limits.
	var got policy.Team
	patch(`{"budget":{"usd":25}}`).want(t, 200).decode(t, &got)
	if got.Budget == nil || got.Budget.USD != 25 || got.Budget.Period != policy.PeriodDay || got.Limits.RPM != 5 {
		t.Errorf("after budget patch: %+v", got)
	}
	if !got.UpdatedAt.After(one.UpdatedAt) && !got.UpdatedAt.Equal(one.UpdatedAt) {
		t.Errorf("updated_at went backwards: %v -> %v", one.UpdatedAt, got.UpdatedAt)
	}
	// Add a limit; the others stay.
	patch(`{"limits":{"tpm":1000}}`).want(t, 200).decode(t, &got)
	if got.Limits != (policy.Limits{RPM: 5, TPM: 1000}) {
		t.Errorf("after limits patch: %+v", got.Limits)
	}
	// Remove one limit with null.
	patch(`{"limits":{"rpm":null}}`).want(t, 200).decode(t, &got)
	if got.Limits != (policy.Limits{TPM: 1000}) {
		t.Errorf("after removing rpm: %+v", got.Limits)
	}
	// Remove the budget with null.
	patch(`{"budget":null}`).want(t, 200).decode(t, &got)
	if got.Budget != nil {
		t.Errorf("budget not removed: %+v", got.Budget)
	}
	// The change is what GET shows, too.
	g.admin(t, http.MethodGet, "/admin/v1/teams/mid", nil).want(t, 200).decode(t, &got)
	if got.Budget != nil || got.Limits.TPM != 1000 || got.Source != "api" || !got.CreatedAt.Equal(one.CreatedAt) {
		t.Errorf("GET after patches: %+v (created %v)", got, one.CreatedAt)
	}
	// An empty patch changes nothing.
	patch(`{}`).want(t, 200)

	for _, tc := range []struct {
		name, body, code string
		want             []string
	}{
		{"unknown field", `{"colour":"red"}`, "invalid_request", []string{"colour"}},
		{"unknown nested field", `{"limits":{"rpx":1}}`, "invalid_request", []string{"rpx"}},
		{"change name", `{"name":"other"}`, "invalid_request", []string{"name"}},
		{"same name", `{"name":"mid"}`, "invalid_request", []string{"name"}},
		{"change source", `{"source":"file"}`, "invalid_request", []string{"source"}},
		{"change created_at", `{"created_at":"2020-01-01T00:00:00Z"}`, "invalid_request", []string{"created_at"}},
		{"negative limit", `{"limits":{"rpm":-3}}`, "invalid_request", []string{"limits.rpm"}},
		{"negative budget", `{"budget":{"usd":-3}}`, "invalid_request", []string{"budget.usd"}},
		{"bad period", `{"budget":{"usd":1,"period":"2d"}}`, "invalid_request", []string{"period"}},
		{"array body", `[1,2]`, "invalid_json", nil},
		{"not JSON", `{`, "invalid_json", nil},
	} {
		t.Run("patch "+tc.name, func(t *testing.T) {
			e := patch(tc.body).wantError(t, http.StatusBadRequest, tc.code)
			for _, w := range tc.want {
				if !strings.Contains(e.Message, w) {
					t.Errorf("message %q does not name %q", e.Message, w)
				}
			}
		})
	}
	// The refused patches changed nothing.
	g.admin(t, http.MethodGet, "/admin/v1/teams/mid", nil).want(t, 200).decode(t, &got)
	if got.Name != "mid" || got.Budget != nil || got.Limits != (policy.Limits{TPM: 1000}) {
		t.Errorf("team after refused patches: %+v", got)
	}
	g.admin(t, http.MethodPatch, "/admin/v1/teams/nope", `{}`).wantError(t, http.StatusNotFound, "not_found")

	// DELETE: 204 with no body, then gone.
	r := g.admin(t, http.MethodDelete, "/admin/v1/teams/zeta", nil).want(t, http.StatusNoContent)
	if len(r.Body) != 0 {
		t.Errorf("204 with a body: %q", r.Body)
	}
	g.admin(t, http.MethodGet, "/admin/v1/teams/zeta", nil).wantError(t, http.StatusNotFound, "not_found")
	g.admin(t, http.MethodDelete, "/admin/v1/teams/zeta", nil).wantError(t, http.StatusNotFound, "not_found")
	if names := teamNames(g.listTeams(t)); !slices.Equal(names, []string{"alpha", "mid"}) {
		t.Errorf("teams after delete: %v", names)
	}
	// The name is free again.
	g.createTeam(t, map[string]any{"name": "zeta"})
}

func TestAdminTeamDeleteWithKeys(t *testing.T) {
	t.Parallel()
	g := newGovGateway(t, Config{})
	g.createTeam(t, map[string]any{"name": "research"})
	k := g.createKey(t, map[string]any{"name": "bot", "team": "research"})
	e := g.admin(t, http.MethodDelete, "/admin/v1/teams/research", nil).wantError(t, http.StatusConflict, "conflict")
	if !strings.Contains(e.Message, "research") || !strings.Contains(e.Message, "bot") {
		t.Errorf("conflict message should name the team and a key: %q", e.Message)
	}
	g.admin(t, http.MethodGet, "/admin/v1/teams/research", nil).want(t, http.StatusOK)
	// Once the key is gone the team can go.
	g.admin(t, http.MethodDelete, "/admin/v1/keys/"+k.ID, nil).want(t, http.StatusNoContent)
	g.admin(t, http.MethodDelete, "/admin/v1/teams/research", nil).want(t, http.StatusNoContent)
}

func TestAdminKeyCreate(t *testing.T) {
	t.Parallel()
	g := newGovGateway(t, Config{})
	g.createTeam(t, map[string]any{"name": "research"})

	r := g.admin(t, http.MethodPost, "/admin/v1/keys", map[string]any{"name": "alice"}).want(t, http.StatusCreated)
	if cc := r.Header.Get("Cache-Control"); cc != "no-store" {
		t.Errorf("key creation Cache-Control %q, want no-store", cc)
	}
	var k govKey
	r.decode(t, &k)
	if !strings.HasPrefix(k.Secret, "jk-") || len(k.Secret) < 40 {
		t.Errorf("secret %q: want jk- and 32 random bytes", k.Secret)
	}
	if !strings.HasPrefix(k.ID, "key_") || k.Name != "alice" || k.Team != "" || !k.Enabled || k.Source != "api" {
		t.Errorf("created key: %+v", k.Key)
	}
	if !slices.Equal(k.Models, []string{"*"}) || !slices.Equal(k.Tools, []string{"*"}) {
		t.Errorf("default models %v tools %v, want [*] [*]", k.Models, k.Tools)
	}
	if k.Roles == nil || len(k.Roles) != 0 {
		t.Errorf("default roles %v, want []", k.Roles)
	}
	if !strings.HasPrefix(k.Hint, "jk-") || !strings.HasPrefix(k.Secret, strings.TrimSuffix(k.Hint, "…")) || len(k.Hint) >= len(k.Secret)/2 {
		t.Errorf("hint %q of secret %q", k.Hint, k.Secret)
	}
	if k.CreatedAt.IsZero() || k.ExpiresAt != nil || k.Budget != nil {
		t.Errorf("created key: %+v", k.Key)
	}
	var raw map[string]any
	r.decode(t, &raw)
	if _, ok := raw["hash"]; ok {
		t.Errorf("create response carries the hash: %s", r.Body)
	}

	// Every field of the input.
	exp := time.Now().Add(48 * time.Hour).UTC().Truncate(time.Second)
	full := g.createKey(t, map[string]any{
		"name": "bob", "team": "research", "customer": "acme", "roles": []string{"reader", "writer"},
		"models": []string{"openai/*", "fast"}, "tools": []string{"files/read_*"},
		"budget": map[string]any{"usd": 5, "period": "1d"}, "limits": map[string]any{"rpm": 60, "tpm": 1000, "tool_calls_per_min": 10},
		"expires_at": exp, "enabled": true, "metadata": map[string]string{"env": "ci"},
	})
	if full.Team != "research" || full.Customer != "acme" || !slices.Equal(full.Roles, []string{"reader", "writer"}) ||
		!slices.Equal(full.Models, []string{"openai/*", "fast"}) || !slices.Equal(full.Tools, []string{"files/read_*"}) ||
		full.Budget == nil || *full.Budget != (policy.Budget{USD: 5, Period: policy.PeriodDay}) ||
		full.Limits != (policy.Limits{RPM: 60, TPM: 1000, ToolCallsPerMin: 10}) ||
		full.ExpiresAt == nil || !full.ExpiresAt.Equal(exp) || full.Metadata["env"] != "ci" {
		t.Errorf("full key: %+v", full.Key)
	}
	if full.Secret == k.Secret {
		t.Error("two keys got the same secret")
	}
	// An empty list is kept: the key grants nothing directly.
	none := g.createKey(t, map[string]any{"name": "carol", "models": []string{}, "tools": []string{}})
	if none.Models == nil || len(none.Models) != 0 || none.Tools == nil || len(none.Tools) != 0 {
		t.Errorf("explicit empty lists became %v %v", none.Models, none.Tools)
	}
	// A key created disabled.
	off := g.createKey(t, map[string]any{"name": "dave", "enabled": false})
	if off.Enabled {
		t.Error("enabled:false ignored")
	}

	for _, tc := range []struct {
		name, body, code string
		want             []string
		status           int
	}{
		{"unknown team", `{"name":"x","team":"nope"}`, "invalid_request", []string{"key.team", "nope"}, 400},
		{"bad team name", `{"name":"x","team":"bad team"}`, "invalid_request", []string{"key.team"}, 400},
		{"empty name", `{"name":""}`, "invalid_request", []string{"key.name"}, 400},
		{"bad name", `{"name":"has space"}`, "invalid_request", []string{"key.name"}, 400},
		{"bad role", `{"name":"x","roles":["a b"]}`, "invalid_request", []string{"key.roles[0]"}, 400},
		{"model with comma", `{"name":"x","models":["a,b"]}`, "invalid_request", []string{"key.models[0]"}, 400},
		{"empty tool pattern", `{"name":"x","tools":[""]}`, "invalid_request", []string{"key.tools[0]"}, 400},
		{"negative limit", `{"name":"x","limits":{"tpm":-1}}`, "invalid_request", []string{"key.limits.tpm"}, 400},
		{"negative budget", `{"name":"x","budget":{"usd":-1}}`, "invalid_request", []string{"key.budget.usd"}, 400},
		{"bad period", `{"name":"x","budget":{"usd":1,"period":"weekly"}}`, "invalid_request", []string{"period"}, 400},
		{"bad expires_at", `{"name":"x","expires_at":"tomorrow"}`, "invalid_request", []string{"tomorrow"}, 400},
		{"already expired", `{"name":"x","expires_at":"2001-01-01T00:00:00Z"}`, "invalid_request", []string{"key.expires_at", "not in the future"}, 400},
		{"unknown field", `{"name":"x","secret":"jk-mine"}`, "invalid_request", []string{"secret"}, 400},
		{"cannot choose the id", `{"name":"x","id":"key_mine"}`, "invalid_request", []string{"id"}, 400},
		{"duplicate name", `{"name":"alice"}`, "conflict", []string{"alice"}, 409},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := g.admin(t, http.MethodPost, "/admin/v1/keys", tc.body).wantError(t, tc.status, tc.code)
			for _, w := range tc.want {
				if !strings.Contains(e.Message, w) {
					t.Errorf("message %q does not name %q", e.Message, w)
				}
			}
		})
	}
	if names := keyNames(g.listKeys(t, "")); !slices.Equal(names, []string{"alice", "bob", "carol", "dave"}) {
		t.Errorf("keys after refused creations: %v", names)
	}
}

func TestAdminKeySecretShownOnlyAtCreation(t *testing.T) {
	t.Parallel()
	g := newGovGateway(t, Config{})
	g.createTeam(t, map[string]any{"name": "research"})
	k := g.createKey(t, map[string]any{"name": "alice", "team": "research"})
	noSecret := func(r govResp) {
		t.Helper()
		if bytes.Contains(r.Body, []byte(k.Secret)) {
			t.Errorf("%s shows the secret: %s", r.what, r.Body)
		}
		if bytes.Contains(r.Body, []byte(`"key":"jk-`)) || bytes.Contains(r.Body, []byte(`"hash"`)) {
			t.Errorf("%s has a key or hash field: %s", r.what, r.Body)
		}
	}
	noSecret(g.admin(t, http.MethodGet, "/admin/v1/keys", nil).want(t, 200))
	noSecret(g.admin(t, http.MethodGet, "/admin/v1/keys/"+k.ID, nil).want(t, 200))
	noSecret(g.admin(t, http.MethodGet, "/admin/v1/keys/alice", nil).want(t, 200))
	noSecret(g.admin(t, http.MethodPatch, "/admin/v1/keys/"+k.ID, `{"customer":"x"}`).want(t, 200))
	noSecret(g.admin(t, http.MethodGet, "/admin/v1/keys/"+k.ID+"/state", nil).want(t, 200))
	noSecret(g.caller(t, http.MethodGet, "/v1/key", k.Secret).want(t, 200))
	// Not even in the store's raw rows.
	rows, err := g.Store().ListResources(context.Background(), "key")
	if err != nil {
		t.Fatal(err)
	}
	for _, row := range rows {
		if bytes.Contains(row.Spec, []byte(k.Secret)) {
			t.Errorf("the store holds the secret: %s", row.Spec)
		}
	}
}

func TestAdminKeyGetListPatch(t *testing.T) {
	t.Parallel()
	g := newGovGateway(t, Config{})
	g.createTeam(t, map[string]any{"name": "research"})
	g.createTeam(t, map[string]any{"name": "ops"})
	a := g.createKey(t, map[string]any{"name": "alice", "team": "research"})
	g.createKey(t, map[string]any{"name": "bob", "team": "ops"})
	g.createKey(t, map[string]any{"name": "aaron"})

	if names := keyNames(g.listKeys(t, "")); !slices.Equal(names, []string{"aaron", "alice", "bob"}) {
		t.Errorf("key list %v, want sorted by name", names)
	}
	if names := keyNames(g.listKeys(t, "?team=research")); !slices.Equal(names, []string{"alice"}) {
		t.Errorf("keys of team research: %v", names)
	}
	if names := keyNames(g.listKeys(t, "?team=nobody")); len(names) != 0 {
		t.Errorf("keys of an unknown team: %v", names)
	}

	// By id and by name, the same key.
	var byID, byName policy.Key
	g.admin(t, http.MethodGet, "/admin/v1/keys/"+a.ID, nil).want(t, 200).decode(t, &byID)
	g.admin(t, http.MethodGet, "/admin/v1/keys/alice", nil).want(t, 200).decode(t, &byName)
	if byID.ID != a.ID || byName.ID != a.ID || byID.Name != "alice" || byID.Hint != a.Hint || byID.Team != "research" {
		t.Errorf("GET by id %+v, by name %+v, created %+v", byID, byName, a.Key)
	}
	g.admin(t, http.MethodGet, "/admin/v1/keys/key_nope", nil).wantError(t, http.StatusNotFound, "not_found")

	var got policy.Key
	patch := func(target, body string) govResp {
		t.Helper()
		return g.admin(t, http.MethodPatch, "/admin/v1/keys/"+target, body)
	}
	// Change models, by id.
	patch(a.ID, `{"models":["openai/gpt-4o-mini"]}`).want(t, 200).decode(t, &got)
	if !slices.Equal(got.Models, []string{"openai/gpt-4o-mini"}) || !slices.Equal(got.Tools, []string{"*"}) || got.ID != a.ID || got.Hint != a.Hint {
		t.Errorf("after models patch: %+v", got)
	}
	// The new models take effect at once.
	check := func(object string) bool {
		t.Helper()
		var c struct{ Allowed bool }
		g.admin(t, http.MethodPost, "/admin/v1/policies/check", map[string]string{"key": a.ID, "object": object, "action": "use"}).want(t, 200).decode(t, &c)
		return c.Allowed
	}
	if !check("model:openai/gpt-4o-mini") || check("model:openai/gpt-4o") {
		t.Error("model patterns not in force after the patch")
	}
	// Disable, by name.
	patch("alice", `{"enabled":false}`).want(t, 200).decode(t, &got)
	if got.Enabled {
		t.Error("enabled:false not applied")
	}
	// Expiry, roles, budget, limits, team, customer, metadata.
	exp := time.Date(2031, 2, 3, 4, 5, 6, 0, time.UTC)
	patch(a.ID, `{"expires_at":"2031-02-03T05:05:06+01:00","roles":["reader"],"budget":{"usd":3,"period":"1w"},
		"limits":{"rpm":7},"team":"ops","customer":"acme","metadata":{"k":"v"}}`).want(t, 200).decode(t, &got)
	if got.ExpiresAt == nil || !got.ExpiresAt.Equal(exp) || !slices.Equal(got.Roles, []string{"reader"}) ||
		got.Budget == nil || *got.Budget != (policy.Budget{USD: 3, Period: policy.PeriodWeek}) ||
		got.Limits.RPM != 7 || got.Team != "ops" || got.Customer != "acme" || got.Metadata["k"] != "v" {
		t.Errorf("after the big patch: %+v", got)
	}
	if got.ExpiresAt.Location() != time.UTC {
		t.Errorf("expires_at not normalised to UTC: %v", got.ExpiresAt)
	}
	// Remove with null.
	patch(a.ID, `{"expires_at":null,"budget":null,"team":null,"metadata":{"k":null}}`).want(t, 200).decode(t, &got)
	if got.ExpiresAt != nil || got.Budget != nil || got.Team != "" || len(got.Metadata) != 0 {
		t.Errorf("after removing with null: %+v", got)
	}
	// models: null goes back to the default ["*"].
	patch(a.ID, `{"models":null}`).want(t, 200).decode(t, &got)
	if !slices.Equal(got.Models, []string{"*"}) {
		t.Errorf("models after null: %v", got.Models)
	}

	for _, tc := range []struct {
		name, body, code string
		want             []string
	}{
		{"unknown field", `{"colour":"red"}`, "invalid_request", []string{"colour"}},
		{"change id", `{"id":"key_x"}`, "invalid_request", []string{"id"}},
		{"change name", `{"name":"mallory"}`, "invalid_request", []string{"name"}},
		{"change hint", `{"hint":"jk-xxxx"}`, "invalid_request", []string{"hint"}},
		{"change source", `{"source":"file"}`, "invalid_request", []string{"source"}},
		{"smuggle a hash", `{"hash":"00"}`, "invalid_request", []string{"hash"}},
		{"unknown team", `{"team":"nope"}`, "invalid_request", []string{"key.team"}},
		{"bad role", `{"roles":["a b"]}`, "invalid_request", []string{"key.roles[0]"}},
		{"negative limit", `{"limits":{"rpm":-1}}`, "invalid_request", []string{"key.limits.rpm"}},
		{"bad expiry", `{"expires_at":"soon"}`, "invalid_request", []string{"soon"}},
		{"enabled not a bool", `{"enabled":"no"}`, "invalid_request", []string{"enabled"}},
		{"not an object", `"x"`, "invalid_json", nil},
	} {
		t.Run("patch "+tc.name, func(t *testing.T) {
			e := patch(a.ID, tc.body).wantError(t, http.StatusBadRequest, tc.code)
			for _, w := range tc.want {
				if !strings.Contains(e.Message, w) {
					t.Errorf("message %q does not name %q", e.Message, w)
				}
			}
		})
	}
	patch("key_nope", `{}`).wantError(t, http.StatusNotFound, "not_found")
	// A patch never changes the secret: the original still authenticates
	// once the key is enabled again.
	patch(a.ID, `{"enabled":true}`).want(t, 200)
	g.caller(t, http.MethodGet, "/v1/key", a.Secret).want(t, 200)
}

func TestAdminKeyDelete(t *testing.T) {
	t.Parallel()
	g := newGovGateway(t, Config{})
	a := g.createKey(t, map[string]any{"name": "alice"})
	b := g.createKey(t, map[string]any{"name": "bob"})
	g.caller(t, http.MethodGet, "/v1/key", a.Secret).want(t, 200)

	r := g.admin(t, http.MethodDelete, "/admin/v1/keys/"+a.ID, nil).want(t, http.StatusNoContent)
	if len(r.Body) != 0 {
		t.Errorf("204 with a body: %q", r.Body)
	}
	// Revoked at once on this replica.
	g.caller(t, http.MethodGet, "/v1/key", a.Secret).wantError(t, http.StatusUnauthorized, "invalid_api_key")
	g.admin(t, http.MethodGet, "/admin/v1/keys/"+a.ID, nil).wantError(t, http.StatusNotFound, "not_found")
	g.admin(t, http.MethodDelete, "/admin/v1/keys/"+a.ID, nil).wantError(t, http.StatusNotFound, "not_found")
	g.admin(t, http.MethodGet, "/admin/v1/keys/"+a.ID+"/state", nil).wantError(t, http.StatusNotFound, "not_found")
	// Others are untouched.
	g.caller(t, http.MethodGet, "/v1/key", b.Secret).want(t, 200)
	// Delete by name.
	g.admin(t, http.MethodDelete, "/admin/v1/keys/bob", nil).want(t, http.StatusNoContent)
	g.caller(t, http.MethodGet, "/v1/key", b.Secret).wantError(t, http.StatusUnauthorized, "invalid_api_key")
	// A new key of the same name has a new secret; the old one stays revoked.
	c := g.createKey(t, map[string]any{"name": "alice"})
	if c.ID == a.ID {
		t.Error("a re-created key reused the id")
	}
	g.caller(t, http.MethodGet, "/v1/key", a.Secret).wantError(t, http.StatusUnauthorized, "invalid_api_key")
	g.caller(t, http.MethodGet, "/v1/key", c.Secret).want(t, 200)
}

func TestAdminKeyState(t *testing.T) {
	t.Parallel()
	g := newGovGateway(t, Config{})
	g.createTeam(t, map[string]any{"name": "research", "budget": map[string]any{"usd": 100, "period": "1mo"},
		"limits": map[string]any{"rpm": 600, "tpm": 200000}})
	k := g.createKey(t, map[string]any{"name": "bot", "team": "research",
		"budget": map[string]any{"usd": 5, "period": "1d"}, "limits": map[string]any{"rpm": 60, "tool_calls_per_min": 120}})

	var st policy.KeyState
	g.admin(t, http.MethodGet, "/admin/v1/keys/"+k.ID+"/state", nil).want(t, 200).decode(t, &st)
	if st.Key.ID != k.ID {
		t.Errorf("state of key %q, want %q", st.Key.ID, k.ID)
	}
	budgets := map[policy.Scope]policy.BudgetState{}
	for _, b := range st.Budgets {
		budgets[b.Scope] = b
	}
	if len(st.Budgets) != 2 {
		t.Errorf("budgets %+v, want key and team", st.Budgets)
	}
	if b := budgets[policy.ScopeKey]; b.LimitUSD != 5 || b.SpentUSD != 0 || b.RemainingUSD != 5 || b.Period != policy.PeriodDay || b.ResetsAt == nil || !b.ResetsAt.After(time.Now()) {
		t.Errorf("key budget state %+v", b)
	}
	if b := budgets[policy.ScopeTeam]; b.LimitUSD != 100 || b.RemainingUSD != 100 || b.Period != policy.PeriodMonth || b.ResetsAt == nil {
		t.Errorf("team budget state %+v", b)
	}
	type lim struct {
		scope policy.Scope
		dim   policy.Dimension
	}
	limits := map[lim]policy.LimitState{}
	for _, l := range st.Limits {
		limits[lim{l.Scope, l.Dimension}] = l
	}
	wantLimits := map[lim]int64{
		{policy.ScopeKey, policy.DimRequests}:  60,
		{policy.ScopeKey, policy.DimToolCalls}: 120,
		{policy.ScopeTeam, policy.DimRequests}: 600,
		{policy.ScopeTeam, policy.DimTokens}:   200000,
	}
	if len(limits) != len(wantLimits) {
		t.Errorf("limits %+v, want %v", st.Limits, wantLimits)
	}
	for l, n := range wantLimits {
		got, ok := limits[l]
		if !ok || got.Limit != n || got.Used != 0 || got.Remaining != n || got.ResetsAt.IsZero() {
			t.Errorf("limit %v: %+v, want limit %d unused", l, got, n)
		}
	}
	// By name too.
	g.admin(t, http.MethodGet, "/admin/v1/keys/bot/state", nil).want(t, 200)

	// Admitting work shows in the state: one request used, the estimate held.
	id, err := g.Policy().Authenticate(k.Secret)
	if err != nil {
		t.Fatal(err)
	}
	res, err := g.Policy().Admit(context.Background(), id, policy.Work{Kind: policy.KindLLM, Model: "openai/gpt-4o", PromptTokens: 100, MaxTokens: 50})
	if err != nil {
		t.Fatal(err)
	}
	res.Settle(context.Background(), policy.Outcome{Usage: policy.TokenUsage{PromptTokens: 100, CompletionTokens: 20}})
	g.admin(t, http.MethodGet, "/admin/v1/keys/"+k.ID+"/state", nil).want(t, 200).decode(t, &st)
	for _, l := range st.Limits {
		want := int64(0)
		switch {
		case l.Dimension == policy.DimRequests:
			want = 1
		case l.Dimension == policy.DimTokens:
			want = 120
		}
		if l.Used != want || l.Remaining != l.Limit-want {
			t.Errorf("after one request, %s %s: used %d remaining %d, want used %d", l.Scope, l.Dimension, l.Used, l.Remaining, want)
		}
	}
	for _, b := range st.Budgets {
		if !approx(b.SpentUSD, 0.00045) || !approx(b.RemainingUSD, b.LimitUSD-0.00045) {
			t.Errorf("after one request, %s budget: %+v, want $0.00045 spent", b.Scope, b)
		}
	}

	// A key with no budget or limits has empty lists, not null.
	plain := g.createKey(t, map[string]any{"name": "plain"})
	r := g.admin(t, http.MethodGet, "/admin/v1/keys/"+plain.ID+"/state", nil).want(t, 200)
	if !bytes.Contains(r.Body, []byte(`"budgets":[]`)) || !bytes.Contains(r.Body, []byte(`"limits":[]`)) {
		t.Errorf("state of a key without limits: %s", r.Body)
	}
	g.admin(t, http.MethodGet, "/admin/v1/keys/nope/state", nil).wantError(t, http.StatusNotFound, "not_found")
}

func approx(a, b float64) bool {
	d := a - b
	return d < 1e-9 && d > -1e-9
}

// fileConfig is a configuration file declaring governance entries.
const fileConfig = `
teams:
  - { name: research, budget: { usd: 100, period: 1mo }, limits: { rpm: 600, tpm: 200000 } }
  - { name: ops }
keys:
  - { name: ci-bot, team: research, value: "${TEST_KEY}", models: ["fast", "openai/*"], budget: { usd: 5, period: 1d },
      limits: { rpm: 60, tool_calls_per_min: 120 } }
  - { name: ops-bot, team: ops, value: "${OPS_KEY}" }
policies:
  - [role:reader, "*", "tool:files/read_*", call, allow]
  - [team:ops, ops, "model:anthropic/*", use]
prices:
  - { model: gpt-4o, input_per_mtok: 5, output_per_mtok: 20 }
  - { model: acme/model-x, input_per_mtok: 1, output_per_mtok: 2 }
`

// fileConfigAfter is fileConfig with ops, ops-bot, the second policy and the
// acme price removed.
const fileConfigAfter = `
teams:
  - { name: research, budget: { usd: 100, period: 1mo }, limits: { rpm: 600, tpm: 200000 } }
keys:
  - { name: ci-bot, team: research, value: "${TEST_KEY}", models: ["fast", "openai/*"], budget: { usd: 5, period: 1d },
      limits: { rpm: 60, tool_calls_per_min: 120 } }
policies:
  - [role:reader, "*", "tool:files/read_*", call, allow]
prices:
  - { model: gpt-4o, input_per_mtok: 5, output_per_mtok: 20 }
`

const (
	testFileKey = "jk-test-file-key-0123456789abcdef"
	testOpsKey  = "jk-test-ops-key-0123456789abcdefgh"
)

func parseTestConfig(t *testing.T, doc, dataDir string) Config {
	t.Helper()
	env := map[string]string{"TEST_KEY": testFileKey, "OPS_KEY": testOpsKey}
	cfg, err := ParseConfig("test.yaml", []byte(doc), func(k string) (string, bool) {
		v, ok := env[k]
		return v, ok
	})
	if err != nil {
		t.Fatalf("ParseConfig: %v", err)
	}
	cfg.DataDir, cfg.AdminKey = dataDir, testAdminKey
	return *cfg
}

func TestAdminFileManagedEntries(t *testing.T) {
	t.Parallel()
	g := newGovGateway(t, parseTestConfig(t, fileConfig, t.TempDir()))

	// Listed, with source "file".
	teams := g.listTeams(t)
	if names := teamNames(teams); !slices.Equal(names, []string{"ops", "research"}) {
		t.Fatalf("teams %v", names)
	}
	for _, tm := range teams {
		if tm.Source != "file" {
			t.Errorf("team %s source %q, want file", tm.Name, tm.Source)
		}
	}
	keys := g.listKeys(t, "")
	if names := keyNames(keys); !slices.Equal(names, []string{"ci-bot", "ops-bot"}) {
		t.Fatalf("keys %v", names)
	}
	var ci policy.Key
	for _, k := range keys {
		if k.Source != "file" {
			t.Errorf("key %s source %q, want file", k.Name, k.Source)
		}
		if k.Name == "ci-bot" {
			ci = k
		}
	}
	if ci.Team != "research" || !slices.Equal(ci.Models, []string{"fast", "openai/*"}) || !slices.Equal(ci.Tools, []string{"*"}) ||
		ci.Budget == nil || ci.Budget.USD != 5 || ci.Limits.RPM != 60 || !ci.Enabled || !strings.HasPrefix(testFileKey, strings.TrimSuffix(ci.Hint, "…")) {
		t.Errorf("declared key: %+v", ci)
	}
	r := g.admin(t, http.MethodGet, "/admin/v1/keys", nil)
	if bytes.Contains(r.Body, []byte(testFileKey)) {
		t.Error("the key list shows a declared key's secret")
	}

	g.wantRules(t, "policies",
		policy.Rule{Subject: "role:reader", Domain: "*", Object: "tool:files/read_*", Action: "call", Effect: "allow", Source: "file"},
		policy.Rule{Subject: "team:ops", Domain: "ops", Object: "model:anthropic/*", Action: "use", Effect: "allow", Source: "file"})

	var price policy.Price
	g.admin(t, http.MethodGet, "/admin/v1/prices/acme/model-x", nil).want(t, 200).decode(t, &price)
	if price.Model != "acme/model-x" || price.Input != 1 || price.Output != 2 || price.Source != "file" {
		t.Errorf("declared price %+v", price)
	}
	g.admin(t, http.MethodGet, "/admin/v1/prices/openai/gpt-4o", nil).want(t, 200).decode(t, &price)
	if price.Model != "gpt-4o" || price.Input != 5 || price.Source != "file" {
		t.Errorf("declared override of a built-in price %+v", price)
	}

	// The declared key authenticates, with every header.
	var st policy.KeyState
	g.caller(t, http.MethodGet, "/v1/key", testFileKey).want(t, 200).decode(t, &st)
	if st.Key.Name != "ci-bot" || st.Key.Source != "file" || len(st.Budgets) != 2 {
		t.Errorf("declared key's /v1/key: %+v", st)
	}
	g.send(t, http.MethodGet, "/v1/key", nil, http.Header{"X-Api-Key": {testFileKey}}).want(t, 200)

	// Read-only through the API.
	for _, tc := range []struct {
		method, path string
		body         any
	}{
		{http.MethodPatch, "/admin/v1/teams/research", `{"budget":{"usd":1}}`},
		{http.MethodPatch, "/admin/v1/teams/ops", `{}`},
		{http.MethodDelete, "/admin/v1/teams/ops", nil},
		{http.MethodDelete, "/admin/v1/teams/research", nil},
		{http.MethodPatch, "/admin/v1/keys/ci-bot", `{"enabled":false}`},
		{http.MethodPatch, "/admin/v1/keys/" + ci.ID, `{"models":["*"]}`},
		{http.MethodDelete, "/admin/v1/keys/ci-bot", nil},
		{http.MethodDelete, "/admin/v1/keys/" + ci.ID, nil},
		{http.MethodDelete, "/admin/v1/policies", `["role:reader","*","tool:files/read_*","call","allow"]`},
		{http.MethodDelete, "/admin/v1/policies", `{"subject":"team:ops","domain":"ops","object":"model:anthropic/*","action":"use"}`},
		{http.MethodDelete, "/admin/v1/prices/acme/model-x", nil},
		{http.MethodDelete, "/admin/v1/prices/gpt-4o", nil},
		{http.MethodPost, "/admin/v1/prices", `{"model":"gpt-4o","input_per_mtok":1,"output_per_mtok":1}`},
	} {
		t.Run(tc.method+" "+tc.path, func(t *testing.T) {
			e := g.admin(t, tc.method, tc.path, tc.body).wantError(t, http.StatusConflict, "read_only")
			if !strings.Contains(e.Message, "configuration") {
				t.Errorf("read-only message does not say why: %q", e.Message)
			}
		})
	}
	// Nothing changed.
	g.caller(t, http.MethodGet, "/v1/key", testFileKey).want(t, 200)
	var tm policy.Team
	g.admin(t, http.MethodGet, "/admin/v1/teams/research", nil).want(t, 200).decode(t, &tm)
	if tm.Budget == nil || tm.Budget.USD != 100 {
		t.Errorf("file team changed: %+v", tm)
	}
	// A declared name cannot be taken through the API.
	g.admin(t, http.MethodPost, "/admin/v1/teams", `{"name":"ops"}`).wantError(t, http.StatusConflict, "conflict")
	g.admin(t, http.MethodPost, "/admin/v1/keys", `{"name":"ci-bot"}`).wantError(t, http.StatusConflict, "conflict")
	g.admin(t, http.MethodPost, "/admin/v1/policies", `["role:reader","*","tool:files/read_*","call","allow"]`).wantError(t, http.StatusConflict, "conflict")
	// API keys may join a declared team.
	g.createKey(t, map[string]any{"name": "api-bot", "team": "research"})
}

// Restarting with an entry gone from the configuration removes it; what the
// API made stays.
func TestAdminFileManagedEntriesFollowRestarts(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	g1 := newGovGateway(t, parseTestConfig(t, fileConfig, dir))
	g1.createTeam(t, map[string]any{"name": "api-team", "budget": map[string]any{"usd": 7}})
	apiKey := g1.createKey(t, map[string]any{"name": "api-key", "team": "api-team"})
	apiKey2 := g1.createKey(t, map[string]any{"name": "api-key-research", "team": "research"})
	g1.admin(t, http.MethodPost, "/admin/v1/policies", `["role:writer","api-team","tool:files/*","call","allow"]`).want(t, http.StatusCreated)
	g1.admin(t, http.MethodPost, "/admin/v1/prices", `{"model":"acme/model-y","input_per_mtok":3,"output_per_mtok":4}`).want(t, http.StatusOK)
	g1.caller(t, http.MethodGet, "/v1/key", testOpsKey).want(t, 200)
	g1.stop(t)

	g2 := newGovGateway(t, parseTestConfig(t, fileConfigAfter, dir))
	// Removed file entries are gone.
	if names := teamNames(g2.listTeams(t)); !slices.Equal(names, []string{"api-team", "research"}) {
		t.Errorf("teams after restart %v, want [api-team research]", names)
	}
	g2.admin(t, http.MethodGet, "/admin/v1/teams/ops", nil).wantError(t, http.StatusNotFound, "not_found")
	if names := keyNames(g2.listKeys(t, "")); !slices.Equal(names, []string{"api-key", "api-key-research", "ci-bot"}) {
		t.Errorf("keys after restart %v", names)
	}
	g2.caller(t, http.MethodGet, "/v1/key", testOpsKey).wantError(t, http.StatusUnauthorized, "invalid_api_key")
	g2.admin(t, http.MethodGet, "/admin/v1/prices/acme/model-x", nil).wantError(t, http.StatusNotFound, "not_found")
	g2.wantRules(t, "policies after restart",
		policy.Rule{Subject: "role:reader", Domain: "*", Object: "tool:files/read_*", Action: "call", Effect: "allow", Source: "file"},
		policy.Rule{Subject: "role:writer", Domain: "api-team", Object: "tool:files/*", Action: "call", Effect: "allow", Source: "api"})
	// Kept file entries stay file-managed; API entries stay as they were.
	var tm policy.Team
	g2.admin(t, http.MethodGet, "/admin/v1/teams/research", nil).want(t, 200).decode(t, &tm)
	if tm.Source != "file" {
		t.Errorf("research source %q", tm.Source)
	}
	g2.admin(t, http.MethodGet, "/admin/v1/teams/api-team", nil).want(t, 200).decode(t, &tm)
	if tm.Source != "api" || tm.Budget == nil || tm.Budget.USD != 7 {
		t.Errorf("api-team after restart %+v", tm)
	}
	var price policy.Price
	g2.admin(t, http.MethodGet, "/admin/v1/prices/acme/model-y", nil).want(t, 200).decode(t, &price)
	if price.Source != "api" || price.Input != 3 {
		t.Errorf("API price after restart %+v", price)
	}
	g2.caller(t, http.MethodGet, "/v1/key", testFileKey).want(t, 200)
	g2.caller(t, http.MethodGet, "/v1/key", apiKey.Secret).want(t, 200)
	g2.caller(t, http.MethodGet, "/v1/key", apiKey2.Secret).want(t, 200)
	g2.admin(t, http.MethodPatch, "/admin/v1/keys/api-key", `{"enabled":false}`).want(t, 200)
	g2.admin(t, http.MethodPatch, "/admin/v1/keys/ci-bot", `{"enabled":false}`).wantError(t, http.StatusConflict, "read_only")
}
