package chat

import (
	"encoding/json"
	"slices"
	"unicode/utf8"
)

// The wire encoders of the providers append JSON to a caller's buffer
// instead of going through encoding/json; they share this string escaper.

const hexDigits = "0123456789abcdef"

// jsonSafe reports the ASCII bytes that appear unescaped in a JSON string.
var jsonSafe = func() (t [utf8.RuneSelf]bool) {
	for c := 0x20; c < utf8.RuneSelf; c++ {
		t[c] = c != '"' && c != '\\'
	}
	return t
}()

// AppendJSONString appends s as a JSON string literal: quotes, backslashes and
// control characters are escaped, invalid UTF-8 becomes U+FFFD, and U+2028
// and U+2029 are escaped (valid JSON, but they break JavaScript consumers),
// as encoding/json does. Unlike encoding/json it leaves <, > and & alone.
func AppendJSONString(dst []byte, s string) []byte {
	dst = append(dst, '"')
	dst = AppendJSONStringContent(dst, s)
	return append(dst, '"')
}

// AppendJSONStringContent appends s escaped, without the quotes, so that several
// strings can form one JSON string.
func AppendJSONStringContent(dst []byte, s string) []byte {
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if jsonSafe[c] {
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
			case '\b':
				dst = append(dst, '\\', 'b')
			case '\f':
				dst = append(dst, '\\', 'f')
			default:
				dst = append(dst, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			dst = append(dst, s[start:i]...)
			dst = append(dst, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			dst = append(dst, s[start:i]...)
			dst = append(dst, '\\', 'u', '2', '0', '2', hexDigits[r&0xf])
			i += size
			start = i
			continue
		}
		i += size
	}
	return append(dst, s[start:]...)
}

// AppendJSONStrings appends ss as a JSON array of strings.
func AppendJSONStrings(dst []byte, ss []string) []byte {
	return AppendJSONArray(dst, ss, func(dst []byte, s *string) []byte { return AppendJSONString(dst, *s) })
}

// AppendJSONArray appends items as a JSON array, each written by appendItem.
func AppendJSONArray[T any](dst []byte, items []T, appendItem func([]byte, *T) []byte) []byte {
	dst = append(dst, '[')
	for i := range items {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = appendItem(dst, &items[i])
	}
	return append(dst, ']')
}

// AppendJSONMembers appends the members of m that keep accepts, each
// preceded by a comma, in key order so that the output is deterministic;
// appendValue writes each value.
func AppendJSONMembers(dst []byte, m map[string]json.RawMessage, keep func(key string, v json.RawMessage) bool,
	appendValue func([]byte, json.RawMessage) []byte) []byte {
	if len(m) == 0 {
		return dst
	}
	var stack [16]string
	keys := stack[:0]
	for k, v := range m {
		if keep(k, v) {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	for _, k := range keys {
		dst = append(dst, ',')
		dst = AppendJSONString(dst, k)
		dst = append(dst, ':')
		dst = appendValue(dst, m[k])
	}
	return dst
}
