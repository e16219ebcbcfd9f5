package gateway

import (
	"strings"
	"testing"

	"github.com/junctionhq/junction/registry"
)

// TestMCPOAuthServerConfig: a server's auth block is read from the
// configuration file (with ${ENV} expansion), and its mistakes are reported
// with their path.
func TestMCPOAuthServerConfig(t *testing.T) {
	t.Parallel()
	env := func(k string) (string, bool) {
		if k == "CRM_SECRET" {
			return "from-env", true
		}
		return "", false
	}
	doc := `
servers:
  - name: crm
    transport: streamable-http
    url: https://crm.example.com/mcp
    auth:
      type: oauth2_client_credentials
      token_url: https://auth.example.com/oauth/token
      client_id: junction
      client_secret: ${CRM_SECRET}
      scopes: [crm.read, crm.write]
      client_auth: post
`
	cfg, err := ParseConfig("junction.yaml", []byte(doc), env)
	if err != nil {
		t.Fatal(err)
	}
	want := registry.AuthConfig{Type: registry.AuthOAuth2ClientCredentials, TokenURL: "https://auth.example.com/oauth/token",
		ClientID: "junction", ClientSecret: "from-env", Scopes: []string{"crm.read", "crm.write"}, ClientAuth: registry.ClientAuthPost}
	if len(cfg.Servers) != 1 || cfg.Servers[0].Auth == nil || !equalAuth(*cfg.Servers[0].Auth, want) {
		t.Fatalf("servers: %+v", cfg.Servers)
	}

	bad := strings.Replace(doc, "token_url:", "tokn_url:", 1)
	bad = strings.Replace(bad, "client_auth: post", "client_auth: jwt", 1)
	_, err = ParseConfig("junction.yaml", []byte(bad), env)
	if err == nil || !strings.Contains(err.Error(), "tokn_url") || !strings.Contains(err.Error(), "servers[0].auth") {
		t.Errorf("bad auth block: %v", err)
	}
}

func equalAuth(a, b registry.AuthConfig) bool {
	return a.Type == b.Type && a.TokenURL == b.TokenURL && a.ClientID == b.ClientID && a.ClientSecret == b.ClientSecret &&
		strings.Join(a.Scopes, " ") == strings.Join(b.Scopes, " ") && a.ClientAuth == b.ClientAuth
}
