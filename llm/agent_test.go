package llm

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/junctionhq/junction/llm/chat"
	"github.com/junctionhq/junction/mcp"
	"github.com/junctionhq/junction/policy"
)

func TestParseToolsHeader(t *testing.T) {
	cases := []struct {
		in      string
		want    []mcpSelection
		wantErr string
	}{
		{in: "*", want: []mcpSelection{{label: "*"}}},
		{in: " github , filesystem ", want: []mcpSelection{{label: "github"}, {label: "filesystem"}}},
		{in: "github:create_issue|list_issues,readonly", want: []mcpSelection{
			{label: "github", allowed: []string{"create_issue", "list_issues"}}, {label: "readonly"}}},
		{in: "a: x | y |", want: []mcpSelection{{label: "a", allowed: []string{"x", "y"}}}},
		{in: "github:", wantErr: "lists no tools"},
		{in: ":tool", wantErr: "names no server"},
		{in: " , ", wantErr: "names no tools"},
	}
	for _, c := range cases {
		got, err := parseToolsHeader(c.in)
		if c.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), c.wantErr) {
				t.Errorf("%q: error %v, want %q", c.in, err, c.wantErr)
			}
			continue
		}
		if err != nil || !reflect.DeepEqual(got, c.want) {
			t.Errorf("%q: %+v %v, want %+v", c.in, got, err, c.want)
		}
	}
}

func TestSplitAgentRequest(t *testing.T) {
	body := []byte(`{"model":"m","messages":[{"role":"user","content":"hi"}],"tools":[
		{"type":"function","function":{"name":"f","parameters":{"type":"object"}}},
		{"type":"mcp","server_label":"github","allowed_tools":{"tool_names":["list"]},"require_approval":{"always":{"tool_names":["delete"]},"never":{"tool_names":["list"]}}},
		{"type":"mcp","server_label":"*","require_approval":"always"}]}`)
	sels, rest, err := splitAgentRequest(body)
	if err != nil {
		t.Fatal(err)
	}
	want := []mcpSelection{
		{label: "github", allowed: []string{"list"}, approve: []string{"delete"}, noApprove: []string{"list"}},
		{label: "*", always: true},
	}
	if !reflect.DeepEqual(sels, want) {
		t.Errorf("selections %+v", sels)
	}
	var v struct {
		Tools []map[string]any `json:"tools"`
	}
	if err := json.Unmarshal(rest, &v); err != nil || len(v.Tools) != 1 || v.Tools[0]["type"] != "function" {
		t.Errorf("rest %s", rest)
	}
	if _, err := (openAIFormat{}).decode(rest); err != nil {
		t.Errorf("the rest does not decode: %v", err)
	}

	// Only MCP tools: the tools field goes; mcp_servers is read and removed.
	sels, rest, err = splitAgentRequest([]byte(`{"model":"m","max_tokens":5,"messages":[{"role":"user","content":"hi"}],
		"tools":[{"type":"mcp","server_label":"a"}],"mcp_servers":[{"type":"url","name":"b","tool_configuration":{"allowed_tools":["x"]}},
		{"name":"c","tool_configuration":{"enabled":false}}]}`))
	if err != nil || len(sels) != 2 || sels[0].label != "a" || sels[1].label != "b" || !reflect.DeepEqual(sels[1].allowed, []string{"x"}) {
		t.Fatalf("%+v %v", sels, err)
	}
	if strings.Contains(string(rest), "tools") || strings.Contains(string(rest), "mcp_servers") {
		t.Errorf("rest %s", rest)
	}
	if _, err := (anthropicFormat{}).decode(rest); err != nil {
		t.Errorf("the rest does not decode: %v", err)
	}

	// Anthropic's current connector shape: mcp_toolset entries, with the
	// mcp_servers entry they name (which adds no selection of its own).
	sels, _, err = splitAgentRequest([]byte(`{"mcp_servers":[{"type":"url","name":"gh"},{"type":"url","name":"fs"}],"tools":[
		{"type":"mcp_toolset","mcp_server_name":"gh","configs":{"delete":{"enabled":false}}},
		{"type":"mcp_toolset","mcp_server_name":"web","default_config":{"enabled":false},"configs":{"search":{"enabled":true},"fetch":{"enabled":true},"x":{}}}]}`))
	want = []mcpSelection{
		{label: "gh", denied: []string{"delete"}},
		{label: "web", allowed: []string{"fetch", "search"}},
		{label: "fs"},
	}
	if err != nil || !reflect.DeepEqual(sels, want) {
		t.Errorf("mcp_toolset: %+v %v", sels, err)
	}

	// No MCP entry: nothing taken.
	sels, rest, err = splitAgentRequest([]byte(`{"model":"m","messages":[{"role":"user","content":"about mcp"}]}`))
	if err != nil || sels != nil || rest != nil {
		t.Errorf("%+v %s %v", sels, rest, err)
	}

	for _, bad := range []struct{ body, want string }{
		{`{"tools":[{"type":"mcp"}]}`, "server_label: required"},
		{`{"tools":[{"type":"mcp","server_label":"x","server_url":"https://e.com/mcp"}]}`, "server_url"},
		{`{"tools":[{"type":"mcp","server_label":"x","require_approval":"sometimes"}]}`, "require_approval"},
		{`{"tools":[{"type":"mcp","server_label":"x","allowed_tools":7}]}`, "allowed_tools"},
		{`{"mcp_servers":[{"type":"url","url":"https://e.com","name":"x"}]}`, "url"},
		{`{"mcp_servers":[{}]}`, "name: required"},
		{`{"mcp_servers":[{"name":"x","authorization_token":"t"}]}`, "never passes a client's"},
		{`{"tools":[{"type":"mcp","server_label":"x","headers":{"Authorization":"Bearer t"}}]}`, "never passes a client's"},
		{`{"tools":[{"type":"mcp","server_label":"x","authorization":"t"}]}`, "never passes a client's"},
		{`{"tools":[{"type":"mcp","connector_id":"connector_gmail"}]}`, "connector_id"},
		{`{"tools":[{"type":"mcp_toolset"}]}`, "mcp_server_name: required"},
		{`{"mcp_servers":{}}`, "mcp_servers"},
		{`{"tools":{}}`, "tools: must be an array"},
		{`[1]`, "request body"},
	} {
		_, _, err := splitAgentRequest([]byte(bad.body))
		var ae *apiError
		if !errors.As(err, &ae) || ae.Status != http.StatusBadRequest || !strings.Contains(ae.Message, bad.want) {
			t.Errorf("%s: %v, want a 400 naming %q", bad.body, err, bad.want)
		}
	}
}

func TestWantsAgent(t *testing.T) {
	r, _ := http.NewRequest(http.MethodPost, "/", nil)
	if wantsAgent(r, []byte(`{"model":"m"}`)) {
		t.Error("plain body")
	}
	if !wantsAgent(r, []byte(`{"tools":[{"type":"mcp"}]}`)) || !wantsAgent(r, []byte(`{"mcp_servers":[]}`)) {
		t.Error("MCP body")
	}
	r.Header.Set(ToolsHeader, "*")
	if !wantsAgent(r, []byte(`{}`)) {
		t.Error("header")
	}
}

// fakeHub serves a fixed catalog with a per-identity allow list.
type fakeHub struct {
	tools    []mcp.ToolInfo
	toolsets map[string][]string // toolset → public names
}

func (h *fakeHub) Tools(_ *policy.Identity, toolset string) []mcp.ToolInfo {
	if toolset == "" {
		return h.tools
	}
	var out []mcp.ToolInfo
	for _, t := range h.tools {
		for _, n := range h.toolsets[toolset] {
			if n == t.Name {
				out = append(out, t)
			}
		}
	}
	return out
}

func (h *fakeHub) CallTool(context.Context, *policy.Identity, string, json.RawMessage) (json.RawMessage, error) {
	return nil, errors.New("not called in these tests")
}

func tool(server, name string) mcp.ToolInfo {
	return mcp.ToolInfo{Name: server + "__" + name, Server: server, Tool: name}
}

func TestPermittedTools(t *testing.T) {
	hub := &fakeHub{tools: []mcp.ToolInfo{tool("fs", "read"), tool("fs", "write"), tool("gh", "issue"), tool("gh", "pr")},
		toolsets: map[string][]string{"readonly": {"fs__read"}}}
	names := func(ts []*agentTool) string {
		var out []string
		for _, t := range ts {
			n := t.info.Name
			if t.approval {
				n += "!"
			}
			out = append(out, n)
		}
		return strings.Join(out, ",")
	}
	cases := []struct {
		sels []mcpSelection
		want string
	}{
		{[]mcpSelection{{label: "*"}}, "fs__read,fs__write,gh__issue,gh__pr"},
		{[]mcpSelection{{label: "gh"}}, "gh__issue,gh__pr"},
		{[]mcpSelection{{label: "readonly"}}, "fs__read"},
		{[]mcpSelection{{label: "fs", allowed: []string{"write", "gh__pr"}}}, "fs__write"},
		// A tool named twice needs approval if either entry says so.
		{[]mcpSelection{{label: "fs"}, {label: "*", approve: []string{"fs__write"}}}, "fs__read,fs__write!,gh__issue,gh__pr"},
		{[]mcpSelection{{label: "gh", always: true, noApprove: []string{"pr"}}}, "gh__issue!,gh__pr"},
		{[]mcpSelection{{label: "*", denied: []string{"write", "gh__pr"}}}, "fs__read,gh__issue"},
	}
	for _, c := range cases {
		list, byName, unmatched := permittedTools(hub, nil, c.sels)
		if unmatched != nil {
			t.Errorf("%+v: unmatched %v", c.sels, unmatched)
		}
		if got := names(list); got != c.want {
			t.Errorf("%+v: %s, want %s", c.sels, got, c.want)
		}
		if len(byName) != len(list) {
			t.Errorf("%+v: index of %d for %d tools", c.sels, len(byName), len(list))
		}
	}
	_, _, unmatched := permittedTools(hub, nil, []mcpSelection{{label: "gh"}, {label: "nothing"}, {label: "fs", allowed: []string{"nope"}}})
	if !reflect.DeepEqual(unmatched, []string{"nothing", "fs"}) {
		t.Errorf("unmatched %v", unmatched)
	}
}

func TestToolResultText(t *testing.T) {
	cases := []struct {
		in      string
		want    string
		isError bool
	}{
		{`{"content":[{"type":"text","text":"a"},{"type":"text","text":"b"}]}`, "a\nb", false},
		{`{"content":[{"type":"text","text":"boom"}],"isError":true}`, "boom", true},
		{`{"content":[],"structuredContent":{"sum":5}}`, `{"sum":5}`, false},
		{`{"content":[{"type":"text","text":"5"}],"structuredContent":{"sum":5}}`, "5", false},
		{`{"content":[{"type":"image","data":"AAAA","mimeType":"image/png"}]}`, "[image image/png content not shown]", false},
		{`{"content":[{"type":"resource","resource":{"uri":"x://y","text":"body"}}]}`, "body", false},
		{`{"content":[{"type":"resource_link","uri":"x://y"}]}`, "[resource link: x://y]", false},
		{`{"content":[]}`, "(the tool returned no content)", false},
		{`not json`, "not json", false},
	}
	for _, c := range cases {
		got, isError := toolResultText(json.RawMessage(c.in))
		if got != c.want || isError != c.isError {
			t.Errorf("%s: %q %v, want %q %v", c.in, got, isError, c.want, c.isError)
		}
	}
}

func TestToolErrorText(t *testing.T) {
	cases := []struct {
		err    error
		status string
		text   string
	}{
		{&policy.AccessError{Object: "tool:a/b", Action: "call"}, "denied", "denied by the gateway's access policy"},
		{&policy.RateLimitError{RetryAfter: 3 * time.Second}, "rate_limited", "retry after 3s"},
		{&policy.BudgetError{}, "budget_exceeded", "budget is spent"},
		{&mcp.UnknownToolError{Name: "x"}, "unknown_tool", `unknown tool "x"`},
		{&mcp.UpstreamError{Server: "s", Tool: "t", Outcome: "timeout", Err: context.DeadlineExceeded}, "timeout", "timed out"},
		{context.DeadlineExceeded, "timeout", "timed out"},
		{errors.New("secret detail"), "error", "failed"},
	}
	for _, c := range cases {
		status, text := toolErrorText("s__t", c.err)
		if status != c.status || !strings.Contains(text, c.text) || strings.Contains(text, "secret detail") {
			t.Errorf("%v: %s %q", c.err, status, text)
		}
	}
}

func TestAgentConfigValidate(t *testing.T) {
	var c AgentConfig
	c.ApplyDefaults()
	if c.MaxIterations != 10 || c.Timeout != 5*time.Minute || c.ToolTimeout != time.Minute || c.MaxTools != 40 {
		t.Errorf("defaults %+v", c)
	}
	if errs := c.Validate("agent"); len(errs) != 0 {
		t.Errorf("defaults invalid: %v", errs)
	}
	bad := AgentConfig{MaxIterations: -1, Timeout: time.Second, ToolTimeout: time.Minute, MaxTools: 5000}
	errs := bad.Validate("agent")
	joined := errors.Join(errs...).Error()
	for _, want := range []string{"agent.max_iterations", "agent.tool_timeout", "agent.max_tools"} {
		if !strings.Contains(joined, want) {
			t.Errorf("no %s in %v", want, joined)
		}
	}
}

func TestAppendJunction(t *testing.T) {
	got := appendJunction([]byte(`{"id":"x","usage":{"a":1}}`), agentSummary{Iterations: 2, StopReason: "final", ToolCalls: []agentToolRecord{}})
	var v map[string]any
	if err := json.Unmarshal(got, &v); err != nil {
		t.Fatalf("%s: %v", got, err)
	}
	j := v["junction"].(map[string]any)
	if v["id"] != "x" || j["iterations"] != float64(2) || j["stop_reason"] != "final" {
		t.Errorf("%s", got)
	}
	if got := pauseTurn([]byte(`{"stop_reason":"max_tokens","content":[]}`)); string(got) != `{"stop_reason":"pause_turn","content":[]}` {
		t.Errorf("pauseTurn: %s", got)
	}
}

func TestPendingAndDroppedCalls(t *testing.T) {
	call := func(id, name string) chat.ToolCall { return chat.ToolCall{ID: id, Name: name, Arguments: "{}"} }
	result := func(id string) chat.Message {
		m := chat.TextMessage(chat.RoleTool, "r")
		m.ToolCallID = id
		return m
	}
	assistant := func(calls ...chat.ToolCall) chat.Message {
		return chat.Message{Role: chat.RoleAssistant, ToolCalls: calls}
	}
	a := &agentRun{byName: map[string]*agentTool{"fs__read": {}}, callable: map[string]bool{"fs__read": true, "fs__write": true}}
	a.req = &chat.Request{Messages: []chat.Message{
		chat.TextMessage(chat.RoleUser, "q"),
		assistant(call("1", "fs__read"), call("2", "fs__write"), call("3", "client_fn")),
		result("3"),
		chat.TextMessage(chat.RoleUser, "next"),
		assistant(call("4", "fs__read"), call("5", "client_fn"), call("6", "fs__read")),
		result("5"),
	}}
	a.fillDropped()
	var ids []string
	for _, m := range a.req.Messages {
		ids = append(ids, m.Role+":"+m.ToolCallID)
	}
	// Calls 1 and 2 were run by Junction in an earlier request: they get a
	// placeholder; 3 was answered by the client; the last turn is left to
	// pendingCalls.
	want := "user:,assistant:,tool:3,tool:1,tool:2,user:,assistant:,tool:5"
	if got := strings.Join(ids, ","); got != want {
		t.Errorf("messages %s, want %s", got, want)
	}
	pending := a.pendingCalls()
	if len(pending) != 2 || pending[0].ID != "4" || pending[1].ID != "6" {
		t.Errorf("pending %+v", pending)
	}
}
