package llmtest

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"testing"
)

// discardWriter is a minimal http.ResponseWriter (with Flush) that keeps nothing, so
// the benchmarks measure the mock rather than a recorder.
type discardWriter struct {
	header http.Header
	n      int
}

func (w *discardWriter) Header() http.Header         { return w.header }
func (w *discardWriter) Write(b []byte) (int, error) { w.n += len(b); return len(b), nil }
func (w *discardWriter) WriteHeader(int)             {}
func (w *discardWriter) Flush()                      {}

// benchServe runs body through the handler b.N times, reusing one request.
func benchServe(b *testing.B, m *Mock, f format, path, body string) {
	b.Helper()
	req := newRequest(context.Background(), f, "", path, testKey, body)
	reader := bytes.NewReader([]byte(body))
	w := &discardWriter{header: make(http.Header)}
	b.ReportAllocs()
	b.SetBytes(int64(len(body)))
	for b.Loop() {
		reader.Reset([]byte(body))
		req.Body = io.NopCloser(reader)
		clear(w.header)
		m.ServeHTTP(w, req)
	}
}

// BenchmarkChatCompletion measures the mock's own cost per request in-process (no
// network), with recording off as a benchmark upstream would run it, and with the
// default recording for comparison.
func BenchmarkChatCompletion(b *testing.B) {
	const (
		chat   = `{"model":"gpt-4o-mini","messages":[{"role":"system","content":"You are a helpful assistant."},{"role":"user","content":"Write a haiku about load balancers."}],"temperature":0.7}`
		stream = `{"model":"gpt-4o-mini","stream":true,"stream_options":{"include_usage":true},"messages":[{"role":"user","content":"Write a haiku about load balancers."}]}`
		msg    = `{"model":"claude-haiku-4-5","max_tokens":256,"messages":[{"role":"user","content":"Write a haiku about load balancers."}]}`
	)
	cases := []struct {
		name   string
		f      format
		body   string
		reply  Behavior
		record int
	}{
		{"openai", openAI, chat, Behavior{}, 0},
		{"openai/recorded", openAI, chat, Behavior{}, DefaultRequestLog},
		{"openai/100-tokens", openAI, chat, Behavior{ReplyTokens: 100}, 0},
		{"openai/stream-100-tokens", openAI, stream, Behavior{ReplyTokens: 100}, 0},
		{"anthropic", anthropic, msg, Behavior{}, 0},
		{"anthropic/stream-100-tokens", anthropic, msg[:len(msg)-1] + `,"stream":true}`, Behavior{ReplyTokens: 100}, 0},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			m := New(WithRequestLog(c.record))
			b.Cleanup(m.Close)
			if err := m.SetDefault(c.reply); err != nil {
				b.Fatal(err)
			}
			benchServe(b, m, c.f, "", c.body)
		})
	}
}

// BenchmarkChatCompletionHTTP measures a whole round trip over loopback, the way a
// gateway benchmark uses the mock.
func BenchmarkChatCompletionHTTP(b *testing.B) {
	srv := NewServer(WithRequestLog(0))
	b.Cleanup(srv.Close)
	body := chatBody(openAI, "Write a haiku about load balancers.", "")
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			resp, err := client.Do(newRequest(context.Background(), openAI, srv.URL, "", testKey, body))
			if err != nil {
				b.Error(err)
				return
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
	})
}

func BenchmarkEmbeddings(b *testing.B) {
	m := New(WithRequestLog(0))
	b.Cleanup(m.Close)
	benchServe(b, m, openAI, string(EndpointEmbeddings),
		`{"model":"text-embedding-3-small","input":"What is the weather in Paris today?"}`)
}
