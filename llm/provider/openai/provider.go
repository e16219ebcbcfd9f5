package openai

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"

	"github.com/junctionhq/junction/llm/chat"
	"github.com/junctionhq/junction/llm/provider/internal/upstream"
)

// Config configures a Provider. The zero value of every field but BaseURL
// is usable.
type Config struct {
	// Name identifies the provider in errors (chat.UpstreamError.Provider):
	// "openai" by default, "azure" when Azure is set.
	Name string
	// BaseURL is the API's base, e.g. https://api.openai.com/v1; the paths
	// /chat/completions, /embeddings and /models are appended. With Azure set
	// it is the resource endpoint, e.g. https://NAME.openai.azure.com. It
	// must be an absolute http(s) URL without a query; a trailing slash is
	// ignored.
	BaseURL string
	// HTTPClient makes the upstream calls. Default: a client on
	// chat.NewTransport(chat.TransportOptions{}), without a timeout (the
	// caller's context bounds each call).
	HTTPClient *http.Client
	// Headers are sent with every request, e.g. OpenRouter's HTTP-Referer
	// and X-Title. They cannot replace the authentication header.
	Headers map[string]string
	// Azure, when set, speaks Azure OpenAI: deployment URLs, an api-version
	// query and the api-key header.
	Azure *AzureConfig
}

// AzureConfig holds what Azure OpenAI needs besides the OpenAI wire format.
// Target.Model is the deployment name.
type AzureConfig struct {
	// APIVersion is the api-version query parameter. Default
	// DefaultAzureAPIVersion.
	APIVersion string
}

// DefaultAzureAPIVersion is the Azure OpenAI API version used when
// AzureConfig.APIVersion is empty (the GA version of 2024-10-21).
const DefaultAzureAPIVersion = "2024-10-21"

// Provider is an OpenAI-compatible upstream (OpenAI, Azure OpenAI,
// OpenRouter, vLLM, Ollama, ...). It is safe for concurrent use.
type Provider struct {
	name    string
	base    string // without a trailing slash
	client  *http.Client
	headers http.Header // extra headers, canonical keys; shared read-only by requests

	azure      bool
	apiVersion string // query-escaped

	// Fixed URLs (not for Azure, whose URLs name the deployment).
	chatURL, embeddingsURL, modelsURL string
}

var (
	_ chat.Provider    = (*Provider)(nil)
	_ chat.Streamer    = (*Provider)(nil)
	_ chat.Embedder    = (*Provider)(nil)
	_ chat.ModelLister = (*Provider)(nil)
	_ chat.Forwarder   = (*Provider)(nil)
)

// New returns a Provider for cfg, or every problem with cfg at once.
func New(cfg Config) (*Provider, error) {
	var errs []error
	base := strings.TrimRight(cfg.BaseURL, "/")
	if u, err := url.Parse(base); err != nil || base == "" {
		errs = append(errs, fmt.Errorf("base_url: must be an absolute http(s) URL, got %q", cfg.BaseURL))
	} else if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		errs = append(errs, fmt.Errorf("base_url: must be an absolute http(s) URL, got %q", cfg.BaseURL))
	} else if u.RawQuery != "" || u.Fragment != "" {
		errs = append(errs, fmt.Errorf("base_url: must not have a query or fragment, got %q", cfg.BaseURL))
	}
	headers := make(http.Header, len(cfg.Headers))
	for k, v := range cfg.Headers {
		switch ck := http.CanonicalHeaderKey(k); {
		case k == "" || strings.ContainsAny(k, " \t\r\n:") || strings.ContainsAny(v, "\r\n"):
			errs = append(errs, fmt.Errorf("headers[%q]: invalid header", k))
		case ck == "Authorization" || ck == "Api-Key":
			errs = append(errs, fmt.Errorf("headers[%q]: the authentication header comes from the target's API key", k))
		default:
			headers[ck] = []string{v}
		}
	}
	if len(errs) > 0 {
		return nil, fmt.Errorf("openai provider %s: %w", cfg.Name, errors.Join(errs...))
	}
	p := &Provider{name: cfg.Name, base: base, client: upstream.ClientOr(cfg.HTTPClient), headers: headers}
	if cfg.Azure != nil {
		p.azure = true
		v := cfg.Azure.APIVersion
		if v == "" {
			v = DefaultAzureAPIVersion
		}
		p.apiVersion = url.QueryEscape(v)
		p.modelsURL = base + "/openai/models?api-version=" + p.apiVersion
		if p.name == "" {
			p.name = "azure"
		}
	} else {
		p.chatURL = base + "/chat/completions"
		p.embeddingsURL = base + "/embeddings"
		p.modelsURL = base + "/models"
	}
	if p.name == "" {
		p.name = "openai"
	}
	return p, nil
}

// endpointURL returns the URL of a POST endpoint for target t.
func (p *Provider) endpointURL(t chat.Target, endpoint string) string {
	if !p.azure {
		if endpoint == chat.EndpointEmbeddings {
			return p.embeddingsURL
		}
		return p.chatURL
	}
	path := "/chat/completions"
	if endpoint == chat.EndpointEmbeddings {
		path = "/embeddings"
	}
	return p.base + "/openai/deployments/" + url.PathEscape(t.Model) + path + "?api-version=" + p.apiVersion
}

// Header values shared by every request; net/http only reads them.
var (
	jsonType        = []string{"application/json"}
	eventStreamType = []string{"text/event-stream"}
)

// do sends one request and returns a 2xx response with its body unread;
// any other outcome is an *chat.UpstreamError.
func (p *Provider) do(ctx context.Context, t chat.Target, method, url string, body []byte, stream bool) (*http.Response, error) {
	req, err := upstream.NewRequest(ctx, method, url, body, p.headers)
	if err != nil {
		return nil, &chat.UpstreamError{Provider: p.name, Message: "cannot build the request", Err: err}
	}
	if stream {
		req.Header["Accept"] = eventStreamType
	} else {
		req.Header["Accept"] = jsonType
	}
	if t.APIKey != "" {
		if p.azure {
			req.Header["Api-Key"] = []string{t.APIKey}
		} else {
			req.Header["Authorization"] = []string{"Bearer " + t.APIKey}
		}
	}
	return upstream.Send(p.client, p.name, req, func(resp *http.Response) *chat.UpstreamError {
		return responseError(p.name, resp)
	})
}

// fetch sends body to url (a POST; a GET when body is nil) and reads the
// 2xx response (readResponse).
func (p *Provider) fetch(ctx context.Context, t chat.Target, url string, body []byte) (*http.Response, []byte, func(), error) {
	method := http.MethodPost
	if body == nil {
		method = http.MethodGet
	}
	resp, err := p.do(ctx, t, method, url, body, false)
	if err != nil {
		return nil, nil, nil, err
	}
	data, release, err := p.readResponse(resp)
	if err != nil {
		return nil, nil, nil, err
	}
	return resp, data, release, nil
}

// maxResponseBytes bounds a non-streamed response body.
const maxResponseBytes = 256 << 20

var errResponseTooLarge = errors.New("response body larger than 256 MiB")

// bodyPool recycles response read buffers; decoders copy what they keep.
var bodyPool = sync.Pool{New: func() any { b := make([]byte, 0, 16<<10); return &b }}

// maxPooledBody keeps unusually large buffers out of the pool.
const maxPooledBody = 1 << 20

// readResponse reads and closes a 2xx response's body into a pooled buffer,
// returned with a function that gives the buffer back.
func (p *Provider) readResponse(resp *http.Response) ([]byte, func(), error) {
	defer resp.Body.Close()
	bp := bodyPool.Get().(*[]byte)
	buf := (*bp)[:0]
	if n := resp.ContentLength; n > int64(cap(buf)) && n <= maxResponseBytes {
		buf = make([]byte, 0, n+1)
	}
	release := func() {
		if cap(buf) <= maxPooledBody {
			*bp = buf[:0]
			bodyPool.Put(bp)
		}
	}
	for {
		if len(buf) == cap(buf) {
			buf = append(buf, 0)[:len(buf)]
		}
		n, err := resp.Body.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if len(buf) > maxResponseBytes {
			release()
			return nil, nil, &chat.UpstreamError{Provider: p.name, Message: "response too large", Header: resp.Header, Err: errResponseTooLarge}
		}
		if errors.Is(err, io.EOF) {
			return buf, release, nil
		}
		if err != nil {
			release()
			return nil, nil, &chat.UpstreamError{Provider: p.name, Message: "reading the response failed", Header: resp.Header, Err: err}
		}
	}
}

// malformed reports a 2xx body that cannot be decoded.
func (p *Provider) malformed(resp *http.Response, body []byte, err error) *chat.UpstreamError {
	return &chat.UpstreamError{
		Provider: p.name, Message: "malformed response", Header: resp.Header,
		Body: bytes.Clone(upstream.Bounded(body)), Err: err,
	}
}

// errorInBody reports a 2xx body holding an error object.
func (p *Provider) errorInBody(resp *http.Response, body []byte) *chat.UpstreamError {
	e := streamEventError(p.name, resp.Header, upstream.Bounded(body))
	e.Err = errInBody
	return e
}

// Chat sends req to the upstream's chat completions endpoint as target t.
func (p *Provider) Chat(ctx context.Context, t chat.Target, req *chat.Request) (*chat.Response, error) {
	body := appendRequest(make([]byte, 0, req.SizeHint()), req, t.Model, false)
	resp, err := p.do(ctx, t, http.MethodPost, p.endpointURL(t, chat.EndpointChat), body, false)
	if err != nil {
		return nil, err
	}
	return p.decodeChat(resp)
}

func (p *Provider) decodeChat(resp *http.Response) (*chat.Response, error) {
	data, release, err := p.readResponse(resp)
	if err != nil {
		return nil, err
	}
	defer release()
	r, err := DecodeChatResponse(data, chat.Lenient)
	switch {
	case errors.Is(err, errInBody):
		return nil, p.errorInBody(resp, data)
	case err != nil:
		return nil, p.malformed(resp, data, err)
	}
	return r, nil
}

// ChatStream sends req as a streamed request (always asking for the usage
// chunk) and returns once the response headers have arrived; no event has
// been read yet. A non-2xx answer is an *chat.UpstreamError. An upstream
// that ignores "stream" and answers one JSON completion is served as a
// stream of that completion.
func (p *Provider) ChatStream(ctx context.Context, t chat.Target, req *chat.Request) (chat.Stream, error) {
	body := appendRequest(make([]byte, 0, req.SizeHint()), req, t.Model, true)
	resp, err := p.do(ctx, t, http.MethodPost, p.endpointURL(t, chat.EndpointChat), body, true)
	if err != nil {
		return nil, err
	}
	if ct := resp.Header.Get("Content-Type"); strings.HasPrefix(ct, "application/json") {
		r, err := p.decodeChat(resp)
		if err != nil {
			return nil, err
		}
		return jsonStream(r), nil
	}
	return newStream(p.name, resp), nil
}

// Embed computes embeddings of req.Input as target t.
func (p *Provider) Embed(ctx context.Context, t chat.Target, req *chat.EmbeddingRequest) (*chat.EmbeddingResponse, error) {
	size := 128
	for _, in := range req.Input {
		size += len(in) + 8
	}
	body := appendEmbeddingRequest(make([]byte, 0, size), req, t.Model)
	resp, data, release, err := p.fetch(ctx, t, p.endpointURL(t, chat.EndpointEmbeddings), body)
	if err != nil {
		return nil, err
	}
	defer release()
	r, err := decodeEmbeddingResponse(data, len(req.Input))
	if err != nil {
		return nil, p.malformed(resp, data, err)
	}
	return r, nil
}

// ListModels returns the ids of the upstream's models (GET /models; for
// Azure, GET /openai/models, the base models of the resource).
func (p *Provider) ListModels(ctx context.Context, t chat.Target) ([]string, error) {
	resp, data, release, err := p.fetch(ctx, t, p.modelsURL, nil)
	if err != nil {
		return nil, err
	}
	defer release()
	ids, err := decodeModels(data)
	if err != nil {
		return nil, p.malformed(resp, data, err)
	}
	return ids, nil
}

// Forward posts a client's OpenAI body as is (the caller has replaced the
// model with t.Model and, for streams, called EnsureStreamUsage) to the chat
// completions or embeddings endpoint, and returns a 2xx response unread.
// Only chat.FormatOpenAI bodies are accepted.
func (p *Provider) Forward(ctx context.Context, t chat.Target, format, endpoint string, body []byte, stream bool) (*http.Response, error) {
	if format != chat.FormatOpenAI {
		return nil, fmt.Errorf("%s: forward: cannot take %q bodies, only %q", p.name, format, chat.FormatOpenAI)
	}
	if endpoint != chat.EndpointChat && endpoint != chat.EndpointEmbeddings {
		return nil, fmt.Errorf("%s: forward: unknown endpoint %q", p.name, endpoint)
	}
	return p.do(ctx, t, http.MethodPost, p.endpointURL(t, endpoint), body, stream)
}
