package anthropic

import (
	"encoding/json"
	"math"
	"strconv"
	"unicode/utf8"
)

// The encoders write JSON with these append helpers instead of encoding/json:
// the shapes are fixed, and appending into a reused buffer keeps the hot path
// free of reflection and allocations.

const hexDigits = "0123456789abcdef"

// appendString appends s as a JSON string literal: quotes, backslashes and
// control characters are escaped (\n, \r, \t or \u00XX), invalid UTF-8 becomes
// U+FFFD and U+2028/U+2029 are escaped, as encoding/json does. HTML
// characters are left as they are.
func appendString(dst []byte, s string) []byte {
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' {
				i++
				continue
			}
			dst = append(dst, s[start:i]...)
			switch c {
			case '"', '\\':
				dst = append(dst, '\\', c)
			case '\n':
				dst = append(dst, '\\', 'n')
			case '\r':
				dst = append(dst, '\\', 'r')
			case '\t':
				dst = append(dst, '\\', 't')
			default:
				dst = append(dst, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			dst = append(dst, s[start:i]...)
			dst = append(dst, `\ufffd`...)
		case r == '\u2028' || r == '\u2029':
			dst = append(dst, s[start:i]...)
			dst = append(dst, '\\', 'u', '2', '0', '2', hexDigits[r&0xf])
		default:
			i += size
			continue
		}
		i += size
		start = i
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}

// appendInt appends n in decimal.
func appendInt(dst []byte, n int64) []byte { return strconv.AppendInt(dst, n, 10) }

// appendFloat appends f as a JSON number; f must be finite.
func appendFloat(dst []byte, f float64) []byte { return strconv.AppendFloat(dst, f, 'g', -1, 64) }

// finite reports whether f can be written as a JSON number.
func finite(f float64) bool { return !math.IsNaN(f) && !math.IsInf(f, 0) }

// present reports whether raw holds a JSON value other than null.
func present(raw json.RawMessage) bool { return len(raw) > 0 && string(raw) != "null" }
