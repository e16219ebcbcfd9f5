package gateway

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/mark3labs/mcp-go/client"
	"github.com/mark3labs/mcp-go/client/transport"
	"github.com/mark3labs/mcp-go/mcp"

	"github.com/junctionhq/junction/policy"
	"github.com/junctionhq/junction/registry"
	"github.com/junctionhq/junction/registry/mcptest"
)

// npmRoots answers roots/list with one root.
type npmRoots struct{ uri string }

func (r npmRoots) ListRoots(context.Context, mcp.ListRootsRequest) (*mcp.ListRootsResult, error) {
	return &mcp.ListRootsResult{Roots: []mcp.Root{{URI: r.uri, Name: "project"}}}, nil
}

// namedKey creates a virtual key named name that may use every tool.
func namedKey(t *testing.T, g *testGateway, name string) string {
	t.Helper()
	_, secret, err := g.Policy().CreateKey(context.Background(), policy.KeyInput{Name: name})
	if err != nil {
		t.Fatal(err)
	}
	return secret
}

// rootsClient connects a 2025-11-25 client with key whose roots are uri,
// with the standalone GET stream open, as real clients do.
func rootsClient(t *testing.T, url, key, uri string) *client.Client {
	t.Helper()
	//lint:ignore SA1019 the standalone GET stream is how legacy clients receive server requests.
	topts := []transport.StreamableHTTPCOption{transport.WithHTTPHeaders(map[string]string{"Authorization": "Bearer " + key}), transport.WithContinuousListening()}
	return mcptest.ConnectStreamable(t, url, mcp.ProtocolVersion20251125, topts, client.WithRootsHandler(npmRoots{uri}))
}

// TestServerEverythingIsolation runs the reproductions of issue 11 against
// the real server-everything over stdio: its get-env tool does not see the
// gateway's secrets, and its get-roots-list tool, which caches the roots
// per session, answers each of two keys with its own roots, in both orders.
func TestServerEverythingIsolation(t *testing.T) {
	n := needNPM(t)
	t.Setenv("JUNCTION_PROBE_SECRET", "junction-probe-secret-value")
	t.Setenv("OPENAI_API_KEY", "sk-probe-provider-secret")
	everything := n.entry(t, "@modelcontextprotocol/server-everything")
	g := startGateway(t, func(c *Config) {
		c.Servers = []registry.ServerConfig{{Name: "everything", Transport: registry.TransportStdio, Command: n.node,
			Args: []string{everything, "stdio"}, ConnectTimeout: registry.Duration(60 * time.Second)}}
	})
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	url := g.URL + "/mcp"

	probe := rootsClient(t, url, callerKey(t, g), "file:///probe")
	waitForTools(t, ctx, probe, "everything__get-env", "everything__get-roots-list")
	var req mcp.CallToolRequest
	req.Params.Name = "everything__get-env"
	res, err := probe.CallTool(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	env := mcptest.ResultText(res)
	if !strings.Contains(env, "PATH") {
		t.Fatalf("get-env: %q", env)
	}
	for _, secret := range []string{"JUNCTION_PROBE_SECRET", "junction-probe-secret-value", "sk-probe-provider-secret", testAdminKey} {
		if strings.Contains(env, secret) {
			t.Errorf("server-everything's get-env shows %q", secret)
		}
	}

	roots := func(c *client.Client) string {
		t.Helper()
		req.Params.Name = "everything__get-roots-list"
		res, err := c.CallTool(ctx, req)
		if err != nil || res.IsError {
			t.Fatalf("get-roots-list: %v %q", err, mcptest.ResultText(res))
		}
		return mcptest.ResultText(res)
	}
	for i, bFirst := range []bool{false, true} {
		rootA, rootB := fmt.Sprintf("file:///a%d", i), fmt.Sprintf("file:///b%d", i)
		a := rootsClient(t, url, namedKey(t, g, fmt.Sprintf("a%d", i)), rootA)
		b := rootsClient(t, url, namedKey(t, g, fmt.Sprintf("b%d", i)), rootB)
		order := []*client.Client{a, b}
		if bFirst {
			order = []*client.Client{b, a}
		}
		want := map[*client.Client][2]string{a: {rootA, rootB}, b: {rootB, rootA}}
		for round := range 2 {
			for _, c := range order {
				got := roots(c)
				if !strings.Contains(got, want[c][0]+"\n") && !strings.HasSuffix(got, want[c][0]) || strings.Contains(got, want[c][1]) ||
					strings.Contains(got, "file:///probe") {
					t.Errorf("b first %v, round %d: the caller with %s sees %q", bFirst, round, want[c][0], got)
				}
			}
		}
	}
}
