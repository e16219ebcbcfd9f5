package registry

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/junctionhq/junction/registry/mcptest"
	"github.com/junctionhq/junction/store/secret"
	"github.com/junctionhq/junction/store/storetest"
)

// tokenServer is an OAuth token endpoint for the client-credentials grant
// that issues tok-1, tok-2, ... and an upstream front that accepts only the
// token it was told is valid.
type tokenServer struct {
	t         *testing.T
	url       string
	expiresIn int

	// mu guards issued, valid and seen.
	mu     sync.Mutex
	issued int
	valid  string
	seen   []string // Authorization headers that reached the upstream
	forms  []url.Values
}

func newTokenServer(t *testing.T, expiresIn int) *tokenServer {
	ts := &tokenServer{t: t, expiresIn: expiresIn}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id, secret, ok := r.BasicAuth()
		// RFC 6749 section 2.3.1: form-urlencoded inside Basic.
		id, _ = url.QueryUnescape(id)
		secret, _ = url.QueryUnescape(secret)
		_ = r.ParseForm()
		ts.mu.Lock()
		defer ts.mu.Unlock()
		ts.forms = append(ts.forms, r.PostForm)
		w.Header().Set("Content-Type", "application/json")
		if !ok || id != "junction" || secret != "s3cret&more" || r.PostForm.Get("grant_type") != "client_credentials" {
			w.WriteHeader(http.StatusUnauthorized)
			_, _ = w.Write([]byte(`{"error":"invalid_client","error_description":"bad client credentials"}`))
			return
		}
		ts.issued++
		ts.valid = fmt.Sprintf("tok-%d", ts.issued)
		_ = json.NewEncoder(w).Encode(map[string]any{"access_token": ts.valid, "token_type": "Bearer", "expires_in": ts.expiresIn})
	}))
	t.Cleanup(srv.Close)
	ts.url = srv.URL
	return ts
}

// front proxies to target, refusing requests without the valid token.
func (ts *tokenServer) front(target string) string {
	u, _ := url.Parse(strings.TrimSuffix(target, mcptest.StreamablePath))
	proxy := httputil.NewSingleHostReverseProxy(u)
	pt := &http.Transport{}
	proxy.Transport = pt
	proxy.FlushInterval = -1
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ts.mu.Lock()
		auth := r.Header.Get("Authorization")
		ts.seen = append(ts.seen, auth)
		ok := auth == "Bearer "+ts.valid && ts.valid != ""
		ts.mu.Unlock()
		if !ok {
			http.Error(w, "invalid token", http.StatusUnauthorized)
			return
		}
		proxy.ServeHTTP(w, r)
	}))
	ts.t.Cleanup(srv.Close)
	ts.t.Cleanup(pt.CloseIdleConnections)
	return srv.URL + mcptest.StreamablePath
}

func (ts *tokenServer) issuedCount() int {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	return ts.issued
}

// revoke makes the upstream refuse the current token, as if it had been
// revoked before its expiry.
func (ts *tokenServer) revoke() {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	ts.valid = "revoked"
}

// TestOAuthClientCredentials: an upstream behind OAuth gets Junction's own
// client-credentials token, fetched once and reused; when the upstream
// refuses it (401) a new token is fetched and the request sent once more;
// the client secret is stored encrypted and never shown.
func TestOAuthClientCredentials(t *testing.T) {
	h := mcptest.StartHTTP(t)
	ts := newTokenServer(t, 3600)
	db := storetest.SQLite(t)
	st := storetest.OpenStore(t, db)
	r := newRegistry(t, st)
	mustCreate(t, r, ServerConfig{Name: "web", Transport: TransportStreamableHTTP, URL: ts.front(h.URL),
		Auth: &AuthConfig{Type: AuthOAuth2ClientCredentials, TokenURL: ts.url, ClientID: "junction",
			ClientSecret: "s3cret&more", Scopes: []string{"tools.read", "tools.call"}}})
	waitReady(t, r, "web")
	for range 3 {
		call(t, r, "web", "echo", `{"message":"hi"}`)
	}
	if n := ts.issuedCount(); n != 1 {
		t.Errorf("%d tokens fetched for one connection, want 1", n)
	}
	ts.mu.Lock()
	if scope := ts.forms[0].Get("scope"); scope != "tools.read tools.call" {
		t.Errorf("scope %q", scope)
	}
	ts.mu.Unlock()

	ts.revoke()
	call(t, r, "web", "echo", `{"message":"after revocation"}`)
	if n := ts.issuedCount(); n != 2 {
		t.Errorf("%d tokens fetched after a 401, want 2", n)
	}

	var spec string
	if err := db.Raw.QueryRow(`SELECT spec FROM resources WHERE kind = 'server' AND id = 'web'`).Scan(&spec); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(spec, "s3cret") || !strings.Contains(spec, secret.SealedPrefix) {
		t.Errorf("stored spec holds the client secret in clear: %s", spec)
	}
	info, err := r.Server("web")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(info)
	if strings.Contains(string(b), "s3cret") || info.Auth == nil || !info.Auth.ClientSecret || info.Auth.ClientID != "junction" {
		t.Errorf("admin view: %s", b)
	}
	ts.mu.Lock()
	for i, a := range ts.seen {
		if !strings.HasPrefix(a, "Bearer tok-") {
			t.Errorf("request %d reached the upstream front with Authorization %q", i, a)
		}
	}
	ts.mu.Unlock()
}

// TestOAuthTokenRefresh: a cached token is replaced shortly before it
// expires; a token endpoint's refusal is a clear error.
func TestOAuthTokenRefresh(t *testing.T) {
	t.Parallel()
	ts := newTokenServer(t, 120)
	now := time.Unix(1_000_000, 0)
	clock := func() time.Time { return now }
	src := newTokenSource(AuthConfig{Type: AuthOAuth2ClientCredentials, TokenURL: ts.url, ClientID: "junction", ClientSecret: "s3cret&more"}, clock)
	ctx := context.Background()
	tok, err := src.token(ctx)
	if err != nil || tok != "tok-1" {
		t.Fatalf("token %q, %v", tok, err)
	}
	now = now.Add(59 * time.Second) // 120s lifetime, refreshed 60s before expiry
	if tok, _ := src.token(ctx); tok != "tok-1" {
		t.Errorf("refreshed too early: %q", tok)
	}
	now = now.Add(2 * time.Second)
	if tok, _ := src.token(ctx); tok != "tok-2" {
		t.Errorf("not refreshed before expiry: %q", tok)
	}

	bad := newTokenSource(AuthConfig{Type: AuthOAuth2ClientCredentials, TokenURL: ts.url, ClientID: "junction", ClientSecret: "wrong"}, clock)
	_, err = bad.token(ctx)
	var te *TokenError
	if !errors.As(err, &te) || te.Status != http.StatusUnauthorized || te.Code != "invalid_client" || strings.Contains(err.Error(), "wrong") {
		t.Errorf("refused token request: %v", err)
	}

	post := newTokenSource(AuthConfig{Type: AuthOAuth2ClientCredentials, TokenURL: ts.url, ClientID: "junction", ClientSecret: "s3cret&more", ClientAuth: ClientAuthPost}, clock)
	if _, err := post.token(ctx); err == nil {
		t.Error("client_secret_post was accepted by a server that wants basic")
	}
	ts.mu.Lock()
	last := ts.forms[len(ts.forms)-1]
	ts.mu.Unlock()
	if last.Get("client_id") != "junction" || last.Get("client_secret") != "s3cret&more" {
		t.Errorf("client_secret_post form: %v", last)
	}
}

// TestOAuthValidation checks the auth block's problems are reported.
func TestOAuthValidation(t *testing.T) {
	t.Parallel()
	base := ServerConfig{Name: "web", Transport: TransportStreamableHTTP, URL: "http://127.0.0.1:1/mcp"}
	for _, tc := range []struct {
		name string
		auth *AuthConfig
		mut  func(*ServerConfig)
		want []string
	}{
		{"empty", &AuthConfig{}, nil, []string{"auth.type: required", "auth.token_url: required", "auth.client_id: required"}},
		{"bad values", &AuthConfig{Type: "password", TokenURL: "ftp://x", ClientID: "c", ClientAuth: "jwt"}, nil,
			[]string{`auth.type: "password"`, `auth.token_url: "ftp://x"`, `auth.client_auth: "jwt"`}},
		{"with bearer", &AuthConfig{Type: AuthOAuth2ClientCredentials, TokenURL: "https://a/t", ClientID: "c"},
			func(c *ServerConfig) { c.Bearer = "x" }, []string{"auth: set auth, bearer or an Authorization header, only one"}},
		{"stdio", &AuthConfig{Type: AuthOAuth2ClientCredentials, TokenURL: "https://a/t", ClientID: "c"},
			func(c *ServerConfig) { c.Transport, c.URL, c.Command = TransportStdio, "", "x" }, []string{"auth: not used by transport stdio"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := base
			c.Auth = tc.auth
			if tc.mut != nil {
				tc.mut(&c)
			}
			var got []string
			for _, err := range c.Validate("servers[0]") {
				got = append(got, err.Error())
			}
			all := strings.Join(got, "\n")
			for _, w := range tc.want {
				if !strings.Contains(all, "servers[0]."+w) {
					t.Errorf("missing %q in:\n%s", w, all)
				}
			}
		})
	}
}
