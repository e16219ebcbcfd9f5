package respcache

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"math"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/junctionhq/junction/llm/chat"
	"github.com/junctionhq/junction/llm/internal/jsonscan"
)

// The cache keys of a chat request are computed from its canonical form
// (chat.Request, as the client format's decoder produced it), never from the
// client's bytes, so that key order, JSON whitespace and the wire format do
// not matter:
//
//   - Exact is the SHA-256 (hex) of a canonical encoding (length-prefixed
//     fields, written without reflection; JSON values with sorted object
//     keys and no whitespace) of everything that
//     can change the answer: model, messages (role, name, text and image
//     parts, tool calls with canonical arguments, tool results), tools,
//     tool_choice, parallel_tool_calls, temperature, top_p, stop,
//     max_tokens, response_format and every remaining Extra field (seed, n,
//     top_k, ...) as canonical JSON. Left out, since they do not change the
//     answer: user, stream, stream_options, metadata, store, Junction's
//     fallbacks and Anthropic's cache_control hints.
//   - Tools is the SHA-256 of the tool definitions, sorted by name ("" when
//     none): it scopes entries so that an answer made with one tool set is
//     never served to a request offering another.
//   - Prompt is the text of the last message when it is a user message with
//     text parts only ("" otherwise, which skips the semantic tier).
//   - Context is the SHA-256 of the earlier turns (system prompt included)
//     and of the fields that shape the answer (tool_choice, max_tokens,
//     stop, response_format, Extra); sampling parameters (temperature,
//     top_p) are left out, since semantic hits ignore them by design.
//
// Because the key is computed from the canonical request, the same question
// through /v1/chat/completions and /v1/messages hashes equal when the two
// decode to the same canonical request: same model name, system prompt,
// messages, max_tokens and sampling parameters, and no format-specific
// extra fields (Anthropic's top_k or thinking, OpenAI's seed). The stored
// value is format-neutral, so such a hit is rendered in the caller's format.

// cacheKeyVersion starts every hashed encoding; bump it when the encoding
// changes so that old entries stop matching.
const cacheKeyVersion = "junction-cache-key-v2\n"

// ignoredExtra are Extra fields that do not change the answer.
var ignoredExtra = map[string]bool{
	"user": true, "stream": true, "stream_options": true, "metadata": true, "store": true, "fallbacks": true,
}

// Keys are what a request is cached under (see the top of this file).
type Keys struct {
	// Exact keys the exact tier: everything that can change the answer.
	Exact string
	// Tools scopes entries by tool set ("" when there are no tools).
	Tools string
	// Prompt is the last user message's text, for the semantic tier.
	Prompt string
	// Context hashes the turns before Prompt and what shapes the answer.
	Context string
}

// RequestKeys computes the cache keys of req. It never fails: JSON
// values that do not parse (which the decoders do not let through) are
// hashed as their bytes.
func RequestKeys(req *chat.Request) Keys {
	var e keyEncoder
	e.b = make([]byte, 0, req.SizeHint())
	// The turns, the last one apart: Context hashes the earlier ones.
	lastStart := 0
	for i := range req.Messages {
		lastStart = len(e.b)
		e.message(&req.Messages[i])
	}
	msgsEnd := len(e.b)
	e.shape(req)
	shape := e.b[msgsEnd:]

	keys := Keys{Tools: toolsHash(req.Tools)}
	var tail keyEncoder
	tail.str(strings.TrimSpace(req.Model))
	tail.int(int64(len(req.Messages)))
	tail.str(keys.Tools)
	tail.float(req.Temperature)
	tail.float(req.TopP)
	keys.Exact = hashParts("exact", tail.b, e.b[:msgsEnd], shape)
	if n := len(req.Messages); n > 0 {
		last := &req.Messages[n-1]
		if normalise(last.Role) == chat.RoleUser && textOnly(last) {
			keys.Prompt = last.Text()
			var count keyEncoder
			count.int(int64(n - 1))
			keys.Context = hashParts("context", count.b, e.b[:lastStart], shape)
		}
	}
	return keys
}

// hashParts is the hex SHA-256 of the version, a domain and the parts.
func hashParts(domain string, parts ...[]byte) string {
	h := sha256.New()
	h.Write([]byte(cacheKeyVersion))
	h.Write([]byte(domain))
	h.Write([]byte{0})
	for _, p := range parts {
		h.Write(p)
	}
	var sum [sha256.Size]byte
	return hex.EncodeToString(h.Sum(sum[:0]))
}

// toolsHash is the hash of the tool definitions, in name order; "" when
// there are none.
func toolsHash(tools []chat.Tool) string {
	if len(tools) == 0 {
		return ""
	}
	order := make([]int, len(tools))
	for i := range order {
		order[i] = i
	}
	slices.SortStableFunc(order, func(a, b int) int { return strings.Compare(tools[a].Name, tools[b].Name) })
	var e keyEncoder
	e.int(int64(len(tools)))
	for _, i := range order {
		t := &tools[i]
		e.str(t.Name)
		e.str(t.Description)
		e.json(t.Parameters)
		e.boolPtr(t.Strict)
	}
	return hashParts("tools", e.b)
}

// keyEncoder appends an unambiguous binary encoding: every variable-length
// field is length-prefixed, every optional field has a presence byte.
type keyEncoder struct{ b []byte }

func (e *keyEncoder) str(s string) {
	e.b = binary.AppendUvarint(e.b, uint64(len(s)))
	e.b = append(e.b, s...)
}

func (e *keyEncoder) bytes(s []byte) {
	e.b = binary.AppendUvarint(e.b, uint64(len(s)))
	e.b = append(e.b, s...)
}

func (e *keyEncoder) int(n int64) { e.b = binary.AppendVarint(e.b, n) }

func (e *keyEncoder) float(f *float64) {
	if f == nil {
		e.b = append(e.b, 0)
		return
	}
	e.b = append(e.b, 1)
	e.b = binary.LittleEndian.AppendUint64(e.b, math.Float64bits(*f))
}

func (e *keyEncoder) boolPtr(v *bool) {
	switch {
	case v == nil:
		e.b = append(e.b, 0)
	case *v:
		e.b = append(e.b, 2)
	default:
		e.b = append(e.b, 1)
	}
}

// message encodes one turn: the role (normalised; developer is system
// under another name), name, parts (consecutive text parts joined), tool
// calls with canonical arguments, the tool result link and error flag.
func (e *keyEncoder) message(m *chat.Message) {
	role := normalise(m.Role)
	if role == chat.RoleDeveloper {
		role = chat.RoleSystem
	}
	e.str(role)
	e.str(strings.TrimSpace(m.Name))
	// Count the parts after joining text runs.
	parts := 0
	for i := range m.Content {
		if i == 0 || m.Content[i].Type != chat.PartText || m.Content[i-1].Type != chat.PartText {
			parts++
		}
	}
	e.int(int64(parts))
	for i := 0; i < len(m.Content); {
		p := &m.Content[i]
		if p.Type == chat.PartText {
			j, n := i, 0
			for ; j < len(m.Content) && m.Content[j].Type == chat.PartText; j++ {
				n += len(m.Content[j].Text)
			}
			e.str(chat.PartText)
			e.b = binary.AppendUvarint(e.b, uint64(n))
			for ; i < j; i++ {
				e.b = append(e.b, m.Content[i].Text...)
			}
			continue
		}
		e.str(normalise(p.Type))
		e.str(p.Text)
		e.str(p.ImageURL)
		e.str(normalise(p.Detail))
		i++
	}
	e.int(int64(len(m.ToolCalls)))
	for i := range m.ToolCalls {
		tc := &m.ToolCalls[i]
		e.str(tc.ID)
		e.str(tc.Name)
		e.json([]byte(tc.Arguments))
	}
	e.str(m.ToolCallID)
	if m.IsError {
		e.b = append(e.b, 1)
	} else {
		e.b = append(e.b, 0)
	}
}

// shape encodes what, besides the turns and the sampling parameters,
// shapes an answer: tool_choice, parallel_tool_calls, max_tokens, stop,
// response_format and the Extra fields that matter, in key order.
func (e *keyEncoder) shape(req *chat.Request) {
	if tc := req.ToolChoice; tc != nil {
		e.b = append(e.b, 1)
		e.str(normalise(tc.Mode))
		e.str(tc.Name)
	} else {
		e.b = append(e.b, 0)
	}
	e.boolPtr(req.ParallelToolCalls)
	e.int(req.MaxTokens)
	e.int(int64(len(req.Stop)))
	for _, s := range req.Stop {
		e.str(s)
	}
	e.json(req.ResponseFormat)
	keys := make([]string, 0, len(req.Extra))
	for k := range req.Extra {
		if !ignoredExtra[k] {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	e.int(int64(len(keys)))
	for _, k := range keys {
		e.str(k)
		e.json(req.Extra[k])
	}
}

// json encodes a JSON value canonically: objects with their members in key
// order, strings unescaped, numbers as written, whitespace dropped. An
// absent value and null are the same; a value that does not parse, or nests
// deeper than maxJSONDepth, is encoded as its bytes, marked as such.
func (e *keyEncoder) json(raw []byte) {
	if jsonscan.SkipSpace(raw, 0) == len(raw) {
		e.b = append(e.b, 'z')
		return
	}
	start, end, err := jsonscan.DocumentEnd(raw)
	if err == nil && jsonscan.IsNull(raw[start:end]) {
		e.b = append(e.b, 'z')
		return
	}
	mark := len(e.b)
	if err == nil && e.value(raw[start:end], 0) {
		return
	}
	e.b = append(e.b[:mark], 'r')
	e.bytes(raw)
}

// maxJSONDepth bounds the nesting keyEncoder.value follows.
const maxJSONDepth = 200

// value encodes v, one valid JSON value; false when it nests too deep or
// holds a string that is not UTF-8.
func (e *keyEncoder) value(v []byte, depth int) bool {
	if depth > maxJSONDepth {
		return false
	}
	switch v[0] {
	case '{':
		return e.object(v, depth)
	case '[':
		e.b = append(e.b, 'a')
		it := jsonscan.WalkArray(v)
		for it.Next() {
			// The count comes after the elements: mark the list's end instead.
			e.b = append(e.b, ',')
			if !e.value(it.Value(), depth+1) {
				return false
			}
		}
		if it.N == 0 {
			e.int(0)
		} else {
			e.b = append(e.b, ']')
		}
		return true
	case '"':
		s, ok := keyString(v)
		if !ok {
			return false
		}
		e.b = append(e.b, 's')
		e.str(s)
	case 't':
		e.b = append(e.b, 't')
	case 'f':
		e.b = append(e.b, 'f')
	case 'n':
		e.b = append(e.b, 'z')
	default:
		e.b = append(e.b, 'n')
		e.bytes(v)
	}
	return true
}

// object encodes an object with its members sorted by key (stable, so
// repeated keys keep their order).
func (e *keyEncoder) object(v []byte, depth int) bool {
	type member struct {
		key        string
		start, end int // of the encoded value in e.b
	}
	var members []member
	base := len(e.b)
	it := jsonscan.WalkObject(v)
	for it.Next() {
		key, ok := keyString(v[it.KeyStart:jsonscan.SkipValue(v, it.KeyStart)])
		if !ok {
			return false
		}
		start := len(e.b)
		if !e.value(it.Value(), depth+1) {
			return false
		}
		members = append(members, member{key, start, len(e.b)})
	}
	values := append([]byte(nil), e.b[base:]...)
	e.b = append(e.b[:base], 'o')
	e.int(int64(len(members)))
	slices.SortStableFunc(members, func(x, y member) int { return strings.Compare(x.key, y.key) })
	for _, m := range members {
		e.str(m.key)
		e.b = append(e.b, values[m.start-base:m.end-base]...)
	}
	return true
}

// keyString decodes a string literal as the keys have always read it: one
// without escapes must be UTF-8 as it is; escapes are resolved as
// encoding/json resolves them.
func keyString(lit []byte) (string, bool) {
	if inner := lit[1 : len(lit)-1]; !jsonscan.HasBackslash(inner) && !utf8.Valid(inner) {
		return "", false
	}
	return jsonscan.DecodeString(lit)
}

// textOnly reports whether m has text and no other parts.
func textOnly(m *chat.Message) bool {
	if len(m.Content) == 0 {
		return false
	}
	for _, p := range m.Content {
		if p.Type != chat.PartText {
			return false
		}
	}
	return true
}

func normalise(s string) string { return strings.ToLower(strings.TrimSpace(s)) }
