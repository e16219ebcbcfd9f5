// Package policy owns who is calling and what they may do: identities (the
// admin key, and later virtual keys and teams), access decisions, and the
// meter (budgets, rate limits, usage, prices).
//
// Both request paths, LLM and MCP, go through it. It depends only on store
// and never imports the packages that serve requests (llm, mcp, gateway).
// When it cannot decide, it denies.
package policy
