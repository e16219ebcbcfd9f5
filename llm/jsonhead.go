package llm

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"

	"github.com/junctionhq/junction/llm/internal/jsonscan"
	"github.com/junctionhq/junction/llm/provider/openai"
)

// The request head is read with a single pass over the top-level object
// (the tree's JSON scanner, llm/internal/jsonscan) that decodes only the
// routing fields and skips every other value without building it, so a
// large conversation costs one scan, not a full decode.

var errNotObject = errors.New("the request body must be a JSON object")

// maxHeadDepth bounds the nesting of the request body, so that a hostile
// body cannot exhaust the stack.
const maxHeadDepth = 512

// scanHead reads the routing fields of body into h. Skipped values are
// checked for structure, so truncated or malformed bodies are refused here;
// what only the upstream can judge (the messages themselves) is left to it.
func scanHead(body []byte, h *chatHead) error {
	start := jsonscan.SkipSpace(body, 0)
	if start >= len(body) || body[start] != '{' {
		return errNotObject
	}
	it, err := jsonscan.IterObject(body, start, jsonscan.MaxDepth-maxHeadDepth)
	if err != nil {
		return syntaxError(err)
	}
	for it.Next() {
		if string(it.Key) == "model" {
			h.modelAt, h.modelEnd = it.ValStart, it.ValEnd
			h.models++
		}
		if err := h.field(string(it.Key), it.Value()); err != nil {
			return err
		}
	}
	if it.Err != nil {
		return syntaxError(it.Err)
	}
	if i := jsonscan.SkipSpace(body, it.End); i != len(body) {
		return syntaxAt(i, "unexpected data after the JSON object")
	}
	return nil
}

// field decodes one routing field; others are ignored. The common shapes
// (a plain string, a literal, an integer) are read directly.
func (h *chatHead) field(key string, v []byte) error {
	var target any
	switch key {
	case "model":
		if plainString(v) {
			h.Model = string(v[1 : len(v)-1])
			return nil
		}
	case "stream":
		switch string(v) {
		case "true":
			h.Stream = true
			return nil
		case "false":
			h.Stream = false
			return nil
		}
	case "max_tokens", "max_completion_tokens":
		if n, err := strconv.ParseInt(string(v), 10, 64); err == nil {
			if key == "max_tokens" {
				h.MaxTokens = n
			} else {
				h.MaxCompletionTokens = n
			}
			return nil
		}
	}
	switch key {
	case "model":
		target = &h.Model
	case "stream":
		target = &h.Stream
	case "max_tokens":
		target = &h.MaxTokens
	case "max_completion_tokens":
		target = &h.MaxCompletionTokens
	case "stream_options":
		h.sawStreamOptions = true
		target = &h.StreamOptions
	case "fallbacks":
		target = &h.Fallbacks
	default:
		return nil
	}
	if string(v) == "null" {
		return nil
	}
	if err := json.Unmarshal(v, target); err != nil {
		return badRequest(key, fmt.Sprintf("%s: %s", key, typeProblem(err)))
	}
	return nil
}

// plainString reports an ASCII JSON string with no escapes.
func plainString(v []byte) bool {
	if len(v) < 2 || v[0] != '"' || v[len(v)-1] != '"' {
		return false
	}
	for _, c := range v[1 : len(v)-1] {
		if c == '\\' || c == '"' || c < 0x20 || c >= 0x80 {
			return false
		}
	}
	return true
}

// patchModel returns body with the model replaced, splicing at the offsets
// the head scan recorded; bodies with the model field twice, or none, go
// through the full JSON edit.
func (h *chatHead) patchModel(body []byte, model string) ([]byte, error) {
	if h.models != 1 || !safeModel(model) {
		return openai.PatchModel(body, model)
	}
	out := make([]byte, 0, len(body)+len(model))
	out = append(out, body[:h.modelAt]...)
	out = append(out, '"')
	out = append(out, model...)
	out = append(out, '"')
	return append(out, body[h.modelEnd:]...), nil
}

// safeModel reports a model name that needs no JSON escaping.
func safeModel(m string) bool {
	for i := 0; i < len(m); i++ {
		c := m[i]
		if c < 0x20 || c == '"' || c == '\\' || c >= 0x80 {
			return false
		}
	}
	return true
}

// ensureStreamUsage asks for the usage chunk: inserted at the front when the
// client sent no stream_options, left alone when it asked for usage, and
// edited in place otherwise.
func (h *chatHead) ensureStreamUsage(body []byte) ([]byte, error) {
	switch {
	case h.StreamOptions != nil && h.StreamOptions.IncludeUsage:
		return body, nil
	case h.StreamOptions == nil && !h.sawStreamOptions:
		i := jsonscan.SkipSpace(body, 0) + 1 // just after '{'
		const field = `"stream_options":{"include_usage":true},`
		rest := jsonscan.SkipSpace(body, i)
		out := make([]byte, 0, len(body)+len(field))
		out = append(out, body[:i]...)
		if rest < len(body) && body[rest] == '}' {
			out = append(out, field[:len(field)-1]...)
		} else {
			out = append(out, field...)
		}
		return append(out, body[i:]...), nil
	}
	return openai.EnsureStreamUsage(body)
}

func typeProblem(err error) string {
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		return fmt.Sprintf("must be %s, not %s", jsonKind(te.Type.Kind().String()), te.Value)
	}
	return err.Error()
}

func syntaxAt(off int, msg string) error {
	return &apiError{Status: http.StatusBadRequest, Type: "invalid_request_error", Code: "invalid_json",
		Message: fmt.Sprintf("request body is not valid JSON: %s at byte %d", msg, off)}
}

// syntaxError is the 400 of a body the scanner found malformed.
func syntaxError(err error) error {
	var se *jsonscan.SyntaxError
	if errors.As(err, &se) {
		return syntaxAt(se.Offset, se.Msg)
	}
	return syntaxAt(0, err.Error())
}
