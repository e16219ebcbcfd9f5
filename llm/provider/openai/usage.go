package openai

import (
	"bytes"

	"github.com/junctionhq/junction/llm/chat"
	"github.com/junctionhq/junction/llm/internal/jsonscan"
)

// ResponseUsage reads the usage of a complete chat.completion body (a
// passed-through answer, for billing); zero when it has none. The usage
// object comes last in OpenAI's responses, so it is looked for from the end
// before the body is walked.
func ResponseUsage(body []byte) chat.Usage {
	var u chat.Usage
	if obj := lastObjectAfter(body, usageKey); obj != nil && decodeUsage(obj, &u) {
		return u
	}
	start := jsonscan.SkipSpace(body, 0)
	it, err := jsonscan.IterObject(body, start, 0)
	if err != nil {
		return u
	}
	for it.Next() {
		if string(it.Key) == "usage" {
			u = chat.Usage{}
			decodeUsage(it.Value(), &u)
		}
	}
	if it.Err != nil {
		return chat.Usage{}
	}
	return u
}

// ChunkUsage reads the usage of one chat.completion.chunk event's data:
// ok is false when the chunk carries none (or is not a JSON object), and
// choices reports whether it carries choices too (OpenAI's usage-only chunk
// has an empty array).
func ChunkUsage(data []byte) (u chat.Usage, choices, ok bool) {
	start := jsonscan.SkipSpace(data, 0)
	it, err := jsonscan.IterObject(data, start, 0)
	if err != nil {
		return u, false, false
	}
	for it.Next() {
		v := it.Value()
		switch string(it.Key) {
		case "usage":
			u = chat.Usage{}
			ok = decodeUsage(v, &u)
		case "choices":
			choices = v[0] == '[' && jsonscan.SkipSpace(v, 1) < len(v)-1
		}
	}
	if it.Err != nil {
		return chat.Usage{}, false, false
	}
	return u, choices, ok
}

var usageKey = []byte(`"usage"`)

// lastObjectAfter returns the object that follows the last occurrence of
// key (and a colon) in body; nil when there is none, or it is not a valid
// object.
func lastObjectAfter(body, key []byte) []byte {
	i := bytes.LastIndex(body, key)
	if i < 0 {
		return nil
	}
	j := jsonscan.SkipSpace(body, i+len(key))
	if j >= len(body) || body[j] != ':' {
		return nil
	}
	if j = jsonscan.SkipSpace(body, j+1); j >= len(body) || body[j] != '{' {
		return nil
	}
	end, err := jsonscan.ValueEnd(body, j, 1)
	if err != nil {
		return nil
	}
	return body[j:end]
}

// decodeUsage decodes OpenAI's usage object into u. DeepSeek's
// prompt_cache_hit_tokens count as cached tokens when prompt_tokens_details
// is absent.
func decodeUsage(v []byte, u *chat.Usage) bool {
	if len(v) == 0 || v[0] != '{' {
		return false
	}
	var cacheHit int64
	var sawDetails bool
	for key, fv := range jsonscan.Members(v) {
		switch string(key) {
		case "prompt_tokens":
			u.PromptTokens, _ = jsonscan.DecodeInt(fv)
		case "completion_tokens":
			u.CompletionTokens, _ = jsonscan.DecodeInt(fv)
		case "prompt_cache_hit_tokens":
			cacheHit, _ = jsonscan.DecodeInt(fv)
		case "prompt_tokens_details":
			if d := jsonscan.Member(fv, "cached_tokens"); d != nil {
				u.CachedTokens, _ = jsonscan.DecodeInt(d)
				sawDetails = true
			}
		case "completion_tokens_details":
			if d := jsonscan.Member(fv, "reasoning_tokens"); d != nil {
				u.ReasoningTokens, _ = jsonscan.DecodeInt(d)
			}
		}
	}
	if !sawDetails {
		u.CachedTokens = cacheHit
	}
	return true
}
