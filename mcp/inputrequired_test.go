package mcp

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/mark3labs/mcp-go/client"
	"github.com/mark3labs/mcp-go/mcp"
	"github.com/mark3labs/mcp-go/server"

	"github.com/junctionhq/junction/internal/testkit"
	"github.com/junctionhq/junction/registry"
	"github.com/junctionhq/junction/registry/mcptest"
)

// askClient is the result of an upstream tool that asks its client req with
// ask: "<done> <the answer as JSON>", or the error "<kind> failed: …".
func askClient[Req, Res any](ctx context.Context, ask func(context.Context, Req) (Res, error), req Req, kind, done string) *mcp.CallToolResult {
	res, err := ask(ctx, req)
	if err != nil {
		return mcp.NewToolResultError(kind + " failed: " + err.Error())
	}
	b, _ := json.Marshal(res)
	return mcp.NewToolResultText(done + " " + string(b))
}

// inputUpstreams starts a 2025-11-25 upstream whose tools ask their client
// with server-initiated requests ("ask" samples, "twice" samples then
// elicits, "where" lists roots) and a 2026-07-28 one whose "ask" returns
// input_required, registers both, and returns the registry.
func inputUpstreams(t *testing.T) *registry.Registry {
	t.Helper()
	legacy := server.NewMCPServer("legacy", "1", server.WithToolCapabilities(false))
	legacy.AddTool(mcp.NewTool("ask"), func(ctx context.Context, _ mcp.CallToolRequest) (*mcp.CallToolResult, error) {
		//lint:ignore SA1019 the legacy protocol's server-initiated sampling is what is relayed.
		return askClient(ctx, legacy.RequestSampling, mcp.CreateMessageRequest{CreateMessageParams: samplingParams}, "sampling", "sampled"), nil
	})
	legacy.AddTool(mcp.NewTool("twice"), func(ctx context.Context, _ mcp.CallToolRequest) (*mcp.CallToolResult, error) {
		//lint:ignore SA1019 the legacy protocol's server-initiated sampling is what is relayed.
		s, err := legacy.RequestSampling(ctx, mcp.CreateMessageRequest{CreateMessageParams: samplingParams})
		if err != nil {
			return mcp.NewToolResultError("sampling failed: " + err.Error()), nil
		}
		el, err := legacy.RequestElicitation(ctx, mcp.ElicitationRequest{Params: elicitationParams})
		if err != nil {
			return mcp.NewToolResultError("elicitation failed: " + err.Error()), nil
		}
		b1, _ := json.Marshal(s)
		b2, _ := json.Marshal(el)
		return mcp.NewToolResultText("sampled " + string(b1) + " elicited " + string(b2)), nil
	})
	legacy.AddTool(mcp.NewTool("where"), func(ctx context.Context, _ mcp.CallToolRequest) (*mcp.CallToolResult, error) {
		return askClient(ctx, legacy.RequestRoots, mcp.ListRootsRequest{}, "roots", "roots"), nil
	})
	legacy.AddTool(mcp.NewTool("progress"), func(ctx context.Context, req mcp.CallToolRequest) (*mcp.CallToolResult, error) {
		if req.Params.Meta == nil || req.Params.Meta.ProgressToken == nil {
			return mcp.NewToolResultError("no progress token"), nil
		}
		progress := func(n float64) {
			_ = legacy.SendNotificationToClient(ctx, string(mcp.MethodNotificationProgress),
				map[string]any{"progressToken": req.Params.Meta.ProgressToken, "progress": n, "total": 2})
			time.Sleep(50 * time.Millisecond) // past mcp-go's notification-before-result race
		}
		progress(1)
		//lint:ignore SA1019 the legacy protocol's server-initiated sampling is what is relayed.
		if _, err := legacy.RequestSampling(ctx, mcp.CreateMessageRequest{CreateMessageParams: samplingParams}); err != nil {
			return mcp.NewToolResultError("sampling failed: " + err.Error()), nil
		}
		progress(2)
		return mcp.NewToolResultText("done"), nil
	})
	modern := server.NewMCPServer("modern", "1", server.WithToolCapabilities(false))
	modern.AddTool(mcp.NewTool("ask"), func(_ context.Context, req mcp.CallToolRequest) (*mcp.CallToolResult, error) {
		if res := server.SamplingResponse(req.Params.InputResponses, "q"); res != nil {
			b, _ := json.Marshal(res)
			return mcp.NewToolResultText("sampled " + string(b)), nil
		}
		return server.NewInputRequestBuilder("upstream-state").Sample("q", samplingParams).ToolResult(), nil
	})
	reg := registerHTTPUpstreams(t, map[string]httpUpstream{"legacy": {srv: legacy, legacy: true}, "modern": {srv: modern}})
	testkit.Eventually(t, 5*time.Second, "condition", func() bool { return len(reg.Catalog().Servers) == 2 })
	return reg
}

// rootsAnswer lists one root.
type rootsAnswer struct{}

func (rootsAnswer) ListRoots(context.Context, mcp.ListRootsRequest) (*mcp.ListRootsResult, error) {
	return &mcp.ListRootsResult{Roots: []mcp.Root{{URI: "file:///home/ada/project"}}}, nil
}

// TestInputRequiredRounds: a 2026-07-28 client (mcp-go's, which answers
// input_required results and retries by itself) gets its answers to both
// eras' upstreams, over one or several rounds.
func TestInputRequiredRounds(t *testing.T) {
	t.Parallel()
	reg := inputUpstreams(t)
	s := serveReady(t, Options{Upstreams: reg}, "modern__ask", "legacy__where")
	key, url := s.key(t, "all"), s.url

	h := &caller{}
	c := connectWith(t, url, key, modernEra, client.WithSamplingHandler(h), client.WithElicitationHandler(h), client.WithRootsHandler(rootsAnswer{}))
	for _, tc := range []struct{ tool, want string }{
		{"legacy__ask", "caller answers 2+2?"},
		{"modern__ask", "caller answers 2+2?"},
		{"legacy__where", "file:///home/ada/project"},
	} {
		if got := mcptest.CallTool(t, c, tc.tool, nil); got.IsError || !strings.Contains(mcptest.ResultText(got), tc.want) {
			t.Errorf("%s: %q (isError %v)", tc.tool, mcptest.ResultText(got), got.IsError)
		}
	}
	before := h.samples.Load()
	got := mcptest.CallTool(t, c, "legacy__twice", nil)
	if text := mcptest.ResultText(got); got.IsError || !strings.Contains(text, "caller answers 2+2?") || !strings.Contains(text, `"Ada"`) {
		t.Errorf("two rounds: %q (isError %v)", text, got.IsError)
	}
	if h.samples.Load() != before+1 || h.elicits.Load() != 1 {
		t.Errorf("the client was asked %d/%d times", h.samples.Load()-before, h.elicits.Load())
	}
	if n := len(s.pending.calls); n != 0 {
		t.Errorf("%d calls still parked", n)
	}
}

// rawModern sends one 2026-07-28 tools/call of tool to url with key and
// the extra params, and returns the result object.
func rawModern(t *testing.T, url, key, tool string, extra map[string]any) map[string]json.RawMessage {
	t.Helper()
	req := modernCallRequest(url, key, tool, extra)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var msgs [][]byte
	if strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") {
		sc := bufio.NewScanner(resp.Body)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			if data, ok := strings.CutPrefix(sc.Text(), "data: "); ok {
				msgs = append(msgs, []byte(data))
			}
		}
	} else {
		var b bytes.Buffer
		_, _ = b.ReadFrom(resp.Body)
		msgs = append(msgs, b.Bytes())
	}
	for _, m := range msgs {
		var env struct {
			ID     json.RawMessage            `json:"id"`
			Result map[string]json.RawMessage `json:"result"`
			Error  json.RawMessage            `json:"error"`
		}
		if json.Unmarshal(m, &env) == nil && string(env.ID) == "7" {
			if env.Error != nil {
				t.Fatalf("tools/call %s: error %s", tool, env.Error)
			}
			return env.Result
		}
	}
	t.Fatalf("tools/call %s: no response (status %d): %q", tool, resp.StatusCode, msgs)
	return nil
}

func rawText(res map[string]json.RawMessage) (string, bool) {
	var content []struct{ Text string }
	_ = json.Unmarshal(res["content"], &content)
	var isErr bool
	_ = json.Unmarshal(res["isError"], &isErr)
	var b strings.Builder
	for _, c := range content {
		b.WriteString(c.Text)
	}
	return b.String(), isErr
}

// TestInputRequiredState drives the exchange by hand: the requestState is
// checked (altered, another caller's, another replica's, replayed) before
// the parked call gets the answers, and the right retry completes it.
func TestInputRequiredState(t *testing.T) {
	t.Parallel()
	reg := inputUpstreams(t)
	a := serveReady(t, Options{Upstreams: reg}, "legacy__ask")
	b := serveReady(t, Options{Upstreams: reg, Policy: a.pol}, "legacy__ask") // another replica, same key
	key, other := a.key(t, "all"), a.key(t, "other")
	hubA, urlA, urlB := a.Hub, a.url, b.url

	first := rawModern(t, urlA, key, "legacy__ask", nil)
	var rt string
	_ = json.Unmarshal(first["resultType"], &rt)
	var state string
	_ = json.Unmarshal(first["requestState"], &state)
	var requests map[string]struct {
		Method string `json:"method"`
	}
	_ = json.Unmarshal(first["inputRequests"], &requests)
	if rt != string(mcp.ResultTypeInputRequired) || state == "" || len(requests) != 1 {
		t.Fatalf("first result: %v", first)
	}
	if n := metricValue(hubA.metrics.waiting); n != 1 {
		t.Errorf("input_waiting_calls %v, want 1", n)
	}
	var id string
	for k, r := range requests {
		id = k
		if r.Method != string(mcp.MethodSamplingCreateMessage) {
			t.Fatalf("input request %q is %q", k, r.Method)
		}
	}
	answer := map[string]any{id: map[string]any{"role": "assistant", "content": map[string]any{"type": "text", "text": "four"}, "model": "raw-model"}}
	retry := func(url, key, tool, state string) (string, bool) {
		return rawText(rawModern(t, url, key, tool, map[string]any{"requestState": state, "inputResponses": answer}))
	}

	altered := []byte(state)
	altered[3] ^= 1
	for _, tc := range []struct {
		name, url, key, tool, state, want string
	}{
		{"altered", urlA, key, "legacy__ask", string(altered), "invalid requestState"},
		{"forged", urlA, key, "legacy__ask", "eyJ2IjoxfQ.AAAA", "invalid requestState"},
		{"another caller", urlA, other, "legacy__ask", state, "another caller"},
		{"another tool", urlA, key, "legacy__twice", state, "issued for tool"},
		{"another replica", urlB, key, "legacy__ask", state, "another Junction replica"},
	} {
		if text, isErr := retry(tc.url, tc.key, tc.tool, tc.state); !isErr || !strings.Contains(text, tc.want) {
			t.Errorf("%s: %q (isError %v)", tc.name, text, isErr)
		}
	}
	text, isErr := retry(urlA, key, "legacy__ask", state)
	if isErr || !strings.Contains(text, "four") || !strings.Contains(text, "raw-model") {
		t.Fatalf("the right retry: %q (isError %v)", text, isErr)
	}
	// The call is over: its state is spent.
	if text, isErr := retry(urlA, key, "legacy__ask", state); !isErr || !strings.Contains(text, "has ended") {
		t.Errorf("replayed: %q (isError %v)", text, isErr)
	}
	if n := metricValue(hubA.metrics.waiting); n != 0 {
		t.Errorf("input_waiting_calls %v after the call, want 0", n)
	}
}

// TestInputRequiredStateless: a 2026-07-28 upstream's input_required result
// reaches the client with the upstream's requestState wrapped, nothing is
// parked, and the retry completes on another replica.
func TestInputRequiredStateless(t *testing.T) {
	t.Parallel()
	reg := inputUpstreams(t)
	a := serveReady(t, Options{Upstreams: reg}, "modern__ask")
	b := serveReady(t, Options{Upstreams: reg, Policy: a.pol}, "modern__ask") // another replica, same key
	key, hubA, urlA, urlB := a.key(t, "all"), a.Hub, a.url, b.url

	first := rawModern(t, urlA, key, "modern__ask", nil)
	var state string
	_ = json.Unmarshal(first["requestState"], &state)
	var requests map[string]json.RawMessage
	_ = json.Unmarshal(first["inputRequests"], &requests)
	if state == "" || requests["q"] == nil {
		t.Fatalf("first result: %v", first)
	}
	if strings.Contains(state, "upstream-state") {
		t.Errorf("the upstream's requestState is passed on as is: %q", state)
	}
	if n := len(hubA.pending.calls); n != 0 {
		t.Errorf("%d calls parked for a stateless upstream", n)
	}
	st, err := hubA.pending.sealer.open(state)
	if err != nil || st.Kind != stateWrapped || st.Upstream != "upstream-state" {
		t.Fatalf("state %+v (%v)", st, err)
	}
	answer := map[string]any{"q": map[string]any{"role": "assistant", "content": map[string]any{"type": "text", "text": "four"}, "model": "raw-model"}}
	altered := []byte(state)
	altered[5] ^= 1
	if text, isErr := rawText(rawModern(t, urlB, key, "modern__ask", map[string]any{"requestState": string(altered), "inputResponses": answer})); !isErr || !strings.Contains(text, "invalid requestState") {
		t.Errorf("altered: %q (isError %v)", text, isErr)
	}
	text, isErr := rawText(rawModern(t, urlB, key, "modern__ask", map[string]any{"requestState": state, "inputResponses": answer}))
	if isErr || !strings.Contains(text, "four") {
		t.Errorf("retry on the other replica: %q (isError %v)", text, isErr)
	}
}

// TestInputRequiredProgress: progress the upstream reports before and after
// an input round reaches the client's request of each round.
func TestInputRequiredProgress(t *testing.T) {
	t.Parallel()
	reg := inputUpstreams(t)
	s := serveReady(t, Options{Upstreams: reg}, "legacy__progress")
	key, url := s.key(t, "all"), s.url

	c := connectWith(t, url, key, modernEra, client.WithSamplingHandler(&caller{}))
	notes := collect(c)
	req := mcp.CallToolRequest{}
	req.Params.Name = "legacy__progress"
	req.Params.Meta = &mcp.Meta{ProgressToken: "p-1"}
	res, err := c.CallTool(context.Background(), req)
	if err != nil || res.IsError || mcptest.ResultText(res) != "done" {
		t.Fatalf("call: %+v %v", res, err)
	}
	for _, want := range []float64{1, 2} {
		n := waitNotification(t, notes, string(mcp.MethodNotificationProgress))
		if got, _ := n.Params.AdditionalFields["progress"].(float64); got != want || n.Params.AdditionalFields["progressToken"] != "p-1" {
			t.Errorf("progress %v, want %v (token %v)", got, want, n.Params.AdditionalFields["progressToken"])
		}
	}
}

// modernCallRequest is a 2026-07-28 tools/call of tool to url with key,
// the client's capabilities in _meta and the extra params, as mcp-go's
// client would send it.
func modernCallRequest(url, key, tool string, extra map[string]any) *http.Request {
	params := map[string]any{
		"name": tool, "arguments": map[string]any{},
		"_meta": map[string]any{
			mcp.MetaKeyProtocolVersion:    modernEra,
			mcp.MetaKeyClientCapabilities: map[string]any{"sampling": map[string]any{}},
			mcp.MetaKeyClientInfo:         map[string]any{"name": "raw", "version": "1"},
		},
	}
	for k, v := range extra {
		params[k] = v
	}
	body, _ := json.Marshal(map[string]any{"jsonrpc": "2.0", "id": 7, "method": "tools/call", "params": params})
	req, _ := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, text/event-stream")
	req.Header.Set("Authorization", "Bearer "+key)
	req.Header.Set(mcp.HeaderProtocolVersion, modernEra)
	req.Header.Set(mcp.HeaderMethod, "tools/call")
	req.Header.Set(mcp.HeaderName, tool)
	return req
}
