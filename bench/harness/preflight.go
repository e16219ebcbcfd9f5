package harness

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/junctionhq/junction/bench/internal/loopback"
)

// maxPreflightBody bounds how much of a preflight response is read.
const maxPreflightBody = 4 << 20

// Preflight sends req once to baseURL and checks the answer is usable before
// any load is sent: a 2xx status, and either a JSON object or, for a stream,
// an SSE body that ends with "data: [DONE]". A failure names the target, the
// method, the path, the status and the start of the body; notFoundHint (if
// any) is appended to a 404, e.g. "the LLM endpoint is not built yet".
func Preflight(ctx context.Context, name, baseURL string, req Request, timeout time.Duration, notFoundHint string) error {
	u, err := loopback.CheckURL(baseURL)
	if err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	hr, err := http.NewRequestWithContext(ctx, http.MethodPost, u.JoinPath(req.Path).String(), bytes.NewReader(req.Body))
	if err != nil {
		return fmt.Errorf("%s: build preflight request: %w", name, err)
	}
	hr.Header = req.header()

	client := &http.Client{
		Transport: &http.Transport{Proxy: nil, DisableKeepAlives: true},
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
	}
	resp, err := client.Do(hr)
	if err != nil {
		return fmt.Errorf("%s: POST %s: %w", name, req.Path, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxPreflightBody))
	if err != nil {
		return fmt.Errorf("%s: POST %s: reading the response: %w", name, req.Path, err)
	}

	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		msg := fmt.Sprintf("%s: POST %s returned %d", name, req.Path, resp.StatusCode)
		if resp.StatusCode == http.StatusNotFound && notFoundHint != "" {
			msg += " — " + notFoundHint
		}
		if snippet := bodySnippet(body); snippet != "" {
			msg += ": " + snippet
		}
		return fmt.Errorf("%s", msg)
	}

	if req.Stream {
		if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/event-stream") {
			return fmt.Errorf("%s: POST %s: stream answered with Content-Type %q, want text/event-stream", name, req.Path, ct)
		}
		if !bytes.Contains(body, []byte("data: [DONE]")) {
			return fmt.Errorf("%s: POST %s: stream ended without \"data: [DONE]\": %s", name, req.Path, bodySnippet(body))
		}
		return nil
	}
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(body, &obj); err != nil {
		return fmt.Errorf("%s: POST %s: response is not a JSON object (%v): %s", name, req.Path, err, bodySnippet(body))
	}
	return nil
}

// bodySnippet returns the start of body on one line, for error messages.
func bodySnippet(body []byte) string {
	const n = 200
	s := strings.Join(strings.Fields(string(body)), " ")
	if len(s) > n {
		s = strings.ToValidUTF8(s[:n], "") + "…" // drop a rune cut in half
	}
	return s
}
