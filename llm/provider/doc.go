// Package provider translates between llm's canonical types and each
// upstream wire format: OpenAI and OpenAI-compatible servers, Azure OpenAI,
// Anthropic and Gemini. A provider implements chat; streaming, embeddings and
// model listing are separate one-method interfaces it may also satisfy.
//
// Providers know nothing of HTTP handlers, policy or routing.
package provider
