// Package openai owns the OpenAI chat completions wire format, in both
// directions Junction speaks it.
//
// Towards clients, it is the codec of the /v1 endpoints: [DecodeChatRequest]
// and [DecodeEmbeddingRequest] turn request bodies into the canonical types
// (unknown fields kept in Extra, tool schemas byte for byte, errors as
// [*RequestError] naming the field), and the Append* functions write
// responses, stream chunks, model lists and errors into a caller's buffer
// with a hand-written JSON writer. [PatchModel] and [EnsureStreamUsage] are
// the byte-level edits of the pass-through path: they change one value and
// copy the rest of the body unchanged.
//
// Towards upstreams, [Provider] is an OpenAI-compatible server (OpenAI,
// Azure OpenAI, OpenRouter, vLLM, Ollama, ...): it implements chat.Provider,
// chat.Streamer, chat.Embedder, chat.ModelLister and chat.Forwarder, always
// asks for usage in streams, parses server-sent events, and maps every
// failure to *chat.UpstreamError (status, type, code, message, retry-after)
// so that the router can retry and fail over without knowing the format.
//
// The package translates and transports, nothing else. It must not route,
// retry, meter, cache or log; it must not know HTTP handlers, policy or
// configuration files (Config is filled in by its caller); and it imports
// nothing of Junction's but llm/chat.
package openai
