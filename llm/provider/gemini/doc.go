// Package gemini is the provider for Google's Gemini API
// (generativelanguage.googleapis.com/v1beta): chat through
// models/{model}:generateContent and :streamGenerateContent?alt=sse,
// embeddings through :batchEmbedContents and model listing through GET
// /models, authenticated with the x-goog-api-key header.
//
// It translates between llm/chat's canonical types, which follow OpenAI's
// chat completions, and Gemini's contents-and-parts shape:
//
//   - system and developer messages become systemInstruction; assistant turns
//     are role "model"; tool results are role "user" functionResponse parts,
//     named after the call they answer (Gemini has no call ids, so the name is
//     looked up from the earlier assistant tool calls);
//   - tools become functionDeclarations whose parameters are rewritten into the
//     OpenAPI subset of JSON Schema that Gemini accepts (see cleanSchema);
//     tool_choice becomes toolConfig.functionCallingConfig;
//   - answers take the first candidate; function calls get the ids call_0,
//     call_1, ... of their answer (or Gemini's own, when it sends one); usage
//     counts thoughts as completion (and reasoning) tokens and reports the
//     cached prompt tokens.
//
// Streams are Gemini's server-sent events, one GenerateContentResponse per
// event and no terminator; each function call arrives whole, as one tool-call
// delta, and the usage is sent as the last chunk. Errors are
// *chat.UpstreamError carrying the google.rpc status (RESOURCE_EXHAUSTED) as
// Type and the retry delay from retry-after or the RetryInfo detail.
//
// The package translates and talks HTTP to the upstream, nothing else: it
// knows nothing of handlers, routing, retries or policy, and imports nothing
// of Junction's but llm/chat. Request fields with no Gemini counterpart are
// left out (encodeRequest lists them); only a request that cannot be said at
// all (an unknown role, a malformed image URL or parameters schema) fails,
// with a plain error and before any call.
package gemini
