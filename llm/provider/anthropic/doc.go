// Package anthropic speaks Anthropic's Messages API in both directions.
//
// Towards clients (the inbound POST /v1/messages that Claude Code and the
// Anthropic SDKs call), it decodes a Messages request into a canonical
// [chat.Request] with [DecodeMessagesRequest], and encodes canonical results
// back in Anthropic's shapes: [AppendMessagesResponse] for a complete
// message, [StreamEncoder] for the named-event SSE stream, and [AppendError],
// [AppendStreamError] and [ErrorType] for errors. So a client speaking
// Anthropic can be routed to any provider.
//
// Towards Anthropic (and Anthropic-compatible upstreams), [Provider] encodes
// canonical requests as Messages requests, decodes responses and streams,
// maps failures to [chat.UpstreamError], lists models and forwards bodies
// that are already in Anthropic's format untouched ([chat.Forwarder]).
//
// Translation rules, both directions:
//
//   - system and developer messages ↔ the top-level system (a string or text
//     blocks; cache_control is kept on each part);
//   - consecutive tool messages ↔ one user message of tool_result blocks;
//   - tool_choice auto/any/tool/none ↔ auto/required/function/none, and
//     disable_parallel_tool_use ↔ ParallelToolCalls=false;
//   - stop_reason end_turn/stop_sequence → stop, max_tokens → length,
//     tool_use → tool_calls, refusal → content_filter (and back);
//   - PromptTokens = input_tokens + cache_read_input_tokens +
//     cache_creation_input_tokens, CachedTokens = cache_read_input_tokens,
//     CacheWriteTokens = cache_creation_input_tokens (and back);
//   - stream usage is cumulative: each message_delta's counts replace the
//     previous ones.
//
// Encoders append hand-written JSON to a caller's buffer (no reflection, no
// allocations once the buffer has grown); decoders use encoding/json.
// Tool input schemas, cache_control values and unknown request fields are
// carried as raw JSON, byte for byte.
//
// What the canonical types cannot hold is dropped on decode: thinking and
// redacted_thinking blocks of earlier assistant turns, and cache_control on
// tool_use blocks (a tool_result's cache_control moves to its last content
// part). Content Junction cannot translate (documents, search results, file
// image sources, server tools) is rejected with a [RequestError] naming the
// field, never silently lost. Clients that need those reach Anthropic through
// [Provider.Forward], which passes their bodies through untouched.
//
// The package knows nothing of HTTP handlers, routing or policy; it imports
// only llm/chat of Junction's packages.
package anthropic
