package mcp

import (
	"context"
	"encoding/json"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mark3labs/mcp-go/client"
	"github.com/mark3labs/mcp-go/mcp"
	"github.com/mark3labs/mcp-go/server"

	"github.com/junctionhq/junction/internal/testkit"
	"github.com/junctionhq/junction/registry/mcptest"
)

// rootsCaller answers roots/list like a downstream client would.
type rootsCaller struct{ asked atomic.Int32 }

func (r *rootsCaller) ListRoots(context.Context, mcp.ListRootsRequest) (*mcp.ListRootsResult, error) {
	r.asked.Add(1)
	return &mcp.ListRootsResult{Roots: []mcp.Root{{URI: "file:///home/ada/project", Name: "project"}}}, nil
}

// TestRelayRootsThroughRegistry: an upstream's roots/list during a tool
// call reaches the 2025-11-25 client that made the call and declared roots;
// a client without the capability is not asked; a client's
// notifications/roots/list_changed reaches the upstreams that client has
// called, and not the others.
func TestRelayRootsThroughRegistry(t *testing.T) {
	t.Parallel()
	var changed atomic.Int32
	up := server.NewMCPServer("files", "1", server.WithToolCapabilities(false))
	up.AddTool(mcp.NewTool("where", mcp.WithDescription("lists the caller's roots")), func(ctx context.Context, _ mcp.CallToolRequest) (*mcp.CallToolResult, error) {
		res, err := up.RequestRoots(ctx, mcp.ListRootsRequest{})
		if err != nil {
			return mcp.NewToolResultError("roots failed: " + err.Error()), nil
		}
		b, _ := json.Marshal(res)
		return mcp.NewToolResultText("roots " + string(b)), nil
	})
	up.AddNotificationHandler(mcp.MethodNotificationRootsListChanged, func(context.Context, mcp.JSONRPCNotification) { changed.Add(1) })
	reg := registerHTTPUpstreams(t, map[string]httpUpstream{"files": {srv: up, legacy: true}})
	s := serveReady(t, Options{Upstreams: reg}, "files__where")
	key := s.key(t, "all")

	h := &rootsCaller{}
	c := connectWith(t, s.url, key, legacyEra, client.WithRootsHandler(h))
	res := mcptest.CallTool(t, c, "files__where", nil)
	checkResult(t, res, false, "file:///home/ada/project")
	if h.asked.Load() != 1 {
		t.Errorf("the client was asked %d times", h.asked.Load())
	}

	// Without the capability the upstream is told the client has none.
	plain := connect(t, s.url, key, legacyEra)
	res = mcptest.CallTool(t, plain, "files__where", nil)
	checkResult(t, res, true, "the client does not support roots")

	// list_changed from a client that never called files: not passed on.
	idle := connectWith(t, s.url, key, legacyEra, client.WithRootsHandler(&rootsCaller{}))
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := idle.RootListChanges(ctx); err != nil {
		t.Fatal(err)
	}
	// A negative check: nothing to wait for but the time a wrongly relayed
	// notification would take to arrive.
	time.Sleep(200 * time.Millisecond)
	if n := changed.Load(); n != 0 {
		t.Fatalf("a client that never used the upstream notified it (%d)", n)
	}
	// From the client that called it: passed on.
	if err := c.RootListChanges(ctx); err != nil {
		t.Fatal(err)
	}
	testkit.Eventually(t, 5*time.Second, "condition", func() bool { return changed.Load() == 1 })
}
