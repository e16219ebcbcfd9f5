// Package mcp owns the downstream MCP server: the federation hub that merges
// every registered upstream's tools, resources and prompts into one catalog
// with stable public names, routes calls back to their upstream, forwards
// notifications, and serves both protocol eras on /mcp, /mcp/{toolset} and
// /sse. Every list and call is filtered and metered by policy.
//
// [Hub.CallTool] is the one tool-call chain (authenticate → policy → meter →
// call → settle → audit); the /mcp handlers and the agent loop both use it.
//
// Mounting (in gateway, behind its authentication, which must put the
// caller's policy.Identity in the request context):
//
//	r.Handle("/mcp", hub.Handler(""))
//	r.Handle("/mcp/{toolset}", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
//		hub.Handler(chi.URLParam(r, "toolset")).ServeHTTP(w, r) // unknown toolset: 404
//	}))
//	r.Handle(mcp.SSEPath, hub.SSEHandler())        // GET  /sse
//	r.Handle(mcp.SSEMessagePath, hub.SSEHandler()) // POST /sse/message?sessionId=...
//
// Besides the catalog and calls, the hub relays resource subscriptions
// (subscriptions.go) and the upstreams' sampling, elicitation and roots
// requests: to 2025-11-25 clients as server-initiated requests (relay.go),
// to 2026-07-28 clients as input_required rounds with a MAC'd requestState
// (inputrequired.go), each on an upstream session of its caller's own
// (registry.Caller). Every error the endpoints answer is a JSON-RPC error
// object, and JSON-RPC batches are refused (rpcerror.go).
//
// Streamable HTTP needs POST, GET and DELETE routed; its handlers must not be
// wrapped in anything that buffers responses or sets write timeouts shorter
// than a tool call (responses are SSE streams).
//
// It never imports llm; the agent loop calls into the hub, not the reverse.
package mcp
