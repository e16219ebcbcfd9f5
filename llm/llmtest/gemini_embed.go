package llmtest

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
)

// geminiEmbedRequest is an EmbedContentRequest (also an element of a batch).
type geminiEmbedRequest struct {
	Model                     string          `json:"model"`
	Content                   *geminiContent  `json:"content"`
	TaskType                  string          `json:"taskType"`
	TaskTypeSnake             string          `json:"task_type"`
	Title                     string          `json:"title"`
	OutputDimensionality      *int            `json:"outputDimensionality"`
	OutputDimensionalitySnake *int            `json:"output_dimensionality"`
	EmbedContentConfig        json.RawMessage `json:"embedContentConfig"`
	EmbedContentConfigSnake   json.RawMessage `json:"embed_content_config"`
}

type geminiBatchEmbedRequest struct {
	Requests []geminiEmbedRequest `json:"requests"`
}

// maxGeminiBatch is the API's limit on requests per batchEmbedContents call.
const maxGeminiBatch = 100

// serveEmbedContent answers POST /v1beta/models/{model}:embedContent with
// {"embedding":{"values":[...]}}, feature-hashed like EmbedText.
func (m *Mock) serveEmbedContent(x *exchange) {
	model, method, _ := geminiModelMethod(x.r.URL.Path)
	var req geminiEmbedRequest
	if !x.decodeGeminiBody(&req) {
		return
	}
	text, dims, apiErr := req.validate("EmbedContentRequest", m.cfg.embeddingDims)
	if !m.admitModel(x, apiErr, model, geminiModelNotFound(method)) {
		return
	}
	vec := make([]float32, dims)
	embedInto(vec, m.embeddingText(text))
	x.out = append(x.out[:0], `{"embedding":`...)
	x.out = appendGeminiEmbedding(x.out, vec)
	x.out = append(x.out, '}')
	x.writeJSON(http.StatusOK, x.out)
}

// serveBatchEmbedContents answers POST /v1beta/models/{model}:batchEmbedContents with
// {"embeddings":[{"values":[...]},...]} in request order.
func (m *Mock) serveBatchEmbedContents(x *exchange) {
	model, method, _ := geminiModelMethod(x.r.URL.Path)
	var req geminiBatchEmbedRequest
	if !x.decodeGeminiBody(&req) {
		return
	}
	switch {
	case len(req.Requests) == 0:
		x.fail(newAPIError(http.StatusBadRequest, "* BatchEmbedContentsRequest.requests: requests is not specified\n"))
		return
	case len(req.Requests) > maxGeminiBatch:
		x.fail(newAPIError(http.StatusBadRequest,
			"* BatchEmbedContentsRequest.requests: at most %d requests can be in one batch\n", maxGeminiBatch))
		return
	}
	texts := make([]string, len(req.Requests))
	dims := make([]int, len(req.Requests))
	for i := range req.Requests {
		r := &req.Requests[i]
		if r.Model != "" && r.Model != "models/"+model {
			x.fail(newAPIError(http.StatusBadRequest,
				"* BatchEmbedContentsRequest.requests[%d].model: model of the request must match the batch's model models/%s\n", i, model))
			return
		}
		var apiErr *apiError
		texts[i], dims[i], apiErr = r.validate(fmt.Sprintf("BatchEmbedContentsRequest.requests[%d]", i), m.cfg.embeddingDims)
		if apiErr != nil {
			x.fail(apiErr)
			return
		}
	}
	if !m.admitModel(x, nil, model, geminiModelNotFound(method)) {
		return
	}
	x.out = append(x.out[:0], `{"embeddings":[`...)
	for i, text := range texts {
		if i > 0 {
			x.out = append(x.out, ',')
		}
		vec := make([]float32, dims[i])
		embedInto(vec, m.embeddingText(text))
		x.out = appendGeminiEmbedding(x.out, vec)
	}
	x.out = append(x.out, "]}"...)
	x.writeJSON(http.StatusOK, x.out)
}

// validate checks one embedding request and returns the text to embed (its text
// parts joined by spaces) and the dimensions to answer with.
func (req *geminiEmbedRequest) validate(where string, nativeDims int) (string, int, *apiError) {
	if req.Content == nil {
		return "", 0, newAPIError(http.StatusBadRequest, "* %s.content: content is not specified\n", where)
	}
	text := partsText(req.Content.Parts, ' ')
	if strings.TrimSpace(text) == "" {
		return "", 0, newAPIError(http.StatusBadRequest, "* %s.content.parts: contents must not be empty\n", where)
	}
	dims := nativeDims
	for _, d := range []*int{req.OutputDimensionality, req.OutputDimensionalitySnake} {
		switch {
		case d == nil:
		case *d < 0 || *d > nativeDims:
			return "", 0, newAPIError(http.StatusBadRequest,
				"* %s.output_dimensionality: must be within [1, %d], got %d\n", where, nativeDims, *d)
		case *d > 0:
			dims = *d
		}
	}
	return text, dims, nil
}

// appendGeminiEmbedding appends a ContentEmbedding {"values":[...]}.
func appendGeminiEmbedding(dst []byte, vec []float32) []byte {
	dst = append(dst, `{"values":[`...)
	for j, f := range vec {
		if j > 0 {
			dst = append(dst, ',')
		}
		dst = strconv.AppendFloat(dst, float64(f), 'g', -1, 32)
	}
	return append(dst, "]}"...)
}
