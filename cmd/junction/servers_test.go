package main

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/junctionhq/junction/internal/testkit"
	"github.com/junctionhq/junction/registry/mcptest"
)

// addUpstream registers an in-process streamable-HTTP mcptest server as name
// and waits until `servers list` shows it ready.
func addUpstream(t *testing.T, u, name string, extra ...string) *mcptest.HTTPServer {
	t.Helper()
	up := mcptest.StartHTTP(t)
	out := mustCLI(t, append([]string{"servers", "add", u, "--name", name, "--transport", "streamable-http",
		"--server-url", up.URL}, extra...)...)
	if !strings.Contains(out, `Added server "`+name+`" (streamable-http)`) {
		t.Fatalf("servers add output: %q", out)
	}
	waitState(t, u, name, "ready")
	// The hub merges the new server's catalog asynchronously.
	testkit.Eventually(t, 15*time.Second, "the tools of "+name+" to reach the federated catalog", func() bool {
		return strings.Contains(mustCLI(t, "tools", "list", u), name+"__")
	})
	return up
}

// waitState polls `servers list` until name's row shows state; connecting is
// asynchronous.
func waitState(t *testing.T, u, name, state string) []string {
	t.Helper()
	var row []string
	testkit.EventuallyNoError(t, 15*time.Second, "server "+name+" to become "+state, func() error {
		out := mustCLI(t, "servers", "list", u)
		if row = rowWith(out, name); len(row) >= 3 && row[2] == state {
			return nil
		}
		return fmt.Errorf("servers list:\n%s", out)
	})
	return row
}

func TestServersLifecycle(t *testing.T) {
	t.Parallel()
	base := startGateway(t)
	u := "--url=" + base

	if out := mustCLI(t, "servers", "list", u); !strings.Contains(out, "No servers") {
		t.Fatalf("empty list: %q", out)
	}
	addUpstream(t, u, "up", "--header", "X-Trace=a=b,c", "--timeout", "45s", "--exclude-tools", "large,image")

	out := mustCLI(t, "servers", "list", u)
	row := rowWith(out, "up")
	if !strings.HasPrefix(out, "NAME ") || len(row) != 7 || row[1] != "streamable-http" || row[2] != "ready" ||
		row[3] != "5" || row[4] == "-" || row[5] != "api" || row[6] != "-" {
		t.Fatalf("servers list row %q in:\n%s", row, out)
	}

	out = mustCLI(t, "servers", "show", "up", u)
	for _, want := range []string{"SERVER", "streamable-http", "ready", "X-Trace", "45s", "large,image",
		"TOOL", "PUBLIC_NAME", "up__echo", "Returns the message argument unchanged"} {
		if !strings.Contains(out, want) {
			t.Errorf("servers show lacks %q:\n%s", want, out)
		}
	}
	if tools := rowWith(out, "echo"); len(tools) < 2 || tools[1] != "up__echo" {
		t.Errorf("echo row %q in:\n%s", tools, out)
	}
	if rowWith(out, "large") != nil {
		t.Errorf("an excluded tool is shown:\n%s", out)
	}

	var shown struct {
		Server struct {
			Name    string
			Headers []string
			Status  struct{ State string }
		}
		Tools []struct {
			Name       string `json:"name"`
			PublicName string `json:"public_name"`
		}
	}
	out = mustCLI(t, "servers", "show", "up", u, "--json")
	if err := json.Unmarshal([]byte(out), &shown); err != nil {
		t.Fatalf("servers show --json: %v\n%s", err, out)
	}
	if shown.Server.Name != "up" || shown.Server.Status.State != "ready" || !slices.Equal(shown.Server.Headers, []string{"X-Trace"}) ||
		len(shown.Tools) != 5 {
		t.Fatalf("servers show --json: %+v", shown)
	}

	out = mustCLI(t, "servers", "refresh", "up", u)
	if !strings.Contains(out, `Refreshed server "up"`) {
		t.Fatalf("refresh: %q", out)
	}
	waitState(t, u, "up", "ready")

	r := cli(t, "servers", "add", u, "--name", "up", "--transport", "streamable-http", "--server-url", "http://127.0.0.1:1/mcp")
	if r.code != exitFailed || !strings.Contains(r.stderr, "(HTTP 409)") {
		t.Fatalf("duplicate add: %+v", r)
	}

	r = cli(t, "servers", "rm", u, "up")
	if r.code != exitOK || r.stdout != "Removed server up.\n" {
		t.Fatalf("rm: %+v", r)
	}
	if out := mustCLI(t, "servers", "list", u); rowWith(out, "up") != nil {
		t.Fatalf("removed server still listed:\n%s", out)
	}
	// The federated catalog follows the registry's change on its own
	// goroutine: the tools leave it within moments, not necessarily before
	// rm returns.
	testkit.Eventually(t, 5*time.Second, "the removed server's tools to leave the catalog", func() bool {
		return !strings.Contains(mustCLI(t, "tools", "list", u), "up__")
	})
	for _, args := range [][]string{{"servers", "rm", "up"}, {"servers", "show", "up"}, {"servers", "refresh", "up"}} {
		r := cli(t, append(args, u)...)
		if r.code != exitFailed || !strings.Contains(r.stderr, "(HTTP 404)") || !strings.HasPrefix(r.stderr, "junction: ") {
			t.Errorf("%v after rm: %+v", args, r)
		}
	}
}

func TestServersAddStdioAndDisabled(t *testing.T) {
	t.Parallel()
	base := startGateway(t)
	u := "--url=" + base

	// Disabled: the gateway stores it without running the command.
	out := mustCLI(t, "servers", "add", u, "--name", "files", "--transport", "stdio", "--command", "no-such-binary",
		"--arg", "-y", "--arg", "a,b c", "--env", "TOKEN=s3cret", "--env-passthrough", "GOPATH", "--cwd", "/tmp", "--prefix", "", "--disabled",
		"--include-tools", "read_*")
	if !strings.Contains(out, "disabled") {
		t.Fatalf("add --disabled: %q", out)
	}
	out = mustCLI(t, "servers", "show", "files", u)
	for _, want := range []string{"no-such-binary", `-y "a,b c"`, "TOKEN", "GOPATH", "/tmp", "(none)", "read_*", "DISABLED         true"} {
		if !strings.Contains(out, want) {
			t.Errorf("servers show lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "s3cret") {
		t.Errorf("servers show printed an env value:\n%s", out)
	}

	// The gateway's own variables are never passed through, nor patterns.
	for _, name := range []string{"JUNCTION_ADMIN_KEY", "AWS_*"} {
		r := cli(t, "servers", "add", u, "--name", "leaky", "--transport", "stdio", "--command", "c", "--env-passthrough", name)
		if r.code != exitFailed || !strings.Contains(r.stderr, "env_passthrough[0]") {
			t.Errorf("add --env-passthrough %s: %+v", name, r)
		}
	}
}

func TestServersUsageErrors(t *testing.T) {
	t.Parallel()
	for _, args := range [][]string{
		{"servers"},
		{"servers", "frob"},
		{"servers", "add", "--transport", "stdio", "--command", "x"}, // --name is required
		{"servers", "add", "--name", "x"},                            // --transport is required
		{"servers", "add", "--name", "x", "--transport", "websocket", "--server-url", "http://h/mcp"},
		{"servers", "add", "--name", "x", "--transport", "stdio"},
		{"servers", "add", "--name", "x", "--transport", "sse"},
		{"servers", "add", "--name", "x", "--transport", "stdio", "--command", "c", "--server-url", "http://h"},
		{"servers", "add", "--name", "x", "--transport", "streamable-http", "--server-url", "http://h", "--command", "c"},
		{"servers", "add", "--name", "x", "--transport", "stdio", "--command", "c", "--env", "NOVALUE"},
		{"servers", "add", "--name", "x", "--transport", "sse", "--server-url", "http://h", "--env-passthrough", "HOME"},
		{"servers", "add", "--name", "x", "--transport", "stdio", "--command", "c", "--timeout", "soon"},
		{"servers", "show"},
		{"servers", "rm", "a", "b"},
		{"servers", "list", "extra"},
		{"tools"},
		{"tools", "call"},
		{"tools", "call", "a", "--args", "[1]"},
		{"tools", "call", "a", "--args", "{}", "--arg", "k=v"},
		{"tools", "call", "a", "--arg", "novalue"},
		{"tools", "list", "extra"},
	} {
		r := cli(t, args...)
		if r.code != exitUsage || !strings.Contains(r.stderr, "Usage") {
			t.Errorf("%v: exit %d, stderr:\n%s", args, r.code, r.stderr)
		}
	}
	r := cli(t, "servers", "add", "--name", "x", "--transport", "websocket", "--server-url", "http://h/mcp")
	if !strings.Contains(r.stderr, `--transport "websocket" is not one of stdio, sse, streamable-http`) {
		t.Errorf("bad transport: %s", r.stderr)
	}
	for _, args := range [][]string{{"servers", "help"}, {"servers", "add", "--help"}, {"tools", "--help"}, {"tools", "call", "-h"}} {
		if r := cli(t, args...); r.code != exitOK {
			t.Errorf("%v: exit %d", args, r.code)
		}
	}
}

func TestServersAndToolsWrongAdminKey(t *testing.T) {
	t.Parallel()
	base := startGateway(t)
	for _, args := range [][]string{
		{"servers", "list"},
		{"servers", "add", "--name", "x", "--transport", "streamable-http", "--server-url", "http://127.0.0.1:1/mcp"},
		{"servers", "show", "x"},
		{"tools", "list"},
		{"tools", "call", "x__echo", "--arg", "message=hi"},
	} {
		r := cliEnv(t, nil, append(args, "--url", base, "--admin-key", "wrong-admin-key-0000000")...)
		if r.code != exitFailed || r.stderr != "junction: invalid admin key (HTTP 401)\n" || r.stdout != "" {
			t.Errorf("%v with a wrong admin key: %+v", args, r)
		}
	}
}
