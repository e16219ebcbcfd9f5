package registry

import (
	"context"
	"encoding/json"
	"os"
	"slices"
	"strings"
	"testing"
)

// TestStdioServerDoesNotSeeGatewaySecrets: a stdio server gets the safe
// variables of the gateway's environment, its configured env and the
// variables it names in env_passthrough, and nothing else: not the
// gateway's admin key, secret key or provider keys.
func TestStdioServerDoesNotSeeGatewaySecrets(t *testing.T) {
	secrets := map[string]string{
		"JUNCTION_ADMIN_KEY":  "jk-admin-secret",
		"JUNCTION_SECRET_KEY": "c2VjcmV0LWtleS1zZWNyZXQta2V5LXNlY3JldC1rZXk=",
		"OPENAI_API_KEY":      "sk-provider-secret",
		"BASH_FUNC_f%%":       "() { echo hi; }",
	}
	for k, v := range secrets {
		t.Setenv(k, v)
	}
	t.Setenv("LC_TIME", "C")
	t.Setenv("TOOL_REGION", "eu-west-1")

	bin := toolserver(t)
	r := newRegistry(t, newStore(t))
	mustCreate(t, r, ServerConfig{Name: "local", Transport: TransportStdio, Command: bin, Args: []string{"--stdio", "--tools", "env"},
		Env: map[string]string{"CONFIGURED": "yes", "HOME": "/srv/tool"}, EnvPassthrough: []string{"TOOL_REGION"}})
	waitReady(t, r, "local")

	raw, err := r.CallTool(context.Background(), "local", "env", nil, CallOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var res struct {
		StructuredContent struct {
			Env map[string]string `json:"env"`
		} `json:"structuredContent"`
	}
	if err := json.Unmarshal(raw, &res); err != nil {
		t.Fatal(err)
	}
	env := res.StructuredContent.Env
	for k, v := range secrets {
		if _, ok := env[k]; ok {
			t.Errorf("the stdio server sees %s", k)
		}
		for name, got := range env {
			if strings.Contains(got, v) {
				t.Errorf("the stdio server sees the value of %s in %s", k, name)
			}
		}
	}
	want := map[string]string{"PATH": os.Getenv("PATH"), "LC_TIME": "C", "CONFIGURED": "yes", "HOME": "/srv/tool", "TOOL_REGION": "eu-west-1"}
	for k, v := range want {
		if env[k] != v {
			t.Errorf("%s = %q, want %q", k, env[k], v)
		}
	}
	for k := range env {
		if !safeEnvNames[k] && !strings.HasPrefix(k, safeEnvPrefix) && want[k] == "" {
			t.Errorf("the stdio server sees %s, which is neither safe nor configured", k)
		}
	}
}

func TestStdioEnvBuild(t *testing.T) {
	t.Parallel()
	environ := []string{"PATH=/bin", "HOME=/home/j", "JUNCTION_ADMIN_KEY=x", "junction_secret_key=y", "LC_ALL=C", "AWS_SECRET=z",
		"PASSED=1", "JUNCTION_EXTRA=2", "SHELL=() { :; }", "NOEQUALS", "=empty"}
	cfg := ServerConfig{Env: map[string]string{"HOME": "/srv", "OWN": "v"}, EnvPassthrough: []string{"PASSED", "JUNCTION_EXTRA"}}
	got := stdioEnv(cfg, environ)
	want := []string{"HOME=/srv", "LC_ALL=C", "OWN=v", "PASSED=1", "PATH=/bin"}
	if !slices.Equal(got, want) {
		t.Errorf("stdioEnv = %q, want %q", got, want)
	}
}

func TestEnvPassthroughValidation(t *testing.T) {
	t.Parallel()
	base := ServerConfig{Name: "s", Transport: TransportStdio, Command: "c"}
	for _, tc := range []struct {
		pass []string
		env  map[string]string
		want string // "" for valid
	}{
		{pass: []string{"GOPATH", "AWS_REGION", "_X1"}},
		{pass: []string{"AWS_*"}, want: "is a pattern"},
		{pass: []string{"*"}, want: "is a pattern"},
		{pass: []string{"A?"}, want: "is a pattern"},
		{pass: []string{"JUNCTION_ADMIN_KEY"}, want: "never reach a server"},
		{pass: []string{"junction_secret_key"}, want: "never reach a server"},
		{pass: []string{"1ABC"}, want: "is not a variable name"},
		{pass: []string{""}, want: "is not a variable name"},
		{pass: []string{"A=B"}, want: "is not a variable name"},
		{pass: []string{"X", "X"}, want: "named twice"},
		{pass: []string{"X"}, env: map[string]string{"X": "1"}, want: "also set in env"},
	} {
		cfg := base
		cfg.EnvPassthrough, cfg.Env = tc.pass, tc.env
		errs := cfg.Validate("servers[0]")
		switch {
		case tc.want == "" && len(errs) > 0:
			t.Errorf("%q: %v", tc.pass, errs)
		case tc.want != "" && (len(errs) != 1 || !strings.Contains(errs[0].Error(), tc.want) || !strings.HasPrefix(errs[0].Error(), "servers[0].env_passthrough[")):
			t.Errorf("%q: %v, want one error containing %q", tc.pass, errs, tc.want)
		}
	}
	http := ServerConfig{Name: "h", Transport: TransportStreamableHTTP, URL: "http://h/mcp", EnvPassthrough: []string{"HOME"}}
	if errs := http.Validate(""); len(errs) != 1 || !strings.Contains(errs[0].Error(), "env_passthrough: only used by transport stdio") {
		t.Errorf("http server with env_passthrough: %v", errs)
	}
}
