package mcp

import (
	"context"
	"encoding/json"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mark3labs/mcp-go/client"
	"github.com/mark3labs/mcp-go/client/transport"
	"github.com/mark3labs/mcp-go/mcp"
	"github.com/mark3labs/mcp-go/server"

	"github.com/junctionhq/junction/internal/testkit"
	"github.com/junctionhq/junction/registry"
	"github.com/junctionhq/junction/registry/mcptest"
)

// caller answers sampling and elicitation like a downstream client would.
type caller struct {
	samples, elicits atomic.Int32
}

func (c *caller) CreateMessage(_ context.Context, req mcp.CreateMessageRequest) (*mcp.CreateMessageResult, error) {
	c.samples.Add(1)
	text := ""
	if len(req.Messages) > 0 {
		// mcp-go's client hands input_required (2026-07-28) sampling
		// content over as decoded JSON.
		if content, err := mcp.ParseSamplingContent(req.Messages[0].Content); err == nil {
			if tc, ok := content.(mcp.TextContent); ok {
				text = tc.Text
			}
		}
	}
	return &mcp.CreateMessageResult{
		SamplingMessage: mcp.SamplingMessage{Role: mcp.RoleAssistant, Content: mcp.NewTextContent("caller answers " + text)},
		Model:           "caller-model",
	}, nil
}

func (c *caller) Elicit(_ context.Context, req mcp.ElicitationRequest) (*mcp.ElicitationResult, error) {
	c.elicits.Add(1)
	return &mcp.ElicitationResult{ElicitationResponse: mcp.ElicitationResponse{
		Action: mcp.ElicitationResponseActionAccept, Content: map[string]any{"name": "Ada"}}}, nil
}

// connectWith starts an initialized client of era on url with key and
// client options (handlers).
func connectWith(t *testing.T, url, key, era string, opts ...client.ClientOption) *client.Client {
	t.Helper()
	topts := []transport.StreamableHTTPCOption{transport.WithHTTPHeaders(map[string]string{"Authorization": "Bearer " + key})}
	if era == legacyEra {
		// Legacy clients open the standalone GET stream, as real ones do:
		// mcp-go sends sampling requests there (elicitation goes on the
		// tools/call POST stream).
		//lint:ignore SA1019 the standalone GET stream is how legacy clients receive server requests.
		topts = append(topts, transport.WithContinuousListening())
	}
	c := mcptest.ConnectStreamable(t, url, era, topts, opts...)
	if got := c.ProtocolVersion(); got != era {
		t.Fatalf("negotiated %q, want %q", got, era)
	}
	return c
}

var samplingParams = mcp.CreateMessageParams{
	Messages:  []mcp.SamplingMessage{{Role: mcp.RoleUser, Content: mcp.NewTextContent("2+2?")}},
	MaxTokens: 5,
}

var elicitationParams = mcp.ElicitationParams{
	Message:         "name?",
	RequestedSchema: map[string]any{"type": "object", "properties": map[string]any{"name": map[string]any{"type": "string"}}},
}

// askThrough asks req through hook, one of the hooks the hub sets on a
// call, and describes the outcome as a tool result: "no <kind> hook", "<kind>
// error: …" or "<done> <the result as JSON>".
func askThrough[Req, Res any](ctx context.Context, hook func(context.Context, Req) (Res, error), req Req, kind, done string) json.RawMessage {
	if hook == nil {
		return textResult("no " + kind + " hook")
	}
	res, err := hook(ctx, req)
	if err != nil {
		return textResult(kind + " error: " + err.Error())
	}
	b, _ := json.Marshal(res)
	return textResult(done + " " + string(b))
}

func TestRelaySamplingAndElicitationFake(t *testing.T) {
	t.Parallel()
	f := newFixture(t, Options{})
	// files/read_file samples, files/write_file elicits, through the hooks
	// the hub set.
	f.fake.Handle("files", "read_file", func(ctx context.Context, _ json.RawMessage, opts registry.CallOptions) (json.RawMessage, error) {
		return askThrough(ctx, opts.OnSampling, mcp.CreateMessageRequest{CreateMessageParams: samplingParams}, "sampling", "sampled"), nil
	})
	f.fake.Handle("files", "write_file", func(ctx context.Context, _ json.RawMessage, opts registry.CallOptions) (json.RawMessage, error) {
		return askThrough(ctx, opts.OnElicitation, mcp.ElicitationRequest{Params: elicitationParams}, "elicitation", "elicited"), nil
	})

	// 2026-07-28 clients that declared the capabilities get input_required
	// rounds (mcp-go's client answers them and retries by itself); those
	// that did not are refused. Legacy clients are asked through the hooks.
	for _, era := range []struct{ name, version string }{{"legacy", legacyEra}, {"modern", modernEra}} {
		t.Run(era.name+" client with both capabilities", func(t *testing.T) {
			h := &caller{}
			c := connectWith(t, f.url+"/mcp", f.all, era.version, client.WithSamplingHandler(h), client.WithElicitationHandler(h))
			if got := mcptest.ResultText(mcptest.CallTool(t, c, "files__read_file", nil)); !strings.Contains(got, "caller answers 2+2?") || !strings.Contains(got, "caller-model") {
				t.Errorf("sampling: %q", got)
			}
			if got := mcptest.ResultText(mcptest.CallTool(t, c, "files__write_file", nil)); !strings.Contains(got, `"Ada"`) || !strings.Contains(got, `"accept"`) {
				t.Errorf("elicitation: %q", got)
			}
			if h.samples.Load() != 1 || h.elicits.Load() != 1 {
				t.Errorf("the client was asked %d/%d times", h.samples.Load(), h.elicits.Load())
			}
		})

		t.Run(era.name+" client with sampling only", func(t *testing.T) {
			h := &caller{}
			c := connectWith(t, f.url+"/mcp", f.all, era.version, client.WithSamplingHandler(h))
			// No hook: the registry refuses the upstream's request.
			if got := mcptest.ResultText(mcptest.CallTool(t, c, "files__write_file", nil)); !strings.Contains(got, "no elicitation hook") {
				t.Errorf("elicitation: %q", got)
			}
			if h.elicits.Load() != 0 {
				t.Error("a client without the capability was asked")
			}
		})

		t.Run(era.name+" client without capabilities", func(t *testing.T) {
			c := connect(t, f.url+"/mcp", f.all, era.version)
			if got := mcptest.ResultText(mcptest.CallTool(t, c, "files__read_file", nil)); !strings.Contains(got, "no sampling hook") {
				t.Errorf("sampling: %q", got)
			}
		})
	}
}

// TestRelayThroughRegistry runs the whole path: a downstream client with a
// sampling handler calls a federated tool; the (real) registry's upstream
// asks for sampling with server.RequestSampling; the client's answer reaches
// the upstream tool's result.
func TestRelayThroughRegistry(t *testing.T) {
	t.Parallel()
	up := server.NewMCPServer("asker", "1", server.WithToolCapabilities(false))
	up.AddTool(mcp.NewTool("ask", mcp.WithDescription("asks the caller")), func(ctx context.Context, _ mcp.CallToolRequest) (*mcp.CallToolResult, error) {
		//lint:ignore SA1019 the legacy protocol's server-initiated sampling is what is tested.
		return askClient(ctx, up.RequestSampling, mcp.CreateMessageRequest{CreateMessageParams: samplingParams}, "sampling", "upstream got"), nil
	})
	reg := registerHTTPUpstreams(t, map[string]httpUpstream{"asker": {srv: up, legacy: true}})
	testkit.Eventually(t, 5*time.Second, "condition", func() bool {
		for _, s := range reg.Catalog().Servers {
			if s.Name == "asker" && len(s.Tools) == 1 {
				return true
			}
		}
		return false
	})

	s := serveReady(t, Options{Upstreams: reg}, "asker__ask")
	key := s.key(t, "all")

	h := &caller{}
	c := connectWith(t, s.url, key, legacyEra, client.WithSamplingHandler(h))
	res := mcptest.CallTool(t, c, "asker__ask", nil)
	checkResult(t, res, false, "upstream got", "caller answers 2+2?")
	if h.samples.Load() != 1 {
		t.Errorf("the client was asked %d times", h.samples.Load())
	}

	// A client that cannot sample: the upstream is told so, and says so.
	c2 := connect(t, s.url, key, legacyEra)
	res = mcptest.CallTool(t, c2, "asker__ask", nil)
	checkResult(t, res, true, "the client does not support sampling")
}

// checkResult fails t unless res is an error result exactly when isError
// and its text holds every one of want.
func checkResult(t *testing.T, res *mcp.CallToolResult, isError bool, want ...string) {
	t.Helper()
	got := mcptest.ResultText(res)
	ok := res.IsError == isError
	for _, w := range want {
		ok = ok && strings.Contains(got, w)
	}
	if !ok {
		t.Errorf("result %q (isError %v)", got, res.IsError)
	}
}
