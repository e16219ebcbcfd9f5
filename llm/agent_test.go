package llm

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"testing"

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

// fakeHub serves a fixed catalog and has no toolsets.
type fakeHub struct {
	tools []mcp.ToolInfo
}

func (h *fakeHub) Tools(_ *policy.Identity, toolset string) []mcp.ToolInfo {
	if toolset == "" {
		return h.tools
	}
	return nil
}

func (h *fakeHub) CallTool(context.Context, *policy.Identity, string, json.RawMessage) (json.RawMessage, error) {
	return nil, errors.New("not called in these tests")
}

func tool(server, name string) mcp.ToolInfo {
	return mcp.ToolInfo{Name: server + "__" + name, Server: server, Tool: name}
}
