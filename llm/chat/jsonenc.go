package chat

import (
	"encoding/json"
	"slices"

	"github.com/junctionhq/junction/llm/internal/jsonenc"
)

// The wire encoders of the providers append JSON to a caller's buffer
// instead of going through encoding/json; they share this string escaper.

// AppendJSONString appends s as a JSON string literal (see
// jsonenc.AppendString: escaped as encoding/json does, but <, > and & left
// alone).
func AppendJSONString(dst []byte, s string) []byte { return jsonenc.AppendString(dst, s) }

// AppendJSONStringContent appends s escaped, without the quotes, so that
// several strings can form one JSON string.
func AppendJSONStringContent(dst []byte, s string) []byte { return jsonenc.AppendStringContent(dst, s) }

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
