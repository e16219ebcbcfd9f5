package llm

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/junctionhq/junction/cache"
	"github.com/junctionhq/junction/llm/agent"
	"github.com/junctionhq/junction/mcp"
	"github.com/junctionhq/junction/policy"
)

// The agent loop: a chat request that names MCP tools (entries of type "mcp"
// in tools, Anthropic-style mcp_servers, or the X-Junction-Tools header) is
// answered by Junction running the whole tool-call loop itself. The request
// side is parsed here; the loop is agent_loop.go, its streams
// agent_stream.go.

// ToolHub is what the agent loop needs of the MCP federation hub: the tools
// a caller may call and the one entry point that calls them (policy, meter,
// audit), the same one /mcp uses. The gateway adapts *mcp.Hub to it (llm may
// not name the registry's call options).
type ToolHub interface {
	// Tools lists the tools id may call, restricted to toolset unless it is
	// "" (an unknown toolset lists nothing).
	Tools(id *policy.Identity, toolset string) []mcp.ToolInfo
	// CallTool calls the tool by its public name and returns the upstream's
	// CallToolResult JSON; rejections and failures are errors (see
	// mcp.Hub.CallTool).
	CallTool(ctx context.Context, id *policy.Identity, publicName string, args json.RawMessage) (json.RawMessage, error)
}

// AgentConfig tunes the agent loop (the gateway's agent: section).
type AgentConfig struct {
	// MaxIterations bounds the model calls of one request. A request may
	// lower it with the X-Junction-Max-Iterations header. Default 10.
	MaxIterations int `yaml:"max_iterations,omitempty"`
	// Timeout bounds the whole loop, model and tool calls together. Default 5m.
	Timeout time.Duration `yaml:"timeout,omitempty"`
	// ToolTimeout bounds each tool call (the upstream's own timeout may be
	// shorter). Default 60s.
	ToolTimeout time.Duration `yaml:"tool_timeout,omitempty"`
	// MaxTools is the most MCP tools offered to the model at once; with more
	// permitted, the most relevant are offered with a search_tools tool to
	// find the others. Default 40.
	MaxTools int `yaml:"max_tools,omitempty"`
}

// Agent defaults.
const (
	DefaultAgentMaxIterations = 10
	DefaultAgentTimeout       = 5 * time.Minute
	DefaultAgentToolTimeout   = 60 * time.Second
	DefaultAgentMaxTools      = 40
)

// ApplyDefaults fills unset fields.
func (c *AgentConfig) ApplyDefaults() {
	if c.MaxIterations == 0 {
		c.MaxIterations = DefaultAgentMaxIterations
	}
	if c.Timeout == 0 {
		c.Timeout = DefaultAgentTimeout
	}
	if c.ToolTimeout == 0 {
		c.ToolTimeout = DefaultAgentToolTimeout
	}
	if c.MaxTools == 0 {
		c.MaxTools = DefaultAgentMaxTools
	}
}

// Validate reports every problem, each under path ("agent").
func (c *AgentConfig) Validate(path string) []error {
	var errs []error
	if c.MaxIterations < 0 || c.MaxIterations > 1000 {
		errs = append(errs, fmt.Errorf("%s.max_iterations: %d is not within 1 to 1000", path, c.MaxIterations))
	}
	if c.Timeout < 0 {
		errs = append(errs, fmt.Errorf("%s.timeout: must not be negative", path))
	}
	if c.ToolTimeout < 0 {
		errs = append(errs, fmt.Errorf("%s.tool_timeout: must not be negative", path))
	}
	if c.Timeout > 0 && c.ToolTimeout > c.Timeout {
		errs = append(errs, fmt.Errorf("%s.tool_timeout: %v is longer than the whole loop's timeout %v", path, c.ToolTimeout, c.Timeout))
	}
	if c.MaxTools < 0 || c.MaxTools > 1000 {
		errs = append(errs, fmt.Errorf("%s.max_tools: %d is not within 1 to 1000", path, c.MaxTools))
	}
	return errs
}

// toolHubBox holds the hub behind an atomic pointer: the gateway builds the
// hub after the LLM service and hands it over with SetToolHub.
type toolHubBox struct{ hub ToolHub }

// SetToolHub gives the agent loop its tools. Until it is called (or with
// nil), requests that name MCP tools are refused.
func (s *Service) SetToolHub(h ToolHub) {
	if h == nil {
		s.tools.Store(nil)
		return
	}
	s.tools.Store(&toolHubBox{hub: h})
}

func (s *Service) toolHub() ToolHub {
	if b := s.tools.Load(); b != nil {
		return b.hub
	}
	return nil
}

// agentState is the Service's part for the loop, embedded in Service.
type agentState struct {
	agent AgentConfig
	tools atomic.Pointer[toolHubBox]
	// selector picks the tools offered from large catalogs; built on first
	// use, with the cache's embedder when one is configured.
	selectorOnce sync.Once
	selector     *agent.Selector
	agentMetrics agentMetrics
}

// agentMetrics count loops; their model and tool calls are counted by the
// LLM and MCP metrics like any other.
type agentMetrics struct {
	loops      *prometheus.CounterVec // stop_reason
	iterations prometheus.Histogram
}

// initAgent sets the loop's configuration, tools and metrics, from New.
func (s *Service) initAgent(opts Options) {
	s.agent = opts.Agent
	s.SetToolHub(opts.Tools)
	s.agentMetrics = agentMetrics{
		loops: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "junction", Subsystem: "llm", Name: "agent_loops_total",
			Help: "Agent-loop requests by why the loop ended (final, client_tools, approval, max_iterations, timeout, budget, ...)."},
			[]string{"stop_reason"}),
		iterations: prometheus.NewHistogram(prometheus.HistogramOpts{Namespace: "junction", Subsystem: "llm", Name: "agent_iterations",
			Help: "Model calls per agent-loop request.", Buckets: []float64{1, 2, 3, 4, 5, 6, 8, 10, 15, 20, 50}}),
	}
	if opts.Registerer != nil {
		opts.Registerer.MustRegister(s.agentMetrics.loops, s.agentMetrics.iterations)
	}
}

// toolSelector returns the service's tool selector: it ranks tools with the
// cache's embedding model when one is configured (cache.semantic), else
// with the built-in lexical embedder. Built on first use, after New has set
// the embedder up.
func (s *Service) toolSelector() *agent.Selector {
	s.selectorOnce.Do(func() { s.selector = agent.NewSelector(s.embedder, cache.NewLexical(0)) })
	return s.selector
}

// Request side.

// ToolsHeader is the header naming MCP tools for clients that cannot change
// their body: comma-separated entries, each "*" (every tool the key may
// call), a server or toolset name, or "name:tool1|tool2" for some of its
// tools. Tools named this way never need approval.
const ToolsHeader = "X-Junction-Tools"

// MaxIterationsHeader lowers agent.max_iterations for one request.
const MaxIterationsHeader = "X-Junction-Max-Iterations"

// mcpSelection is one entry naming MCP tools: a server, a toolset or "*",
// optionally restricted to some tools, with its approval rule.
type mcpSelection struct {
	label   string
	allowed []string // upstream or public tool names; nil: every tool
	denied  []string // tools left out even when allowed
	// approval: every tool needs approval (always), or only those listed
	// in approve; tools in noApprove never need it.
	always    bool
	approve   []string
	noApprove []string
}

func (m *mcpSelection) admits(t *mcp.ToolInfo) bool {
	return (m.allowed == nil || nameIn(t, m.allowed)) && !nameIn(t, m.denied)
}

func (m *mcpSelection) needsApproval(t *mcp.ToolInfo) bool {
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

// agentMarker is what a body must contain before it is parsed for MCP tool
// entries: the check on every chat request is one byte search.
var agentMarker = []byte(`"mcp`)

// wantsAgent reports whether the request names MCP tools.
func wantsAgent(r *http.Request, body []byte) bool {
	return r.Header.Get(ToolsHeader) != "" || bytes.Contains(body, agentMarker)
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

// mcpToolsetEntry reads an mcp_toolset entry.
func mcpToolsetEntry(path string, e *rawMCPToolset) (mcpSelection, error) {
	if e.MCPServerName == "" {
		return mcpSelection{}, badRequest(path+".mcp_server_name", path+".mcp_server_name: required (a server or toolset registered with Junction, or \"*\")")
	}
	sel := mcpSelection{label: e.MCPServerName}
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

// splitAgentRequest takes the MCP entries out of body: the tools entries of
// type "mcp" and the mcp_servers field. It returns the selections and the
// body without them (nil when nothing was taken), for the format's decoder.
func splitAgentRequest(body []byte) (sels []mcpSelection, rest []byte, err error) {
	var top map[string]json.RawMessage
	if err := json.Unmarshal(body, &top); err != nil {
		return nil, nil, badRequest("", "request body: "+err.Error())
	}
	changed := false
	toolsets := map[string]bool{} // servers named by mcp_toolset entries
	if raw, ok := top["tools"]; ok && !isNull(raw) {
		var entries []json.RawMessage
		if err := json.Unmarshal(raw, &entries); err != nil {
			return nil, nil, badRequest("tools", "tools: must be an array")
		}
		kept := entries[:0]
		for i, e := range entries {
			typ := toolEntryType(e)
			if typ != "mcp" && typ != "mcp_toolset" {
				kept = append(kept, e)
				continue
			}
			path := fmt.Sprintf("tools[%d]", i)
			if typ == "mcp_toolset" {
				var ts rawMCPToolset
				if err := json.Unmarshal(e, &ts); err != nil {
					return nil, nil, badRequest(path, path+": "+err.Error())
				}
				sel, err := mcpToolsetEntry(path, &ts)
				if err != nil {
					return nil, nil, err
				}
				toolsets[ts.MCPServerName] = true
				sels = append(sels, sel)
				changed = true
				continue
			}
			var head rawToolEntry
			if err := json.Unmarshal(e, &head); err != nil {
				// An MCP entry that does not decode is refused, never
				// handed on to the provider.
				return nil, nil, badRequest(path, path+": "+err.Error())
			}
			sel, err := mcpToolEntry(path, &head)
			if err != nil {
				return nil, nil, err
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
			return nil, nil, badRequest("mcp_servers", "mcp_servers: must be an array of {name, tool_configuration}")
		}
		for i, sv := range servers {
			path := fmt.Sprintf("mcp_servers[%d]", i)
			switch {
			case sv.URL != "":
				return nil, nil, badRequest(path+".url", path+".url: Junction calls only the MCP servers registered with it; name one (or a toolset, or \"*\") and leave url out")
			case sv.AuthorizationToken != "":
				return nil, nil, badRequest(path+".authorization_token", path+".authorization_token: "+noClientCredentials)
			case sv.Name == "":
				return nil, nil, badRequest(path+".name", path+".name: required (a server or toolset registered with Junction, or \"*\")")
			case toolsets[sv.Name]:
				continue // its mcp_toolset entry says which tools
			}
			sel := mcpSelection{label: sv.Name}
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
		return nil, nil, badRequest("", "request body: "+err.Error())
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
func mcpToolEntry(path string, e *rawToolEntry) (mcpSelection, error) {
	if e.ServerURL != "" {
		return mcpSelection{}, badRequest(path+".server_url", path+".server_url: Junction calls only the MCP servers registered with it; name one in server_label and leave server_url out")
	}
	switch {
	case e.ConnectorID != "":
		return mcpSelection{}, badRequest(path+".connector_id", path+".connector_id: Junction calls only the MCP servers registered with it; name one in server_label")
	case e.Authorization != "":
		return mcpSelection{}, badRequest(path+".authorization", path+".authorization: "+noClientCredentials)
	case !isNull(e.Headers):
		return mcpSelection{}, badRequest(path+".headers", path+".headers: "+noClientCredentials)
	}
	if e.ServerLabel == "" {
		return mcpSelection{}, badRequest(path+".server_label", path+".server_label: required (a server or toolset registered with Junction, or \"*\")")
	}
	sel := mcpSelection{label: e.ServerLabel}
	if !isNull(e.AllowedTools) {
		var names []string
		if err := json.Unmarshal(e.AllowedTools, &names); err != nil {
			var filter struct {
				ToolNames []string `json:"tool_names"`
			}
			if err := json.Unmarshal(e.AllowedTools, &filter); err != nil {
				return sel, badRequest(path+".allowed_tools", path+".allowed_tools: must be an array of tool names or {\"tool_names\": [...]}")
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
				return sel, badRequest(path+".require_approval", path+`.require_approval: must be "never", "always" or {"always": {"tool_names": [...]}, "never": {"tool_names": [...]}}`)
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
				return sel, badRequest(path+".require_approval", path+`.require_approval: must be "never", "always" or {"always": {"tool_names": [...]}, "never": {"tool_names": [...]}}`)
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

// parseToolsHeader reads X-Junction-Tools: "*", "github,filesystem",
// "github:create_issue|list_issues,readonly".
func parseToolsHeader(v string) ([]mcpSelection, error) {
	var sels []mcpSelection
	for _, entry := range strings.Split(v, ",") {
		entry = strings.TrimSpace(entry)
		if entry == "" {
			continue
		}
		label, tools, hasTools := strings.Cut(entry, ":")
		label = strings.TrimSpace(label)
		if label == "" {
			return nil, badRequest("", ToolsHeader+": entry "+fmt.Sprintf("%q", entry)+" names no server, toolset or *")
		}
		sel := mcpSelection{label: label}
		if hasTools {
			sel.allowed = []string{}
			for _, t := range strings.Split(tools, "|") {
				if t = strings.TrimSpace(t); t != "" {
					sel.allowed = append(sel.allowed, t)
				}
			}
			if len(sel.allowed) == 0 {
				return nil, badRequest("", ToolsHeader+": entry "+fmt.Sprintf("%q", entry)+" lists no tools after ':'")
			}
		}
		sels = append(sels, sel)
	}
	if len(sels) == 0 {
		return nil, badRequest("", ToolsHeader+": names no tools")
	}
	return sels, nil
}

// agentTool is a tool the loop may call for this request.
type agentTool struct {
	info     mcp.ToolInfo
	approval bool // calls go back to the client for approval
}

// permittedTools resolves the selections against what id may call: "*" is
// every tool, a toolset name its tools, any other label the tools of the
// server of that name. A tool named by several entries needs approval if
// any of them says so. unmatched are the labels of the selections that
// matched no tool.
func permittedTools(hub ToolHub, id *policy.Identity, sels []mcpSelection) (list []*agentTool, byName map[string]*agentTool, unmatched []string) {
	byName = map[string]*agentTool{}
	var all []mcp.ToolInfo
	allLoaded := false
	for i := range sels {
		sel := &sels[i]
		var candidates []mcp.ToolInfo
		switch {
		case sel.label == "*":
			if !allLoaded {
				all, allLoaded = hub.Tools(id, ""), true
			}
			candidates = all
		default:
			candidates = hub.Tools(id, sel.label)
			if len(candidates) == 0 {
				if !allLoaded {
					all, allLoaded = hub.Tools(id, ""), true
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
				at = &agentTool{info: *t}
				byName[t.Name] = at
				list = append(list, at)
			}
			if sel.needsApproval(t) {
				at.approval = true
			}
		}
		if !matched {
			unmatched = append(unmatched, sel.label)
		}
	}
	return list, byName, unmatched
}
