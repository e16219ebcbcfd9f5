// Package registry owns the upstream MCP tool servers: their definitions
// (from the config file and the admin API, persisted in store), the mcp-go
// client connections (stdio, SSE, streamable HTTP), health checks,
// reconnects, stdio process supervision, and catalog change events.
//
// A dead or slow upstream is isolated here; it never blocks start-up or the
// other upstreams.
package registry
