// Package chat holds the canonical types of Junction's LLM path: the chat
// request and response, streamed chunks, embeddings, usage, and the
// upstream error every provider returns. Its shape follows OpenAI's chat
// completions API, the lingua franca of LLM clients, with the few fields
// other formats need (Anthropic cache control, cache-write tokens).
//
// It also defines the small interfaces a provider implements: [Provider]
// for chat, and the optional [Streamer], [Embedder], [ModelLister] and
// [Forwarder] it may also satisfy. Every other LLM package imports this
// one; it imports nothing of Junction's.
package chat
