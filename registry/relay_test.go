package registry

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/mark3labs/mcp-go/client/transport"
	"github.com/mark3labs/mcp-go/mcp"
	"github.com/mark3labs/mcp-go/server"
	"github.com/rs/zerolog"

	"github.com/junctionhq/junction/registry/mcptest"
)

// relayUpstream is an in-process mcp-go upstream whose tools ask their
// client for sampling and elicitation: "ask" and "elicit" with
// server-initiated requests (legacy protocol), "ask_mrtr" with an
// input_required result (2026-07-28).
func relayUpstream(t *testing.T, versions ...string) string {
	t.Helper()
	srv := server.NewMCPServer("relay", "1", server.WithToolCapabilities(false))
	// reply is the result of a tool that asked the client for what: the
	// client's answer res after prefix, or the error.
	reply := func(what, prefix string, res any, err error) (*mcp.CallToolResult, error) {
		if err != nil {
			return mcp.NewToolResultError(what + " failed: " + err.Error()), nil
		}
		b, _ := json.Marshal(res)
		return mcp.NewToolResultText(prefix + string(b)), nil
	}
	sampling := mcp.CreateMessageParams{
		Messages:  []mcp.SamplingMessage{{Role: mcp.RoleUser, Content: mcp.NewTextContent("what is 2+2?")}},
		MaxTokens: 10,
	}
	srv.AddTool(mcp.NewTool("ask"), func(ctx context.Context, _ mcp.CallToolRequest) (*mcp.CallToolResult, error) {
		//lint:ignore SA1019 the legacy protocol's server-initiated sampling is what is tested.
		res, err := srv.RequestSampling(ctx, mcp.CreateMessageRequest{CreateMessageParams: sampling})
		return reply("sampling", "sampled: ", res, err)
	})
	srv.AddTool(mcp.NewTool("elicit"), func(ctx context.Context, _ mcp.CallToolRequest) (*mcp.CallToolResult, error) {
		res, err := srv.RequestElicitation(ctx, mcp.ElicitationRequest{Params: mcp.ElicitationParams{
			Message:         "your name?",
			RequestedSchema: map[string]any{"type": "object", "properties": map[string]any{"name": map[string]any{"type": "string"}}},
		}})
		return reply("elicitation", "elicited: ", res, err)
	})
	srv.AddTool(mcp.NewTool("ask_mrtr"), func(ctx context.Context, req mcp.CallToolRequest) (*mcp.CallToolResult, error) {
		if res := server.SamplingResponse(req.Params.InputResponses, "q"); res != nil {
			return reply("sampling", "sampled: ", res, nil)
		}
		return server.NewInputRequestBuilder("state-1").Sample("q", sampling).ToolResult(), nil
	})
	srv.AddTool(mcp.NewTool("roots"), func(ctx context.Context, _ mcp.CallToolRequest) (*mcp.CallToolResult, error) {
		res, err := srv.RequestRoots(ctx, mcp.ListRootsRequest{})
		return reply("roots", "roots: ", res, err)
	})
	srv.AddTool(mcp.NewTool("roots_mrtr"), func(ctx context.Context, req mcp.CallToolRequest) (*mcp.CallToolResult, error) {
		if res := server.RootsResponse(req.Params.InputResponses, "r"); res != nil {
			return reply("roots", "roots: ", res, nil)
		}
		return server.NewInputRequestBuilder("state-r").Roots("r").ToolResult(), nil
	})
	return mcptest.ServeStreamable(t, srv, server.WithStreamableHTTPProtocolVersions(versions...), server.WithStreamableHTTPLogger(quietSlog))
}

// testCaller is the caller of the tests' calls with client features.
var testCaller = Caller{Key: "key:test"}

func resultText(t *testing.T, raw json.RawMessage) (string, bool) {
	t.Helper()
	res, err := mcp.ParseCallToolResult(&raw)
	if err != nil {
		t.Fatalf("parse result %s: %v", raw, err)
	}
	var sb strings.Builder
	for _, c := range res.Content {
		if tc, ok := c.(mcp.TextContent); ok {
			sb.WriteString(tc.Text)
		}
	}
	return sb.String(), res.IsError
}

func sampleAnswer(seen *mcp.CreateMessageRequest) func(context.Context, mcp.CreateMessageRequest) (*mcp.CreateMessageResult, error) {
	return func(_ context.Context, req mcp.CreateMessageRequest) (*mcp.CreateMessageResult, error) {
		*seen = req
		return &mcp.CreateMessageResult{
			SamplingMessage: mcp.SamplingMessage{Role: mcp.RoleAssistant, Content: mcp.NewTextContent("four, from the caller")},
			Model:           "caller-model",
			StopReason:      "endTurn",
		}, nil
	}
}

// relayRegistry is a registry with a relay upstream of each era, "legacy"
// and "modern", both ready.
func relayRegistry(t *testing.T) *Registry {
	t.Helper()
	r := newRegistry(t, newStore(t))
	mustCreate(t, r, ServerConfig{Name: "legacy", Transport: TransportStreamableHTTP, URL: relayUpstream(t, mcp.LATEST_LEGACY_PROTOCOL_VERSION)})
	mustCreate(t, r, ServerConfig{Name: "modern", Transport: TransportStreamableHTTP, URL: relayUpstream(t)})
	waitReady(t, r, "legacy")
	waitReady(t, r, "modern")
	return r
}

func TestRelaySamplingAndElicitation(t *testing.T) {
	r := relayRegistry(t)
	if p := status(r, "legacy").ProtocolVersion; p != mcp.LATEST_LEGACY_PROTOCOL_VERSION {
		t.Fatalf("legacy upstream negotiated %q", p)
	}
	ctx := context.Background()

	for _, tc := range []struct{ server, tool string }{{"legacy", "ask"}, {"modern", "ask_mrtr"}} {
		t.Run(tc.server+"/"+tc.tool, func(t *testing.T) {
			var seen mcp.CreateMessageRequest
			raw, err := r.CallTool(ctx, tc.server, tc.tool, nil, CallOptions{Caller: testCaller, OnSampling: sampleAnswer(&seen)})
			if err != nil {
				t.Fatal(err)
			}
			text, isErr := resultText(t, raw)
			if isErr || !strings.Contains(text, "four, from the caller") || !strings.Contains(text, "caller-model") {
				t.Errorf("result %q (isError %v)", text, isErr)
			}
			if len(seen.Messages) != 1 || seen.MaxTokens != 10 {
				t.Errorf("the hook got %+v", seen.CreateMessageParams)
			}
			if tc, ok := seen.Messages[0].Content.(mcp.TextContent); !ok || tc.Text != "what is 2+2?" {
				t.Errorf("the hook got message %#v", seen.Messages[0].Content)
			}
		})
	}

	t.Run("elicitation", func(t *testing.T) {
		raw, err := r.CallTool(ctx, "legacy", "elicit", nil, CallOptions{Caller: testCaller,
			OnElicitation: func(_ context.Context, req mcp.ElicitationRequest) (*mcp.ElicitationResult, error) {
				if req.Params.Message != "your name?" {
					t.Errorf("elicitation message %q", req.Params.Message)
				}
				return &mcp.ElicitationResult{ElicitationResponse: mcp.ElicitationResponse{
					Action: mcp.ElicitationResponseActionAccept, Content: map[string]any{"name": "Ada"}}}, nil
			},
		})
		if err != nil {
			t.Fatal(err)
		}
		if text, isErr := resultText(t, raw); isErr || !strings.Contains(text, `"Ada"`) || !strings.Contains(text, `"accept"`) {
			t.Errorf("result %q (isError %v)", text, isErr)
		}
	})

	t.Run("hook error", func(t *testing.T) {
		raw, err := r.CallTool(ctx, "legacy", "ask", nil, CallOptions{Caller: testCaller,
			OnSampling: func(context.Context, mcp.CreateMessageRequest) (*mcp.CreateMessageResult, error) {
				return nil, errors.New("the client does not support sampling")
			},
		})
		if err != nil {
			t.Fatal(err)
		}
		if text, isErr := resultText(t, raw); !isErr || !strings.Contains(text, "the client does not support sampling") {
			t.Errorf("result %q (isError %v)", text, isErr)
		}
	})

	// Without a hook the call runs on the shared session, which declares
	// no client features: the upstream's request is refused.
	t.Run("no hook", func(t *testing.T) {
		for _, tool := range []string{"ask", "elicit"} {
			raw, err := r.CallTool(ctx, "legacy", tool, nil, CallOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if text, isErr := resultText(t, raw); !isErr || !strings.Contains(text, "failed") {
				t.Errorf("%s: result %q (isError %v)", tool, text, isErr)
			}
		}
	})

	t.Run("no caller", func(t *testing.T) {
		_, err := r.CallTool(ctx, "legacy", "ask", nil, CallOptions{OnSampling: sampleAnswer(new(mcp.CreateMessageRequest))})
		if err == nil || !strings.Contains(err.Error(), "needs CallOptions.Caller") {
			t.Errorf("a call with a hook and no caller: %v", err)
		}
	})
}

// TestRelayRouting checks the rule for requests that do not arrive in a
// call's context (stdio, the standalone HTTP stream): only the one request
// in flight gets them.
func TestRelayRouting(t *testing.T) {
	t.Parallel()
	c := &connection{log: zerolog.Nop(), calls: map[string]*callState{}}
	relay := samplingRelay{c}
	ask := func() (*mcp.CreateMessageResult, error) {
		return relay.CreateMessage(context.Background(), mcp.CreateMessageRequest{})
	}
	code := func(err error) int {
		var re *relayError
		if !errors.As(err, &re) {
			return 0
		}
		return re.code
	}

	if _, err := ask(); code(err) != mcp.INVALID_REQUEST || !strings.Contains(err.Error(), "none is") {
		t.Errorf("no call in flight: %v", err)
	}

	hookDone := make(chan error, 1)
	_, _, done := c.register(context.Background(), CallOptions{
		OnSampling: func(ctx context.Context, _ mcp.CreateMessageRequest) (*mcp.CreateMessageResult, error) {
			return &mcp.CreateMessageResult{Model: "only"}, nil
		},
	})
	if res, err := ask(); err != nil || res.Model != "only" {
		t.Errorf("one call in flight: %+v %v", res, err)
	}

	// A second request in flight (even one without hooks, such as a prompt
	// being rendered) makes the target ambiguous: refused, not guessed.
	_, _, done2 := c.register(context.Background(), CallOptions{})
	if _, err := ask(); code(err) != mcp.INVALID_REQUEST || !strings.Contains(err.Error(), "2 requests") {
		t.Errorf("two calls in flight: %v", err)
	}
	done()
	if _, err := ask(); code(err) != mcp.METHOD_NOT_FOUND {
		t.Errorf("the only call has no hook: %v", err)
	}
	done2()

	// The hook's context ends with the call; a request carrying an ended
	// call's context is refused.
	entered := make(chan struct{})
	_, cctx, done3 := c.register(context.Background(), CallOptions{
		OnSampling: func(ctx context.Context, _ mcp.CreateMessageRequest) (*mcp.CreateMessageResult, error) {
			close(entered)
			<-ctx.Done()
			hookDone <- ctx.Err()
			return nil, ctx.Err()
		},
	})
	go func() { _, _ = relay.CreateMessage(context.Background(), mcp.CreateMessageRequest{}) }()
	<-entered
	done3()
	select {
	case err := <-hookDone:
		if !errors.Is(err, context.Canceled) {
			t.Errorf("hook context: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the hook's context did not end with the call")
	}
	if _, err := relay.CreateMessage(cctx, mcp.CreateMessageRequest{}); code(err) != mcp.INVALID_REQUEST || !strings.Contains(err.Error(), "has ended") {
		t.Errorf("ended call: %v", err)
	}

	// relayErrors turns a refusal into a JSON-RPC error with its code.
	h := relayErrors(func(context.Context, transport.JSONRPCRequest) (*transport.JSONRPCResponse, error) {
		return nil, &relayError{code: mcp.INVALID_REQUEST, message: "refused"}
	})
	resp, err := h(context.Background(), transport.JSONRPCRequest{ID: mcp.NewRequestId(int64(7)), Method: "sampling/createMessage"})
	if err != nil || resp == nil || resp.Error == nil || resp.Error.Code != mcp.INVALID_REQUEST || resp.Error.Message != "refused" {
		t.Errorf("relayErrors: %+v %v", resp, err)
	}
}

// TestRelayRoots: an upstream's roots/list during a call (a server-initiated
// request on the legacy protocol, an input_required result on 2026-07-28)
// is answered by the call's OnRoots hook; a call without one is refused,
// and so is a roots/list outside any call.
func TestRelayRoots(t *testing.T) {
	r := relayRegistry(t)
	ctx := context.Background()
	roots := func(context.Context, mcp.ListRootsRequest) (*mcp.ListRootsResult, error) {
		return &mcp.ListRootsResult{Roots: []mcp.Root{{URI: "file:///work/project", Name: "project"}}}, nil
	}
	for _, tc := range []struct{ server, tool string }{{"legacy", "roots"}, {"modern", "roots_mrtr"}} {
		t.Run(tc.server, func(t *testing.T) {
			raw, err := r.CallTool(ctx, tc.server, tc.tool, nil, CallOptions{Caller: testCaller, OnRoots: roots})
			if err != nil {
				t.Fatal(err)
			}
			if text, isErr := resultText(t, raw); isErr || !strings.Contains(text, "file:///work/project") {
				t.Errorf("result %q (isError %v)", text, isErr)
			}
			raw, err = r.CallTool(ctx, tc.server, tc.tool, nil, CallOptions{})
			if err == nil {
				if text, isErr := resultText(t, raw); !isErr && strings.Contains(text, "file:///") {
					t.Errorf("roots without a hook: %q", text)
				}
			}
		})
	}
	// Outside a call nobody answers.
	cs, err := (rootsRelay{c: mustConn(t, r, "legacy")}).ListRoots(ctx, mcp.ListRootsRequest{})
	if err == nil {
		t.Errorf("roots/list outside a call was answered: %+v", cs)
	}
	if err := r.NotifyRootsListChanged(ctx, testCaller); err != nil {
		t.Errorf("notify: %v", err)
	}
}

func mustConn(t *testing.T, r *Registry, server string) *connection {
	t.Helper()
	c, _, err := r.conn(server)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// TestPassInputRequired: with PassInputRequired, a 2026-07-28 upstream's
// input_required result is the call's result (no hook is asked), and a
// call with Resume carries the answers and the upstream's requestState
// back, which completes it. A legacy upstream ignores the option.
func TestPassInputRequired(t *testing.T) {
	modern := relayUpstream(t)
	r := newRegistry(t, newStore(t))
	mustCreate(t, r, ServerConfig{Name: "modern", Transport: TransportStreamableHTTP, URL: modern})
	waitReady(t, r, "modern")
	ctx := context.Background()
	asked := false
	hook := func(context.Context, mcp.CreateMessageRequest) (*mcp.CreateMessageResult, error) {
		asked = true
		return nil, errors.New("not asked")
	}
	raw, err := r.CallTool(ctx, "modern", "ask_mrtr", nil, CallOptions{Caller: testCaller, PassInputRequired: true, OnSampling: hook})
	if err != nil {
		t.Fatal(err)
	}
	var res struct {
		ResultType    string                     `json:"resultType"`
		RequestState  string                     `json:"requestState"`
		InputRequests map[string]json.RawMessage `json:"inputRequests"`
	}
	if err := json.Unmarshal(raw, &res); err != nil || res.ResultType != string(mcp.ResultTypeInputRequired) || res.RequestState != "state-1" || res.InputRequests["q"] == nil {
		t.Fatalf("result %s (%v)", raw, err)
	}
	if asked {
		t.Error("the hook was asked")
	}
	answer := mcp.InputResponses{"q": mcp.InputResponse{Sampling: &mcp.CreateMessageResult{
		SamplingMessage: mcp.SamplingMessage{Role: mcp.RoleAssistant, Content: mcp.NewTextContent("four, resumed")}, Model: "m"}}}
	raw, err = r.CallTool(ctx, "modern", "ask_mrtr", nil, CallOptions{Caller: testCaller, PassInputRequired: true,
		Resume: &mcp.MultiRoundTripParams{InputResponses: answer, RequestState: res.RequestState}})
	if err != nil {
		t.Fatal(err)
	}
	if text, isErr := resultText(t, raw); isErr || !strings.Contains(text, "four, resumed") {
		t.Errorf("resumed: %q (isError %v)", text, isErr)
	}
}
