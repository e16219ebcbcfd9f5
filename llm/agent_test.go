package llm

import (
	"context"
	"encoding/json"
	"errors"

	"github.com/junctionhq/junction/mcp"
	"github.com/junctionhq/junction/policy"
)

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
