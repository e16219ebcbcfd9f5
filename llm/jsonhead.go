package llm

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"

	"github.com/junctionhq/junction/llm/provider/openai"
)

// The request head is read with a single pass over the top-level object
// that decodes only the routing fields and skips every other value without
// building it, so a large conversation costs one scan, not a full decode.

var errNotObject = errors.New("the request body must be a JSON object")

// scanHead reads the routing fields of body into h. Skipped values are
// checked for structure (brackets, strings, literals), so truncated or
// malformed bodies are refused here; what only the upstream can judge
// (the messages themselves) is left to it.
func scanHead(body []byte, h *chatHead) error {
	i := skipWS(body, 0)
	if i >= len(body) || body[i] != '{' {
		return errNotObject
	}
	i = skipWS(body, i+1)
	if i < len(body) && body[i] == '}' {
		return trailing(body, i+1)
	}
	for {
		if i >= len(body) || body[i] != '"' {
			return syntaxAt(i, "expected a field name")
		}
		keyEnd, err := skipString(body, i)
		if err != nil {
			return err
		}
		key := body[i+1 : keyEnd-1]
		i = skipWS(body, keyEnd)
		if i >= len(body) || body[i] != ':' {
			return syntaxAt(i, "expected ':' after a field name")
		}
		i = skipWS(body, i+1)
		end, err := skipValue(body, i, 0)
		if err != nil {
			return err
		}
		if string(key) == "model" {
			h.modelAt, h.modelEnd = i, end
			h.models++
		}
		if err := h.field(string(key), body[i:end]); err != nil {
			return err
		}
		i = skipWS(body, end)
		if i >= len(body) {
			return syntaxAt(i, "unexpected end of JSON input")
		}
		switch body[i] {
		case ',':
			i = skipWS(body, i+1)
		case '}':
			return trailing(body, i+1)
		default:
			return syntaxAt(i, "expected ',' or '}'")
		}
	}
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
		i := skipWS(body, 0) + 1 // just after '{'
		const field = `"stream_options":{"include_usage":true},`
		rest := skipWS(body, i)
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

func trailing(body []byte, i int) error {
	if i = skipWS(body, i); i != len(body) {
		return syntaxAt(i, "unexpected data after the JSON object")
	}
	return nil
}

func syntaxAt(off int, msg string) error {
	return &apiError{Status: http.StatusBadRequest, Type: "invalid_request_error", Code: "invalid_json",
		Message: fmt.Sprintf("request body is not valid JSON: %s at byte %d", msg, off)}
}

func skipWS(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r') {
		i++
	}
	return i
}

// skipString returns the index after the string starting at b[i] == '"'.
func skipString(b []byte, i int) (int, error) {
	for j := i + 1; j < len(b); j++ {
		switch c := b[j]; {
		case c == '"':
			return j + 1, nil
		case c == '\\':
			j++
		case c < 0x20:
			return 0, syntaxAt(j, "control character in a string")
		}
	}
	return 0, syntaxAt(len(b), "unterminated string")
}

// maxDepth bounds nesting, so a hostile body cannot exhaust the stack.
const maxDepth = 512

// skipValue returns the index after the value starting at b[i].
func skipValue(b []byte, i, depth int) (int, error) {
	if depth > maxDepth {
		return 0, syntaxAt(i, "nested too deeply")
	}
	if i >= len(b) {
		return 0, syntaxAt(i, "unexpected end of JSON input")
	}
	switch c := b[i]; {
	case c == '"':
		return skipString(b, i)
	case c == '{' || c == '[':
		closer := byte('}')
		if c == '[' {
			closer = ']'
		}
		j := skipWS(b, i+1)
		if j < len(b) && b[j] == closer {
			return j + 1, nil
		}
		for {
			if c == '{' {
				if j >= len(b) || b[j] != '"' {
					return 0, syntaxAt(j, "expected a field name")
				}
				end, err := skipString(b, j)
				if err != nil {
					return 0, err
				}
				j = skipWS(b, end)
				if j >= len(b) || b[j] != ':' {
					return 0, syntaxAt(j, "expected ':'")
				}
				j = skipWS(b, j+1)
			}
			end, err := skipValue(b, j, depth+1)
			if err != nil {
				return 0, err
			}
			j = skipWS(b, end)
			if j >= len(b) {
				return 0, syntaxAt(j, "unexpected end of JSON input")
			}
			if b[j] == closer {
				return j + 1, nil
			}
			if b[j] != ',' {
				return 0, syntaxAt(j, "expected ',' or a closing bracket")
			}
			j = skipWS(b, j+1)
		}
	case c == 't':
		return literal(b, i, "true")
	case c == 'f':
		return literal(b, i, "false")
	case c == 'n':
		return literal(b, i, "null")
	case c == '-' || (c >= '0' && c <= '9'):
		j := i + 1
		for j < len(b) && (b[j] >= '0' && b[j] <= '9' || b[j] == '.' || b[j] == 'e' || b[j] == 'E' || b[j] == '+' || b[j] == '-') {
			j++
		}
		return j, nil
	}
	return 0, syntaxAt(i, fmt.Sprintf("unexpected character %q", b[i]))
}

func literal(b []byte, i int, lit string) (int, error) {
	if len(b)-i < len(lit) || string(b[i:i+len(lit)]) != lit {
		return 0, syntaxAt(i, "invalid literal")
	}
	return i + len(lit), nil
}
