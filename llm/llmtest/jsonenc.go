package llmtest

import (
	"strconv"

	"github.com/junctionhq/junction/llm/internal/jsonenc"
)

// The responses are written with these append helpers instead of encoding/json: the
// shapes are fixed, and appending into a reused buffer keeps the hot path at a few
// allocations per request.

// appendJSONString appends s as a JSON string literal.
func appendJSONString(dst []byte, s string) []byte { return jsonenc.AppendString(dst, s) }

// appendInt appends n in decimal.
func appendInt(dst []byte, n int) []byte {
	return strconv.AppendInt(dst, int64(n), 10)
}
