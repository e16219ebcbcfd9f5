package gateway

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	mcpgo "github.com/mark3labs/mcp-go/mcp"
	"github.com/mark3labs/mcp-go/server"

	"github.com/junctionhq/junction/internal/testkit"
	"github.com/junctionhq/junction/llm/agent"
	"github.com/junctionhq/junction/llm/llmtest"
	"github.com/junctionhq/junction/mcp"
	"github.com/junctionhq/junction/policy"
	"github.com/junctionhq/junction/registry"
	"github.com/junctionhq/junction/registry/mcptest"
	"github.com/junctionhq/junction/store"
)

// agentSetup is a gateway with the llmtest mock behind an OpenAI-type and an
// Anthropic-type provider, and one MCP upstream "web" (mcptest's tools plus
// a rendezvous tool that only answers once two calls are inside it).
type agentSetup struct {
	*llmSetup
	web  *mcptest.HTTPServer
	meet *rendezvous
}

// rendezvous lets a call through only when n calls are waiting, so two calls
// that return "met" ran concurrently.
type rendezvous struct {
	mu      sync.Mutex // guards arrived and all
	n       int
	arrived int
	all     chan struct{}
}

func newRendezvous(n int) *rendezvous { return &rendezvous{n: n, all: make(chan struct{})} }

func (r *rendezvous) tool() server.ServerTool {
	return server.ServerTool{
		Tool: mcpgo.Tool{Name: "rendezvous", Description: "Waits for its twin call.",
			RawInputSchema: json.RawMessage(`{"type":"object","properties":{"who":{"type":"string"}},"additionalProperties":false}`)},
		Handler: func(ctx context.Context, req mcpgo.CallToolRequest) (*mcpgo.CallToolResult, error) {
			r.mu.Lock()
			r.arrived++
			if r.arrived == r.n {
				close(r.all)
			}
			r.mu.Unlock()
			select {
			case <-r.all:
				return mcpgo.NewToolResultText("met"), nil
			case <-time.After(3 * time.Second):
				return mcpgo.NewToolResultError("alone: the other call never arrived"), nil
			case <-ctx.Done():
				return nil, ctx.Err()
			}
		},
	}
}

func startAgent(t *testing.T, mutate func(*Config)) *agentSetup {
	t.Helper()
	meet := newRendezvous(2)
	web := mcptest.StartHTTP(t, mcptest.WithName("web"), mcptest.WithExtraTools(meet.tool()))
	s := startLLM(t, func(c *Config, _ *llmtest.Server) {
		c.Servers = []registry.ServerConfig{{Name: "web", Transport: registry.TransportStreamableHTTP, URL: web.URL}}
		c.Prices = []policy.Price{{Model: "mock/gpt-4o-mini", Input: 1000, Output: 2000}, {Model: "claude/claude-sonnet-4-5", Input: 1000, Output: 2000}}
		if mutate != nil {
			mutate(c)
		}
	})
	id, err := s.gw.Policy().Authenticate(s.key)
	if err != nil {
		t.Fatal(err)
	}
	testkit.Eventually(t, 15*time.Second, "web's tools in the catalog", func() bool { return len(s.gw.hub.Tools(id, "")) >= 8 })
	return &agentSetup{llmSetup: s, web: web, meet: meet}
}

// script makes the mock answer every request with the turns, by tool-result rounds.
func (s *agentSetup) script(t *testing.T, turns ...llmtest.Turn) {
	t.Helper()
	if err := s.mock.SetDefault(llmtest.Behavior{Script: turns, ScriptMode: llmtest.ScriptByToolResults}); err != nil {
		t.Fatal(err)
	}
}

// agentResponse is an OpenAI completion with Junction's extension.
type agentResponse struct {
	oaiCompletion
	Junction struct {
		Iterations int     `json:"iterations"`
		StopReason string  `json:"stop_reason"`
		CostUSD    float64 `json:"cost_usd"`
		ToolCalls  []struct {
			Iteration int    `json:"iteration"`
			Name      string `json:"name"`
			Status    string `json:"status"`
			IsError   bool   `json:"is_error"`
		} `json:"tool_calls"`
	} `json:"junction"`
}

func decodeAgent(t *testing.T, resp *http.Response, body []byte) agentResponse {
	t.Helper()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d: %s", resp.StatusCode, body)
	}
	var out agentResponse
	if err := json.Unmarshal(body, &out); err != nil || len(out.Choices) != 1 {
		t.Fatalf("not a completion (%v): %s", err, body)
	}
	return out
}

func (r agentResponse) text() string {
	if c := r.Choices[0].Message.Content; c != nil {
		return *c
	}
	return ""
}

// modelRequests are the bodies the mock received, decoded.
func (s *agentSetup) modelRequests(t *testing.T) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, rr := range s.mock.Requests() {
		if !strings.Contains(rr.Path, "chat/completions") && !strings.Contains(rr.Path, "messages") {
			continue
		}
		var m map[string]any
		if err := json.Unmarshal(rr.Body, &m); err != nil {
			t.Fatalf("mock request: %v", err)
		}
		out = append(out, m)
	}
	return out
}

// secondCallEndsWith checks that the last message of the second model call
// (the tool result) holds want; what names it in the failure.
func (s *agentSetup) secondCallEndsWith(t *testing.T, want, what string) {
	t.Helper()
	msgs := s.modelRequests(t)[1]["messages"].([]any)
	if c := fmt.Sprint(msgs[len(msgs)-1].(map[string]any)["content"]); !strings.Contains(c, want) {
		t.Errorf("%s did not reach the model: %s", what, c)
	}
}

func toolNames(req map[string]any) []string {
	var names []string
	tools, _ := req["tools"].([]any)
	for _, t := range tools {
		m := t.(map[string]any)
		if f, ok := m["function"].(map[string]any); ok {
			names = append(names, f["name"].(string))
		} else {
			names = append(names, m["name"].(string))
		}
	}
	return names
}

// usageTotals flushes the usage writer and sums the key's records.
func (s *agentSetup) usageTotals(t *testing.T, keyID string) store.UsageRow {
	t.Helper()
	if err := s.gw.Policy().FlushUsage(context.Background()); err != nil {
		t.Fatal(err)
	}
	rows, err := s.gw.Policy().Usage(context.Background(), store.UsageQuery{KeyID: keyID})
	if err != nil || len(rows) != 1 {
		t.Fatalf("usage: %v %+v", err, rows)
	}
	return rows[0]
}

const agentUser = `"messages":[{"role":"user","content":"What is 2 + 3?"}]`

func TestAgentTwoStepLoop(t *testing.T) {
	t.Parallel()
	s := startAgent(t, nil)
	s.script(t, llmtest.ToolTurn(llmtest.Call("web__add", map[string]any{"a": 2, "b": 3})), llmtest.TextTurn("The sum is 5."))
	resp, body := s.post(t, "/v1/chat/completions", `{"model":"fast",`+agentUser+`,
		"tools":[{"type":"mcp","server_label":"web","allowed_tools":["add","echo"],"require_approval":"never"}]}`)
	out := decodeAgent(t, resp, body)
	if out.text() != "The sum is 5." || out.Choices[0].FinishReason != "stop" {
		t.Fatalf("answer %q, finish %q", out.text(), out.Choices[0].FinishReason)
	}
	if resp.Header.Get(agent.IterationsHeader) != "2" || resp.Header.Get(agent.StopReasonHeader) != "final" || out.Junction.Iterations != 2 {
		t.Errorf("iterations header %q stop %q, junction %+v", resp.Header.Get(agent.IterationsHeader), resp.Header.Get(agent.StopReasonHeader), out.Junction)
	}
	if n := s.web.Server.Calls("add"); n != 1 {
		t.Errorf("upstream add called %d times", n)
	}
	reqs := s.modelRequests(t)
	if len(reqs) != 2 {
		t.Fatalf("%d model calls", len(reqs))
	}
	if got := toolNames(reqs[0]); strings.Join(got, ",") != "web__add,web__echo" {
		t.Errorf("offered tools %v", got)
	}
	// The upstream's schema reaches the model byte for byte.
	add, _ := s.web.Server.Tool("add")
	if !bytes.Contains(s.mock.Requests()[0].Body, add.RawInputSchema) {
		t.Errorf("schema not forwarded faithfully: %s not in %s", add.RawInputSchema, s.mock.Requests()[0].Body)
	}
	msgs := reqs[1]["messages"].([]any)
	last := msgs[len(msgs)-1].(map[string]any)
	if last["role"] != "tool" || !strings.Contains(fmt.Sprint(last["content"]), "5") {
		t.Errorf("tool result message %v", last)
	}
	// usage is the sum of both model calls, and every step is billed.
	u := s.usageTotals(t, s.keyID)
	if u.Requests != 3 || u.PromptTokens != out.Usage.PromptTokens || u.CompletionTokens != out.Usage.CompletionTokens {
		t.Errorf("usage records %+v, response usage %+v", u, out.Usage)
	}
	if math.Abs(float64(u.CostMicros)/1e6-out.Junction.CostUSD) > 1e-6 || out.Junction.CostUSD <= 0 {
		t.Errorf("billed %d µ$, reported %v", u.CostMicros, out.Junction.CostUSD)
	}
	// The request id links the steps in the logs.
	rid := resp.Header.Get(RequestIDHeader)
	logs := s.gw.Logs.String()
	if n := strings.Count(logs, `"request_id":"`+rid+`"`); n < 4 {
		t.Errorf("request id %s in %d log lines, want the two model calls, the tool call and the loop", rid, n)
	}
	if !strings.Contains(logs, `"iterations":2,"stop_reason":"final","tool_calls":1`) {
		t.Errorf("no summary line for the loop in the log")
	}
	if resp.Header.Get("X-Junction-Overhead-Ms") == "" || resp.Header.Get("X-Junction-Target") != "mock/gpt-4o-mini" {
		t.Errorf("headers %v", resp.Header)
	}
	_, metrics := get(t, s.gw.URL+"/metrics")
	for _, want := range []string{`junction_llm_agent_loops_total{stop_reason="final"} 1`, "junction_llm_agent_iterations_sum 2",
		`junction_mcp_tool_calls_total{outcome="ok",server="web",tool="add"} 1`} {
		if !strings.Contains(string(metrics), want) {
			t.Errorf("metrics lack %s", want)
		}
	}
}

func TestAgentParallelToolCalls(t *testing.T) {
	t.Parallel()
	s := startAgent(t, nil)
	s.script(t, llmtest.ToolTurn(llmtest.Call("web__rendezvous", map[string]any{"who": "a"}), llmtest.Call("web__rendezvous", map[string]any{"who": "b"})),
		llmtest.TextTurn("Both met."))
	resp, body := s.post(t, "/v1/chat/completions", `{"model":"fast",`+agentUser+`,"tools":[{"type":"mcp","server_label":"*"}]}`)
	out := decodeAgent(t, resp, body)
	if len(out.Junction.ToolCalls) != 2 {
		t.Fatalf("tool calls %+v", out.Junction.ToolCalls)
	}
	for _, c := range out.Junction.ToolCalls {
		if c.IsError || c.Status != "ok" {
			t.Errorf("call %+v: the two calls did not run at the same time", c)
		}
	}
	msgs := s.modelRequests(t)[1]["messages"].([]any)
	for _, m := range msgs[len(msgs)-2:] {
		if c := m.(map[string]any)["content"]; c != "met" {
			t.Errorf("tool result %v", c)
		}
	}
}

func TestAgentToolErrorFedBack(t *testing.T) {
	t.Parallel()
	s := startAgent(t, nil)
	s.script(t, llmtest.ToolTurn(llmtest.Call("web__fail", map[string]any{"message": "disk on fire"})), llmtest.TextTurn("The tool failed."))
	resp, body := s.post(t, "/v1/chat/completions", `{"model":"fast",`+agentUser+`,"tools":[{"type":"mcp","server_label":"web"}]}`)
	out := decodeAgent(t, resp, body)
	if out.text() != "The tool failed." || out.Junction.ToolCalls[0].Status != "error" || !out.Junction.ToolCalls[0].IsError {
		t.Fatalf("%q %+v", out.text(), out.Junction)
	}
	s.secondCallEndsWith(t, "disk on fire", "the error")
}

func TestAgentDeniedToolIsReportedNotRun(t *testing.T) {
	t.Parallel()
	s := startAgent(t, nil)
	k, limited, err := s.gw.Policy().CreateKey(context.Background(), policy.KeyInput{Name: "echo-only", Tools: []string{"web/echo"}})
	if err != nil {
		t.Fatal(err)
	}
	s.script(t, llmtest.ToolTurn(llmtest.Call("web__add", map[string]any{"a": 1, "b": 1})), llmtest.TextTurn("I may not add."))
	resp, body := s.post(t, "/v1/chat/completions", `{"model":"fast",`+agentUser+`,"tools":[{"type":"mcp","server_label":"web"}]}`,
		"Authorization", "Bearer "+limited)
	out := decodeAgent(t, resp, body)
	if out.text() != "I may not add." || out.Junction.ToolCalls[0].Status != "denied" {
		t.Fatalf("%q %+v", out.text(), out.Junction)
	}
	if n := s.web.Server.Calls("add"); n != 0 {
		t.Errorf("denied tool ran %d times", n)
	}
	reqs := s.modelRequests(t)
	if got := toolNames(reqs[0]); strings.Join(got, ",") != "web__echo" {
		t.Errorf("offered %v to a key that may call web/echo only", got)
	}
	msgs := reqs[1]["messages"].([]any)
	if c := fmt.Sprint(msgs[len(msgs)-1].(map[string]any)["content"]); !strings.Contains(c, "denied") {
		t.Errorf("the denial did not reach the model: %s", c)
	}
	_ = k
}

func TestAgentMaxIterations(t *testing.T) {
	t.Parallel()
	s := startAgent(t, func(c *Config) { c.Agent.MaxIterations = 3 })
	s.script(t, llmtest.ToolTurn(llmtest.Call("web__echo", map[string]any{"message": "again"})))
	resp, body := s.post(t, "/v1/chat/completions", `{"model":"fast",`+agentUser+`,"tools":[{"type":"mcp","server_label":"web"}]}`)
	out := decodeAgent(t, resp, body)
	if out.Choices[0].FinishReason != "length" || resp.Header.Get(agent.StopReasonHeader) != "max_iterations" ||
		out.Junction.StopReason != "max_iterations" || out.Junction.Iterations != 3 {
		t.Fatalf("finish %q, stop %q, %+v", out.Choices[0].FinishReason, resp.Header.Get(agent.StopReasonHeader), out.Junction)
	}
	if !strings.Contains(out.text(), "iteration limit") || len(out.Choices[0].Message.ToolCalls) != 0 {
		t.Errorf("final message %q %+v", out.text(), out.Choices[0].Message.ToolCalls)
	}
	if n := s.web.Server.Calls("echo"); n != 2 {
		t.Errorf("echo ran %d times, want 2 (the third call's tools are not run)", n)
	}
	// A request may lower the limit.
	resp, body = s.post(t, "/v1/chat/completions", `{"model":"fast",`+agentUser+`,"tools":[{"type":"mcp","server_label":"web"}]}`,
		agent.MaxIterationsHeader, "1")
	if out := decodeAgent(t, resp, body); out.Junction.Iterations != 1 || out.Junction.StopReason != "max_iterations" {
		t.Errorf("with the header: %+v", out.Junction)
	}
}

func TestAgentBudgetExhaustedMidLoop(t *testing.T) {
	t.Parallel()
	s := startAgent(t, nil)
	body := `{"model":"fast","max_tokens":1000,` + agentUser + `,"tools":[{"type":"mcp","server_label":"web","allowed_tools":["echo"]}]}`
	// The budget covers the first call's estimate (prompt ≈ body/4 tokens,
	// completion max_tokens, at $1000/$2000 per Mtok) and not one more.
	firstEstimate := float64(len(body)/4+1)*1000/1e6 + 1000*2000/1e6
	k, secret, err := s.gw.Policy().CreateKey(context.Background(), policy.KeyInput{Name: "thrifty",
		Budget: &policy.Budget{USD: firstEstimate + 0.000002, Period: policy.PeriodDay}})
	if err != nil {
		t.Fatal(err)
	}
	s.script(t, llmtest.ToolTurn(llmtest.Call("web__echo", map[string]any{"message": "hi"})), llmtest.TextTurn("done"))
	resp, raw := s.post(t, "/v1/chat/completions", body, "Authorization", "Bearer "+secret)
	out := decodeAgent(t, resp, raw)
	if out.Junction.StopReason != "budget" || out.Choices[0].FinishReason != "length" || out.Junction.Iterations != 1 {
		t.Fatalf("%s", raw)
	}
	if !strings.Contains(out.text(), "budget") {
		t.Errorf("final text %q", out.text())
	}
	u := s.usageTotals(t, k.ID)
	if u.Requests != 2 || u.PromptTokens != out.Usage.PromptTokens || u.CompletionTokens != out.Usage.CompletionTokens {
		t.Errorf("usage records %+v, response %+v", u, out.Usage)
	}
	if float64(u.CostMicros) != math.Round(out.Junction.CostUSD*1e6) {
		t.Errorf("billed %d µ$, reported %v", u.CostMicros, out.Junction.CostUSD)
	}
	// The key's budget is not left reserved: what is spent is what was billed.
	resp, raw = s.post(t, "/v1/chat/completions", body, "Authorization", "Bearer "+secret)
	if resp.StatusCode != http.StatusPaymentRequired {
		t.Errorf("next request: %d %s", resp.StatusCode, raw)
	}
}

func TestAgentRequireApproval(t *testing.T) {
	t.Parallel()
	s := startAgent(t, nil)
	s.script(t, llmtest.ToolTurn(llmtest.ToolCall{ID: "call_ok1", Name: "web__echo", Arguments: `{"message":"approved"}`}), llmtest.TextTurn("It said approved."))
	tools := `"tools":[{"type":"mcp","server_label":"web","require_approval":"always"}]`
	resp, body := s.post(t, "/v1/chat/completions", `{"model":"fast",`+agentUser+`,`+tools+`}`)
	out := decodeAgent(t, resp, body)
	calls := out.Choices[0].Message.ToolCalls
	if out.Choices[0].FinishReason != "tool_calls" || out.Junction.StopReason != "approval" || len(calls) != 1 || calls[0].Function.Name != "web__echo" {
		t.Fatalf("%s", body)
	}
	if n := s.web.Server.Calls("echo"); n != 0 {
		t.Fatalf("ran %d times before approval", n)
	}
	// Sending the call back without a result approves it: Junction runs it
	// and goes on.
	resp, body = s.post(t, "/v1/chat/completions", `{"model":"fast",`+tools+`,"messages":[{"role":"user","content":"What is 2 + 3?"},
		{"role":"assistant","content":null,"tool_calls":[{"id":"call_ok1","type":"function","function":{"name":"web__echo","arguments":"{\"message\":\"approved\"}"}}]}]}`)
	out = decodeAgent(t, resp, body)
	if out.text() != "It said approved." || s.web.Server.Calls("echo") != 1 || out.Junction.ToolCalls[0].Status != "ok" {
		t.Fatalf("after approval: %s", body)
	}
}

func TestAgentFunctionToolsMixed(t *testing.T) {
	t.Parallel()
	s := startAgent(t, nil)
	s.script(t, llmtest.ToolTurn(llmtest.Call("web__echo", map[string]any{"message": "x"})),
		llmtest.ToolTurn(llmtest.Call("get_weather", map[string]any{"city": "Paris"})), llmtest.TextTurn("Sunny."))
	resp, body := s.post(t, "/v1/chat/completions", `{"model":"fast",`+agentUser+`,"tools":[
		{"type":"function","function":{"name":"get_weather","parameters":{"type":"object","properties":{"city":{"type":"string"}}}}},
		{"type":"mcp","server_label":"web","allowed_tools":["echo"]}]}`)
	out := decodeAgent(t, resp, body)
	calls := out.Choices[0].Message.ToolCalls
	if out.Choices[0].FinishReason != "tool_calls" || out.Junction.StopReason != "client_tools" || len(calls) != 1 ||
		calls[0].Function.Name != "get_weather" || out.Junction.Iterations != 2 {
		t.Fatalf("%s", body)
	}
	if got := toolNames(s.modelRequests(t)[0]); strings.Join(got, ",") != "get_weather,web__echo" {
		t.Errorf("offered %v", got)
	}
	// A plain request with function tools only is not a loop.
	s.mock.ResetStats()
	resp, body = s.post(t, "/v1/chat/completions", `{"model":"fast",`+agentUser+`,"tools":[
		{"type":"function","function":{"name":"get_weather","parameters":{"type":"object"}}}]}`)
	if resp.StatusCode != 200 || resp.Header.Get(agent.IterationsHeader) != "" {
		t.Errorf("plain request: %d %v %s", resp.StatusCode, resp.Header, body)
	}
}

func TestAgentToolsHeader(t *testing.T) {
	t.Parallel()
	s := startAgent(t, nil)
	s.script(t, llmtest.ToolTurn(llmtest.Call("web__echo", map[string]any{"message": "via header"})), llmtest.TextTurn("ok"))
	resp, body := s.post(t, "/v1/chat/completions", `{"model":"fast",`+agentUser+`}`, agent.ToolsHeader, "web:echo|add")
	out := decodeAgent(t, resp, body)
	if out.text() != "ok" || out.Junction.Iterations != 2 || s.web.Server.Calls("echo") != 1 {
		t.Fatalf("%s", body)
	}
	if got := toolNames(s.modelRequests(t)[0]); strings.Join(got, ",") != "web__add,web__echo" {
		t.Errorf("offered %v", got)
	}
	resp, body = s.post(t, "/v1/chat/completions", `{"model":"fast",`+agentUser+`}`, agent.ToolsHeader, "web:")
	if resp.StatusCode != http.StatusBadRequest {
		t.Errorf("bad header: %d %s", resp.StatusCode, body)
	}
}

func TestAgentBadToolNames(t *testing.T) {
	t.Parallel()
	s := startAgent(t, nil)
	resp, body := s.post(t, "/v1/chat/completions", `{"model":"fast",`+agentUser+`,"tools":[{"type":"mcp","server_label":"x","server_url":"https://example.com/mcp"}]}`)
	if resp.StatusCode != http.StatusBadRequest || !strings.Contains(string(body), "server_url") {
		t.Errorf("%d %s", resp.StatusCode, body)
	}
	resp, body = s.post(t, "/v1/chat/completions", `{"model":"fast",`+agentUser+`,"tools":[{"type":"mcp","server_label":"wbe"}]}`)
	if resp.StatusCode != http.StatusBadRequest || errorJSON(t, body).Code != "no_mcp_tools" || !strings.Contains(string(body), "wbe") {
		t.Errorf("%d %s", resp.StatusCode, body)
	}
	resp, body = s.post(t, "/v1/messages", `{"model":"fast","max_tokens":10,"messages":[{"role":"user","content":"x"}]}`, agent.ToolsHeader, "web:nope")
	if resp.StatusCode != http.StatusBadRequest || !strings.Contains(string(body), `"type":"error"`) {
		t.Errorf("messages: %d %s", resp.StatusCode, body)
	}
	// A body that merely mentions "mcp is a plain request.
	s.script(t, llmtest.TextTurn("plain"))
	resp, body = s.post(t, "/v1/chat/completions", `{"model":"fast","messages":[{"role":"user","content":"\"mcp\" servers?"}]}`)
	if resp.StatusCode != 200 || resp.Header.Get(agent.IterationsHeader) != "" {
		t.Errorf("plain: %d %v %s", resp.StatusCode, resp.Header, body)
	}
	if s.modelRequests(t)[0]["tools"] != nil {
		t.Errorf("tools offered to a plain request")
	}
}

// parseOpenAIStream reads a stream the way the OpenAI SDKs do: events split
// on blank lines, comment lines dropped, every event's data a JSON chunk
// until [DONE]. A named event is an error here, as it would reach the SDK
// user as an item that is not a chunk.
func parseOpenAIStream(t *testing.T, body []byte) (chunks []oaiChunk, comments []string) {
	t.Helper()
	sc := bufio.NewScanner(bytes.NewReader(body))
	sc.Buffer(make([]byte, 1<<20), 1<<24)
	var event string
	var data []string
	done := false
	flush := func() {
		defer func() { event, data = "", nil }()
		if len(data) == 0 && event == "" {
			return
		}
		if event != "" {
			t.Errorf("named event %q: SDKs would hand it to the caller as a chunk", event)
		}
		d := strings.Join(data, "\n")
		if strings.HasPrefix(d, "[DONE]") {
			done = true
			return
		}
		if done {
			t.Errorf("data after [DONE]: %s", d)
		}
		var c oaiChunk
		if err := json.Unmarshal([]byte(d), &c); err != nil {
			t.Errorf("not JSON: %s", d)
		}
		var probe map[string]any
		_ = json.Unmarshal([]byte(d), &probe)
		if probe["error"] != nil {
			t.Errorf("error in stream: %s", d)
		}
		chunks = append(chunks, c)
	}
	for sc.Scan() {
		line := sc.Text()
		switch {
		case line == "":
			flush()
		case strings.HasPrefix(line, ":"):
			comments = append(comments, strings.TrimSpace(strings.TrimPrefix(line, ":")))
		case strings.HasPrefix(line, "event:"):
			event = strings.TrimSpace(strings.TrimPrefix(line, "event:"))
		case strings.HasPrefix(line, "data:"):
			data = append(data, strings.TrimPrefix(strings.TrimPrefix(line, "data:"), " "))
		}
	}
	flush()
	if !done {
		t.Error("no [DONE]")
	}
	return chunks, comments
}

func TestAgentStreamOpenAI(t *testing.T) {
	t.Parallel()
	s := startAgent(t, nil)
	final := "The sum of two and three is five, as the tool reported."
	s.script(t, llmtest.Turn{Text: "Let me add.", ToolCalls: []llmtest.ToolCall{llmtest.Call("web__add", map[string]any{"a": 2, "b": 3})}},
		llmtest.TextTurn(final))
	resp, body := s.post(t, "/v1/chat/completions", `{"model":"fast","stream":true,
		"stream_options":{"include_usage":true},`+agentUser+`,"tools":[{"type":"mcp","server_label":"web"}]}`)
	if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") {
		t.Fatalf("%d %s", resp.StatusCode, body)
	}
	chunks, comments := parseOpenAIStream(t, body)
	var text strings.Builder
	var finishes []string
	var calls []string
	textChunks, roles := 0, 0
	var usage int64
	for _, c := range chunks {
		if c.Usage != nil {
			usage = c.Usage.PromptTokens + c.Usage.CompletionTokens
		}
		for _, ch := range c.Choices {
			if ch.Delta.Role != "" {
				roles++
			}
			if ch.Delta.Content != "" {
				text.WriteString(ch.Delta.Content)
				textChunks++
			}
			for _, tc := range ch.Delta.ToolCalls {
				if tc.Function.Name != "" {
					calls = append(calls, fmt.Sprintf("%d:%s", tc.Index, tc.Function.Name))
				}
			}
			if ch.FinishReason != nil {
				finishes = append(finishes, *ch.FinishReason)
			}
		}
	}
	if !strings.HasSuffix(text.String(), final) || !strings.HasPrefix(text.String(), "Let me add.") {
		t.Errorf("text %q", text.String())
	}
	// The final answer, after the tool result, arrives in pieces.
	_, tail, _ := strings.Cut(string(body), ": junction.tool_result")
	finalChunks, _ := parseOpenAIStream(t, []byte(tail[strings.Index(tail, "\n\n")+2:]))
	finalPieces := 0
	for _, c := range finalChunks {
		for _, ch := range c.Choices {
			if ch.Delta.Content != "" {
				finalPieces++
			}
		}
	}
	if finalPieces < 5 || textChunks <= finalPieces {
		t.Errorf("final text in %d chunks (%d in all): not streamed", finalPieces, textChunks)
	}
	if strings.Join(finishes, ",") != "stop" || roles != 1 || strings.Join(calls, ",") != "0:web__add" || usage == 0 {
		t.Errorf("finishes %v, roles %d, calls %v, usage %d", finishes, roles, calls, usage)
	}
	var results, dones int
	for _, c := range comments {
		name, data, _ := strings.Cut(c, " ")
		var v map[string]any
		if err := json.Unmarshal([]byte(data), &v); err != nil {
			t.Errorf("comment %q: %v", c, err)
		}
		switch name {
		case "junction.tool_result":
			results++
			if v["name"] != "web__add" || !strings.Contains(fmt.Sprint(v["content"]), "5") {
				t.Errorf("tool result event %v", v)
			}
		case "junction.done":
			dones++
			if v["iterations"] != float64(2) || v["stop_reason"] != "final" {
				t.Errorf("done event %v", v)
			}
		}
	}
	if results != 1 || dones != 1 {
		t.Errorf("%d tool results, %d done events: %q", results, dones, comments)
	}
	if resp.Trailer.Get(agent.IterationsHeader) != "2" || resp.Trailer.Get("X-Junction-Overhead-Ms") == "" {
		t.Errorf("trailer %v", resp.Trailer)
	}
}

// agentAnthropicMessage is a /v1/messages response with Junction's extension.
type agentAnthropicMessage struct {
	anthropicMessage
	Junction struct {
		Iterations int    `json:"iterations"`
		StopReason string `json:"stop_reason"`
	} `json:"junction"`
}

func TestAgentMessages(t *testing.T) {
	t.Parallel()
	for _, model := range []string{"claude/claude-sonnet-4-5", "fast"} { // Anthropic upstream, and an OpenAI one
		t.Run(model, func(t *testing.T) {
			s := startAgent(t, func(c *Config) { c.Agent.MaxIterations = 3 })
			s.script(t, llmtest.ToolTurn(llmtest.Call("web__add", map[string]any{"a": 2, "b": 3})), llmtest.TextTurn("Five."))
			for _, tools := range []string{
				`"tools":[{"type":"mcp","server_label":"web","allowed_tools":["add"]}],`,
				`"mcp_servers":[{"type":"url","name":"web","tool_configuration":{"allowed_tools":["add"]}}],`,
				`"mcp_servers":[{"type":"url","name":"web"}],"tools":[{"type":"mcp_toolset","mcp_server_name":"web","default_config":{"enabled":false},"configs":{"add":{"enabled":true}}}],`,
				"", // the header
			} {
				resp, body := s.post(t, "/v1/messages", `{"model":"`+model+`","max_tokens":200,`+tools+`"messages":[{"role":"user","content":"What is 2 + 3?"}]}`,
					agent.ToolsHeader, map[bool]string{true: "web:add"}[tools == ""])
				if resp.StatusCode != 200 {
					t.Fatalf("%d %s", resp.StatusCode, body)
				}
				var m agentAnthropicMessage
				if err := json.Unmarshal(body, &m); err != nil {
					t.Fatal(err)
				}
				if len(m.Content) != 1 || m.Content[0].Text != "Five." || m.StopReason != "end_turn" || m.Junction.Iterations != 2 || m.Usage.OutputTokens == 0 {
					t.Errorf("%s", body)
				}
			}
			if n := s.web.Server.Calls("add"); n != 4 {
				t.Errorf("add ran %d times", n)
			}
			// The tool results went back in the upstream's own shape.
			last := s.mock.Requests()[len(s.mock.Requests())-1].Body
			if model == "claude/claude-sonnet-4-5" && !bytes.Contains(last, []byte(`"tool_result"`)) {
				t.Errorf("no tool_result block in %s", last)
			}
			// Max iterations: Anthropic's pause_turn.
			s.script(t, llmtest.ToolTurn(llmtest.Call("web__add", map[string]any{"a": 1, "b": 1})))
			resp, body := s.post(t, "/v1/messages", `{"model":"`+model+`","max_tokens":200,"tools":[{"type":"mcp","server_label":"web"}],"messages":[{"role":"user","content":"loop"}]}`)
			var m agentAnthropicMessage
			_ = json.Unmarshal(body, &m)
			if resp.StatusCode != 200 || m.StopReason != "pause_turn" || m.Junction.StopReason != "max_iterations" {
				t.Errorf("max iterations: %s", body)
			}
		})
	}
}

func TestAgentStreamAnthropic(t *testing.T) {
	t.Parallel()
	s := startAgent(t, nil)
	s.script(t, llmtest.ToolTurn(llmtest.Call("web__add", map[string]any{"a": 2, "b": 3})), llmtest.TextTurn("The sum is five, as computed."))
	resp, body := s.post(t, "/v1/messages", `{"model":"claude/claude-sonnet-4-5","max_tokens":200,"stream":true,
		"tools":[{"type":"mcp","server_label":"web"}],"messages":[{"role":"user","content":"What is 2 + 3?"}]}`)
	if resp.StatusCode != 200 {
		t.Fatalf("%d %s", resp.StatusCode, body)
	}
	names, data := sseEvents(t, body)
	var text strings.Builder
	var blocks []string
	counts := map[string]int{}
	stop := ""
	for i, n := range names {
		counts[n]++
		var ev map[string]any
		if err := json.Unmarshal([]byte(data[i]), &ev); err != nil {
			t.Fatalf("event %s: %s", n, data[i])
		}
		switch n {
		case "content_block_start":
			blocks = append(blocks, ev["content_block"].(map[string]any)["type"].(string))
		case "content_block_delta":
			if d := ev["delta"].(map[string]any); d["type"] == "text_delta" {
				text.WriteString(d["text"].(string))
			}
		case "message_delta":
			stop = ev["delta"].(map[string]any)["stop_reason"].(string)
		}
	}
	if names[0] != "message_start" || names[len(names)-1] != "message_stop" || counts["message_start"] != 1 || counts["message_stop"] != 1 {
		t.Errorf("events %v", names)
	}
	if strings.Join(blocks, ",") != "tool_use,text" || text.String() != "The sum is five, as computed." || stop != "end_turn" {
		t.Errorf("blocks %v text %q stop %q", blocks, text.String(), stop)
	}
	if counts["junction.tool_result"] != 1 || counts["content_block_start"] != counts["content_block_stop"] || counts["content_block_delta"] < 4 {
		t.Errorf("counts %v", counts)
	}
}

func TestAgentManyTools(t *testing.T) {
	forecast := server.ServerTool{
		Tool: mcpgo.Tool{Name: "weather_forecast", Description: "Returns the weather forecast for a city: temperature, rain and wind.",
			RawInputSchema: json.RawMessage(`{"type":"object","properties":{"city":{"type":"string"}},"required":["city"]}`)},
		Handler: func(context.Context, mcpgo.CallToolRequest) (*mcpgo.CallToolResult, error) {
			return mcpgo.NewToolResultText("sunny"), nil
		},
	}
	many := mcptest.StartHTTP(t, mcptest.WithName("many"), mcptest.WithTools(), mcptest.WithGeneratedTools(300), mcptest.WithExtraTools(forecast))
	s := startAgent(t, func(c *Config) {
		c.Servers = append(c.Servers, registry.ServerConfig{Name: "many", Transport: registry.TransportStreamableHTTP, URL: many.URL})
	})
	id, _ := s.gw.Policy().Authenticate(s.key)
	testkit.Eventually(t, 15*time.Second, "the 301 tools", func() bool { return countServer(s.gw.hub.Tools(id, ""), "many") == 301 })
	s.script(t,
		llmtest.ToolTurn(llmtest.Call("search_tools", map[string]any{"query": "generated tool number 250"})),
		llmtest.ToolTurn(llmtest.Call("many__gen_00250", map[string]any{"message": "found"})),
		llmtest.TextTurn("Done."))
	resp, body := s.post(t, "/v1/chat/completions", `{"model":"fast","messages":[{"role":"user","content":"What is the weather forecast for Paris?"}],
		"tools":[{"type":"mcp","server_label":"many"}]}`)
	out := decodeAgent(t, resp, body)
	if out.text() != "Done." || out.Junction.Iterations != 3 {
		t.Fatalf("%s", body)
	}
	reqs := s.modelRequests(t)
	first := toolNames(reqs[0])
	if len(first) > agent.DefaultMaxTools || !slices.Contains(first, "many__weather_forecast") || !slices.Contains(first, "search_tools") {
		t.Errorf("offered %d tools: %v", len(first), first)
	}
	if slices.Contains(first, "many__gen_00250") {
		t.Fatalf("gen_00250 was offered at first; the test needs a tool that only search finds")
	}
	msgs := reqs[1]["messages"].([]any)
	if c := fmt.Sprint(msgs[len(msgs)-1].(map[string]any)["content"]); !strings.Contains(c, "many__gen_00250") {
		t.Errorf("search result does not list gen_00250: %.300s", c)
	}
	if !slices.Contains(toolNames(reqs[2]), "many__gen_00250") {
		t.Errorf("the tool found by search is not offered next")
	}
	if n := many.Server.Calls("gen_00250"); n != 1 {
		t.Errorf("gen_00250 ran %d times", n)
	}
}

func countServer(tools []mcp.ToolInfo, server string) int {
	n := 0
	for _, t := range tools {
		if t.Server == server {
			n++
		}
	}
	return n
}

func TestAgentTimeouts(t *testing.T) {
	s := startAgent(t, func(c *Config) {
		c.Agent.Timeout = 1500 * time.Millisecond
		c.Agent.ToolTimeout = 300 * time.Millisecond
	})
	// Each tool call outlives the tool timeout: its timeout is fed back and
	// the loop goes on until the total time limit.
	s.script(t, llmtest.ToolTurn(llmtest.Call("web__sleep", map[string]any{"ms": 1000})))
	start := time.Now()
	resp, body := s.post(t, "/v1/chat/completions", `{"model":"fast",`+agentUser+`,"tools":[{"type":"mcp","server_label":"web"}]}`)
	took := time.Since(start)
	out := decodeAgent(t, resp, body)
	if out.Junction.StopReason != "timeout" || out.Choices[0].FinishReason != "length" || !strings.Contains(out.text(), "time limit") {
		t.Fatalf("%s", body)
	}
	if took > 3*time.Second {
		t.Errorf("took %v with a 1.5s limit", took)
	}
	if len(out.Junction.ToolCalls) < 2 || out.Junction.ToolCalls[0].Status != "timeout" {
		t.Errorf("tool calls %+v", out.Junction.ToolCalls)
	}
	s.secondCallEndsWith(t, "timed out", "the timeout")
}

// A client that kept a streamed loop's accumulated message (text and the
// tool calls Junction ran) sends it back with a new question: the old calls
// are not run again, and the conversation stays valid.
func TestAgentHistoryWithRanCalls(t *testing.T) {
	t.Parallel()
	s := startAgent(t, nil)
	s.script(t, llmtest.TextTurn("Anything else?"))
	resp, body := s.post(t, "/v1/chat/completions", `{"model":"fast","tools":[{"type":"mcp","server_label":"web"}],"messages":[
		{"role":"user","content":"What is 2 + 3?"},
		{"role":"assistant","content":"Let me add. The sum is 5.","tool_calls":[{"id":"call_old","type":"function","function":{"name":"web__add","arguments":"{\"a\":2,\"b\":3}"}}]},
		{"role":"user","content":"Thanks."}]}`)
	out := decodeAgent(t, resp, body)
	if out.text() != "Anything else?" || s.web.Server.Calls("add") != 0 {
		t.Fatalf("%s (add ran %d times)", body, s.web.Server.Calls("add"))
	}
	msgs := s.modelRequests(t)[0]["messages"].([]any)
	if len(msgs) != 4 || msgs[2].(map[string]any)["role"] != "tool" || msgs[2].(map[string]any)["tool_call_id"] != "call_old" {
		t.Errorf("messages sent upstream: %v", msgs)
	}
}

func TestAgentStreamReturnsApprovalCalls(t *testing.T) {
	t.Parallel()
	s := startAgent(t, nil)
	s.script(t, llmtest.ToolTurn(llmtest.Call("web__echo", map[string]any{"message": "need approval"})))
	resp, body := s.post(t, "/v1/chat/completions", `{"model":"fast","stream":true,`+agentUser+`,
		"tools":[{"type":"mcp","server_label":"web","require_approval":{"always":{"tool_names":["echo"]}}}]}`)
	chunks, _ := parseOpenAIStream(t, body)
	var finish []string
	var names []string
	for _, c := range chunks {
		for _, ch := range c.Choices {
			if ch.FinishReason != nil {
				finish = append(finish, *ch.FinishReason)
			}
			for _, tc := range ch.Delta.ToolCalls {
				if tc.Function.Name != "" {
					names = append(names, tc.Function.Name)
				}
			}
		}
	}
	if strings.Join(finish, ",") != "tool_calls" || strings.Join(names, ",") != "web__echo" || s.web.Server.Calls("echo") != 0 {
		t.Errorf("finish %v, calls %v, ran %d", finish, names, s.web.Server.Calls("echo"))
	}
	if resp.Trailer.Get(agent.StopReasonHeader) != "approval" {
		t.Errorf("trailer %v", resp.Trailer)
	}
}

// sdkEnv names a directory whose node_modules hold the official "openai"
// and "@anthropic-ai/sdk" packages (npm install openai @anthropic-ai/sdk).
const sdkEnv = "JUNCTION_TEST_SDK_DIR"

// sdkCheck drives a loop through the official SDKs' stream parsers and
// accumulators; it exits non-zero on the first surprise.
const sdkCheck = `
import OpenAI from "openai";
import Anthropic from "@anthropic-ai/sdk";
const [base, key] = process.argv.slice(2);
const fail = (m) => { console.error(m); process.exit(1); };
const tools = [{ type: "mcp", server_label: "web", allowed_tools: ["add"] }];
const messages = [{ role: "user", content: "What is 2 + 3?" }];
const oa = new OpenAI({ apiKey: key, baseURL: base + "/v1", maxRetries: 0 });
let text = "";
for await (const chunk of await oa.chat.completions.create({ model: "fast", messages, tools, stream: true, stream_options: { include_usage: true } })) {
  if (!Array.isArray(chunk.choices)) fail("an item without choices: " + JSON.stringify(chunk));
  text += chunk.choices[0]?.delta?.content ?? "";
}
if (!text.endsWith("The sum is 5.")) fail("openai iterate: " + JSON.stringify(text));
const final = await oa.chat.completions.stream({ model: "fast", messages, tools }).finalChatCompletion();
if (final.choices[0].finish_reason !== "stop" || !final.choices[0].message.content.endsWith("The sum is 5.")) fail("openai helper: " + JSON.stringify(final));
const an = new Anthropic({ apiKey: key, baseURL: base, maxRetries: 0 });
const raw = [];
for await (const ev of await an.messages.create({ model: "fast", max_tokens: 100, messages, tools, stream: true })) raw.push(ev.type);
if (!raw.includes("junction.tool_result") || raw.at(-1) !== "message_stop") fail("anthropic raw: " + raw.join(","));
const msg = await an.messages.stream({ model: "fast", max_tokens: 100, messages, tools }).finalMessage();
const shape = msg.content.map((b) => b.type).join(",");
if (shape !== "tool_use,text" || msg.stop_reason !== "end_turn" || msg.content[1].text !== "The sum is 5.") fail("anthropic helper: " + JSON.stringify(msg));
console.log("ok");
`

// TestAgentOfficialSDKs reads loops with openai-node and the Anthropic
// TypeScript SDK, when they are installed (see sdkEnv).
func TestAgentOfficialSDKs(t *testing.T) {
	dir := os.Getenv(sdkEnv)
	if dir == "" {
		t.Skipf("%s is not set: point it at a directory where `npm install openai @anthropic-ai/sdk` ran", sdkEnv)
	}
	s := startAgent(t, nil)
	s.script(t, llmtest.ToolTurn(llmtest.Call("web__add", map[string]any{"a": 2, "b": 3})), llmtest.TextTurn("The sum is 5."))
	script := filepath.Join(dir, "junction-agent-sdk-check.mjs")
	if err := os.WriteFile(script, []byte(sdkCheck), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.Remove(script) })
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, "node", script, s.gw.URL, s.key).CombinedOutput()
	if err != nil || strings.TrimSpace(string(out)) != "ok" {
		t.Fatalf("node: %v\n%s", err, out)
	}
}

// With the response cache on, a loop's model calls still all reach the
// provider, and a plain request that follows is not answered from a loop's
// step.
func TestAgentBypassesTheCache(t *testing.T) {
	t.Parallel()
	s := startAgent(t, func(c *Config) {
		c.Cache.Enabled = true
		c.Cache.CacheToolCalls = true
	})
	s.script(t, llmtest.ToolTurn(llmtest.Call("web__echo", map[string]any{"message": "x"})), llmtest.TextTurn("Done."))
	body := `{"model":"fast",` + agentUser + `,"tools":[{"type":"mcp","server_label":"web","allowed_tools":["echo"]}]}`
	for i := range 2 {
		resp, raw := s.post(t, "/v1/chat/completions", body)
		if out := decodeAgent(t, resp, raw); out.text() != "Done." || resp.Header.Get("X-Junction-Cache") != "" {
			t.Fatalf("run %d: %v %s", i, resp.Header, raw)
		}
	}
	if n := len(s.modelRequests(t)); n != 4 {
		t.Errorf("%d model calls for two loops of two steps", n)
	}
}

func TestAgentForcedToolChoiceHoldsOnce(t *testing.T) {
	t.Parallel()
	s := startAgent(t, nil)
	s.script(t, llmtest.ToolTurn(llmtest.Call("web__echo", map[string]any{"message": "x"})), llmtest.TextTurn("Done."))
	resp, body := s.post(t, "/v1/chat/completions", `{"model":"fast",`+agentUser+`,"tool_choice":"required","tools":[{"type":"mcp","server_label":"web"}]}`)
	if out := decodeAgent(t, resp, body); out.text() != "Done." {
		t.Fatalf("%s", body)
	}
	reqs := s.modelRequests(t)
	if reqs[0]["tool_choice"] != "required" || reqs[1]["tool_choice"] != "auto" {
		t.Errorf("tool_choice %v then %v", reqs[0]["tool_choice"], reqs[1]["tool_choice"])
	}
}

// A client that hangs up mid-loop stops it: the turn in flight is drained
// and billed, no tool runs after, and no further model call is made.
func TestAgentStreamClientGone(t *testing.T) {
	s := startAgent(t, nil)
	if err := s.mock.SetDefault(llmtest.Behavior{ChunkDelay: 30 * time.Millisecond, ScriptMode: llmtest.ScriptByToolResults,
		Script: []llmtest.Turn{{Text: "thinking about it for a while before calling", ToolCalls: []llmtest.ToolCall{llmtest.Call("web__add", map[string]any{"a": 1, "b": 2})}},
			llmtest.TextTurn("never sent")}}); err != nil {
		t.Fatal(err)
	}
	hangUpAfterFirstEvent(t, s.client, s.gw.URL, s.key, `{"model":"fast","stream":true,`+agentUser+`,
		"tools":[{"type":"mcp","server_label":"web"}]}`)
	testkit.Eventually(t, 5*time.Second, "the first turn's usage record", func() bool {
		_ = s.gw.Policy().FlushUsage(context.Background())
		rows, _ := s.gw.Policy().Usage(context.Background(), store.UsageQuery{KeyID: s.keyID})
		return len(rows) == 1 && rows[0].Requests >= 1 && rows[0].CompletionTokens > 0
	})
	// A negative check: give a second model call or a tool call the time
	// it would take to show up.
	time.Sleep(300 * time.Millisecond)
	if n := len(s.modelRequests(t)); n != 1 {
		t.Errorf("%d model calls after the client left", n)
	}
	if n := s.web.Server.Calls("add"); n != 0 {
		t.Errorf("the tool ran %d times after the client left", n)
	}
}
