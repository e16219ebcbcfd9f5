package registry

import (
	"context"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mark3labs/mcp-go/mcp"
	"github.com/mark3labs/mcp-go/server"

	"github.com/junctionhq/junction/internal/testkit"
	"github.com/junctionhq/junction/registry/mcptest"
)

// An upstream that does not answer resources/subscribe holds up the
// subscriptions of its own server only, not those of every other server.
func TestResourceSubscribeSlowUpstreamBlocksOnlyItself(t *testing.T) {
	release := make(chan struct{})
	var subscribing atomic.Bool
	hooks := &server.Hooks{}
	hooks.AddBeforeSubscribe(func(ctx context.Context, _ any, _ *mcp.SubscribeRequest) {
		subscribing.Store(true)
		select {
		case <-release:
		case <-ctx.Done():
		}
	})
	slow := server.NewMCPServer("slow", "1", server.WithResourceCapabilities(true, false), server.WithHooks(hooks))
	slow.AddResource(mcp.NewResource("slow://doc", "doc"), func(context.Context, mcp.ReadResourceRequest) ([]mcp.ResourceContents, error) {
		return []mcp.ResourceContents{mcp.TextResourceContents{URI: "slow://doc", Text: "x"}}, nil
	})
	slowHTTP := httptest.NewServer(server.NewStreamableHTTPServer(slow, server.WithStreamableHTTPProtocolVersions(mcp.LATEST_LEGACY_PROTOCOL_VERSION)))
	t.Cleanup(func() {
		close(release)
		slowHTTP.CloseClientConnections()
		slowHTTP.Close()
	})
	fast := mcptest.StartHTTP(t, mcptest.WithResourceSubscriptions())
	fast.Server.SetText("mcptest://doc", "v1")

	r := newRegistry(t, newStore(t))
	mustCreate(t, r, ServerConfig{Name: "slow", Transport: TransportStreamableHTTP, URL: slowHTTP.URL,
		ProtocolVersion: mcp.LATEST_LEGACY_PROTOCOL_VERSION, ConnectTimeout: Duration(4 * time.Second)})
	mustCreate(t, r, ServerConfig{Name: "fast", Transport: TransportStreamableHTTP, URL: fast.URL,
		ProtocolVersion: mcp.LATEST_LEGACY_PROTOCOL_VERSION})
	waitReady(t, r, "slow")
	waitReady(t, r, "fast")

	slowDone := make(chan error, 1)
	go func() { slowDone <- r.SubscribeResource(context.Background(), "slow", "slow://doc") }()
	testkit.Eventually(t, 5*time.Second, "the slow subscribe to reach its upstream", subscribing.Load)

	start := time.Now()
	if err := r.SubscribeResource(context.Background(), "fast", "mcptest://doc"); err != nil {
		t.Fatal(err)
	}
	if waited := time.Since(start); waited > 2*time.Second {
		t.Errorf("subscribing on fast waited %v for slow's resources/subscribe", waited)
	}
	if err := <-slowDone; err == nil {
		t.Error("the unanswered resources/subscribe succeeded")
	}
}
