// Package providertest holds the checks the tests of every provider package
// run the same way, against the llmtest mock.
package providertest

import (
	"context"
	"errors"
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/junctionhq/junction/llm/chat"
)

// Client returns an HTTP client on chat.NewTransport whose idle connections
// are closed at the end of the test, so that its goroutine-leak check passes.
func Client(t testing.TB) *http.Client {
	transport := chat.NewTransport(chat.TransportOptions{})
	t.Cleanup(transport.CloseIdleConnections)
	return &http.Client{Transport: transport}
}

// ChatProvider is a provider that chats and streams.
type ChatProvider interface {
	chat.Provider
	chat.Streamer
}

// ChatCalls returns the calls "chat" and "stream" of req to p as target,
// each giving only its error (a stream that opens is closed).
func ChatCalls(p ChatProvider, target chat.Target, req *chat.Request) map[string]func(context.Context) error {
	return map[string]func(context.Context) error{
		"chat": func(ctx context.Context) error { _, err := p.Chat(ctx, target, req); return err },
		"stream": func(ctx context.Context) error {
			s, err := p.ChatStream(ctx, target, req)
			if s != nil {
				_ = s.Close()
			}
			return err
		},
	}
}

// AbortsOnContext runs each call, in its own subtest, against an upstream
// that never answers, with a context that ends after 100ms: the call must
// return within 2s with a retryable *chat.UpstreamError of status 0 that
// wraps context.DeadlineExceeded.
func AbortsOnContext(t *testing.T, calls map[string]func(context.Context) error) {
	t.Helper()
	for name, call := range calls {
		t.Run(name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(t.Context(), 100*time.Millisecond)
			defer cancel()
			start := time.Now()
			err := call(ctx)
			if d := time.Since(start); d > 2*time.Second {
				t.Errorf("returned %s after a 100ms timeout", d)
			}
			var ue *chat.UpstreamError
			if !errors.As(err, &ue) || ue.Status != 0 || !errors.Is(err, context.DeadlineExceeded) || !ue.Retryable() {
				t.Errorf("error %v, want a retryable UpstreamError of status 0 wrapping context.DeadlineExceeded", err)
			}
		})
	}
}

// BenchInput benchmarks run on input, reporting allocations and input's
// size per operation; an error from run fails the benchmark.
func BenchInput(b *testing.B, input []byte, run func([]byte) error) {
	b.SetBytes(int64(len(input)))
	b.ReportAllocs()
	for b.Loop() {
		if err := run(input); err != nil {
			b.Fatal(err)
		}
	}
}

// Drain receives from s until it ends: nil when it ends with io.EOF, else
// its error.
func Drain(s chat.Stream) error {
	for {
		if _, err := s.Recv(); err != nil {
			if err == io.EOF {
				return nil
			}
			return err
		}
	}
}
