// Package agent holds the parts of the agent loop that need nothing of the
// LLM pipeline: its configuration (config.go); which MCP tools a chat
// request names and which of them the caller may call (request.go); the
// Hub it calls tools through and what the model is told of each call
// (tools.go); and the tool selection (select.go) that, when the permitted
// catalog is larger than the loop's limit, picks the tools to offer by
// embedding similarity and answers the model's search_tools calls. It
// depends on llm/chat, mcp and policy types and apierror; the hub and the
// embedders are passed in through the interfaces it defines (Hub, Embedder).
package agent
