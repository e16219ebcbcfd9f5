package openai

import (
	"testing"

	"github.com/junctionhq/junction/llm/chat"
)

func TestResponseUsage(t *testing.T) {
	want := chat.Usage{PromptTokens: 10, CompletionTokens: 4, CachedTokens: 3, ReasoningTokens: 1}
	for name, body := range map[string]string{
		"last":     `{"id":"x","choices":[{"message":{"content":"a"}}],"usage":{"prompt_tokens":10,"completion_tokens":4,"prompt_tokens_details":{"cached_tokens":3},"completion_tokens_details":{"reasoning_tokens":1}}}`,
		"spaced":   "{\"choices\": [],\n  \"usage\" : {\"prompt_tokens\": 10, \"completion_tokens\": 4, \"prompt_tokens_details\": {\"cached_tokens\": 3}, \"completion_tokens_details\": {\"reasoning_tokens\": 1}}\n}",
		"first":    `{"usage":{"prompt_tokens":10,"completion_tokens":4,"prompt_tokens_details":{"cached_tokens":3},"completion_tokens_details":{"reasoning_tokens":1}},"choices":[{"message":{"content":"a"}}],"x":{"usage":5}}`,
		"deepseek": `{"choices":[],"usage":{"prompt_tokens":10,"completion_tokens":4,"prompt_cache_hit_tokens":3,"completion_tokens_details":{"reasoning_tokens":1}}}`,
	} {
		if got := ResponseUsage([]byte(body)); got != want {
			t.Errorf("%s: %+v, want %+v", name, got, want)
		}
	}
	for _, body := range []string{`{"choices":[]}`, `not json`, `{"usage":null}`, `{"usage":{"prompt_tokens":1`} {
		if got := ResponseUsage([]byte(body)); got != (chat.Usage{}) {
			t.Errorf("%s: %+v, want none", body, got)
		}
	}
}

func TestChunkUsage(t *testing.T) {
	cases := []struct {
		data        string
		usage       chat.Usage
		choices, ok bool
	}{
		{`{"choices":[],"usage":{"prompt_tokens":5,"completion_tokens":2}}`, chat.Usage{PromptTokens: 5, CompletionTokens: 2}, false, true},
		{`{"choices":[{"delta":{}}],"usage":{"prompt_tokens":5,"completion_tokens":2}}`, chat.Usage{PromptTokens: 5, CompletionTokens: 2}, true, true},
		{`{"choices":[{"delta":{"content":"a"}}],"usage":null}`, chat.Usage{}, true, false},
		{`{"choices":[`, chat.Usage{}, false, false},
	}
	for _, c := range cases {
		u, choices, ok := ChunkUsage([]byte(c.data))
		if u != c.usage || choices != c.choices || ok != c.ok {
			t.Errorf("%s: %+v %v %v, want %+v %v %v", c.data, u, choices, ok, c.usage, c.choices, c.ok)
		}
	}
}
