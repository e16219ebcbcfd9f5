package agent

// The request side of the agent loop: which MCP tools a chat request names
// (tools entries of type "mcp" or "mcp_toolset", Anthropic-style
// mcp_servers, or the X-Junction-Tools header), and which of them the caller
// may call.

import (
	"bytes"
	"encoding/json"
	"fmt"
	"sort"
	"strings"

	"github.com/junctionhq/junction/apierror"
	"github.com/junctionhq/junction/mcp"
)

// ToolsHeader is the header naming MCP tools for clients that cannot change
// their body: comma-separated entries, each "*" (every tool the key may
// call), a server or toolset name, or "name:tool1|tool2" for some of its
// tools. Tools named this way never need approval.
const ToolsHeader = "X-Junction-Tools"

// Selection is one entry naming MCP tools: a server, a toolset or "*",
// optionally restricted to some tools, with its approval rule.
type Selection struct {
	label   string
	allowed []string // upstream or public tool names; nil: every tool
	denied  []string // tools left out even when allowed
	// approval: every tool needs approval (always), or only those listed
	// in approve; tools in noApprove never need it.
	always    bool
	approve   []string
	noApprove []string
}

func (m *Selection) admits(t *mcp.ToolInfo) bool {
	return (m.allowed == nil || nameIn(t, m.allowed)) && !nameIn(t, m.denied)
}

func (m *Selection) needsApproval(t *mcp.ToolInfo) bool {
	if nameIn(t, m.noApprove) {
		return false
	}
	return m.always || nameIn(t, m.approve)
}

func nameIn(t *mcp.ToolInfo, names []string) bool {
	for _, n := range names {
		if n == t.Tool || n == t.Name {
			return true
		}
	}
	return false
}

// rawToolEntry is the part of a tools entry read to tell MCP entries apart.
type rawToolEntry struct {
	Type            string          `json:"type"`
	ServerLabel     string          `json:"server_label"`
	ServerURL       string          `json:"server_url"`
	ConnectorID     string          `json:"connector_id"`
	Authorization   string          `json:"authorization"`
	Headers         json.RawMessage `json:"headers"`
	AllowedTools    json.RawMessage `json:"allowed_tools"`
	RequireApproval json.RawMessage `json:"require_approval"`
}

// rawMCPToolset is Anthropic's {"type": "mcp_toolset"} tools entry (MCP
// connector, mcp-client-2025-11-20): which tools of an mcp_servers entry
// to enable; configs override default_config per tool.
type rawMCPToolset struct {
	Type          string `json:"type"`
	MCPServerName string `json:"mcp_server_name"`
	DefaultConfig *struct {
		Enabled *bool `json:"enabled"`
	} `json:"default_config"`
	Configs map[string]struct {
		Enabled *bool `json:"enabled"`
	} `json:"configs"`
}

// readEntry decodes the MCP tools entry e (at path) as a T and reads it
// with read. An entry that does not decode is refused, never handed on to
// the provider.
func readEntry[T any](path string, e json.RawMessage, read func(string, *T) (Selection, error)) (Selection, error) {
	var raw T
	if err := json.Unmarshal(e, &raw); err != nil {
		return Selection{}, apierror.BadRequest("invalid_request", path, path+": "+err.Error())
	}
	return read(path, &raw)
}

// mcpToolsetEntry reads an mcp_toolset entry.
func mcpToolsetEntry(path string, e *rawMCPToolset) (Selection, error) {
	if e.MCPServerName == "" {
		return Selection{}, apierror.BadRequest("invalid_request", path+".mcp_server_name", path+".mcp_server_name: required (a server or toolset registered with Junction, or \"*\")")
	}
	sel := Selection{label: e.MCPServerName}
	byDefault := e.DefaultConfig == nil || e.DefaultConfig.Enabled == nil || *e.DefaultConfig.Enabled
	if !byDefault {
		sel.allowed = []string{}
	}
	names := make([]string, 0, len(e.Configs))
	for name := range e.Configs {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		switch on := e.Configs[name].Enabled; {
		case on == nil:
		case *on && !byDefault:
			sel.allowed = append(sel.allowed, name)
		case !*on:
			sel.denied = append(sel.denied, name)
		}
	}
	return sel, nil
}

// rawMCPServer is an Anthropic-style mcp_servers entry.
type rawMCPServer struct {
	Type               string `json:"type"`
	Name               string `json:"name"`
	URL                string `json:"url"`
	AuthorizationToken string `json:"authorization_token"`
	ToolConfiguration  *struct {
		Enabled      *bool    `json:"enabled"`
		AllowedTools []string `json:"allowed_tools"`
	} `json:"tool_configuration"`
}

// SplitRequest takes the MCP entries out of body: the tools entries of
// type "mcp" and the mcp_servers field. It returns the selections and the
// body without them (nil when nothing was taken), for the format's decoder.
func SplitRequest(body []byte) (sels []Selection, rest []byte, err error) {
	var top map[string]json.RawMessage
	if err := json.Unmarshal(body, &top); err != nil {
		return nil, nil, apierror.BadRequest("invalid_request", "", "request body: "+err.Error())
	}
	changed := false
	toolsets := map[string]bool{} // servers named by mcp_toolset entries
	if raw, ok := top["tools"]; ok && !isNull(raw) {
		var entries []json.RawMessage
		if err := json.Unmarshal(raw, &entries); err != nil {
			return nil, nil, apierror.BadRequest("invalid_request", "tools", "tools: must be an array")
		}
		kept := entries[:0]
		for i, e := range entries {
			typ := toolEntryType(e)
			if typ != "mcp" && typ != "mcp_toolset" {
				kept = append(kept, e)
				continue
			}
			path := fmt.Sprintf("tools[%d]", i)
			var sel Selection
			var err error
			if typ == "mcp_toolset" {
				sel, err = readEntry(path, e, mcpToolsetEntry)
			} else {
				sel, err = readEntry(path, e, mcpToolEntry)
			}
			if err != nil {
				return nil, nil, err
			}
			if typ == "mcp_toolset" {
				toolsets[sel.label] = true
			}
			sels = append(sels, sel)
			changed = true
		}
		if changed {
			if len(kept) == 0 {
				delete(top, "tools")
			} else {
				b, _ := json.Marshal(kept)
				top["tools"] = b
			}
		}
	}
	if raw, ok := top["mcp_servers"]; ok {
		var servers []rawMCPServer
		if err := json.Unmarshal(raw, &servers); err != nil {
			return nil, nil, apierror.BadRequest("invalid_request", "mcp_servers", "mcp_servers: must be an array of {name, tool_configuration}")
		}
		for i, sv := range servers {
			path := fmt.Sprintf("mcp_servers[%d]", i)
			switch {
			case sv.URL != "":
				return nil, nil, apierror.BadRequest("invalid_request", path+".url", path+".url: Junction calls only the MCP servers registered with it; name one (or a toolset, or \"*\") and leave url out")
			case sv.AuthorizationToken != "":
				return nil, nil, apierror.BadRequest("invalid_request", path+".authorization_token", path+".authorization_token: "+noClientCredentials)
			case sv.Name == "":
				return nil, nil, apierror.BadRequest("invalid_request", path+".name", path+".name: required (a server or toolset registered with Junction, or \"*\")")
			case toolsets[sv.Name]:
				continue // its mcp_toolset entry says which tools
			}
			sel := Selection{label: sv.Name}
			if tc := sv.ToolConfiguration; tc != nil {
				if tc.Enabled != nil && !*tc.Enabled {
					continue
				}
				if tc.AllowedTools != nil {
					sel.allowed = append([]string{}, tc.AllowedTools...)
				}
			}
			sels = append(sels, sel)
		}
		delete(top, "mcp_servers")
		changed = true
	}
	if !changed {
		return nil, nil, nil
	}
	rest, err = json.Marshal(top)
	if err != nil {
		return nil, nil, apierror.BadRequest("invalid_request", "", "request body: "+err.Error())
	}
	return sels, rest, nil
}

// toolEntryType is the "type" of a tools entry as a format decoder reads it
// (the last key spelled exactly "type", which must be a string), "" when
// it has none.
func toolEntryType(e json.RawMessage) string {
	var head map[string]json.RawMessage
	var typ string
	if json.Unmarshal(e, &head) != nil || json.Unmarshal(head["type"], &typ) != nil {
		return ""
	}
	return typ
}

func isNull(raw json.RawMessage) bool { return len(bytes.TrimSpace(raw)) == 0 || string(raw) == "null" }

// noClientCredentials refuses credentials for upstreams in a request: each
// upstream has its own, configured with the server.
const noClientCredentials = "Junction calls each MCP server with the credentials configured for it and never passes a client's; leave this out"

// mcpToolEntry reads an OpenAI-style {"type": "mcp"} tools entry.
func mcpToolEntry(path string, e *rawToolEntry) (Selection, error) {
	if e.ServerURL != "" {
		return Selection{}, apierror.BadRequest("invalid_request", path+".server_url", path+".server_url: Junction calls only the MCP servers registered with it; name one in server_label and leave server_url out")
	}
	switch {
	case e.ConnectorID != "":
		return Selection{}, apierror.BadRequest("invalid_request", path+".connector_id", path+".connector_id: Junction calls only the MCP servers registered with it; name one in server_label")
	case e.Authorization != "":
		return Selection{}, apierror.BadRequest("invalid_request", path+".authorization", path+".authorization: "+noClientCredentials)
	case !isNull(e.Headers):
		return Selection{}, apierror.BadRequest("invalid_request", path+".headers", path+".headers: "+noClientCredentials)
	}
	if e.ServerLabel == "" {
		return Selection{}, apierror.BadRequest("invalid_request", path+".server_label", path+".server_label: required (a server or toolset registered with Junction, or \"*\")")
	}
	sel := Selection{label: e.ServerLabel}
	if !isNull(e.AllowedTools) {
		var names []string
		if err := json.Unmarshal(e.AllowedTools, &names); err != nil {
			var filter struct {
				ToolNames []string `json:"tool_names"`
			}
			if err := json.Unmarshal(e.AllowedTools, &filter); err != nil {
				return sel, apierror.BadRequest("invalid_request", path+".allowed_tools", path+".allowed_tools: must be an array of tool names or {\"tool_names\": [...]}")
			}
			names = filter.ToolNames
		}
		sel.allowed = append([]string{}, names...)
	}
	if !isNull(e.RequireApproval) {
		var mode string
		if err := json.Unmarshal(e.RequireApproval, &mode); err == nil {
			switch mode {
			case "never":
			case "always":
				sel.always = true
			default:
				return sel, apierror.BadRequest("invalid_request", path+".require_approval", path+`.require_approval: must be "never", "always" or {"always": {"tool_names": [...]}, "never": {"tool_names": [...]}}`)
			}
		} else {
			var filter struct {
				Always *struct {
					ToolNames []string `json:"tool_names"`
				} `json:"always"`
				Never *struct {
					ToolNames []string `json:"tool_names"`
				} `json:"never"`
			}
			if err := json.Unmarshal(e.RequireApproval, &filter); err != nil {
				return sel, apierror.BadRequest("invalid_request", path+".require_approval", path+`.require_approval: must be "never", "always" or {"always": {"tool_names": [...]}, "never": {"tool_names": [...]}}`)
			}
			if filter.Always != nil {
				sel.approve = filter.Always.ToolNames
			}
			if filter.Never != nil {
				sel.noApprove = filter.Never.ToolNames
			}
		}
	}
	return sel, nil
}

// ParseToolsHeader reads X-Junction-Tools: "*", "github,filesystem",
// "github:create_issue|list_issues,readonly".
func ParseToolsHeader(v string) ([]Selection, error) {
	var sels []Selection
	for _, entry := range strings.Split(v, ",") {
		entry = strings.TrimSpace(entry)
		if entry == "" {
			continue
		}
		label, tools, hasTools := strings.Cut(entry, ":")
		label = strings.TrimSpace(label)
		if label == "" {
			return nil, apierror.BadRequest("invalid_request", "", ToolsHeader+": entry "+fmt.Sprintf("%q", entry)+" names no server, toolset or *")
		}
		sel := Selection{label: label}
		if hasTools {
			sel.allowed = []string{}
			for _, t := range strings.Split(tools, "|") {
				if t = strings.TrimSpace(t); t != "" {
					sel.allowed = append(sel.allowed, t)
				}
			}
			if len(sel.allowed) == 0 {
				return nil, apierror.BadRequest("invalid_request", "", ToolsHeader+": entry "+fmt.Sprintf("%q", entry)+" lists no tools after ':'")
			}
		}
		sels = append(sels, sel)
	}
	if len(sels) == 0 {
		return nil, apierror.BadRequest("invalid_request", "", ToolsHeader+": names no tools")
	}
	return sels, nil
}

// Tool is a tool the loop may call for this request.
type Tool struct {
	Info     mcp.ToolInfo
	Approval bool // calls go back to the client for approval
}

// Permitted resolves the selections against the tools listed by tools
// (what the caller may call, restricted to toolset unless it is ""): "*" is
// every tool, a toolset name its tools, any other label the tools of the
// server of that name. A tool named by several entries needs approval if
// any of them says so. unmatched are the labels of the selections that
// matched no tool.
func Permitted(tools func(toolset string) []mcp.ToolInfo, sels []Selection) (list []*Tool, byName map[string]*Tool, unmatched []string) {
	byName = map[string]*Tool{}
	var all []mcp.ToolInfo
	allLoaded := false
	for i := range sels {
		sel := &sels[i]
		var candidates []mcp.ToolInfo
		switch {
		case sel.label == "*":
			if !allLoaded {
				all, allLoaded = tools(""), true
			}
			candidates = all
		default:
			candidates = tools(sel.label)
			if len(candidates) == 0 {
				if !allLoaded {
					all, allLoaded = tools(""), true
				}
				for _, t := range all {
					if t.Server == sel.label {
						candidates = append(candidates, t)
					}
				}
			}
		}
		matched := false
		for j := range candidates {
			t := &candidates[j]
			if !sel.admits(t) {
				continue
			}
			matched = true
			at := byName[t.Name]
			if at == nil {
				at = &Tool{Info: *t}
				byName[t.Name] = at
				list = append(list, at)
			}
			if sel.needsApproval(t) {
				at.Approval = true
			}
		}
		if !matched {
			unmatched = append(unmatched, sel.label)
		}
	}
	return list, byName, unmatched
}
