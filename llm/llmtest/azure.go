package llmtest

import (
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
)

// Azure OpenAI: the OpenAI wire format under deployment paths,
//
//	POST /openai/deployments/{deployment}/chat/completions?api-version=...
//	POST /openai/deployments/{deployment}/embeddings?api-version=...
//	GET  /openai/models?api-version=...
//
// authenticated with an "api-key" header (a Bearer token is not accepted).
// The deployment stands for the model: the body's model is replaced by the
// deployment, so a body without one is valid, and WithModels lists deployment
// names. A request without api-version is answered 404 "Resource not found",
// as Azure does. Rate-limited answers carry retry-after and
// x-ms-retry-after-ms (instead of retry-after-ms); request ids are in
// apim-request-id. Everything else (bodies, streams, behaviours) is the
// OpenAI serving code. In Stats and RecordedRequest.Endpoint, Azure requests
// count under the OpenAI endpoints (EndpointChatCompletions, EndpointEmbeddings,
// EndpointModels); RecordedRequest.Path tells them apart.

// azureWire is Azure OpenAI's wire: api-key keys and errors with a code.
type azureWire struct{}

var _ wire = azureWire{}

func (azureWire) apiKey(r *http.Request) string { return strings.TrimSpace(r.Header.Get("Api-Key")) }

func (azureWire) requestIDHeader() string { return "Apim-Request-Id" }

func (azureWire) requestIDPrefix() string { return "" }

func (azureWire) authError(string) *apiError {
	return &apiError{
		status: http.StatusUnauthorized,
		message: "Access denied due to invalid subscription key or wrong API endpoint. Make sure to provide a " +
			"valid key for an active subscription and use a correct regional API endpoint for your resource.",
		code: "401",
	}
}

// appendError writes {"error":{"code","message","type","param"}}: Azure's
// own errors (authentication, throttling, routing) carry a code (the status
// when the error has no other); errors of the model service add OpenAI's
// type and param.
func (azureWire) appendError(dst []byte, e *apiError) []byte {
	code := e.code
	if code == "" {
		code = strconv.Itoa(e.status)
	}
	dst = append(dst, `{"error":{"code":`...)
	dst = appendJSONString(dst, code)
	dst = append(dst, `,"message":`...)
	dst = appendJSONString(dst, e.message)
	dst = append(dst, `,"type":`...)
	dst = appendJSONString(dst, openAIErrorType(e.status))
	dst = append(dst, `,"param":`...)
	dst = appendNullableString(dst, e.param)
	return append(dst, "}}"...)
}

// Azure routes; they count under the OpenAI endpoints.
var (
	azureChatEndpoint       = &endpoint{index: indexChatCompletions, method: http.MethodPost, wire: azureWire{}, serve: (*Mock).serveAzure}
	azureEmbeddingsEndpoint = &endpoint{index: indexEmbeddings, method: http.MethodPost, wire: azureWire{}, serve: (*Mock).serveAzure}
	azureModelsEndpoint     = &endpoint{index: indexModels, method: http.MethodGet, wire: azureWire{}, serve: (*Mock).serveAzure}
)

const (
	azureDeploymentsPrefix = "/openai/deployments/"
	azureModelsPath        = "/openai/models"
)

// azureRoute returns the Azure endpoint serving path; nil when path is not
// an Azure path.
func azureRoute(path string) *endpoint {
	if path == azureModelsPath {
		return azureModelsEndpoint
	}
	deployment, op, ok := azureDeployment(path)
	if !ok || deployment == "" {
		return nil
	}
	switch op {
	case "chat/completions":
		return azureChatEndpoint
	case "embeddings":
		return azureEmbeddingsEndpoint
	}
	return nil
}

// azureDeployment splits /openai/deployments/{deployment}/{op}.
func azureDeployment(path string) (deployment, op string, ok bool) {
	rest, ok := strings.CutPrefix(path, azureDeploymentsPrefix)
	if !ok {
		return "", "", false
	}
	return strings.Cut(rest, "/")
}

// serveAzure checks the api-version, puts the deployment in the body's model
// and serves the request with the OpenAI code, renaming retry-after-ms.
func (m *Mock) serveAzure(x *exchange) {
	if x.r.URL.Query().Get("api-version") == "" {
		x.fail(&apiError{status: http.StatusNotFound, message: "Resource not found", code: "404"})
		return
	}
	x.w = azureResponseWriter{x.w}
	switch x.ep.index {
	case indexModels:
		m.serveModels(x)
	case indexEmbeddings:
		deployment, _, _ := azureDeployment(x.r.URL.Path)
		x.body = withModel(x.body, deployment)
		m.serveEmbeddings(x)
	default:
		deployment, _, _ := azureDeployment(x.r.URL.Path)
		x.body = withModel(x.body, deployment)
		m.serveChatCompletions(x)
	}
}

// withModel returns body with its model set to model; a body that is not a
// JSON object is returned as is, for the OpenAI code to reject.
func withModel(body []byte, model string) []byte {
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(body, &fields); err != nil || fields == nil {
		return body
	}
	fields["model"] = json.RawMessage(appendJSONString(nil, model))
	out, err := json.Marshal(fields)
	if err != nil {
		return body
	}
	return out
}

// azureResponseWriter sends Azure's x-ms-retry-after-ms in place of
// retry-after-ms. Unwrap keeps flushing and hijacking (stream cuts) working
// through http.ResponseController.
type azureResponseWriter struct {
	http.ResponseWriter
}

func (w azureResponseWriter) WriteHeader(status int) {
	h := w.Header()
	if v, ok := h["Retry-After-Ms"]; ok {
		delete(h, "Retry-After-Ms")
		h["X-Ms-Retry-After-Ms"] = v
	}
	w.ResponseWriter.WriteHeader(status)
}

func (w azureResponseWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
