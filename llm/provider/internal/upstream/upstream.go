// Package upstream is the HTTP plumbing the provider packages share: building
// a request with a provider's configured headers, sending it and turning a
// failure into a *chat.UpstreamError, bounding what an error keeps of a body,
// decoding an error event that arrives inside a stream, and a stream's Recv
// loop.
//
// The wire formats themselves stay in each provider package.
package upstream

import (
	"bytes"
	"context"
	"io"
	"net/http"

	"github.com/junctionhq/junction/llm/chat"
)

// ClientOr returns c, or when c is nil a client on chat.NewTransport with
// the default options and no overall timeout (the callers' contexts bound
// each call): a provider's default client.
func ClientOr(c *http.Client) *http.Client {
	if c == nil {
		return &http.Client{Transport: chat.NewTransport(chat.TransportOptions{})}
	}
	return c
}

// NewRequest builds a request to url with headers (canonical keys, shared
// read-only) copied in. A non-nil body is sent as JSON; a nil body sends
// none.
func NewRequest(ctx context.Context, method, url string, body []byte, headers http.Header) (*http.Request, error) {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, url, rd)
	if err != nil {
		return nil, err
	}
	for k, v := range headers {
		req.Header[k] = v
	}
	if body != nil {
		req.Header["Content-Type"] = jsonType
	}
	return req, nil
}

// jsonType is the Content-Type of a request body; net/http only reads it.
var jsonType = []string{"application/json"}

// Send sends req with client and returns a 2xx response with its body
// unread. A request that gets no response is a *chat.UpstreamError of
// provider with status 0; a non-2xx response is what failed makes of it
// (failed reads and closes the body).
func Send(client *http.Client, provider string, req *http.Request, failed func(*http.Response) *chat.UpstreamError) (*http.Response, error) {
	resp, err := client.Do(req)
	if err != nil {
		return nil, &chat.UpstreamError{Provider: provider, Message: "request failed", Err: err}
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return nil, failed(resp)
	}
	return resp, nil
}

// MaxErrorBody bounds the body an error keeps (chat.UpstreamError.Body).
const MaxErrorBody = 64 << 10

// Bounded returns at most MaxErrorBody bytes of b.
func Bounded(b []byte) []byte {
	return b[:min(len(b), MaxErrorBody)]
}
