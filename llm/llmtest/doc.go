// Package llmtest is a mock LLM provider for tests, benchmarks and examples, in the
// spirit of net/http/httptest.
//
// It speaks the real wire formats, byte-compatible with what the official SDKs parse:
//
//   - OpenAI: POST /v1/chat/completions (JSON and SSE streams, tool calls, usage
//     chunks), POST /v1/embeddings and GET /v1/models, authenticated with
//     "Authorization: Bearer <key>", errors shaped {"error":{"message","type","param","code"}}.
//   - Anthropic: POST /v1/messages (JSON and named-event SSE streams, tool_use
//     blocks), POST /v1/messages/count_tokens and GET /v1/models when an anthropic-version header is present,
//     authenticated with "x-api-key", errors shaped {"type":"error","error":{...}}.
//   - Gemini: POST /v1beta/models/{model}:generateContent and :streamGenerateContent
//     (SSE "data:" chunks with alt=sse and no terminator, a streamed JSON array
//     without it; functionCall parts), :embedContent and :batchEmbedContents, and GET
//     /v1beta/models, authenticated with "x-goog-api-key" or the "key" query
//     parameter, errors shaped {"error":{"code","message","status","details"}} (429s
//     carry a RetryInfo retryDelay). As Google does, a missing key gets 403 and an
//     unknown one 400 API_KEY_INVALID, and unknown request fields are rejected.
//
// # Use
//
// NewServer starts a mock on 127.0.0.1 with a random port; New returns a [Mock] that
// is a plain http.Handler for in-process use or custom listeners:
//
//	srv := llmtest.NewServer(llmtest.WithSeed(7))
//	t.Cleanup(srv.Close)
//	err := srv.SetBehavior("sk-slow", llmtest.Behavior{Latency: 50 * time.Millisecond})
//	// point the code under test at srv.URL + "/v1" (OpenAI), srv.URL (Anthropic)
//	// or srv.URL + "/v1beta" (Gemini)
//
// # Behaviour
//
// What the mock does is described by a [Behavior]: latency and jitter, time to first
// chunk and inter-chunk delay, a failure percentage, 429 windows, hanging, cutting a
// stream mid-way, and the reply (an echo of the last user message by default, a fixed
// text, a filler of N tokens, or a script of tool-call and text turns). The default
// Behavior applies to every API key without its own; both can be changed while the
// mock is serving. Random draws (jitter, failures) come from one seeded generator, so
// sequential tests are reproducible.
//
// # Token counts
//
// A token is a word: a maximal run of non-whitespace characters. Prompt tokens are the
// words of every text the request carries (system prompt, message texts, tool-call
// arguments and tool results); completion tokens are the words of the produced text
// plus the words of each tool call's name and arguments. max_tokens truncates the
// produced text to that many words.
//
// # Observability
//
// The mock counts requests per endpoint, per API key and per status, and keeps the last
// N received requests (method, path, headers, body) so that gateway tests can assert
// what reached the upstream; see [Mock.Stats] and [Mock.Requests].
//
// # Layout and limits
//
// Each wire format lives in its own files (openai.go, openai_chat.go,
// openai_embeddings.go, anthropic.go, gemini.go): it implements the small wire interface (how
// keys are presented, how errors look), turns requests into a format-neutral prompt
// and renders the reply. What the formats share lives once: routing, authentication,
// counting and recording in mock.go and observe.go; admission (throttling, hangs,
// latency, failures) in exchange.go; reply planning and token counting in reply.go and
// tokens.go; SSE pacing and cut-offs in stream.go. Paths with parameters (Gemini's
// models/{model}:method) are matched in route after the exact paths.
//
// Not modelled: n > 1 (one choice is returned), logprobs, response_format and other
// sampling options (accepted and ignored), token-array embedding inputs (rejected with
// 400), and tool-call truncation (max_tokens cuts only text). Ids are derived from the
// seed and the request's sequence number, so two mocks with the same seed produce the
// same ids.
//
// The package owns only fake upstream behaviour. It must not import any other Junction
// package, must not be used in production request paths, and must never reach the
// network beyond the listener it is given: [Listen] refuses non-loopback addresses
// unless [WithAllowRemote] is passed.
package llmtest
