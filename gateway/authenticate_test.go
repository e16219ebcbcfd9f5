package gateway

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/junctionhq/junction/policy"
)

// Caller authentication on /v1 (GET /v1/key) and admin authentication on
// /admin/v1, over HTTP.

func TestCallerAuthHeaders(t *testing.T) {
	t.Parallel()
	g := newGovGateway(t, Config{})
	k := g.createKey(t, map[string]any{"name": "alice"})
	for _, tc := range []struct {
		name   string
		header http.Header
	}{
		{"authorization bearer", http.Header{"Authorization": {"Bearer " + k.Secret}}},
		{"bearer scheme in lower case", http.Header{"Authorization": {"bearer " + k.Secret}}},
		{"bearer with extra spaces", http.Header{"Authorization": {"Bearer   " + k.Secret + "  "}}},
		{"x-api-key", http.Header{"X-Api-Key": {k.Secret}}},
		{"api-key", http.Header{"Api-Key": {k.Secret}}},
		{"x-api-key with a non-bearer authorization", http.Header{"Authorization": {"Basic Zm9vOmJhcg=="}, "X-Api-Key": {k.Secret}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var st policy.KeyState
			g.send(t, http.MethodGet, "/v1/key", nil, tc.header).want(t, http.StatusOK).decode(t, &st)
			if st.Key.ID != k.ID || st.Key.Name != "alice" {
				t.Errorf("/v1/key answered for %+v, want alice", st.Key)
			}
			if st.Budgets == nil || st.Limits == nil {
				t.Errorf("/v1/key state lacks budgets or limits: %+v", st)
			}
		})
	}
}

func TestCallerAuthRejections(t *testing.T) {
	t.Parallel()
	g := newGovGateway(t, Config{})
	good := g.createKey(t, map[string]any{"name": "good"})
	disabled := g.createKey(t, map[string]any{"name": "disabled", "enabled": false})
	// A key cannot be created already expired; it expires by a change.
	past := `{"expires_at":"` + time.Now().Add(-time.Hour).UTC().Format(time.RFC3339) + `"}`
	expired := g.createKey(t, map[string]any{"name": "expired"})
	g.admin(t, http.MethodPatch, "/admin/v1/keys/"+expired.ID, past).want(t, http.StatusOK)
	// Disabled and expired win over each other in no particular order, but
	// both are refused.
	both := g.createKey(t, map[string]any{"name": "both", "enabled": false})
	g.admin(t, http.MethodPatch, "/admin/v1/keys/"+both.ID, past).want(t, http.StatusOK)
	for _, tc := range []struct {
		name   string
		header http.Header
		code   string
	}{
		{"no key", nil, "missing_api_key"},
		{"empty bearer", http.Header{"Authorization": {"Bearer "}}, "missing_api_key"},
		{"empty x-api-key", http.Header{"X-Api-Key": {"  "}}, "missing_api_key"},
		{"basic auth only", http.Header{"Authorization": {"Basic Zm9vOmJhcg=="}}, "missing_api_key"},
		{"unknown key", http.Header{"Authorization": {"Bearer jk-not-a-real-key-0000000000000000"}}, "invalid_api_key"},
		{"unknown x-api-key", http.Header{"X-Api-Key": {"jk-nope"}}, "invalid_api_key"},
		{"unknown api-key", http.Header{"Api-Key": {"nope"}}, "invalid_api_key"},
		{"key with a character changed", http.Header{"Authorization": {"Bearer " + flipLast(good.Secret)}}, "invalid_api_key"},
		{"hint instead of key", http.Header{"Authorization": {"Bearer " + good.Hint}}, "invalid_api_key"},
		{"key id instead of key", http.Header{"Authorization": {"Bearer " + good.ID}}, "invalid_api_key"},
		{"disabled", http.Header{"Authorization": {"Bearer " + disabled.Secret}}, "disabled_api_key"},
		{"disabled via x-api-key", http.Header{"X-Api-Key": {disabled.Secret}}, "disabled_api_key"},
		{"expired", http.Header{"Authorization": {"Bearer " + expired.Secret}}, "expired_api_key"},
		{"expired via api-key", http.Header{"Api-Key": {expired.Secret}}, "expired_api_key"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := g.send(t, http.MethodGet, "/v1/key", nil, tc.header)
			e := r.wantError(t, http.StatusUnauthorized, tc.code)
			if e.Type != "authentication_error" {
				t.Errorf("error type %q, want authentication_error", e.Type)
			}
			if h := r.Header.Get("WWW-Authenticate"); !strings.HasPrefix(h, "Bearer") {
				t.Errorf("WWW-Authenticate %q", h)
			}
		})
	}
	r := g.caller(t, http.MethodGet, "/v1/key", both.Secret)
	if r.Status != http.StatusUnauthorized {
		t.Errorf("disabled and expired key: %d %s", r.Status, r.Body)
	}
}

func flipLast(s string) string {
	b := []byte(s)
	if b[len(b)-1] == 'A' {
		b[len(b)-1] = 'B'
	} else {
		b[len(b)-1] = 'A'
	}
	return string(b)
}

// Patching a key's enabled flag and expiry takes effect on the next request.
func TestCallerAuthFollowsKeyChanges(t *testing.T) {
	t.Parallel()
	g := newGovGateway(t, Config{})
	k := g.createKey(t, map[string]any{"name": "alice"})
	steps := []struct {
		patch string
		code  string // "" for accepted
	}{
		{`{"enabled":false}`, "disabled_api_key"},
		{`{"enabled":true}`, ""},
		{`{"expires_at":"2001-01-01T00:00:00Z"}`, "expired_api_key"},
		{`{"expires_at":"` + time.Now().Add(time.Hour).UTC().Format(time.RFC3339) + `"}`, ""},
		{`{"expires_at":"2001-01-01T00:00:00Z"}`, "expired_api_key"},
		{`{"expires_at":null}`, ""},
	}
	for _, s := range steps {
		g.admin(t, http.MethodPatch, "/admin/v1/keys/"+k.ID, s.patch).want(t, http.StatusOK)
		r := g.caller(t, http.MethodGet, "/v1/key", k.Secret)
		if s.code == "" {
			r.want(t, http.StatusOK)
			continue
		}
		r.wantError(t, http.StatusUnauthorized, s.code)
	}
}

// The admin key works on caller routes too, as the all-powerful identity.
func TestCallerAuthAcceptsAdminKey(t *testing.T) {
	t.Parallel()
	g := newGovGateway(t, Config{})
	for _, h := range []http.Header{
		{"Authorization": {"Bearer " + testAdminKey}},
		{"X-Api-Key": {testAdminKey}},
		{"Api-Key": {testAdminKey}},
	} {
		var body map[string]any
		g.send(t, http.MethodGet, "/v1/key", nil, h).want(t, http.StatusOK).decode(t, &body)
		if body["admin"] != true {
			t.Errorf("admin key on /v1/key: %v", body)
		}
	}
}

// Every admin route needs the admin key: none, a wrong one, or a valid
// virtual key are all refused with 401, before the route is looked at.
func TestAdminRoutesNeedTheAdminKey(t *testing.T) {
	t.Parallel()
	// Forty-odd wrong keys from one address: keep the auth throttle (tested
	// in auththrottle_test.go) out of the way.
	g := newGovGateway(t, Config{HTTP: HTTPConfig{AuthThrottle: AuthThrottleConfig{SlowAfter: 1000, BlockAfter: 1000}}})
	g.createTeam(t, map[string]any{"name": "research"})
	k := g.createKey(t, map[string]any{"name": "alice", "team": "research"})
	routes := []struct{ method, path, body string }{
		{http.MethodGet, "/admin/v1/teams", ""},
		{http.MethodPost, "/admin/v1/teams", `{"name":"evil"}`},
		{http.MethodGet, "/admin/v1/teams/research", ""},
		{http.MethodPatch, "/admin/v1/teams/research", `{"budget":null}`},
		{http.MethodDelete, "/admin/v1/teams/research", ""},
		{http.MethodGet, "/admin/v1/keys", ""},
		{http.MethodPost, "/admin/v1/keys", `{"name":"evil"}`},
		{http.MethodGet, "/admin/v1/keys/" + k.ID, ""},
		{http.MethodPatch, "/admin/v1/keys/" + k.ID, `{"models":["*"]}`},
		{http.MethodDelete, "/admin/v1/keys/" + k.ID, ""},
		{http.MethodGet, "/admin/v1/keys/" + k.ID + "/state", ""},
		{http.MethodGet, "/admin/v1/policies", ""},
		{http.MethodPost, "/admin/v1/policies", `["key:alice","*","*","*","allow"]`},
		{http.MethodDelete, "/admin/v1/policies", `["key:alice","*","*","*","allow"]`},
		{http.MethodPost, "/admin/v1/policies/check", `{"key":"alice","object":"model:x","action":"use"}`},
		{http.MethodGet, "/admin/v1/prices", ""},
		{http.MethodPost, "/admin/v1/prices", `{"model":"gpt-4o","input_per_mtok":0,"output_per_mtok":0}`},
		{http.MethodGet, "/admin/v1/prices/gpt-4o", ""},
		{http.MethodDelete, "/admin/v1/prices/gpt-4o", ""},
		{http.MethodGet, "/admin/v1/usage", ""},
		{http.MethodGet, "/admin/v1/status", ""},
		{http.MethodGet, "/admin/v1/no-such-route", ""},
	}
	creds := []struct {
		name   string
		header http.Header
	}{
		{"no key", nil},
		{"wrong key", http.Header{"Authorization": {"Bearer not-the-admin-key-at-all"}}},
		{"virtual key", http.Header{"Authorization": {"Bearer " + k.Secret}}},
		{"admin key as x-api-key", http.Header{"X-Api-Key": {testAdminKey}}},
	}
	for _, c := range creds {
		for _, rt := range routes {
			t.Run(c.name+" "+rt.method+" "+rt.path, func(t *testing.T) {
				var body any
				if rt.body != "" {
					body = rt.body
				}
				e := g.send(t, rt.method, rt.path, body, c.header).wantError(t, http.StatusUnauthorized, "invalid_api_key")
				if e.Type != "authentication_error" {
					t.Errorf("error type %q", e.Type)
				}
			})
		}
	}
	// Nothing was changed by the refused calls.
	if names := teamNames(g.listTeams(t)); len(names) != 1 || names[0] != "research" {
		t.Errorf("teams %v", names)
	}
	if names := keyNames(g.listKeys(t, "")); len(names) != 1 || names[0] != "alice" {
		t.Errorf("keys %v", names)
	}
	g.caller(t, http.MethodGet, "/v1/key", k.Secret).want(t, http.StatusOK)
}
