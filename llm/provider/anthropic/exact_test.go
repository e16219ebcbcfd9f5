package anthropic

import (
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/junctionhq/junction/llm/chat"
)

// An Exact decoding refuses what a Lenient one skips or maps, so that the
// cache never replays an answer other than the one it was given.
func TestDecodeMessagesResponseExactRefusesWhatItWouldDrop(t *testing.T) {
	for name, body := range map[string]string{
		"thinking":     `{"type":"message","content":[{"type":"thinking","thinking":"hm"},{"type":"text","text":"a"}],"stop_reason":"end_turn"}`,
		"server tool":  `{"type":"message","content":[{"type":"server_tool_use","id":"s","name":"web_search","input":{}}],"stop_reason":"end_turn"}`,
		"pause_turn":   `{"type":"message","content":[{"type":"text","text":"a"}],"stop_reason":"pause_turn"}`,
		"refusal":      `{"type":"message","content":[{"type":"text","text":"a"}],"stop_reason":"refusal"}`,
		"no stop":      `{"type":"message","content":[{"type":"text","text":"a"}]}`,
		"an error":     `{"type":"error","error":{"type":"overloaded_error","message":"x"}}`,
		"window limit": `{"type":"message","content":[{"type":"text","text":"a"}],"stop_reason":"model_context_window_exceeded"}`,
	} {
		if _, err := DecodeMessagesResponse([]byte(body), 0, chat.Exact); !errors.Is(err, chat.ErrInexact) {
			t.Errorf("%s: exact: %v, want chat.ErrInexact", name, err)
		}
		if _, err := DecodeMessagesResponse([]byte(body), 0, chat.Lenient); err != nil {
			t.Errorf("%s: lenient: %v", name, err)
		}
	}
	body := `{"type":"message","id":"msg_1","model":"m","content":[{"type":"text","text":"a"},{"type":"tool_use","id":"toolu_1","name":"f","input":{"a":1}}],` +
		`"stop_reason":"tool_use","usage":{"input_tokens":4,"output_tokens":2,"cache_read_input_tokens":1}}`
	got, err := DecodeMessagesResponse([]byte(body), 0, chat.Exact)
	if err != nil || got.Message.Text() != "a" || len(got.Message.ToolCalls) != 1 || got.Message.ToolCalls[0].Arguments != `{"a":1}` ||
		got.FinishReason != chat.FinishToolCalls || got.Usage.PromptTokens != 5 || got.Usage.CachedTokens != 1 {
		t.Errorf("exact decoding: %+v, %v", got, err)
	}
}

func TestDecodeStreamExact(t *testing.T) {
	toolStart := `content_block_start {"type":"content_block_start","index":1,"content_block":{"type":"tool_use","id":"t1","name":"f","input":{}}}`
	for name, events := range map[string][]string{
		"thinking block": {`content_block_start {"type":"content_block_start","index":0,"content_block":{"type":"thinking","thinking":""}}`},
		"thinking delta": {evTextStart, `content_block_delta {"type":"content_block_delta","index":0,"delta":{"type":"thinking_delta","thinking":"hm"}}`},
		"stray input":    {evTextStart, `content_block_delta {"type":"content_block_delta","index":3,"delta":{"type":"input_json_delta","partial_json":"{}"}}`},
		"pause_turn":     {evTextStart, evText, `message_delta {"type":"message_delta","delta":{"stop_reason":"pause_turn"},"usage":{"output_tokens":2}}`},
	} {
		body := sseText(append(append([]string{evStart}, events...), evStop)...)
		if c := collect(t, DecodeStream(strings.NewReader(body), chat.Exact)); !errors.Is(c.err, chat.ErrInexact) {
			t.Errorf("%s: exact: %v, want chat.ErrInexact", name, c.err)
		}
		if c := collect(t, DecodeStream(strings.NewReader(body), chat.Lenient)); c.err != nil {
			t.Errorf("%s: lenient: %v", name, c.err)
		}
	}
	body := sseText(evStart, evTextStart, evText, toolStart,
		`content_block_delta {"type":"content_block_delta","index":1,"delta":{"type":"input_json_delta","partial_json":"{\"a\":1}"}}`,
		`message_delta {"type":"message_delta","delta":{"stop_reason":"tool_use"},"usage":{"output_tokens":8}}`, evStop)
	c := collect(t, DecodeStream(strings.NewReader(body), chat.Exact))
	if c.err != nil || c.text != "hi" || len(c.calls) != 1 || c.calls[0].Arguments != `{"a":1}` || c.finish != chat.FinishToolCalls || c.usage.CompletionTokens != 8 {
		t.Errorf("exact stream: %+v", c)
	}
	cut := sseText(evStart, evTextStart, evText)
	if c := collect(t, DecodeStream(strings.NewReader(cut), chat.Exact)); !errors.Is(c.err, io.ErrUnexpectedEOF) {
		t.Errorf("a stream cut before message_stop: %v", c.err)
	}
}

func TestResponseUsage(t *testing.T) {
	body := `{"type":"message","content":[],"usage":{"input_tokens":4,"output_tokens":2,"cache_read_input_tokens":1,"cache_creation_input_tokens":3}}`
	want := chat.Usage{PromptTokens: 8, CompletionTokens: 2, CachedTokens: 1, CacheWriteTokens: 3}
	if got := ResponseUsage([]byte(body)); got != want {
		t.Errorf("usage %+v, want %+v", got, want)
	}
	for _, body := range []string{`{"type":"message"}`, `not json`, `{"usage":{"input_tokens":"x"}}`} {
		if got := ResponseUsage([]byte(body)); got != (chat.Usage{}) {
			t.Errorf("%s: %+v, want none", body, got)
		}
	}
}

// EventUsage folds the cumulative counts of a stream's events: a count an
// event carries replaces the one before; the others stay.
func TestEventUsage(t *testing.T) {
	var u chat.Usage
	EventUsage([]byte(`{"type":"message_start","message":{"id":"m","usage":{"input_tokens":10,"cache_read_input_tokens":5,"cache_creation_input_tokens":2,"output_tokens":1}}}`), &u)
	if want := (chat.Usage{PromptTokens: 17, CompletionTokens: 1, CachedTokens: 5, CacheWriteTokens: 2}); u != want {
		t.Fatalf("after message_start: %+v, want %+v", u, want)
	}
	EventUsage([]byte(`{"type":"message_delta","delta":{"stop_reason":"end_turn"},"usage":{"output_tokens":8}}`), &u)
	if want := (chat.Usage{PromptTokens: 17, CompletionTokens: 8, CachedTokens: 5, CacheWriteTokens: 2}); u != want {
		t.Fatalf("after message_delta: %+v, want %+v", u, want)
	}
	EventUsage([]byte(`{"type":"message_delta","usage":{"input_tokens":11,"cache_read_input_tokens":0}}`), &u)
	if want := (chat.Usage{PromptTokens: 13, CompletionTokens: 8, CacheWriteTokens: 2}); u != want {
		t.Fatalf("after a restated input: %+v, want %+v", u, want)
	}
	EventUsage([]byte(`not json`), &u)
	if want := (chat.Usage{PromptTokens: 13, CompletionTokens: 8, CacheWriteTokens: 2}); u != want {
		t.Fatalf("after a malformed event: %+v, want %+v", u, want)
	}
}
