package gateway

import (
	"context"
	"encoding/json"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mark3labs/mcp-go/client"
	"github.com/mark3labs/mcp-go/client/transport"
	mcpgo "github.com/mark3labs/mcp-go/mcp"
	"github.com/mark3labs/mcp-go/server"

	"github.com/junctionhq/junction/internal/testkit"
	"github.com/junctionhq/junction/registry"
	"github.com/junctionhq/junction/registry/mcptest"
)

// sampler answers sampling like a model-backed client would.
type sampler struct{ asked atomic.Int32 }

func (s *sampler) CreateMessage(context.Context, mcpgo.CreateMessageRequest) (*mcpgo.CreateMessageResult, error) {
	s.asked.Add(1)
	return &mcpgo.CreateMessageResult{
		SamplingMessage: mcpgo.SamplingMessage{Role: mcpgo.RoleAssistant, Content: mcpgo.NewTextContent("four, says the client")},
		Model:           "client-model",
	}, nil
}

// TestMCPInputRequiredBothUpstreamEras: through the whole gateway, a
// 2026-07-28 client that can sample answers the sampling requests of a
// 2025-11-25 upstream (a parked call, resumed by the input_required retry)
// and of a 2026-07-28 upstream (its input_required result relayed with a
// wrapped requestState), and a 2025-11-25 client answers them as
// server-initiated requests.
func TestMCPInputRequiredBothUpstreamEras(t *testing.T) {
	params := mcpgo.CreateMessageParams{
		Messages:  []mcpgo.SamplingMessage{{Role: mcpgo.RoleUser, Content: mcpgo.NewTextContent("2+2?")}},
		MaxTokens: 5,
	}
	legacy := server.NewMCPServer("asker", "1", server.WithToolCapabilities(false))
	legacy.AddTool(mcpgo.NewTool("ask"), func(ctx context.Context, _ mcpgo.CallToolRequest) (*mcpgo.CallToolResult, error) {
		//lint:ignore SA1019 the legacy protocol's server-initiated sampling is what is relayed.
		res, err := legacy.RequestSampling(ctx, mcpgo.CreateMessageRequest{CreateMessageParams: params})
		if err != nil {
			return mcpgo.NewToolResultError("sampling failed: " + err.Error()), nil
		}
		b, _ := json.Marshal(res)
		return mcpgo.NewToolResultText("upstream got " + string(b)), nil
	})
	modern := server.NewMCPServer("asker", "1", server.WithToolCapabilities(false))
	modern.AddTool(mcpgo.NewTool("ask"), func(_ context.Context, req mcpgo.CallToolRequest) (*mcpgo.CallToolResult, error) {
		if res := server.SamplingResponse(req.Params.InputResponses, "q"); res != nil {
			b, _ := json.Marshal(res)
			return mcpgo.NewToolResultText("upstream got " + string(b)), nil
		}
		return server.NewInputRequestBuilder("s1").Sample("q", params).ToolResult(), nil
	})
	g := startGateway(t, func(c *Config) {
		c.Servers = []registry.ServerConfig{
			{Name: "old", Transport: registry.TransportStreamableHTTP, URL: mcptest.ServeStreamable(t, legacy, server.WithStreamableHTTPProtocolVersions("2025-11-25"))},
			{Name: "new", Transport: registry.TransportStreamableHTTP, URL: mcptest.ServeStreamable(t, modern)},
		}
	})
	key := callerKey(t, g)
	for _, era := range mcpEras {
		t.Run(era, func(t *testing.T) {
			s := &sampler{}
			c := mcpClientWith(t, g.URL+"/mcp", key, era, client.WithSamplingHandler(s))
			testkit.Eventually(t, 15*time.Second, "both upstreams' tools", func() bool {
				names := mcptest.ToolNames(t, c)
				return has(names, "old__ask") && has(names, "new__ask")
			})
			for _, tool := range []string{"old__ask", "new__ask"} {
				r := mcptest.CallTool(t, c, tool, nil)
				if got := mcptest.ResultText(r); r.IsError || !strings.Contains(got, "four, says the client") || !strings.Contains(got, "client-model") {
					t.Errorf("%s: %q (isError %v)", tool, got, r.IsError)
				}
			}
			if n := s.asked.Load(); n != 2 {
				t.Errorf("the client was asked %d times, want 2", n)
			}
		})
	}
}

// mcpClientWith connects an initialized client of era with options
// (handlers); a 2025-11-25 client opens the standalone GET stream, on which
// mcp-go sends server-initiated sampling requests.
func mcpClientWith(t *testing.T, url, key, era string, opts ...client.ClientOption) *client.Client {
	t.Helper()
	topts := []transport.StreamableHTTPCOption{transport.WithHTTPHeaders(map[string]string{"Authorization": "Bearer " + key})}
	if !mcpgo.IsModernProtocol(era) {
		//lint:ignore SA1019 a 2025-11-25 client gets server-initiated requests on the standalone GET stream.
		topts = append(topts, transport.WithContinuousListening())
	}
	return mcptest.ConnectStreamable(t, url, era, topts, opts...)
}
