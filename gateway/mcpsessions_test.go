package gateway

import (
	"context"
	"strings"
	"testing"
	"time"

	mcpgo "github.com/mark3labs/mcp-go/mcp"

	"github.com/junctionhq/junction/internal/testkit"
	"github.com/junctionhq/junction/registry"
	"github.com/junctionhq/junction/registry/mcptest"
)

// TestMCPCallerSessionSettings: mcp.caller_sessions_per_server and
// mcp.caller_session_idle are read from the file, default to the
// registry's bounds, and are refused when negative.
func TestMCPCallerSessionSettings(t *testing.T) {
	t.Parallel()
	c, err := ParseConfig("x.yaml", []byte("mcp:\n  caller_sessions_per_server: 4\n  caller_session_idle: 90s\n"), envMap(nil))
	if err != nil {
		t.Fatal(err)
	}
	if c.MCP.CallerSessionsPerServer != 4 || c.MCP.CallerSessionIdle != 90*time.Second {
		t.Errorf("mcp: %+v", c.MCP)
	}
	c, err = ParseConfig("x.yaml", nil, envMap(nil))
	if err != nil {
		t.Fatal(err)
	}
	if c.MCP.CallerSessionsPerServer != registry.DefaultMaxCallerSessions || c.MCP.CallerSessionIdle != registry.DefaultCallerSessionIdle {
		t.Errorf("defaults: %+v", c.MCP)
	}
	_, err = ParseConfig("x.yaml", []byte("mcp:\n  caller_sessions_per_server: -1\n  caller_session_idle: -1s\n"), envMap(nil))
	if err == nil || !strings.Contains(err.Error(), "mcp.caller_sessions_per_server: must not be negative") ||
		!strings.Contains(err.Error(), "mcp.caller_session_idle: must not be negative") {
		t.Errorf("negative bounds: %v", err)
	}
}

// TestMCPCallerSessionsPerServerReachesTheRegistry: with
// mcp.caller_sessions_per_server set to 1, a server keeps one caller
// session however many callers supply roots (the default would keep one
// per caller).
func TestMCPCallerSessionsPerServerReachesTheRegistry(t *testing.T) {
	up := mcptest.StartHTTP(t, mcptest.WithName("local"), mcptest.WithTools(mcptest.ToolRoots))
	g := startGateway(t, func(c *Config) {
		c.MCP.CallerSessionsPerServer = 1
		c.Servers = []registry.ServerConfig{{Name: "local", Transport: registry.TransportStreamableHTTP, URL: up.URL}}
	})
	status := func() registry.Status {
		for _, s := range g.servers.Statuses() {
			if s.Name == "local" {
				return s
			}
		}
		return registry.Status{}
	}
	testkit.Eventually(t, 15*time.Second, "the server to be ready", func() bool { return status().State == registry.StateReady })
	for _, key := range []string{"key:a", "key:b", "key:c"} {
		onRoots := func(context.Context, mcpgo.ListRootsRequest) (*mcpgo.ListRootsResult, error) {
			return &mcpgo.ListRootsResult{Roots: []mcpgo.Root{{URI: "file:///" + key}}}, nil
		}
		if _, err := g.servers.CallTool(context.Background(), "local", mcptest.ToolRoots, nil,
			registry.CallOptions{Caller: registry.Caller{Key: key}, OnRoots: onRoots}); err != nil {
			t.Fatalf("roots as %s: %v", key, err)
		}
		if n := status().CallerSessions; n != 1 {
			t.Fatalf("after %s: %d caller sessions, want 1 (mcp.caller_sessions_per_server)", key, n)
		}
	}
}
