package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"syscall"
	"time"
)

// The admin subcommands talk to a running gateway's admin API (/admin/v1)
// with the admin key. They only translate flags to requests and responses
// to text; the gateway validates and decides.

const (
	defaultAdminURL = "http://127.0.0.1:8080"
	adminTimeout    = 30 * time.Second
	maxResponse     = 32 << 20 // bytes read from one admin response
)

// adminClient calls the admin API of one gateway.
type adminClient struct {
	base string // scheme://host[:port][/prefix], without a trailing slash
	key  string
	http *http.Client
}

// newAdminClient checks the base URL; "host:port" means http://host:port.
func newAdminClient(rawURL, key string) (*adminClient, error) {
	if !strings.Contains(rawURL, "://") {
		rawURL = "http://" + rawURL
	}
	u, err := url.Parse(rawURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
		return nil, usageErrorf("--url %q must be an http:// or https:// URL such as %s", rawURL, defaultAdminURL)
	}
	return &adminClient{base: strings.TrimRight(u.String(), "/"), key: key, http: &http.Client{Timeout: adminTimeout}}, nil
}

// do sends a request with body (if not nil) as JSON and returns the body of
// a 2xx response. Other statuses become an *apiError, a failure to connect
// an *unreachableError.
func (c *adminClient) do(ctx context.Context, method, path string, query url.Values, body any) ([]byte, error) {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return nil, err
		}
		rd = bytes.NewReader(b)
	}
	target := c.base + path
	if len(query) > 0 {
		target += "?" + query.Encode()
	}
	req, err := http.NewRequestWithContext(ctx, method, target, rd)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+c.key)
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", "junction-cli/"+version())
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, &unreachableError{url: c.base, err: err}
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, maxResponse))
	if err != nil {
		return nil, fmt.Errorf("read the response from %s: %w", c.base, err)
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return nil, newAPIError(resp.StatusCode, raw)
	}
	return raw, nil
}

// apiError is a non-2xx response, with the message of the gateway's
// OpenAI-shaped error body {"error": {"message", "type", "code"}}.
type apiError struct {
	Status  int
	Message string
	Type    string
	Code    string
}

func newAPIError(status int, body []byte) *apiError {
	var e struct {
		Error struct {
			Message string `json:"message"`
			Type    string `json:"type"`
			Code    string `json:"code"`
		} `json:"error"`
	}
	if json.Unmarshal(body, &e) == nil && e.Error.Message != "" {
		return &apiError{Status: status, Message: e.Error.Message, Type: e.Error.Type, Code: e.Error.Code}
	}
	// Not the gateway's error shape (a proxy in between, say): show what came back.
	msg := strings.TrimSpace(string(body))
	if len(msg) > 200 {
		msg = msg[:200] + "…"
	}
	if msg == "" {
		msg = http.StatusText(status)
	}
	return &apiError{Status: status, Message: msg}
}

func (e *apiError) Error() string { return fmt.Sprintf("%s (HTTP %d)", e.Message, e.Status) }

// unreachableError is a request that got no HTTP response.
type unreachableError struct {
	url string
	err error
}

func (e *unreachableError) Error() string {
	cause := e.err
	var ue *url.Error
	if errors.As(cause, &ue) {
		cause = ue.Err // the URL is named below; don't repeat it
	}
	msg := fmt.Sprintf("cannot reach the gateway at %s: %v", e.url, cause)
	var op *net.OpError
	if errors.Is(cause, syscall.ECONNREFUSED) || (errors.As(cause, &op) && op.Op == "dial") {
		msg += "\nIs it running? Start one with `junction serve`, or point --url at it."
	}
	return msg
}

func (e *unreachableError) Unwrap() error { return e.err }

// usageError is a bad command line found after flag parsing.
type usageError struct{ msg string }

func usageErrorf(format string, args ...any) error {
	return &usageError{msg: fmt.Sprintf(format, args...)}
}

func (e *usageError) Error() string { return e.msg }
