package llmtest

import (
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"math"
	"net/http"
	"strconv"
)

// OpenAI POST /v1/embeddings.

type embeddingsRequest struct {
	Model          string          `json:"model"`
	Input          json.RawMessage `json:"input"` // string or array of strings
	Dimensions     *int            `json:"dimensions"`
	EncodingFormat string          `json:"encoding_format"`
}

// maxEmbeddingInputs is the API's limit on inputs per request.
const maxEmbeddingInputs = 2048

// serveEmbeddings answers POST /v1/embeddings with feature-hashed vectors; see
// EmbedText.
func (m *Mock) serveEmbeddings(x *exchange) {
	var req embeddingsRequest
	if err := json.Unmarshal(x.body, &req); err != nil {
		x.fail(decodeError(err))
		return
	}
	inputs, dims, apiErr := req.validate(m.cfg.embeddingDims)
	if !m.admitModel(x, apiErr, req.Model, openAIModelNotFound) {
		return
	}
	vec := make([]float32, dims)
	var raw []byte // little-endian float32s, for base64
	if req.EncodingFormat == "base64" {
		raw = make([]byte, 4*dims)
	}
	tokens := 0
	x.out = append(x.out[:0], `{"object":"list","data":[`...)
	for i, in := range inputs {
		tokens += countTokens(in)
		embedInto(vec, m.embeddingText(in))
		if i > 0 {
			x.out = append(x.out, ',')
		}
		x.out = append(x.out, `{"object":"embedding","index":`...)
		x.out = appendInt(x.out, i)
		x.out = append(x.out, `,"embedding":`...)
		if raw != nil {
			for j, f := range vec {
				binary.LittleEndian.PutUint32(raw[4*j:], math.Float32bits(f))
			}
			x.out = append(x.out, '"')
			x.out = base64.StdEncoding.AppendEncode(x.out, raw)
			x.out = append(x.out, '"')
		} else {
			x.out = append(x.out, '[')
			for j, f := range vec {
				if j > 0 {
					x.out = append(x.out, ',')
				}
				x.out = strconv.AppendFloat(x.out, float64(f), 'g', -1, 32)
			}
			x.out = append(x.out, ']')
		}
		x.out = append(x.out, '}')
	}
	x.out = append(x.out, `],"model":`...)
	x.out = appendJSONString(x.out, req.Model)
	x.out = append(x.out, `,"usage":{"prompt_tokens":`...)
	x.out = appendInt(x.out, tokens)
	x.out = append(x.out, `,"total_tokens":`...)
	x.out = appendInt(x.out, tokens)
	x.out = append(x.out, "}}"...)
	x.writeJSON(http.StatusOK, x.out)
}

// validate checks the request as the real API does and returns its inputs and the
// dimensions to answer with. Token-array inputs are valid for OpenAI but not
// supported by the mock, which rejects them with a 400.
func (req *embeddingsRequest) validate(nativeDims int) ([]string, int, *apiError) {
	if req.Model == "" {
		return nil, 0, newAPIError(http.StatusBadRequest, "you must provide a model parameter")
	}
	invalidInput := func() *apiError {
		return newAPIError(http.StatusBadRequest,
			"'$.input' is invalid. Please check the API reference: https://platform.openai.com/docs/api-reference.").
			withParam("input", "invalid_value")
	}
	tokenArrays := func() *apiError {
		return newAPIError(http.StatusBadRequest,
			"llmtest does not support token-array input; send a string or an array of strings.").
			withParam("input", "invalid_value")
	}
	var inputs []string
	switch {
	case len(req.Input) == 0 || string(req.Input) == "null":
		return nil, 0, newAPIError(http.StatusBadRequest, "Missing required parameter: 'input'.").
			withParam("input", "missing_required_parameter")
	case req.Input[0] == '"':
		var s string
		if err := json.Unmarshal(req.Input, &s); err != nil {
			return nil, 0, invalidInput()
		}
		inputs = []string{s}
	case req.Input[0] == '[':
		var items []json.RawMessage
		if err := json.Unmarshal(req.Input, &items); err != nil {
			return nil, 0, invalidInput()
		}
		if len(items) > maxEmbeddingInputs {
			return nil, 0, newAPIError(http.StatusBadRequest,
				"Invalid 'input': array too long. Expected an array with maximum length %d, but got %d instead.",
				maxEmbeddingInputs, len(items)).withParam("input", "array_above_max_length")
		}
		inputs = make([]string, len(items))
		for i, item := range items {
			if len(item) == 0 || item[0] != '"' {
				if len(item) > 0 && (item[0] == '[' || item[0] == '-' || (item[0] >= '0' && item[0] <= '9')) {
					return nil, 0, tokenArrays()
				}
				return nil, 0, invalidInput()
			}
			if err := json.Unmarshal(item, &inputs[i]); err != nil {
				return nil, 0, invalidInput()
			}
		}
	default:
		return nil, 0, invalidInput()
	}
	if len(inputs) == 0 {
		return nil, 0, invalidInput()
	}
	for _, in := range inputs {
		if in == "" {
			return nil, 0, invalidInput()
		}
	}
	dims := nativeDims
	if req.Dimensions != nil {
		dims = *req.Dimensions
		if dims < 1 {
			return nil, 0, newAPIError(http.StatusBadRequest,
				"Invalid 'dimensions': integer below minimum value. Expected a value >= 1, but got %d instead.", dims).
				withParam("dimensions", "integer_below_min_value")
		}
		if dims > nativeDims {
			return nil, 0, newAPIError(http.StatusBadRequest,
				"Invalid 'dimensions': integer above maximum value. Expected a value <= %d, but got %d instead.",
				nativeDims, dims).withParam("dimensions", "integer_above_max_value")
		}
	}
	switch req.EncodingFormat {
	case "", "float", "base64":
	default:
		return nil, 0, newAPIError(http.StatusBadRequest,
			"Invalid value: '%s'. Supported values are: 'float' and 'base64'.", req.EncodingFormat).
			withParam("encoding_format", "invalid_value")
	}
	return inputs, dims, nil
}
