package chat

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"time"
)

// Target is one place a request can go: a provider's model reached with
// one API key. The router picks targets; providers receive them.
type Target struct {
	// Provider is the configured provider name ("openai", "azure-east").
	Provider string
	// Model is the upstream model name (for Azure, the deployment).
	Model string
	// APIKey authenticates to the upstream.
	APIKey string
	// KeyName identifies the API key in logs and metrics without revealing it.
	KeyName string
}

// Provider is an upstream that answers chat completions. Implementations
// are safe for concurrent use and hold their HTTP client; they translate
// between these types and their wire format and nothing else.
type Provider interface {
	Chat(ctx context.Context, t Target, req *Request) (*Response, error)
}

// Streamer is a Provider that can stream.
type Streamer interface {
	ChatStream(ctx context.Context, t Target, req *Request) (Stream, error)
}

// Stream yields the chunks of a streamed completion. Recv returns io.EOF
// after the last chunk (the usage chunk, when the upstream sent one). Close
// releases the connection; it is safe to call at any time and more than once.
type Stream interface {
	Recv() (*Chunk, error)
	Close() error
}

// Embedder is a Provider that computes embeddings.
type Embedder interface {
	Embed(ctx context.Context, t Target, req *EmbeddingRequest) (*EmbeddingResponse, error)
}

// ModelLister is a Provider that can list the upstream's models.
type ModelLister interface {
	ListModels(ctx context.Context, t Target) ([]string, error)
}

// Wire formats of client requests, for Forwarder.
const (
	FormatOpenAI    = "openai"
	FormatAnthropic = "anthropic"
)

// Forwarder is a Provider that can take a client's request body as is when
// the client speaks the provider's own wire format (the pass-through fast
// path). body is the client's JSON with the model already replaced by
// t.Model. The response is returned unread: status, headers and body
// (JSON, or an SSE stream when stream is set). A non-2xx response is
// returned as an *UpstreamError with the body read, so that callers can
// retry or fail over.
type Forwarder interface {
	Forward(ctx context.Context, t Target, format, endpoint string, body []byte, stream bool) (*http.Response, error)
}

// Forward endpoints.
const (
	EndpointChat       = "chat"       // chat completions or messages
	EndpointEmbeddings = "embeddings" // embeddings
	// EndpointCountTokens is Anthropic's /v1/messages/count_tokens.
	EndpointCountTokens = "count_tokens"
)

// UpstreamError is a failed upstream call. Every provider returns it (or a
// network error, which the router treats as retryable) so that the router
// can decide on retries and failover without knowing the wire format.
type UpstreamError struct {
	Provider string
	// Status is the upstream's HTTP status; 0 when no response arrived.
	Status int
	// Type and Code are the upstream's error type and code, when it gave them.
	Type, Code string
	// Message is the upstream's error message.
	Message string
	// RetryAfter is what retry-after, retry-after-ms or x-ms-retry-after-ms
	// said; 0 when absent.
	RetryAfter time.Duration
	// Body is the raw error body (bounded), for pass-through to the client.
	Body []byte
	// Header is the upstream response's headers.
	Header http.Header
	// Err is the underlying cause for non-HTTP failures (bad stream, decode).
	Err error
}

func (e *UpstreamError) Error() string {
	if e.Status == 0 {
		return fmt.Sprintf("%s: %s: %v", e.Provider, e.Message, e.Err)
	}
	return fmt.Sprintf("%s: upstream returned %d: %s", e.Provider, e.Status, e.Message)
}

func (e *UpstreamError) Unwrap() error { return e.Err }

// Retryable reports whether the same request may succeed on a retry or
// another target: 408, 409, 429 (except a spend cap), 5xx and Anthropic's
// 529, and failures with no response. A 4xx caused by the request itself is
// not.
func (e *UpstreamError) Retryable() bool {
	switch {
	case e.Status == 0:
		return true
	case e.Status == http.StatusTooManyRequests:
		return !e.QuotaExhausted()
	case e.Status == http.StatusRequestTimeout, e.Status == http.StatusConflict:
		return true
	case e.Status >= 500:
		return true
	}
	return false
}

// QuotaExhausted reports a 429 that waiting will not fix (an exhausted
// quota or spend cap on this API key): fail over to another key, never
// retry the same one.
func (e *UpstreamError) QuotaExhausted() bool {
	if e.Status != http.StatusTooManyRequests {
		return false
	}
	switch e.Code {
	case "insufficient_quota", "billing_hard_limit_reached", "spend_limit_exceeded":
		return true
	}
	return e.Type == "insufficient_quota"
}

// ReadErrorBody reads at most 64 KiB of a failed response's body.
func ReadErrorBody(r io.Reader) []byte {
	b, _ := io.ReadAll(io.LimitReader(r, 64<<10))
	return b
}

// clientHeadersKey carries the client headers a provider may pass on.
type clientHeadersKey struct{}

// WithClientHeaders returns ctx carrying the client request's headers that
// upstreams of the client's own format understand (Anthropic's
// anthropic-beta, for example). Providers pass on only the headers they
// know; credentials are never among them.
func WithClientHeaders(ctx context.Context, h http.Header) context.Context {
	return context.WithValue(ctx, clientHeadersKey{}, h)
}

// ClientHeaders returns the headers WithClientHeaders stored, or nil.
func ClientHeaders(ctx context.Context) http.Header {
	h, _ := ctx.Value(clientHeadersKey{}).(http.Header)
	return h
}
