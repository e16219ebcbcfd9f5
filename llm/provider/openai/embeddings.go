package openai

import (
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"strconv"

	"github.com/junctionhq/junction/llm/chat"
	"github.com/junctionhq/junction/llm/internal/jsonscan"
)

// Embedding encoding formats.
const (
	EncodingFloat  = "float"
	EncodingBase64 = "base64"
)

// DecodeEmbeddingRequest decodes an OpenAI embeddings request: input is a
// string or an array of non-empty strings (token arrays are not supported);
// fields Junction does not model are kept in Extra. The result does not
// alias body. Errors are *RequestError.
func DecodeEmbeddingRequest(body []byte) (*chat.EmbeddingRequest, error) {
	var arena rawArena
	req := &chat.EmbeddingRequest{}
	var sawInput bool
	err := walkRequest(body, func(key, v []byte) error {
		var err error
		switch string(key) {
		case "model":
			req.Model, err = nullableString(v)
		case "input":
			sawInput = !jsonscan.IsNull(v)
			req.Input, err = decodeEmbeddingInput(v)
		case "dimensions":
			if !jsonscan.IsNull(v) {
				n, ok := jsonscan.DecodeInt(v)
				switch {
				case !ok:
					err = requestError("", "must be an integer, got "+jsonscan.Kind(v))
				case n < 1 || n > math.MaxInt32:
					err = requestError("", "must be at least 1, got "+string(v))
				default:
					req.Dimensions = int(n)
				}
			}
		case "encoding_format":
			req.EncodingFormat, err = nullableString(v)
			if err == nil && req.EncodingFormat != "" && req.EncodingFormat != EncodingFloat && req.EncodingFormat != EncodingBase64 {
				err = requestError("", strconv.Quote(req.EncodingFormat)+` is not supported; expected "float" or "base64"`)
			}
		case "user":
			req.User, err = nullableString(v)
		default:
			arena.keep(&req.Extra, key, v)
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	if req.Model == "" {
		return nil, requestError("model", "missing required parameter")
	}
	if !sawInput {
		return nil, requestError("input", "missing required parameter")
	}
	return req, nil
}

const tokenArrayMessage = "token-array input is not supported; send a string or an array of strings"

func decodeEmbeddingInput(v []byte) ([]string, error) {
	switch {
	case jsonscan.IsNull(v):
		return nil, nil
	case v[0] == '"':
		s, _ := jsonscan.DecodeString(v)
		if s == "" {
			return nil, requestError("", "must not be empty")
		}
		return []string{s}, nil
	case v[0] != '[':
		return nil, requestError("", "must be a string or an array of strings, got "+jsonscan.Kind(v))
	}
	var inputs []string
	for i, ev := range jsonscan.Elements(v) {
		switch ev[0] {
		case '"':
		case '[', '-', '0', '1', '2', '3', '4', '5', '6', '7', '8', '9':
			return nil, requestError("", tokenArrayMessage)
		default:
			return nil, underIndex(requestError("", "must be a string, got "+jsonscan.Kind(ev)), i)
		}
		s, _ := jsonscan.DecodeString(ev)
		if s == "" {
			return nil, underIndex(requestError("", "must not be empty"), i)
		}
		inputs = append(inputs, s)
	}
	if len(inputs) == 0 {
		return nil, requestError("", "must not be empty")
	}
	return inputs, nil
}

// AppendEmbeddingResponse appends resp as an OpenAI embeddings list. model
// is the name to report (resp.Model when empty); encodingFormat "base64"
// writes each vector as the base64 of its little-endian float32s, anything
// else as an array of numbers.
func AppendEmbeddingResponse(dst []byte, resp *chat.EmbeddingResponse, model, encodingFormat string) []byte {
	if model == "" {
		model = resp.Model
	}
	dst = append(dst, `{"object":"list","data":[`...)
	for i, v := range resp.Vectors {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = append(dst, `{"object":"embedding","index":`...)
		dst = appendInt(dst, int64(i))
		dst = append(dst, `,"embedding":`...)
		if encodingFormat == EncodingBase64 {
			dst = appendBase64Vector(dst, v)
		} else {
			dst = appendFloatVector(dst, v)
		}
		dst = append(dst, '}')
	}
	dst = append(dst, `],"model":`...)
	dst = appendString(dst, model)
	dst = append(dst, `,"usage":{"prompt_tokens":`...)
	dst = appendInt(dst, resp.Usage.PromptTokens)
	dst = append(dst, `,"total_tokens":`...)
	dst = appendInt(dst, resp.Usage.TotalTokens())
	return append(dst, "}}"...)
}

// embeddingFields are the embedding request fields the encoder writes.
var embeddingFields = map[string]bool{
	"model": true, "input": true, "dimensions": true, "encoding_format": true, "user": true,
}

// appendEmbeddingRequest appends req as an OpenAI embeddings body for model.
// The encoding format is the client's (none when unset: floats).
func appendEmbeddingRequest(dst []byte, req *chat.EmbeddingRequest, model string) []byte {
	dst = append(dst, `{"model":`...)
	dst = appendString(dst, model)
	dst = append(dst, `,"input":`...)
	dst = chat.AppendJSONStrings(dst, req.Input)
	if req.Dimensions > 0 {
		dst = append(dst, `,"dimensions":`...)
		dst = appendInt(dst, int64(req.Dimensions))
	}
	dst = appendOptionalString(dst, `,"encoding_format":`, req.EncodingFormat)
	dst = appendOptionalString(dst, `,"user":`, req.User)
	dst = appendExtra(dst, req.Extra, embeddingFields)
	return append(dst, '}')
}

var errEmbeddingCount = errors.New("the number of embeddings does not match the inputs")

// decodeEmbeddingResponse decodes an embeddings list, with vectors as
// arrays of numbers or base64 strings, placed by their index. want is the
// number of inputs.
func decodeEmbeddingResponse(body []byte, want int) (*chat.EmbeddingResponse, error) {
	start := jsonscan.SkipSpace(body, 0)
	it, err := jsonscan.IterObject(body, start, 0)
	if err != nil {
		return nil, err
	}
	resp := &chat.EmbeddingResponse{Vectors: make([][]float32, want)}
	var scratch []byte
	hint := 0
	for it.Next() {
		v := it.Value()
		switch string(it.Key) {
		case "model":
			resp.Model, _ = jsonscan.DecodeString(v)
		case "usage":
			decodeUsage(v, &resp.Usage)
		case "data":
			if v[0] != '[' {
				return nil, errors.New("data is not an array")
			}
			for i, item := range jsonscan.Elements(v) {
				if item[0] != '{' {
					return nil, fmt.Errorf("data[%d] is not an object", i)
				}
				index := i // an item without an index is placed by its position
				var vec []float32
				for key, fv := range jsonscan.Members(item) {
					switch string(key) {
					case "index":
						n, ok := jsonscan.DecodeInt(fv)
						if !ok || n < 0 || n >= int64(want) {
							return nil, errEmbeddingCount
						}
						index = int(n)
					case "embedding":
						vec, scratch, err = decodeVector(fv, scratch, hint)
						if err != nil {
							return nil, err
						}
					}
				}
				if index >= want || resp.Vectors[index] != nil {
					return nil, errEmbeddingCount
				}
				resp.Vectors[index] = vec
				hint = len(vec)
			}
		}
	}
	if it.Err != nil {
		return nil, it.Err
	}
	for _, v := range resp.Vectors {
		if v == nil {
			return nil, errEmbeddingCount
		}
	}
	return resp, nil
}

// decodeVector decodes an embedding: an array of numbers or a base64
// string of little-endian float32s. scratch is reused for base64.
func decodeVector(v, scratch []byte, hint int) ([]float32, []byte, error) {
	switch v[0] {
	case '[':
		vec := make([]float32, 0, hint)
		for i, ev := range jsonscan.Elements(v) {
			f, err := strconv.ParseFloat(string(ev), 32)
			if err != nil {
				return nil, scratch, fmt.Errorf("embedding element %d is not a number", i)
			}
			vec = append(vec, float32(f))
		}
		return vec, scratch, nil
	case '"':
		inner := v[1 : len(v)-1]
		if jsonscan.HasBackslash(inner) { // "\/" from some encoders
			s, _ := jsonscan.DecodeString(v)
			inner = []byte(s)
		}
		var err error
		scratch, err = base64.StdEncoding.AppendDecode(scratch[:0], inner)
		if err != nil || len(scratch)%4 != 0 {
			return nil, scratch, errors.New("embedding is not the base64 of float32 values")
		}
		vec := make([]float32, len(scratch)/4)
		for i := range vec {
			vec[i] = math.Float32frombits(binary.LittleEndian.Uint32(scratch[4*i:]))
		}
		return vec, scratch, nil
	}
	return nil, scratch, errors.New("embedding is neither an array nor a base64 string")
}
