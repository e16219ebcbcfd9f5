package gateway

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mark3labs/mcp-go/mcp"

	"github.com/junctionhq/junction/registry"
)

func TestScratchProgressRates(t *testing.T) {
	needNPM(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	fixture := startConformanceFixture(t, ctx, t.TempDir())
	empty := ""
	g := startGateway(t, func(c *Config) {
		c.Servers = []registry.ServerConfig{{Name: "conformance", Transport: registry.TransportStreamableHTTP, URL: fixture + "/mcp", Prefix: &empty}}
	})
	key := callerKey(t, g)
	for _, target := range []struct{ name, url string }{{"direct", fixture + "/mcp"}, {"junction", g.URL + "/mcp"}} {
		for _, ver := range []string{mcp.ProtocolVersion20251125, ""} {
			c := mcpClient(t, ctx, target.url, key, ver)
			if target.name == "junction" {
				waitForTools(t, ctx, c, "test_tool_with_progress")
			}
			var n atomic.Int64
			c.OnNotification(func(m mcp.JSONRPCNotification) {
				if m.Method == "notifications/progress" {
					n.Add(1)
				}
			})
			hist := map[int64]int{}
			for i := 0; i < 30; i++ {
				n.Store(0)
				var req mcp.CallToolRequest
				req.Params.Name = "test_tool_with_progress"
				req.Params.Meta = &mcp.Meta{ProgressToken: i + 1}
				if _, err := c.CallTool(ctx, req); err != nil {
					t.Fatal(err)
				}
				time.Sleep(100 * time.Millisecond)
				hist[n.Load()]++
			}
			t.Logf("%s %q: progress notifications per call histogram %v", target.name, ver, hist)
			c.Close()
		}
	}
}
