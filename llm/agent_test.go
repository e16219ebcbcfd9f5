package llm

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/junctionhq/junction/llm/agent"
	"github.com/junctionhq/junction/llm/chat"
	"github.com/junctionhq/junction/mcp"
	"github.com/junctionhq/junction/policy"
)

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
	a := &agentRun{byName: map[string]*agent.Tool{"fs__read": {}}, callable: map[string]bool{"fs__read": true, "fs__write": true}}
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

func isBadRequest(err error) bool {
	var ae *apiError
	return errors.As(err, &ae) && ae.Status == http.StatusBadRequest && ae.Message != ""
}
