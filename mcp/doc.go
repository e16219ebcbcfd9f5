// Package mcp owns the downstream MCP server: the federation hub that merges
// every registered upstream's tools, resources and prompts into one catalog
// with stable public names, routes calls back to their upstream, forwards
// notifications, and serves both protocol eras on /mcp, /mcp/{toolset} and
// /sse. Every list and call is filtered and metered by policy.
//
// It never imports llm; the agent loop calls into the hub, not the reverse.
package mcp
