// Package jsonscan is the tree's JSON scanner: a small validating scanner
// over a body's bytes. The decoders walk objects and arrays with it and
// decode only the members they model, so that unknown members can be kept
// as raw bytes, errors can name the member at fault ("messages[2].content"),
// byte-level edits (a model name replaced in place) know exactly where a
// value starts and ends, and a request's routing fields are read without
// decoding its conversation. It accepts what encoding/json's Valid accepts,
// nesting limit included.
package jsonscan

import (
	"bytes"
	"fmt"
	"iter"
	"math"
	"strconv"
	"unicode/utf16"
	"unicode/utf8"
)

// MaxDepth bounds the nesting of arrays and objects, as encoding/json does.
// A caller that wants a lower bound, n, starts its walk at depth MaxDepth-n.
const MaxDepth = 10000

// SyntaxError is malformed JSON at a byte offset.
type SyntaxError struct {
	Offset int
	Msg    string
}

func (e *SyntaxError) Error() string {
	return fmt.Sprintf("invalid JSON at offset %d: %s", e.Offset, e.Msg)
}

// ErrorAt is a *SyntaxError at off.
func ErrorAt(off int, format string, args ...any) error {
	return &SyntaxError{Offset: off, Msg: fmt.Sprintf(format, args...)}
}

// Trailing checks that only space follows the value that ends at end.
func Trailing(data []byte, end int) error {
	if i := SkipSpace(data, end); i != len(data) {
		return ErrorAt(i, "unexpected %s after the object", Describe(data, i))
	}
	return nil
}

// Describe names the byte at data[i] for an error message.
func Describe(data []byte, i int) string {
	if i >= len(data) {
		return "end of input"
	}
	return fmt.Sprintf("character %q", data[i])
}

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

// SkipSpace returns the offset of the first non-space byte at or after i.
func SkipSpace(data []byte, i int) int {
	for i < len(data) && isSpace(data[i]) {
		i++
	}
	return i
}

// ValueEnd validates the JSON value starting at data[i] (no leading space)
// and returns the offset just after it. depth is the number of enclosing
// arrays and objects.
func ValueEnd(data []byte, i, depth int) (int, error) {
	if i >= len(data) {
		return i, ErrorAt(i, "unexpected end of input, looking for a value")
	}
	switch c := data[i]; {
	case c == '"':
		end, _, err := stringEnd(data, i)
		return end, err
	case c == '{':
		return objectEnd(data, i, depth)
	case c == '[':
		return arrayEnd(data, i, depth)
	case c == 't':
		return literalEnd(data, i, "true")
	case c == 'f':
		return literalEnd(data, i, "false")
	case c == 'n':
		return literalEnd(data, i, "null")
	case c == '-' || (c >= '0' && c <= '9'):
		return numberEnd(data, i)
	default:
		return i, ErrorAt(i, "unexpected %s, looking for a value", Describe(data, i))
	}
}

// DocumentEnd validates that data is exactly one JSON value with optional
// surrounding space and returns the value's span.
func DocumentEnd(data []byte) (start, end int, err error) {
	start = SkipSpace(data, 0)
	end, err = ValueEnd(data, start, 0)
	if err != nil {
		return 0, 0, err
	}
	if i := SkipSpace(data, end); i != len(data) {
		return 0, 0, ErrorAt(i, "unexpected %s after the value", Describe(data, i))
	}
	return start, end, nil
}

func literalEnd(data []byte, i int, lit string) (int, error) {
	if len(data)-i < len(lit) || string(data[i:i+len(lit)]) != lit {
		return i, ErrorAt(i, "invalid literal, expected %s", lit)
	}
	return i + len(lit), nil
}

// numberEnd scans a number: -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?
func numberEnd(data []byte, i int) (int, error) {
	start := i
	if data[i] == '-' {
		i++
	}
	switch {
	case i < len(data) && data[i] == '0':
		i++
	case i < len(data) && data[i] >= '1' && data[i] <= '9':
		for i < len(data) && data[i] >= '0' && data[i] <= '9' {
			i++
		}
	default:
		return i, ErrorAt(i, "invalid number starting at offset %d", start)
	}
	if i < len(data) && data[i] == '.' {
		i++
		if i >= len(data) || data[i] < '0' || data[i] > '9' {
			return i, ErrorAt(i, "invalid number starting at offset %d: no digit after the point", start)
		}
		for i < len(data) && data[i] >= '0' && data[i] <= '9' {
			i++
		}
	}
	if i < len(data) && (data[i] == 'e' || data[i] == 'E') {
		i++
		if i < len(data) && (data[i] == '+' || data[i] == '-') {
			i++
		}
		if i >= len(data) || data[i] < '0' || data[i] > '9' {
			return i, ErrorAt(i, "invalid number starting at offset %d: no digit in the exponent", start)
		}
		for i < len(data) && data[i] >= '0' && data[i] <= '9' {
			i++
		}
	}
	return i, nil
}

// stringEnd scans the string literal starting at data[i] == '"' and returns
// the offset after its closing quote and whether it holds escapes.
func stringEnd(data []byte, i int) (end int, escaped bool, err error) {
	j := i + 1
	for j < len(data) {
		for j < len(data) && plainStringByte[data[j]] {
			j++
		}
		if j >= len(data) {
			break
		}
		c := data[j]
		switch {
		case c == '"':
			return j + 1, escaped, nil
		case c == '\\':
			escaped = true
			if j+1 >= len(data) {
				return j, escaped, ErrorAt(j, "unterminated escape")
			}
			switch data[j+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				j += 2
			case 'u':
				if len(data)-j < 6 {
					return j, escaped, ErrorAt(j, "short \\u escape")
				}
				for _, h := range data[j+2 : j+6] {
					if hexValue(h) < 0 {
						return j, escaped, ErrorAt(j, "invalid \\u escape")
					}
				}
				j += 6
			default:
				return j, escaped, ErrorAt(j, "invalid escape \\%c", data[j+1])
			}
		case c < 0x20:
			return j, escaped, ErrorAt(j, "control character %q in string", c)
		default:
			j++
		}
	}
	return j, escaped, ErrorAt(j, "unterminated string starting at offset %d", i)
}

// plainStringByte reports the bytes a string scan passes over without a
// second look: all but the quote, the backslash and control characters.
var plainStringByte = func() (t [256]bool) {
	for c := 0x20; c < 256; c++ {
		t[c] = c != '"' && c != '\\'
	}
	return t
}()

// validUTF8 is utf8.Valid with a cheaper path for short ASCII text (keys).
func validUTF8(b []byte) bool {
	for _, c := range b {
		if c >= utf8.RuneSelf {
			return utf8.Valid(b)
		}
	}
	return true
}

func hexValue(c byte) rune {
	switch {
	case c >= '0' && c <= '9':
		return rune(c - '0')
	case c >= 'a' && c <= 'f':
		return rune(c - 'a' + 10)
	case c >= 'A' && c <= 'F':
		return rune(c - 'A' + 10)
	}
	return -1
}

func objectEnd(data []byte, i, depth int) (int, error) {
	it, err := IterObject(data, i, depth)
	if err != nil {
		return i, err
	}
	for it.Next() {
	}
	return it.End, it.Err
}

func arrayEnd(data []byte, i, depth int) (int, error) {
	it, err := IterArray(data, i, depth)
	if err != nil {
		return i, err
	}
	for it.Next() {
	}
	return it.End, it.Err
}

// Walk is the position of an ObjectIter or an ArrayIter: the count of
// members or elements seen, why the walk stopped early, and the span of the
// current value.
type Walk struct {
	data    []byte
	pos     int  // next byte to look at
	depth   int  // nesting of the object or array itself
	trusted bool // the value has been validated: skip values without checking
	done    bool

	N                int   // members or elements seen; the current one is N-1
	Err              error // why the walk stopped early
	End              int   // offset after the closing brace or bracket, once done
	ValStart, ValEnd int   // the current value's span
}

// startWalk starts walking the object or array at data[start] == open; kind
// names it for the error ("object").
func startWalk(data []byte, start, depth int, open byte, kind string) (Walk, error) {
	if start >= len(data) || data[start] != open {
		return Walk{}, ErrorAt(start, "unexpected %s, expected an %s", Describe(data, start), kind)
	}
	if depth+1 > MaxDepth {
		return Walk{}, ErrorAt(start, "nested too deeply")
	}
	return Walk{data: data, pos: start + 1, depth: depth + 1}, nil
}

// advance moves past the comma before the next member or element and returns
// where it starts; false at the closing byte (End set) or on an error. item
// names what a comma follows ("an object member") for the error.
func (w *Walk) advance(closing byte, item string) (int, bool) {
	if w.done || w.Err != nil {
		return 0, false
	}
	d := w.data
	i := SkipSpace(d, w.pos)
	if i < len(d) && d[i] == closing {
		w.done, w.End = true, i+1
		return 0, false
	}
	if w.N > 0 {
		if i >= len(d) || d[i] != ',' {
			w.Err = ErrorAt(i, "unexpected %s after %s, expected ',' or '%c'", Describe(d, i), item, closing)
			return 0, false
		}
		i = SkipSpace(d, i+1)
	}
	return i, true
}

// value takes the value at d[i] as the current one.
func (w *Walk) value(i int) bool {
	end := 0
	if w.trusted {
		end = SkipValue(w.data, i)
	} else {
		var err error
		if end, err = ValueEnd(w.data, i, w.depth); err != nil {
			w.Err = err
			return false
		}
	}
	w.ValStart, w.ValEnd = i, end
	w.pos = end
	w.N++
	return true
}

// Value returns the current member's or element's raw value.
func (w *Walk) Value() []byte { return w.data[w.ValStart:w.ValEnd] }

// ObjectIter walks the members of a JSON object, validating as it goes:
//
//	it, err := IterObject(data, start, 0)
//	for it.Next() { use it.Key, it.Value() }
//	if it.Err != nil { ... }
type ObjectIter struct {
	Walk
	scratch []byte // for escaped keys

	// The current member's key.
	Key      []byte // unescaped; valid until the next call to Next
	KeyStart int    // offset of the key's opening quote
}

// IterObject starts walking the object at data[start] == '{'. depth is the
// number of arrays and objects enclosing it.
func IterObject(data []byte, start, depth int) (ObjectIter, error) {
	w, err := startWalk(data, start, depth, '{', "object")
	return ObjectIter{Walk: w}, err
}

// Next advances to the next member; false at the end or on an error.
func (it *ObjectIter) Next() bool {
	i, ok := it.advance('}', "an object member")
	if !ok {
		return false
	}
	d := it.data
	if i >= len(d) || d[i] != '"' {
		it.Err = ErrorAt(i, "unexpected %s, expected an object key", Describe(d, i))
		return false
	}
	keyEnd, escaped, err := stringEnd(d, i)
	if err != nil {
		it.Err = err
		return false
	}
	it.KeyStart = i
	if key := d[i+1 : keyEnd-1]; !escaped && validUTF8(key) {
		it.Key = key
	} else { // resolve escapes; invalid UTF-8 becomes U+FFFD, as in string values
		it.scratch = unquoteBytes(it.scratch[:0], d[i:keyEnd])
		it.Key = it.scratch
	}
	i = SkipSpace(d, keyEnd)
	if i >= len(d) || d[i] != ':' {
		it.Err = ErrorAt(i, "unexpected %s after an object key, expected ':'", Describe(d, i))
		return false
	}
	return it.value(SkipSpace(d, i+1))
}

// ArrayIter walks the elements of a JSON array, validating as it goes.
type ArrayIter struct {
	Walk
}

// IterArray starts walking the array at data[start] == '['.
func IterArray(data []byte, start, depth int) (ArrayIter, error) {
	w, err := startWalk(data, start, depth, '[', "array")
	return ArrayIter{w}, err
}

// Next advances to the next element; false at the end or on an error.
func (it *ArrayIter) Next() bool {
	i, ok := it.advance(']', "an array element")
	return ok && it.value(i)
}

// WalkObject walks the members of obj, a value the iterators have already
// validated (it starts with '{'), without validating it again.
func WalkObject(obj []byte) ObjectIter {
	return ObjectIter{Walk: Walk{data: obj, pos: 1, trusted: true}}
}

// WalkArray walks the elements of arr, an already validated array.
func WalkArray(arr []byte) ArrayIter {
	return ArrayIter{Walk{data: arr, pos: 1, trusted: true}}
}

// Members yields the key and value of each member of obj, a value the
// iterators have already validated (it starts with '{'); the key is valid
// until the next member:
//
//	for key, v := range jsonscan.Members(obj) {
//		switch string(key) { ... }
//	}
func Members(obj []byte) iter.Seq2[[]byte, []byte] {
	return func(yield func(key, v []byte) bool) {
		it := WalkObject(obj)
		for it.Next() && yield(it.Key, it.Value()) {
		}
	}
}

// Elements yields the index and value of each element of arr, an already
// validated array.
func Elements(arr []byte) iter.Seq2[int, []byte] {
	return func(yield func(i int, v []byte) bool) {
		it := WalkArray(arr)
		for it.Next() && yield(it.N-1, it.Value()) {
		}
	}
}

// Member returns the value of the last member named key of obj, a value the
// iterators have already validated; nil when obj is not an object or has no
// such member.
func Member(obj []byte, key string) []byte {
	if len(obj) == 0 || obj[0] != '{' {
		return nil
	}
	var v []byte
	for k, mv := range Members(obj) {
		if string(k) == key {
			v = mv
		}
	}
	return v
}

// SkipValue returns the offset after the valid JSON value at data[i].
func SkipValue(data []byte, i int) int {
	switch data[i] {
	case '"':
		return skipString(data, i)
	case '{', '[':
		depth := 0
		for i < len(data) {
			switch data[i] {
			case '"':
				i = skipString(data, i)
				continue
			case '{', '[':
				depth++
			case '}', ']':
				depth--
				if depth == 0 {
					return i + 1
				}
			}
			i++
		}
		return i
	default: // a number or a literal
		for i < len(data) {
			switch data[i] {
			case ',', '}', ']', ' ', '\t', '\n', '\r':
				return i
			}
			i++
		}
		return i
	}
}

// skipString returns the offset after the valid string literal at data[i].
func skipString(data []byte, i int) int {
	j := i + 1
	for {
		k := bytes.IndexByte(data[j:], '"')
		if k < 0 {
			return len(data)
		}
		q := j + k
		n := 0 // backslashes before the quote
		for q-n-1 > i && data[q-n-1] == '\\' {
			n++
		}
		if n%2 == 0 {
			return q + 1
		}
		j = q + 1
	}
}

// The decoders below take one value scanned by the iterators (valid JSON,
// no surrounding space).

// IsNull reports the literal null.
func IsNull(v []byte) bool { return string(v) == "null" }

// DecodeString returns the string value of v; ok is false when v is not a
// string.
func DecodeString(v []byte) (s string, ok bool) {
	if len(v) < 2 || v[0] != '"' {
		return "", false
	}
	inner := v[1 : len(v)-1]
	if !HasBackslash(inner) && utf8.Valid(inner) {
		return string(inner), true
	}
	return string(unquoteBytes(make([]byte, 0, len(inner)), v)), true
}

// StringBytes returns the content of the string value v without copying
// when it has no escapes (the result then aliases v); ok is false when v is
// not a string. For values that are only compared.
func StringBytes(v []byte) (b []byte, ok bool) {
	if len(v) < 2 || v[0] != '"' {
		return nil, false
	}
	inner := v[1 : len(v)-1]
	if !HasBackslash(inner) {
		return inner, true
	}
	return unquoteBytes(nil, v), true
}

// HasBackslash reports a backslash in b: an escape, in a string's content.
func HasBackslash(b []byte) bool { return bytes.IndexByte(b, '\\') >= 0 }

// unquoteBytes appends the content of the valid string literal lit to dst,
// resolving escapes. Lone surrogates and invalid UTF-8 become U+FFFD, as in
// encoding/json.
func unquoteBytes(dst, lit []byte) []byte {
	s := lit[1 : len(lit)-1]
	for i := 0; i < len(s); {
		c := s[i]
		switch {
		case c == '\\':
			switch s[i+1] {
			case 'b':
				dst = append(dst, '\b')
			case 'f':
				dst = append(dst, '\f')
			case 'n':
				dst = append(dst, '\n')
			case 'r':
				dst = append(dst, '\r')
			case 't':
				dst = append(dst, '\t')
			case 'u':
				r := hex4(s[i+2:])
				i += 6
				if utf16.IsSurrogate(r) {
					if i+6 <= len(s) && s[i] == '\\' && s[i+1] == 'u' {
						if r2 := utf16.DecodeRune(r, hex4(s[i+2:])); r2 != utf8.RuneError {
							dst = utf8.AppendRune(dst, r2)
							i += 6
							continue
						}
					}
					r = utf8.RuneError
				}
				dst = utf8.AppendRune(dst, r)
				continue
			default: // " \ /
				dst = append(dst, s[i+1])
			}
			i += 2
		case c < utf8.RuneSelf:
			dst = append(dst, c)
			i++
		default:
			r, size := utf8.DecodeRune(s[i:])
			if r == utf8.RuneError && size == 1 {
				dst = utf8.AppendRune(dst, utf8.RuneError)
			} else {
				dst = append(dst, s[i:i+size]...)
			}
			i += size
		}
	}
	return dst
}

func hex4(b []byte) rune {
	return hexValue(b[0])<<12 | hexValue(b[1])<<8 | hexValue(b[2])<<4 | hexValue(b[3])
}

// DecodeBool returns the boolean value of v.
func DecodeBool(v []byte) (b, ok bool) {
	switch string(v) {
	case "true":
		return true, true
	case "false":
		return false, true
	}
	return false, false
}

// DecodeInt returns v as an integer; a number with a fraction or exponent is
// accepted when its value is integral (1e3, 100.0).
func DecodeInt(v []byte) (int64, bool) {
	if len(v) == 0 || (v[0] != '-' && (v[0] < '0' || v[0] > '9')) {
		return 0, false
	}
	if n, err := strconv.ParseInt(string(v), 10, 64); err == nil {
		return n, true
	}
	f, err := strconv.ParseFloat(string(v), 64)
	if err != nil || f != math.Trunc(f) || f < math.MinInt64 || f >= math.MaxInt64 {
		return 0, false
	}
	return int64(f), true
}

// DecodeFloat returns v as a finite float64.
func DecodeFloat(v []byte) (float64, bool) {
	if len(v) == 0 || (v[0] != '-' && (v[0] < '0' || v[0] > '9')) {
		return 0, false
	}
	f, err := strconv.ParseFloat(string(v), 64)
	if err != nil {
		return 0, false
	}
	return f, true
}

// Kind names the type of a JSON value, for error messages.
func Kind(v []byte) string {
	if len(v) == 0 {
		return "nothing"
	}
	switch v[0] {
	case '"':
		return "a string"
	case '{':
		return "an object"
	case '[':
		return "an array"
	case 't', 'f':
		return "a boolean"
	case 'n':
		return "null"
	default:
		return "a number"
	}
}
