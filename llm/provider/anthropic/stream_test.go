package anthropic

import (
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/junctionhq/junction/llm/chat"
)

// sseText joins events written as "name data" pairs into a stream.
func sseText(events ...string) string {
	var b strings.Builder
	for _, e := range events {
		name, data, _ := strings.Cut(e, " ")
		b.WriteString("event: " + name + "\ndata: " + data + "\n\n")
	}
	return b.String()
}

const (
	evStart     = `message_start {"type":"message_start","message":{"id":"msg_1","model":"claude-x","usage":{"input_tokens":10,"cache_read_input_tokens":5,"cache_creation_input_tokens":2,"output_tokens":1}}}`
	evTextStart = `content_block_start {"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}`
	evText      = `content_block_delta {"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"hi"}}`
	evStop      = `message_stop {"type":"message_stop"}`
)

func TestStreamParse(t *testing.T) {
	tests := []struct {
		name   string
		stream string
		check  func(t *testing.T, c collected)
	}{
		{"ping and unknown events are ignored", sseText(evStart, `ping {"type":"ping"}`, evTextStart,
			`brand_new_event {"type":"brand_new_event","x":[1]}`, `ping not-even-json`, evText,
			`content_block_stop {"type":"content_block_stop","index":0}`, evStop), func(t *testing.T, c collected) {
			if c.err != nil || c.text != "hi" || c.chunks != 3 { // role, text, usage
				t.Errorf("%+v", c)
			}
		}},
		{"usage is cumulative: set, not added", sseText(evStart, evTextStart, evText,
			`message_delta {"type":"message_delta","delta":{"stop_reason":null},"usage":{"output_tokens":5}}`,
			`message_delta {"type":"message_delta","delta":{"stop_reason":"end_turn"},"usage":{"output_tokens":8}}`, evStop), func(t *testing.T, c collected) {
			want := chat.Usage{PromptTokens: 17, CompletionTokens: 8, CachedTokens: 5, CacheWriteTokens: 2}
			if c.usage != want || c.finish != chat.FinishStop {
				t.Errorf("usage %+v finish %q, want %+v", c.usage, c.finish, want)
			}
		}},
		{"message_delta may restate input usage", sseText(evStart,
			`message_delta {"type":"message_delta","delta":{"stop_reason":"max_tokens"},"usage":{"input_tokens":11,"cache_read_input_tokens":0,"output_tokens":3}}`, evStop), func(t *testing.T, c collected) {
			want := chat.Usage{PromptTokens: 13, CompletionTokens: 3, CacheWriteTokens: 2}
			if c.usage != want || c.finish != chat.FinishLength {
				t.Errorf("usage %+v finish %q, want %+v", c.usage, c.finish, want)
			}
		}},
		{"tool calls are numbered among tool calls", sseText(evStart, evTextStart, evText,
			`content_block_start {"type":"content_block_start","index":1,"content_block":{"type":"tool_use","id":"t1","name":"f","input":{}}}`,
			`content_block_delta {"type":"content_block_delta","index":1,"delta":{"type":"input_json_delta","partial_json":"{\"a\""}}`,
			`content_block_delta {"type":"content_block_delta","index":1,"delta":{"type":"input_json_delta","partial_json":":1}"}}`,
			`content_block_start {"type":"content_block_start","index":2,"content_block":{"type":"tool_use","id":"t2","name":"g","input":{}}}`,
			`content_block_delta {"type":"content_block_delta","index":2,"delta":{"type":"input_json_delta","partial_json":"{}"}}`,
			`content_block_delta {"type":"content_block_delta","index":9,"delta":{"type":"input_json_delta","partial_json":"orphan"}}`,
			`message_delta {"type":"message_delta","delta":{"stop_reason":"tool_use"},"usage":{"output_tokens":4}}`, evStop), func(t *testing.T, c collected) {
			if len(c.calls) != 2 || c.calls[0] != (chat.ToolCall{ID: "t1", Name: "f", Arguments: `{"a":1}`}) ||
				c.calls[1] != (chat.ToolCall{ID: "t2", Name: "g", Arguments: `{}`}) || c.finish != chat.FinishToolCalls {
				t.Errorf("%+v", c)
			}
		}},
		{"stop reasons", sseText(evStart, `message_delta {"type":"message_delta","delta":{"stop_reason":"refusal"}}`, evStop), func(t *testing.T, c collected) {
			if c.finish != chat.FinishContentFilter {
				t.Errorf("finish %q", c.finish)
			}
		}},
		{"overloaded error event", sseText(evStart, `error {"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}`), func(t *testing.T, c collected) {
			wantUpstream(t, c.err, 529, "overloaded_error", "Overloaded")
		}},
		{"rate limit error event", sseText(evStart, `error {"type":"error","error":{"type":"rate_limit_error","message":"slow down"}}`), func(t *testing.T, c collected) {
			wantUpstream(t, c.err, 429, "rate_limit_error", "slow down")
		}},
		{"unknown error type", sseText(`error {"type":"error","error":{"type":"weird_error","message":"?"}}`), func(t *testing.T, c collected) {
			wantUpstream(t, c.err, 500, "weird_error", "?")
		}},
		{"cut before message_stop", sseText(evStart, evTextStart, evText), func(t *testing.T, c collected) {
			wantUpstream(t, c.err, 0, "", "stream ended before message_stop")
			if !errors.Is(c.err, io.ErrUnexpectedEOF) {
				t.Errorf("err %v does not wrap io.ErrUnexpectedEOF", c.err)
			}
			if c.text != "hi" {
				t.Errorf("text %q", c.text)
			}
		}},
		{"empty body", "", func(t *testing.T, c collected) {
			wantUpstream(t, c.err, 0, "", "stream ended before message_stop")
		}},
		{"malformed event", sseText(evStart, `content_block_delta {"type":`), func(t *testing.T, c collected) {
			wantUpstream(t, c.err, 0, "", "malformed content_block_delta event")
		}},
		{"message_stop without usage ends at once", sseText(evStop), func(t *testing.T, c collected) {
			if c.err != nil || c.chunks != 0 {
				t.Errorf("%+v", c)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.check(t, collect(t, newStream("anthropic", io.NopCloser(strings.NewReader(tt.stream)), 0)))
		})
	}
}

func wantUpstream(t *testing.T, err error, status int, typ, message string) {
	t.Helper()
	var ue *chat.UpstreamError
	if !errors.As(err, &ue) {
		t.Fatalf("error %v (%T), want *chat.UpstreamError", err, err)
	}
	if ue.Status != status || ue.Type != typ || ue.Message != message || ue.Provider != "anthropic" {
		t.Errorf("error %+v, want status %d type %q message %q", ue, status, typ, message)
	}
}

func TestStreamSticky(t *testing.T) {
	s := newStream("p", io.NopCloser(strings.NewReader(sseText(evStart, evStop))), 0)
	for range 2 {
		if _, err := s.Recv(); err != nil {
			t.Fatal(err)
		}
	}
	for range 3 {
		if _, err := s.Recv(); err != io.EOF {
			t.Fatalf("after message_stop: %v", err)
		}
	}
	for range 2 {
		if err := s.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	}
}
