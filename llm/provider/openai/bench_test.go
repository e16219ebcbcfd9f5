package openai

import (
	"bytes"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/junctionhq/junction/llm/chat"
	"github.com/junctionhq/junction/llm/llmtest"
	"github.com/junctionhq/junction/llm/provider/internal/providertest"
)

// benchBody is a typical agent request: a system prompt, a few turns with a
// tool round, three tools with schemas and some unknown fields (~3 KB).
var benchBody = []byte(`{"model":"openai/gpt-4o","messages":[` +
	`{"role":"system","content":"You are a helpful assistant with access to tools. Answer briefly and cite the tool results you used."},` +
	`{"role":"user","content":"What is the weather in Paris today, and what time is it there? Also find me a good bakery nearby."},` +
	`{"role":"assistant","content":null,"tool_calls":[{"id":"call_abc123","type":"function","function":{"name":"get_weather","arguments":"{\"city\":\"Paris\",\"unit\":\"c\"}"}},` +
	`{"id":"call_def456","type":"function","function":{"name":"get_time","arguments":"{\"tz\":\"Europe/Paris\"}"}}]},` +
	`{"role":"tool","tool_call_id":"call_abc123","content":"{\"temp\":21,\"sky\":\"clear\",\"wind\":\"5 km/h\"}"},` +
	`{"role":"tool","tool_call_id":"call_def456","content":"14:05"},` +
	`{"role":"assistant","content":"It is 21°C and clear in Paris, and it is 14:05. Let me look for a bakery."},` +
	`{"role":"user","content":"Thanks! Yes please, somewhere in the 11th arrondissement."}],` +
	`"tools":[` +
	`{"type":"function","function":{"name":"get_weather","description":"Get the current weather for a city.","parameters":{"type":"object","properties":{"city":{"type":"string","description":"City name"},"unit":{"type":"string","enum":["c","f"]}},"required":["city"],"additionalProperties":false},"strict":true}},` +
	`{"type":"function","function":{"name":"get_time","description":"Get the local time in a time zone.","parameters":{"type":"object","properties":{"tz":{"type":"string","description":"IANA time zone, e.g. Europe/Paris"}},"required":["tz"]}}},` +
	`{"type":"function","function":{"name":"search_places","description":"Search for places by kind near an area.","parameters":{"type":"object","properties":{"query":{"type":"string"},"area":{"type":"string"},"limit":{"type":"integer","minimum":1,"maximum":20}},"required":["query"]}}}],` +
	`"tool_choice":"auto","parallel_tool_calls":true,"temperature":0.7,"max_completion_tokens":1024,"stream":true,"stream_options":{"include_usage":true},` +
	`"user":"user-42","seed":7,"metadata":{"team":"search","trace":"abc"}}`)

func BenchmarkDecodeChatRequest(b *testing.B) {
	providertest.BenchInput(b, benchBody, func(body []byte) error { _, err := DecodeChatRequest(body); return err })
}

func BenchmarkAppendRequest(b *testing.B) {
	req, err := DecodeChatRequest(benchBody)
	if err != nil {
		b.Fatal(err)
	}
	buf := make([]byte, 0, 8<<10)
	b.ReportAllocs()
	for b.Loop() {
		buf = appendRequest(buf[:0], req, "gpt-4o", true)
	}
	b.SetBytes(int64(len(buf)))
}

var benchResponse = &chat.Response{
	ID: "chatcmpl-B9MBs8CjcvOU2jLn4n570S5qMJKcT", Model: "gpt-4o-2024-08-06", Created: 1741569952,
	Message:      chat.TextMessage(chat.RoleAssistant, strings.Repeat("A reasonably long answer with \"quotes\" and ünïcode.\n", 20)),
	FinishReason: chat.FinishStop, Usage: chat.Usage{PromptTokens: 1200, CompletionTokens: 220, CachedTokens: 1024},
	SystemFingerprint: "fp_fc9f1d7035",
}

func BenchmarkAppendChatResponse(b *testing.B) {
	buf := make([]byte, 0, 4<<10)
	b.ReportAllocs()
	for b.Loop() {
		buf = AppendChatResponse(buf[:0], benchResponse, "openai/gpt-4o")
	}
	b.SetBytes(int64(len(buf)))
}

func BenchmarkAppendChunk(b *testing.B) {
	chunks := []*chat.Chunk{
		{ID: "chatcmpl-1", Created: 1741569952, Content: " word"},
		{ID: "chatcmpl-1", Created: 1741569952, ToolCalls: []chat.ToolCallDelta{{Index: 0, Arguments: `{"city":`}}},
		{ID: "chatcmpl-1", Created: 1741569952, Usage: &chat.Usage{PromptTokens: 10, CompletionTokens: 20}},
	}
	buf := make([]byte, 0, 1024)
	b.ReportAllocs()
	for b.Loop() {
		for _, c := range chunks {
			buf = AppendChunk(buf[:0], c, "openai/gpt-4o")
		}
	}
}

// benchStream is an upstream stream of 200 content chunks, finish and usage.
var benchStream = func() []byte {
	var b bytes.Buffer
	b.WriteString(`data: {"id":"chatcmpl-1","object":"chat.completion.chunk","created":1741569952,"model":"gpt-4o","choices":[{"index":0,"delta":{"role":"assistant","content":""},"logprobs":null,"finish_reason":null}],"usage":null}` + "\n\n")
	for range 200 {
		b.WriteString(`data: {"id":"chatcmpl-1","object":"chat.completion.chunk","created":1741569952,"model":"gpt-4o","system_fingerprint":"fp_1","choices":[{"index":0,"delta":{"content":" word"},"logprobs":null,"finish_reason":null}],"usage":null}` + "\n\n")
	}
	b.WriteString(`data: {"id":"chatcmpl-1","object":"chat.completion.chunk","created":1741569952,"model":"gpt-4o","choices":[{"index":0,"delta":{},"logprobs":null,"finish_reason":"stop"}],"usage":null}` + "\n\n")
	b.WriteString(`data: {"id":"chatcmpl-1","object":"chat.completion.chunk","created":1741569952,"model":"gpt-4o","choices":[],"usage":{"prompt_tokens":10,"completion_tokens":200,"total_tokens":210}}` + "\n\n")
	b.WriteString("data: [DONE]\n\n")
	return b.Bytes()
}()

// BenchmarkStreamRecv parses a 203-event stream; allocations are per stream.
func BenchmarkStreamRecv(b *testing.B) {
	providertest.BenchInput(b, benchStream, func(raw []byte) error {
		return providertest.Drain(newStream("bench", &http.Response{Body: io.NopCloser(bytes.NewReader(raw))}))
	})
}

func BenchmarkPatchModel(b *testing.B) {
	providertest.BenchInput(b, benchBody, func(body []byte) error { _, err := PatchModel(body, "gpt-4o-2024-08-06"); return err })
}

func BenchmarkEnsureStreamUsage(b *testing.B) {
	body := bytes.Replace(benchBody, []byte(`"include_usage":true`), []byte(`"include_usage":false`), 1)
	providertest.BenchInput(b, body, func(body []byte) error { _, err := EnsureStreamUsage(body); return err })
}

func benchEmbeddings() *chat.EmbeddingResponse {
	resp := &chat.EmbeddingResponse{Model: "text-embedding-3-small", Usage: chat.Usage{PromptTokens: 8}}
	for i := range 4 {
		resp.Vectors = append(resp.Vectors, llmtest.EmbedText(strings.Repeat("text ", i+1), 1536))
	}
	return resp
}

func BenchmarkAppendEmbeddingResponse(b *testing.B) {
	resp := benchEmbeddings()
	for _, format := range []string{"float", "base64"} {
		b.Run(format, func(b *testing.B) {
			buf := make([]byte, 0, 128<<10)
			b.ReportAllocs()
			for b.Loop() {
				buf = AppendEmbeddingResponse(buf[:0], resp, "embed", format)
			}
			b.SetBytes(int64(len(buf)))
		})
	}
}

func BenchmarkDecodeEmbeddingResponse(b *testing.B) {
	resp := benchEmbeddings()
	for _, format := range []string{"float", "base64"} {
		b.Run(format, func(b *testing.B) {
			body := AppendEmbeddingResponse(nil, resp, "embed", format)
			b.SetBytes(int64(len(body)))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := decodeEmbeddingResponse(body, 4); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkProviderChat is a whole upstream call against the mock, HTTP
// included (loopback).
func BenchmarkProviderChat(b *testing.B) {
	srv := llmtest.NewServer(llmtest.WithRequestLog(0))
	defer srv.Close()
	transport := chat.NewTransport(chat.TransportOptions{})
	defer transport.CloseIdleConnections()
	p, err := New(Config{BaseURL: srv.URL + "/v1", HTTPClient: &http.Client{Transport: transport}})
	if err != nil {
		b.Fatal(err)
	}
	req, err := DecodeChatRequest(benchBody)
	if err != nil {
		b.Fatal(err)
	}
	req.Stream = false
	b.ReportAllocs()
	for b.Loop() {
		if _, err := p.Chat(b.Context(), target, req); err != nil {
			b.Fatal(err)
		}
	}
}
