// Package agent is the agent loop: a chat request that names MCP tools is
// answered by Junction running the whole tool-call loop itself (Loop).
//
// The loop (loop.go, stream.go) alternates model calls and tool calls until
// the model answers or a limit ends it, and answers in the client's format,
// whole or as one stream. It reaches models only through a ModelCaller
// (model.go), which the LLM service implements over its one pipeline, and
// writes through a Format and its StreamWriter (format.go), one per client
// API. Its parts: the configuration (config.go); which MCP tools a request
// names and which of them the caller may call (request.go); the Hub it
// calls tools through and what the model is told of each call (tools.go,
// toolbox.go); the tool selection (select.go) that, when the permitted
// catalog is larger than the loop's limit, picks the tools to offer by
// embedding similarity and answers the model's search_tools calls; and what
// a loop reports (result.go).
package agent
