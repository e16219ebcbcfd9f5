// Package agent holds the agent loop's tool selection: when the permitted
// MCP catalog is larger than the loop's limit, the Selector picks the tools
// to offer by embedding similarity and answers the model's search_tools
// calls. It depends only on llm/chat and mcp types; embedders are passed in
// through the Embedder interface it defines.
package agent
