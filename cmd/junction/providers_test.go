package main

import (
	"strings"
	"testing"
)

func TestProvidersAddListRm(t *testing.T) {
	t.Parallel()
	u := startGateway(t)
	const secret = "sk-cli-secret-value-42"
	out := mustCLI(t, "providers", "add", "--url", u, "--name", "local", "--base-url", "http://127.0.0.1:11434/v1",
		"--key", secret, "--key", "sk-second", "--model", "llama3,qwen", "--header", "X-Org=acme", "--first-byte-timeout", "30s")
	if !strings.Contains(out, `Added provider "local" (openai) with 2 key(s)`) || strings.Contains(out, secret) {
		t.Fatalf("add: %q", out)
	}
	out = mustCLI(t, "providers", "list", "--url", u)
	if !strings.Contains(out, "local") || !strings.Contains(out, "key1(w=1),key2(w=1)") || !strings.Contains(out, "llama3,qwen") ||
		!strings.Contains(out, "api") || strings.Contains(out, secret) {
		t.Errorf("list: %q", out)
	}
	out = mustCLI(t, "providers", "list", "--url", u, "--json")
	if !strings.Contains(out, `"value_set":true`) || strings.Contains(out, secret) || strings.Contains(out, "acme") ||
		!strings.Contains(out, `"first_byte":"30s"`) {
		t.Errorf("list --json: %q", out)
	}
	// A second provider of the same name is refused with the gateway's reason.
	r := cli(t, "providers", "add", "--url", u, "--name", "local", "--key", "k")
	if r.code != exitFailed || !strings.Contains(r.stderr, "already exists") {
		t.Errorf("duplicate: %d %q", r.code, r.stderr)
	}
	// Invalid definitions list every problem.
	r = cli(t, "providers", "add", "--url", u, "--name", "bad", "--key", "k", "--type", "smoke", "--base-url", "ftp://x")
	if r.code != exitFailed || !strings.Contains(r.stderr, "type") || !strings.Contains(r.stderr, "base_url") {
		t.Errorf("invalid: %d %q", r.code, r.stderr)
	}
	if r := cli(t, "providers", "add", "--url", u, "--key", "k"); r.code != exitUsage || !strings.Contains(r.stderr, "--name is required") {
		t.Errorf("no name: %d %q", r.code, r.stderr)
	}
	if r := cli(t, "providers", "add", "--url", u, "--name", "x"); r.code != exitUsage || !strings.Contains(r.stderr, "--key is required") {
		t.Errorf("no key: %d %q", r.code, r.stderr)
	}
	out = mustCLI(t, "providers", "rm", "--url", u, "local")
	if !strings.Contains(out, "Removed provider local.") {
		t.Errorf("rm: %q", out)
	}
	if out := mustCLI(t, "providers", "list", "--url", u); !strings.Contains(out, "No providers.") {
		t.Errorf("list after rm: %q", out)
	}
	if r := cli(t, "providers", "rm", "--url", u, "local"); r.code != exitFailed || !strings.Contains(r.stderr, "not found") {
		t.Errorf("rm again: %d %q", r.code, r.stderr)
	}
}
