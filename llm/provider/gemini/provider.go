package gemini

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

// DefaultBaseURL is the Gemini API root, version included.
const DefaultBaseURL = "https://generativelanguage.googleapis.com/v1beta"

// Config configures a Provider. The zero value talks to Google's Gemini API.
type Config struct {
	// Name is the configured provider name, reported in errors ("gemini",
	// "gemini-eu"). Default "gemini".
	Name string
	// BaseURL is the API root with its version, without a trailing slash
	// (the models live at BaseURL + "/models/..."). Default DefaultBaseURL.
	BaseURL string
	// HTTPClient sends the requests. Default: a client on
	// chat.NewTransport(chat.TransportOptions{}), without a timeout (callers
	// bound calls with their contexts).
	HTTPClient *http.Client
	// Headers are added to every request. They cannot replace the API key
	// header, which is set last.
	Headers map[string]string
}

// Provider speaks the Gemini API: chat through generateContent and
// streamGenerateContent, embeddings through batchEmbedContents, and model
// listing. It is safe for concurrent use.
type Provider struct {
	name    string
	baseURL string
	client  *http.Client
	headers http.Header
	now     func() time.Time // stamps Created, which Gemini does not send
}

var (
	_ chat.Provider    = (*Provider)(nil)
	_ chat.Streamer    = (*Provider)(nil)
	_ chat.Embedder    = (*Provider)(nil)
	_ chat.ModelLister = (*Provider)(nil)
)

// New returns a Provider for cfg, or every problem with cfg at once.
func New(cfg Config) (*Provider, error) {
	p := &Provider{
		name:    cfg.Name,
		baseURL: strings.TrimRight(cfg.BaseURL, "/"),
		client:  upstream.ClientOr(cfg.HTTPClient),
		headers: make(http.Header, len(cfg.Headers)),
		now:     time.Now,
	}
	if p.name == "" {
		p.name = "gemini"
	}
	if p.baseURL == "" {
		p.baseURL = DefaultBaseURL
	}
	var errs []error
	if u, err := url.Parse(p.baseURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		errs = append(errs, fmt.Errorf("base_url: want an absolute http(s) URL, got %q", cfg.BaseURL))
	} else if u.RawQuery != "" || u.Fragment != "" {
		errs = append(errs, fmt.Errorf("base_url: must not carry a query or fragment, got %q", cfg.BaseURL))
	}
	for name, value := range cfg.Headers {
		if !validHeaderName(name) {
			errs = append(errs, fmt.Errorf("headers: invalid header name %q", name))
			continue
		}
		if strings.ContainsAny(value, "\r\n\x00") {
			errs = append(errs, fmt.Errorf("headers.%s: value must not contain CR, LF or NUL", name))
			continue
		}
		p.headers.Set(name, value)
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("gemini: config: %w", err)
	}
	return p, nil
}

// validHeaderName reports whether name is an HTTP token.
func validHeaderName(name string) bool {
	if name == "" {
		return false
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		case strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0:
		default:
			return false
		}
	}
	return true
}

// modelURL returns the URL of a model method ("generateContent"). A model
// named with its resource prefix ("models/gemini-2.5-flash") is accepted.
func (p *Provider) modelURL(model, method string) string {
	model = strings.TrimPrefix(model, "models/")
	return p.baseURL + "/models/" + url.PathEscape(model) + ":" + method
}

// newRequest builds an upstream request with the configured headers and the
// API key; body is JSON, or nil for a GET.
func (p *Provider) newRequest(ctx context.Context, method, u string, t chat.Target, body []byte) (*http.Request, error) {
	req, err := upstream.NewRequest(ctx, method, u, body, p.headers)
	if err != nil {
		return nil, fmt.Errorf("gemini: build request: %w", err)
	}
	req.Header.Set("X-Goog-Api-Key", t.APIKey)
	return req, nil
}

// do sends req. A failure to get a response is an *chat.UpstreamError with
// status 0; a non-2xx response is one with the body read and closed.
func (p *Provider) do(req *http.Request) (*http.Response, error) {
	return upstream.Send(p.client, p.name, req, func(resp *http.Response) *chat.UpstreamError {
		body := chat.ReadErrorBody(resp.Body)
		resp.Body.Close()
		return p.statusError(resp.StatusCode, resp.Header, body)
	})
}

// fetch sends a request and reads its 2xx response's body (readBody),
// returned with the response's header.
func (p *Provider) fetch(ctx context.Context, method, u string, t chat.Target, body []byte) ([]byte, http.Header, error) {
	hreq, err := p.newRequest(ctx, method, u, t, body)
	if err != nil {
		return nil, nil, err
	}
	resp, err := p.do(hreq)
	if err != nil {
		return nil, nil, err
	}
	raw, err := p.readBody(resp)
	if err != nil {
		return nil, nil, err
	}
	return raw, resp.Header, nil
}

// maxResponseBytes bounds a non-streamed response body (inline images make
// them large).
const maxResponseBytes = 64 << 20

// readBody reads a successful response's body, bounded. A body that breaks
// off is a failure with no (complete) response: status 0, retryable.
func (p *Provider) readBody(resp *http.Response) ([]byte, error) {
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, maxResponseBytes+1))
	switch {
	case err != nil:
		return nil, &chat.UpstreamError{Provider: p.name, Message: "read response", Err: err, Header: resp.Header}
	case len(raw) > maxResponseBytes:
		return nil, &chat.UpstreamError{Provider: p.name, Message: "read response",
			Err: fmt.Errorf("response larger than %d bytes", maxResponseBytes), Header: resp.Header}
	}
	return raw, nil
}

// decodeError is a 2xx body that is not what the API documents.
func (p *Provider) decodeError(raw []byte, h http.Header, err error) error {
	return &chat.UpstreamError{Provider: p.name, Message: "decode response", Err: err,
		Body: upstream.Bounded(raw), Header: h}
}

// Chat sends req to generateContent.
func (p *Provider) Chat(ctx context.Context, t chat.Target, req *chat.Request) (*chat.Response, error) {
	body, err := encodeRequest(req)
	if err != nil {
		return nil, p.requestError(err)
	}
	raw, h, err := p.fetch(ctx, http.MethodPost, p.modelURL(t.Model, "generateContent"), t, body)
	if err != nil {
		return nil, err
	}
	out, err := decodeResponse(raw, t.Model, p.now().Unix())
	if err != nil {
		return nil, p.decodeError(raw, h, err)
	}
	return out, nil
}

// ListModels lists the upstream's models by id ("gemini-2.5-flash"), every
// page of GET /models.
func (p *Provider) ListModels(ctx context.Context, t chat.Target) ([]string, error) {
	const maxPages = 20
	var ids []string
	token := ""
	for range maxPages {
		u := p.baseURL + "/models?pageSize=1000"
		if token != "" {
			u += "&pageToken=" + url.QueryEscape(token)
		}
		raw, h, err := p.fetch(ctx, http.MethodGet, u, t, nil)
		if err != nil {
			return nil, err
		}
		var page struct {
			Models []struct {
				Name string `json:"name"`
			} `json:"models"`
			NextPageToken string `json:"nextPageToken"`
		}
		if err := json.Unmarshal(raw, &page); err != nil {
			return nil, p.decodeError(raw, h, err)
		}
		for _, m := range page.Models {
			ids = append(ids, strings.TrimPrefix(m.Name, "models/"))
		}
		if page.NextPageToken == "" {
			return ids, nil
		}
		token = page.NextPageToken
	}
	return ids, nil
}

// requestError reports a request Gemini cannot be sent (an unknown role, a
// bad image URL, an unusable schema) as a 400: the router returns it at
// once instead of retrying it as if the network had failed.
func (p *Provider) requestError(err error) error {
	return &chat.UpstreamError{Provider: p.name, Status: http.StatusBadRequest, Type: "invalid_request_error",
		Message: err.Error(), Err: err}
}
