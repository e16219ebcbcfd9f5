// Package agent holds the parts of the agent loop that need nothing of the
// LLM pipeline: which MCP tools a chat request names and which of them the
// caller may call (request.go), and the tool selection (select.go) that,
// when the permitted catalog is larger than the loop's limit, picks the
// tools to offer by embedding similarity and answers the model's
// search_tools calls. It depends on llm/chat, mcp types and apierror; the
// catalog and the embedders are passed in (Permitted's lister, Embedder).
package agent
