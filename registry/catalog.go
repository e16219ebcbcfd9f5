package registry

import (
	"context"
	"encoding/json"
	"time"

	"github.com/mark3labs/mcp-go/mcp"
)

// The catalog types are what the registry tells the hub (package mcp): each
// ready upstream's tools, resources, resource templates and prompts, as the
// upstream declared them. Raw holds the upstream's JSON object byte for
// byte (schemas included); the other fields are read from it for indexing.

// Tool is one upstream tool.
type Tool struct {
	// Server is the upstream's registered name.
	Server string
	// Name is the upstream's own tool name (what a call must use).
	Name        string
	Description string
	// Raw is the tool object exactly as the upstream listed it.
	Raw json.RawMessage
}

// Resource is one upstream resource.
type Resource struct {
	Server, URI, Name string
	Raw               json.RawMessage
}

// ResourceTemplate is one upstream resource template.
type ResourceTemplate struct {
	Server, URITemplate, Name string
	Raw                       json.RawMessage
}

// Prompt is one upstream prompt.
type Prompt struct {
	Server, Name string
	Raw          json.RawMessage
}

// ServerCatalog is what one ready upstream offers, after its include and
// exclude patterns.
type ServerCatalog struct {
	Name string
	// Prefix starts the public names of this server's tools and prompts;
	// by default the server name.
	Prefix string
	// ProtocolVersion is the revision negotiated with the upstream.
	ProtocolVersion string
	// ResourceSubscribe is set when the upstream offers resource
	// subscriptions (the resources.subscribe capability), so that
	// Registry.SubscribeResource can reach it.
	ResourceSubscribe bool
	Tools             []Tool // ordered by Name
	Resources         []Resource
	Templates         []ResourceTemplate
	Prompts           []Prompt
}

// Catalog is an immutable snapshot of every ready upstream's catalog,
// ordered by server name. A failed or disconnected upstream is absent.
type Catalog struct {
	Servers []ServerCatalog
	// Version increases with every change, for cheap change detection.
	Version uint64
}

// CallOptions carry what a call forwards besides its arguments.
type CallOptions struct {
	// ProgressToken, when set, asks the upstream for progress notifications,
	// which are passed to OnProgress.
	ProgressToken any
	OnProgress    func(progress, total float64, message string)
	// OnLog receives the upstream's log messages sent during the call.
	OnLog func(level string, logger string, data any)
	// OnSampling answers the upstream's sampling/createMessage requests sent
	// during the call, and OnElicitation its elicitation/create requests;
	// their error is sent to the upstream as a JSON-RPC error. Without a
	// hook the upstream's request is refused. The hook's context ends when
	// the call does.
	OnSampling    func(ctx context.Context, req mcp.CreateMessageRequest) (*mcp.CreateMessageResult, error)
	OnElicitation func(ctx context.Context, req mcp.ElicitationRequest) (*mcp.ElicitationResult, error)
	// OnRoots answers the upstream's roots/list requests sent during the
	// call, like OnSampling.
	OnRoots func(ctx context.Context, req mcp.ListRootsRequest) (*mcp.ListRootsResult, error)
	// Timeout bounds the call; 0 means the server's configured timeout.
	Timeout time.Duration
	// PassInputRequired, on a 2026-07-28 upstream, returns its
	// input_required result (requests and requestState) as the call's
	// result instead of answering it through the hooks, so that the
	// caller can hand it on to its own client (the hub's stateless
	// relay). Other upstreams ignore it.
	PassInputRequired bool
	// Resume, when set, is sent with the tools/call: the answers to the
	// upstream's earlier input_required result and its requestState.
	Resume *mcp.MultiRoundTripParams
	// Caller is whose client answers the hooks and supplied Resume. A
	// call with a hook, Resume or PassInputRequired runs on an upstream
	// session of its Caller's own, never on one another caller uses
	// (sessions.go); Caller.Key is then required.
	Caller Caller
}

// Connection states of an upstream.
const (
	StateConnecting = "connecting"
	StateReady      = "ready"
	StateFailed     = "failed" // waiting to reconnect
	StateDisabled   = "disabled"
)

// Status is the live state of one upstream.
type Status struct {
	Name            string    `json:"name"`
	Transport       string    `json:"transport"`
	State           string    `json:"state"`
	Error           string    `json:"error,omitempty"`
	Since           time.Time `json:"since"`
	ProtocolVersion string    `json:"protocol_version,omitempty"`
	Tools           int       `json:"tools"`
	Restarts        int       `json:"restarts"`
	Source          string    `json:"source"`
	// CallerSessions counts the sessions (for stdio, processes) kept for
	// callers whose clients supply client features, besides the shared one.
	CallerSessions int `json:"caller_sessions"`
}
