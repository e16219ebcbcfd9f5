package anthropic

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/junctionhq/junction/llm/chat"
	"github.com/junctionhq/junction/llm/provider/internal/upstream"
)

// Config configures a Provider. The zero value talks to api.anthropic.com.
type Config struct {
	// Name is the provider's configured name, reported in errors. Default
	// "anthropic".
	Name string
	// BaseURL is the API's root; /v1/messages and /v1/models are appended (a
	// trailing /v1 is tolerated). Default https://api.anthropic.com.
	BaseURL string
	// HTTPClient makes the upstream calls. Default: a client on
	// chat.NewTransport with no overall timeout (the router's contexts bound
	// calls).
	HTTPClient *http.Client
	// Version is the anthropic-version header, unless an Anthropic client
	// sent its own. Default "2023-06-01".
	Version string
	// Headers are added to every upstream request (anthropic-beta, a proxy's
	// own authentication, ...).
	Headers map[string]string
	// DefaultMaxTokens is the max_tokens sent when a request sets none, as
	// Anthropic requires one. Default 4096.
	DefaultMaxTokens int64
}

// Defaults of Config.
const (
	DefaultBaseURL   = "https://api.anthropic.com"
	DefaultVersion   = "2023-06-01"
	DefaultMaxTokens = 4096
)

// maxResponseBytes bounds a non-streamed response body.
const maxResponseBytes = 64 << 20

// Provider calls Anthropic's Messages API. It is safe for concurrent use.
type Provider struct {
	name           string
	messagesURL    string
	countTokensURL string
	modelsURL      string
	client         *http.Client
	version        string
	headers        http.Header // canonical keys, from Config.Headers
	maxTokens      int64
	now            func() time.Time
}

var (
	_ chat.Provider    = (*Provider)(nil)
	_ chat.Streamer    = (*Provider)(nil)
	_ chat.ModelLister = (*Provider)(nil)
	_ chat.Forwarder   = (*Provider)(nil)
)

// New returns a Provider for cfg, with defaults filled in. It fails when the
// base URL is not an absolute http(s) URL or DefaultMaxTokens is negative.
func New(cfg Config) (*Provider, error) {
	var errs []error
	base := cfg.BaseURL
	if base == "" {
		base = DefaultBaseURL
	}
	base = strings.TrimSuffix(strings.TrimRight(base, "/"), "/v1")
	if u, err := url.Parse(base); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		errs = append(errs, fmt.Errorf("base_url: %q is not an absolute http(s) URL", cfg.BaseURL))
	}
	if cfg.DefaultMaxTokens < 0 {
		errs = append(errs, fmt.Errorf("default_max_tokens: must not be negative, got %d", cfg.DefaultMaxTokens))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("anthropic: %w", err)
	}
	p := &Provider{
		name:           cfg.Name,
		messagesURL:    base + "/v1/messages",
		countTokensURL: base + "/v1/messages/count_tokens",
		modelsURL:      base + "/v1/models",
		client:         upstream.ClientOr(cfg.HTTPClient),
		version:        cfg.Version,
		headers:        make(http.Header, len(cfg.Headers)),
		maxTokens:      cfg.DefaultMaxTokens,
		now:            time.Now,
	}
	if p.name == "" {
		p.name = "anthropic"
	}
	if p.version == "" {
		p.version = DefaultVersion
	}
	if p.maxTokens == 0 {
		p.maxTokens = DefaultMaxTokens
	}
	for k, v := range cfg.Headers {
		p.headers.Set(k, v)
	}
	return p, nil
}

// Chat sends req as a Messages request to t.Model and returns the decoded
// message. Failures are *chat.UpstreamError.
func (p *Provider) Chat(ctx context.Context, t chat.Target, req *chat.Request) (*chat.Response, error) {
	body := appendRequest(make([]byte, 0, req.SizeHint()), t.Model, req, false, p.maxTokens)
	resp, err := p.post(ctx, t, p.messagesURL, body, false)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, maxResponseBytes))
	if err != nil {
		return nil, &chat.UpstreamError{Provider: p.name, Message: "reading the response failed", Err: err}
	}
	out, err := DecodeMessagesResponse(raw, p.now().Unix(), chat.Lenient)
	if err != nil {
		return nil, &chat.UpstreamError{Provider: p.name, Status: resp.StatusCode, Message: "malformed response", Body: upstream.Bounded(raw), Header: resp.Header, Err: err}
	}
	return out, nil
}

// ChatStream sends req as a streamed Messages request and returns once the
// response headers have arrived; no event is read yet. Failures before the
// stream starts are *chat.UpstreamError.
func (p *Provider) ChatStream(ctx context.Context, t chat.Target, req *chat.Request) (chat.Stream, error) {
	body := appendRequest(make([]byte, 0, req.SizeHint()), t.Model, req, true, p.maxTokens)
	resp, err := p.post(ctx, t, p.messagesURL, body, true)
	if err != nil {
		return nil, err
	}
	return newStream(p.name, resp.Body, p.now().Unix()), nil
}

// Forward posts a client's Messages body as it is (the pass-through path for
// Anthropic clients), to /v1/messages or, for EndpointCountTokens, to
// /v1/messages/count_tokens, and returns the response unread when it is 2xx.
func (p *Provider) Forward(ctx context.Context, t chat.Target, format, endpoint string, body []byte, stream bool) (*http.Response, error) {
	switch {
	case format != chat.FormatAnthropic:
	case endpoint == chat.EndpointChat:
		return p.post(ctx, t, p.messagesURL, body, stream)
	case endpoint == chat.EndpointCountTokens && !stream:
		return p.post(ctx, t, p.countTokensURL, body, false)
	}
	return nil, fmt.Errorf("anthropic: forward %s %s: %w", format, endpoint, errors.ErrUnsupported)
}

// ListModels returns the ids of the models the key may use, following
// pagination.
func (p *Provider) ListModels(ctx context.Context, t chat.Target) ([]string, error) {
	var ids []string
	after := ""
	for page := 0; page < 100; page++ {
		u := p.modelsURL + "?limit=1000"
		if after != "" {
			u += "&after_id=" + url.QueryEscape(after)
		}
		req, err := upstream.NewRequest(ctx, http.MethodGet, u, nil, p.headers)
		if err != nil {
			return nil, fmt.Errorf("anthropic: list models: %w", err)
		}
		p.setAuth(req, t)
		resp, err := p.do(req)
		if err != nil {
			return nil, err
		}
		var list struct {
			Data []struct {
				ID string `json:"id"`
			} `json:"data"`
			HasMore bool   `json:"has_more"`
			LastID  string `json:"last_id"`
		}
		err = json.NewDecoder(io.LimitReader(resp.Body, maxResponseBytes)).Decode(&list)
		_ = resp.Body.Close() // fully decoded or failed; nothing to recover
		if err != nil {
			return nil, &chat.UpstreamError{Provider: p.name, Status: resp.StatusCode, Message: "malformed model list", Header: resp.Header, Err: err}
		}
		for _, m := range list.Data {
			ids = append(ids, m.ID)
		}
		if !list.HasMore || list.LastID == "" || list.LastID == after {
			break
		}
		after = list.LastID
	}
	return ids, nil
}

// post sends a Messages body and returns a 2xx response unread.
func (p *Provider) post(ctx context.Context, t chat.Target, endpointURL string, body []byte, stream bool) (*http.Response, error) {
	req, err := upstream.NewRequest(ctx, http.MethodPost, endpointURL, body, p.headers)
	if err != nil {
		return nil, fmt.Errorf("anthropic: build request: %w", err)
	}
	p.setAuth(req, t)
	// The API version and beta features an Anthropic client chose (Claude
	// Code sends several betas) reach the upstream with the request.
	client := chat.ClientHeaders(ctx)
	if version := client.Get("Anthropic-Version"); version != "" {
		req.Header["Anthropic-Version"] = []string{version}
	}
	if beta := client.Values("Anthropic-Beta"); len(beta) > 0 {
		req.Header["Anthropic-Beta"] = beta
	}
	if stream {
		req.Header["Accept"] = sseAccept
	} else {
		req.Header["Accept"] = jsonContentType
	}
	return p.do(req)
}

var (
	jsonContentType = []string{"application/json"}
	sseAccept       = []string{"text/event-stream"}
)

// setAuth sets authentication and the API version.
func (p *Provider) setAuth(req *http.Request, t chat.Target) {
	h := req.Header
	if t.APIKey != "" {
		h["X-Api-Key"] = []string{t.APIKey}
	}
	h["Anthropic-Version"] = []string{p.version}
}

// do sends req; a network failure or a non-2xx answer is a
// *chat.UpstreamError (Status 0 for the former).
func (p *Provider) do(req *http.Request) (*http.Response, error) {
	return upstream.Send(p.client, p.name, req, func(resp *http.Response) *chat.UpstreamError {
		return upstreamError(p.name, resp, p.now())
	})
}
