// Package llm owns Junction's LLM path: the canonical chat and embedding
// types, the OpenAI-compatible /v1 handlers and Anthropic's /v1/messages,
// the router (balancing, retries, fallbacks, circuit breakers) and the agent
// loop that runs tool calls against the federated MCP tools.
//
// It asks policy to admit and settle every request, consults cache, and
// reaches tools only through mcp's hub entry point. It never imports
// gateway; providers (package llm/provider) never see HTTP handlers.
package llm
