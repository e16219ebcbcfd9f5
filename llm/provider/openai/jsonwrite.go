package openai

import (
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"math"
	"strconv"

	"github.com/junctionhq/junction/llm/chat"
	"github.com/junctionhq/junction/llm/internal/jsonscan"
)

// The encoders append JSON to a caller's buffer instead of going through
// encoding/json: the shapes are fixed, and appending into a reused buffer
// keeps the hot path at a handful of allocations per request.

// appendString appends s as a JSON string literal (chat.AppendJSONString).
func appendString(dst []byte, s string) []byte { return chat.AppendJSONString(dst, s) }

// appendStringContent appends s escaped, without the quotes.
func appendStringContent(dst []byte, s string) []byte { return chat.AppendJSONStringContent(dst, s) }

// appendNullableString appends s as a JSON string, or null when s is empty.
func appendNullableString(dst []byte, s string) []byte {
	if s == "" {
		return append(dst, "null"...)
	}
	return appendString(dst, s)
}

// appendOptionalString appends field (`,"name":`) and s as a JSON string,
// or nothing when s is empty: an omitempty string member.
func appendOptionalString(dst []byte, field, s string) []byte {
	if s == "" {
		return dst
	}
	return appendString(append(dst, field...), s)
}

// appendInt appends n in decimal.
func appendInt(dst []byte, n int64) []byte { return strconv.AppendInt(dst, n, 10) }

// appendBool appends true or false.
func appendBool(dst []byte, b bool) []byte { return strconv.AppendBool(dst, b) }

// appendFloat appends f as a JSON number; NaN and infinities, which JSON
// cannot express, are written as 0.
func appendFloat(dst []byte, f float64, bits int) []byte {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return append(dst, '0')
	}
	return strconv.AppendFloat(dst, f, 'g', -1, bits)
}

// appendRaw appends raw JSON byte for byte. Empty or invalid raw JSON (which
// the decoders here never produce) is written as null, so that one bad value
// cannot make the whole body invalid.
func appendRaw(dst []byte, raw json.RawMessage) []byte {
	if len(raw) == 0 {
		return append(dst, "null"...)
	}
	if end, err := jsonscan.ValueEnd(raw, jsonscan.SkipSpace(raw, 0), 0); err != nil || jsonscan.SkipSpace(raw, end) != len(raw) {
		return append(dst, "null"...)
	}
	return append(dst, raw...)
}

// appendOptionalRaw appends field (`,"name":`) and raw (see appendRaw), or
// nothing when raw is empty: an omitempty raw member.
func appendOptionalRaw(dst []byte, field string, raw json.RawMessage) []byte {
	if len(raw) == 0 {
		return dst
	}
	return appendRaw(append(dst, field...), raw)
}

// appendFloatVector appends v as a JSON array of float32 numbers.
func appendFloatVector(dst []byte, v []float32) []byte {
	dst = append(dst, '[')
	for i, f := range v {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = appendFloat(dst, float64(f), 32)
	}
	return append(dst, ']')
}

// appendBase64Vector appends v as a JSON string holding the base64 of its
// little-endian float32s, as OpenAI's encoding_format "base64" does. It
// encodes through a small stack buffer whose size is a multiple of 3 bytes, so
// the pieces concatenate into one base64 text without padding in between.
func appendBase64Vector(dst []byte, v []float32) []byte {
	dst = append(dst, '"')
	var buf [4 * 12]byte // 12 floats, 48 bytes: a multiple of 3
	for len(v) > 0 {
		n := min(len(v), 12)
		for j, f := range v[:n] {
			binary.LittleEndian.PutUint32(buf[4*j:], math.Float32bits(f))
		}
		dst = base64.StdEncoding.AppendEncode(dst, buf[:4*n])
		v = v[n:]
	}
	return append(dst, '"')
}
