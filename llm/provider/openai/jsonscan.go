package openai

import (
	"bytes"
	"fmt"
	"math"
	"strconv"
	"unicode/utf16"
	"unicode/utf8"
)

// A small validating JSON scanner. The decoders walk objects and arrays with
// it and decode only the members they model, so that unknown members can be
// kept as raw bytes, errors can name the member at fault
// ("messages[2].content"), and byte-level edits (PatchModel) know exactly
// where a value starts and ends. It accepts what encoding/json's Valid
// accepts, nesting limit included.

// maxDepth bounds the nesting of arrays and objects, as encoding/json does.
const maxDepth = 10000

// syntaxError is malformed JSON at a byte offset.
type syntaxError struct {
	off int
	msg string
}

func (e *syntaxError) Error() string {
	return fmt.Sprintf("invalid JSON at offset %d: %s", e.off, e.msg)
}

func errAt(off int, format string, args ...any) error {
	return &syntaxError{off: off, msg: fmt.Sprintf(format, args...)}
}

// describe names the byte at data[i] for an error message.
func describe(data []byte, i int) string {
	if i >= len(data) {
		return "end of input"
	}
	return fmt.Sprintf("character %q", data[i])
}

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

// skipSpace returns the offset of the first non-space byte at or after i.
func skipSpace(data []byte, i int) int {
	for i < len(data) && isSpace(data[i]) {
		i++
	}
	return i
}

// valueEnd validates the JSON value starting at data[i] (no leading space)
// and returns the offset just after it. depth is the number of enclosing
// arrays and objects.
func valueEnd(data []byte, i, depth int) (int, error) {
	if i >= len(data) {
		return i, errAt(i, "unexpected end of input, looking for a value")
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
		return i, errAt(i, "unexpected %s, looking for a value", describe(data, i))
	}
}

// documentEnd validates that data is exactly one JSON value with optional
// surrounding space and returns the value's span.
func documentEnd(data []byte) (start, end int, err error) {
	start = skipSpace(data, 0)
	end, err = valueEnd(data, start, 0)
	if err != nil {
		return 0, 0, err
	}
	if i := skipSpace(data, end); i != len(data) {
		return 0, 0, errAt(i, "unexpected %s after the value", describe(data, i))
	}
	return start, end, nil
}

func literalEnd(data []byte, i int, lit string) (int, error) {
	if len(data)-i < len(lit) || string(data[i:i+len(lit)]) != lit {
		return i, errAt(i, "invalid literal, expected %s", lit)
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
		return i, errAt(i, "invalid number starting at offset %d", start)
	}
	if i < len(data) && data[i] == '.' {
		i++
		if i >= len(data) || data[i] < '0' || data[i] > '9' {
			return i, errAt(i, "invalid number starting at offset %d: no digit after the point", start)
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
			return i, errAt(i, "invalid number starting at offset %d: no digit in the exponent", start)
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
				return j, escaped, errAt(j, "unterminated escape")
			}
			switch data[j+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				j += 2
			case 'u':
				if len(data)-j < 6 {
					return j, escaped, errAt(j, "short \\u escape")
				}
				for _, h := range data[j+2 : j+6] {
					if hexValue(h) < 0 {
						return j, escaped, errAt(j, "invalid \\u escape")
					}
				}
				j += 6
			default:
				return j, escaped, errAt(j, "invalid escape \\%c", data[j+1])
			}
		case c < 0x20:
			return j, escaped, errAt(j, "control character %q in string", c)
		default:
			j++
		}
	}
	return j, escaped, errAt(j, "unterminated string starting at offset %d", i)
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
	it, err := iterObject(data, i, depth)
	if err != nil {
		return i, err
	}
	for it.next() {
	}
	return it.end, it.err
}

func arrayEnd(data []byte, i, depth int) (int, error) {
	it, err := iterArray(data, i, depth)
	if err != nil {
		return i, err
	}
	for it.next() {
	}
	return it.end, it.err
}

// objectIter walks the members of a JSON object, validating as it goes:
//
//	it, err := iterObject(data, start, 0)
//	for it.next() { use it.key, it.value() }
//	if it.err != nil { ... }
type objectIter struct {
	data    []byte
	pos     int  // next byte to look at
	depth   int  // nesting of the object itself
	trusted bool // the object has been validated: skip values without checking
	n       int  // members seen
	done    bool
	err     error
	end     int // offset after the closing brace, once done

	// The current member.
	key              []byte // unescaped; valid until the next call to next
	keyStart         int    // offset of the key's opening quote
	valStart, valEnd int
	scratch          []byte // for escaped keys
}

// iterObject starts walking the object at data[start] == '{'. depth is the
// number of arrays and objects enclosing it.
func iterObject(data []byte, start, depth int) (objectIter, error) {
	if start >= len(data) || data[start] != '{' {
		return objectIter{}, errAt(start, "unexpected %s, expected an object", describe(data, start))
	}
	if depth+1 > maxDepth {
		return objectIter{}, errAt(start, "exceeded max depth")
	}
	return objectIter{data: data, pos: start + 1, depth: depth + 1}, nil
}

func (it *objectIter) fail(err error) bool {
	it.err = err
	return false
}

// next advances to the next member; false at the end or on an error.
func (it *objectIter) next() bool {
	if it.done || it.err != nil {
		return false
	}
	d := it.data
	i := skipSpace(d, it.pos)
	if i < len(d) && d[i] == '}' && it.n == 0 {
		it.done, it.end = true, i+1
		return false
	}
	if it.n > 0 {
		switch {
		case i < len(d) && d[i] == '}':
			it.done, it.end = true, i+1
			return false
		case i < len(d) && d[i] == ',':
			i = skipSpace(d, i+1)
		default:
			return it.fail(errAt(i, "unexpected %s after an object member, expected ',' or '}'", describe(d, i)))
		}
	}
	if i >= len(d) || d[i] != '"' {
		return it.fail(errAt(i, "unexpected %s, expected an object key", describe(d, i)))
	}
	keyEnd, escaped, err := stringEnd(d, i)
	if err != nil {
		return it.fail(err)
	}
	it.keyStart = i
	if key := d[i+1 : keyEnd-1]; !escaped && validUTF8(key) {
		it.key = key
	} else { // resolve escapes; invalid UTF-8 becomes U+FFFD, as in string values
		it.scratch = unquoteBytes(it.scratch[:0], d[i:keyEnd])
		it.key = it.scratch
	}
	i = skipSpace(d, keyEnd)
	if i >= len(d) || d[i] != ':' {
		return it.fail(errAt(i, "unexpected %s after an object key, expected ':'", describe(d, i)))
	}
	i = skipSpace(d, i+1)
	var end int
	if it.trusted {
		end = skipValue(d, i)
	} else if end, err = valueEnd(d, i, it.depth); err != nil {
		return it.fail(err)
	}
	it.valStart, it.valEnd = i, end
	it.pos = end
	it.n++
	return true
}

// value returns the current member's raw value.
func (it *objectIter) value() []byte { return it.data[it.valStart:it.valEnd] }

// arrayIter walks the elements of a JSON array, validating as it goes.
type arrayIter struct {
	data    []byte
	pos     int
	depth   int
	trusted bool
	n       int // elements seen; the current one is n-1
	done    bool
	err     error
	end     int

	valStart, valEnd int
}

// iterArray starts walking the array at data[start] == '['.
func iterArray(data []byte, start, depth int) (arrayIter, error) {
	if start >= len(data) || data[start] != '[' {
		return arrayIter{}, errAt(start, "unexpected %s, expected an array", describe(data, start))
	}
	if depth+1 > maxDepth {
		return arrayIter{}, errAt(start, "exceeded max depth")
	}
	return arrayIter{data: data, pos: start + 1, depth: depth + 1}, nil
}

func (it *arrayIter) next() bool {
	if it.done || it.err != nil {
		return false
	}
	d := it.data
	i := skipSpace(d, it.pos)
	if i < len(d) && d[i] == ']' && it.n == 0 {
		it.done, it.end = true, i+1
		return false
	}
	if it.n > 0 {
		switch {
		case i < len(d) && d[i] == ']':
			it.done, it.end = true, i+1
			return false
		case i < len(d) && d[i] == ',':
			i = skipSpace(d, i+1)
		default:
			it.err = errAt(i, "unexpected %s after an array element, expected ',' or ']'", describe(d, i))
			return false
		}
	}
	var end int
	if it.trusted {
		end = skipValue(d, i)
	} else {
		var err error
		if end, err = valueEnd(d, i, it.depth); err != nil {
			it.err = err
			return false
		}
	}
	it.valStart, it.valEnd = i, end
	it.pos = end
	it.n++
	return true
}

func (it *arrayIter) value() []byte { return it.data[it.valStart:it.valEnd] }

// walkObject walks the members of obj, a value the iterators have already
// validated (it starts with '{'), without validating it again.
func walkObject(obj []byte) objectIter {
	return objectIter{data: obj, pos: 1, trusted: true}
}

// walkArray walks the elements of arr, an already validated array.
func walkArray(arr []byte) arrayIter {
	return arrayIter{data: arr, pos: 1, trusted: true}
}

// skipValue returns the offset after the valid JSON value at data[i].
func skipValue(data []byte, i int) int {
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

func isNull(v []byte) bool { return string(v) == "null" }

// decodeString returns the string value of v; ok is false when v is not a
// string.
func decodeString(v []byte) (s string, ok bool) {
	if len(v) < 2 || v[0] != '"' {
		return "", false
	}
	inner := v[1 : len(v)-1]
	if !hasBackslash(inner) && utf8.Valid(inner) {
		return string(inner), true
	}
	return string(unquoteBytes(make([]byte, 0, len(inner)), v)), true
}

// stringBytes returns the content of the string value v without copying
// when it has no escapes (the result then aliases v); ok is false when v is
// not a string. For values that are only compared.
func stringBytes(v []byte) (b []byte, ok bool) {
	if len(v) < 2 || v[0] != '"' {
		return nil, false
	}
	inner := v[1 : len(v)-1]
	if !hasBackslash(inner) {
		return inner, true
	}
	return unquoteBytes(nil, v), true
}

func hasBackslash(b []byte) bool { return bytes.IndexByte(b, '\\') >= 0 }

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

// decodeBool returns the boolean value of v.
func decodeBool(v []byte) (b, ok bool) {
	switch string(v) {
	case "true":
		return true, true
	case "false":
		return false, true
	}
	return false, false
}

// decodeInt returns v as an integer; a number with a fraction or exponent is
// accepted when its value is integral (1e3, 100.0).
func decodeInt(v []byte) (int64, bool) {
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

// decodeFloat returns v as a finite float64.
func decodeFloat(v []byte) (float64, bool) {
	if len(v) == 0 || (v[0] != '-' && (v[0] < '0' || v[0] > '9')) {
		return 0, false
	}
	f, err := strconv.ParseFloat(string(v), 64)
	if err != nil {
		return 0, false
	}
	return f, true
}

// jsonKind names the type of a JSON value, for error messages.
func jsonKind(v []byte) string {
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
