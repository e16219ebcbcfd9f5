package openai

import (
	"github.com/junctionhq/junction/llm/chat"
	"github.com/junctionhq/junction/llm/internal/jsonscan"
)

// AppendChunk appends c as one server-sent event, "data: {...}\n\n", in
// OpenAI's chat.completion.chunk shape. model is the name to report (c.Model
// when empty). A chunk with only usage has "choices":[]; a tool-call piece
// carries id, type "function" and name only when it opens the call (has an
// id or a name). The first chunk (with a role) carries "content":"" when it
// has no other content, as OpenAI's does.
func AppendChunk(dst []byte, c *chat.Chunk, model string) []byte {
	if model == "" {
		model = c.Model
	}
	dst = append(dst, `data: {"id":`...)
	dst = appendString(dst, c.ID)
	dst = append(dst, `,"object":"chat.completion.chunk","created":`...)
	dst = appendInt(dst, c.Created)
	dst = append(dst, `,"model":`...)
	dst = appendString(dst, model)
	dst = append(dst, `,"choices":[`...)
	if c.Usage == nil || c.Role != "" || c.Content != "" || len(c.ToolCalls) > 0 || c.FinishReason != "" {
		dst = appendChunkChoice(dst, c)
	}
	dst = append(dst, ']')
	if c.Usage != nil {
		dst = append(dst, `,"usage":`...)
		dst = appendUsage(dst, c.Usage)
	}
	return append(dst, "}\n\n"...)
}

func appendChunkChoice(dst []byte, c *chat.Chunk) []byte {
	dst = append(dst, `{"index":0,"delta":{`...)
	sep := false
	field := func(name string) {
		if sep {
			dst = append(dst, ',')
		}
		sep = true
		dst = append(dst, name...)
	}
	if c.Role != "" {
		field(`"role":`)
		dst = appendString(dst, c.Role)
	}
	if c.Content != "" || (c.Role != "" && len(c.ToolCalls) == 0) {
		field(`"content":`)
		dst = appendString(dst, c.Content)
	}
	if len(c.ToolCalls) > 0 {
		field(`"tool_calls":[`)
		for i := range c.ToolCalls {
			d := &c.ToolCalls[i]
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = append(dst, `{"index":`...)
			dst = appendInt(dst, int64(d.Index))
			dst = appendOptionalString(dst, `,"id":`, d.ID)
			if d.ID != "" || d.Name != "" {
				dst = append(dst, `,"type":"function"`...)
			}
			dst = append(dst, `,"function":{`...)
			if d.Name != "" {
				dst = append(dst, `"name":`...)
				dst = appendString(dst, d.Name)
				dst = append(dst, ',')
			}
			dst = append(dst, `"arguments":`...)
			dst = appendString(dst, d.Arguments)
			dst = append(dst, "}}"...)
		}
		dst = append(dst, ']')
	}
	dst = append(dst, `},"logprobs":null,"finish_reason":`...)
	dst = appendNullableString(dst, c.FinishReason)
	return append(dst, '}')
}

// AppendDone appends the event that ends an OpenAI stream.
func AppendDone(dst []byte) []byte { return append(dst, "data: [DONE]\n\n"...) }

// maxToolCalls bounds the tool-call index a stream accepts.
const maxToolCalls = 1024

// upstreamChunk is one decoded upstream chunk event.
type upstreamChunk struct {
	chunk chat.Chunk // id, model, created and the delta of choice 0
	// usage is the chunk's usage, when not null.
	usage *chat.Usage
	// hasDelta says whether the chunk carried anything for choice 0 (role,
	// content, tool calls, finish reason).
	hasDelta bool
	// missingIndex marks the tool-call pieces that came without an index
	// (some OpenAI-compatible servers omit it); the stream assigns them one.
	missingIndex []bool
	// badIndex reports a tool-call index that is not a small non-negative
	// integer.
	badIndex bool
	// errValue is the "error" member of an error event.
	errValue []byte
	// exact makes the decoding refuse what it would drop (chat.Exact).
	exact bool
	// lastID and lastModel are the previous chunk's, reused while they do
	// not change (they never do within a stream) to save two allocations per
	// chunk.
	lastID, lastModel string
}

// decodeChunk decodes one chunk event's JSON into u (which it resets).
func decodeChunk(data []byte, u *upstreamChunk) error {
	*u = upstreamChunk{missingIndex: u.missingIndex[:0], lastID: u.lastID, lastModel: u.lastModel, exact: u.exact}
	start := jsonscan.SkipSpace(data, 0)
	it, err := jsonscan.IterObject(data, start, 0)
	if err != nil {
		return err
	}
	c := &u.chunk
	for it.Next() {
		v := it.Value()
		switch string(it.Key) {
		case "id":
			c.ID = reuseString(v, &u.lastID)
		case "model":
			c.Model = reuseString(v, &u.lastModel)
		case "created":
			c.Created, _ = jsonscan.DecodeInt(v)
		case "usage":
			if v[0] == '{' {
				u.usage = new(chat.Usage)
				decodeUsage(v, u.usage)
			}
		case "error":
			if !jsonscan.IsNull(v) {
				u.errValue = v
			}
		case "choices":
			if u.exact {
				if err := exactChoices(v, true); err != nil {
					return err
				}
			}
			if choice := firstChoice(v); choice != nil {
				decodeChunkChoice(choice, u)
			}
		}
	}
	if it.Err != nil {
		return it.Err
	}
	return jsonscan.Trailing(data, it.End)
}

func decodeChunkChoice(v []byte, u *upstreamChunk) {
	c := &u.chunk
	for key, fv := range jsonscan.Members(v) {
		switch string(key) {
		case "finish_reason":
			f, _ := jsonscan.DecodeString(fv)
			c.FinishReason = finishReason(f)
		case "delta":
			if fv[0] != '{' {
				continue
			}
			for key, dv := range jsonscan.Members(fv) {
				switch string(key) {
				case "role":
					c.Role, _ = jsonscan.DecodeString(dv)
				case "content":
					c.Content, _ = jsonscan.DecodeString(dv)
				case "tool_calls":
					decodeToolCallDeltas(dv, u)
				}
			}
		}
	}
	u.hasDelta = c.Role != "" || c.Content != "" || len(c.ToolCalls) > 0 || c.FinishReason != ""
}

func decodeToolCallDeltas(v []byte, u *upstreamChunk) {
	if v[0] != '[' {
		return
	}
	for _, tv := range jsonscan.Elements(v) {
		if tv[0] != '{' {
			continue
		}
		var d chat.ToolCallDelta
		hasIndex := false
		for key, fv := range jsonscan.Members(tv) {
			switch string(key) {
			case "index":
				n, ok := jsonscan.DecodeInt(fv)
				if !ok || n < 0 || n >= maxToolCalls {
					u.badIndex = true
					continue
				}
				d.Index, hasIndex = int(n), true
			case "id":
				d.ID, _ = jsonscan.DecodeString(fv)
			case "function":
				d.Name, d.Arguments = decodeFunction(fv, d.Name, d.Arguments)
			}
		}
		u.chunk.ToolCalls = append(u.chunk.ToolCalls, d)
		u.missingIndex = append(u.missingIndex, !hasIndex)
	}
}

// reuseString returns the string value v, as *last when it is the same
// (without allocating), else as a new string that becomes *last.
func reuseString(v []byte, last *string) string {
	b, ok := jsonscan.StringBytes(v)
	if !ok {
		return ""
	}
	if string(b) == *last {
		return *last
	}
	s, _ := jsonscan.DecodeString(v)
	*last = s
	return s
}
