package anthropic

import (
	"encoding/json"
	"math"
	"strconv"

	"github.com/junctionhq/junction/llm/chat"
)

// The encoders write JSON with these append helpers instead of encoding/json:
// the shapes are fixed, and appending into a reused buffer keeps the hot path
// free of reflection and allocations.

// appendString appends s as a JSON string literal (chat.AppendJSONString:
// escapes as encoding/json does, HTML characters left alone).
func appendString(dst []byte, s string) []byte { return chat.AppendJSONString(dst, s) }

// appendInt appends n in decimal.
func appendInt(dst []byte, n int64) []byte { return strconv.AppendInt(dst, n, 10) }

// appendFloat appends f as a JSON number; f must be finite.
func appendFloat(dst []byte, f float64) []byte { return strconv.AppendFloat(dst, f, 'g', -1, 64) }

// finite reports whether f can be written as a JSON number.
func finite(f float64) bool { return !math.IsNaN(f) && !math.IsInf(f, 0) }

// present reports whether raw holds a JSON value other than null.
func present(raw json.RawMessage) bool { return len(raw) > 0 && string(raw) != "null" }
