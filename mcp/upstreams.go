package mcp

import (
	"context"
	"encoding/json"

	"github.com/mark3labs/mcp-go/mcp"

	"github.com/junctionhq/junction/registry"
)

// Upstreams is what the hub needs from the registry of upstream tool
// servers. *registry.Registry satisfies it; tests use a fake.
type Upstreams interface {
	// Catalog is the current immutable snapshot of every ready upstream's
	// catalog, ordered by server name.
	Catalog() *registry.Catalog
	// Subscribe returns a channel that receives a value (coalesced, never
	// blocking the sender) whenever Catalog changes, and a function that
	// ends the subscription.
	Subscribe() (<-chan struct{}, func())
	// CallTool calls tool (the upstream's own name) on server and returns
	// the upstream's CallToolResult as it sent it. A result with isError
	// true is a result, not an error; an error means the call failed.
	CallTool(ctx context.Context, server, tool string, args json.RawMessage, opts registry.CallOptions) (json.RawMessage, error)
	// ReadResource reads uri on server and returns the upstream's
	// ReadResourceResult.
	ReadResource(ctx context.Context, server, uri string) (json.RawMessage, error)
	// GetPrompt gets prompt name (the upstream's own name) on server and
	// returns the upstream's GetPromptResult.
	GetPrompt(ctx context.Context, server, name string, args map[string]string) (json.RawMessage, error)
	// Complete asks an upstream for argument completions (completion/complete)
	// and returns its CompleteResult JSON as sent.
	Complete(ctx context.Context, server string, req mcp.CompleteRequest) (json.RawMessage, error)
}

var _ Upstreams = (*registry.Registry)(nil)
