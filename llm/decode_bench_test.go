package llm

import (
	"bytes"
	"strings"
	"testing"

	"github.com/junctionhq/junction/llm/chat"
	"github.com/junctionhq/junction/llm/provider/anthropic"
	"github.com/junctionhq/junction/llm/provider/openai"
	"github.com/junctionhq/junction/llm/respcache"
)

// The benchmarks below measure the decoding the chat path does itself: the
// request head, the usage of a passed-through answer and stream, and the
// cache's reading of a stored answer.

// benchChatBody is a chat request of a few turns, as the head scanner sees it.
func benchChatBody() []byte {
	var b strings.Builder
	b.WriteString(`{"model":"gpt-4o-mini","stream":true,"max_tokens":256,"messages":[{"role":"system","content":"You are a helpful assistant."}`)
	for i := range 8 {
		b.WriteString(`,{"role":"user","content":"Tell me about the weather in city number `)
		b.WriteString(strings.Repeat("x", i))
		b.WriteString(`, with a \"quote\" and a newline\n."},{"role":"assistant","content":"It is sunny, 21\u00b0C, light wind from the west."}`)
	}
	b.WriteString(`],"temperature":0.7,"tools":[{"type":"function","function":{"name":"get_weather","parameters":{"type":"object","properties":{"city":{"type":"string"}},"required":["city"]}}}]}`)
	return []byte(b.String())
}

func BenchmarkScanHead(b *testing.B) {
	body := benchChatBody()
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		var h chatHead
		if err := scanHead(body, &h); err != nil || h.Model != "gpt-4o-mini" {
			b.Fatal(err)
		}
	}
}

// benchAnswer is a complete answer of n text pieces.
func benchAnswer(n int) *chat.Response {
	return &chat.Response{ID: "chatcmpl-1", Model: "gpt-4o-mini", Created: 1700000000, FinishReason: chat.FinishStop,
		Message: chat.TextMessage(chat.RoleAssistant, strings.Repeat("word ", n)),
		Usage:   chat.Usage{PromptTokens: 120, CompletionTokens: int64(n), CachedTokens: 64}}
}

// benchStream is an upstream stream of n text chunks in the format, with
// its usage, as a pass-through relays it.
func benchStream(format string, n int) []byte {
	chunks := []chat.Chunk{{ID: "chatcmpl-1", Model: "gpt-4o-mini", Created: 1700000000, Role: chat.RoleAssistant}}
	for range n {
		chunks = append(chunks, chat.Chunk{ID: "chatcmpl-1", Model: "gpt-4o-mini", Created: 1700000000, Content: "word "})
	}
	chunks = append(chunks, chat.Chunk{ID: "chatcmpl-1", Model: "gpt-4o-mini", Created: 1700000000, FinishReason: chat.FinishStop})
	usage := chat.Usage{PromptTokens: 120, CompletionTokens: int64(n)}
	var out []byte
	if format == chat.FormatAnthropic {
		enc := anthropic.NewStreamEncoder("claude")
		for i := range chunks {
			out = enc.Append(out, &chunks[i])
		}
		return enc.Finish(out, &usage)
	}
	for i := range chunks {
		out = openai.AppendChunk(out, &chunks[i], "")
	}
	out = openai.AppendChunk(out, &chat.Chunk{ID: "chatcmpl-1", Model: "gpt-4o-mini", Created: 1700000000, Usage: &usage}, "")
	return openai.AppendDone(out)
}

// BenchmarkPassThroughEvents reads a passed-through stream of 100 chunks as
// relayEvents does: each event is read, checked for usage and for its end.
func BenchmarkPassThroughEvents(b *testing.B) {
	for _, f := range []clientFormat{openAIFormat{}, anthropicFormat{}} {
		b.Run(f.name(), func(b *testing.B) {
			stream := benchStream(f.name(), 100)
			b.SetBytes(int64(len(stream)))
			b.ReportAllocs()
			for b.Loop() {
				rd := newSSEReader(bytes.NewReader(stream))
				var u chat.Usage
				for {
					ev, err := rd.next()
					if err != nil {
						break
					}
					f.eventUsage(ev, &u, false)
					if isDone(ev) || bytes.Equal(eventName(ev), messageStop) {
						break
					}
				}
				if u.CompletionTokens != 100 {
					b.Fatalf("usage %+v", u)
				}
			}
		})
	}
}

// BenchmarkResponseUsage reads the usage of a passed-through answer.
func BenchmarkResponseUsage(b *testing.B) {
	for _, f := range []clientFormat{openAIFormat{}, anthropicFormat{}} {
		b.Run(f.name(), func(b *testing.B) {
			body := f.appendResponse(nil, benchAnswer(200), "")
			b.SetBytes(int64(len(body)))
			b.ReportAllocs()
			for b.Loop() {
				if u := f.responseUsage(body); u.PromptTokens != 120 {
					b.Fatalf("usage %+v", u)
				}
			}
		})
	}
}

// BenchmarkCacheDecode decodes an answer for the cache: a passed-through
// body, and a recorded pass-through stream.
func BenchmarkCacheDecode(b *testing.B) {
	for _, f := range []clientFormat{openAIFormat{}, anthropicFormat{}} {
		b.Run(f.name(), func(b *testing.B) {
			body := f.appendResponse(nil, benchAnswer(200), "")
			b.ReportAllocs()
			for b.Loop() {
				if _, err := respcache.DecodeResponse(f.name(), body); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(f.name()+"/stream", func(b *testing.B) {
			var sr respcache.Recorder
			sr.RecordEvent(benchStream(f.name(), 100))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := sr.Response(f.name()); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
