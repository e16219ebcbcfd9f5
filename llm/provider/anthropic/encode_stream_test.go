package anthropic

import (
	"bytes"
	"errors"
	"io"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/junctionhq/junction/llm/chat"
)

// eventNames returns the event names of an encoded stream, in order.
func eventNames(out []byte) []string {
	var names []string
	for _, m := range regexp.MustCompile(`(?m)^event: (\w+)$`).FindAllSubmatch(out, -1) {
		names = append(names, string(m[1]))
	}
	return names
}

// parallelToolChunks is a canonical stream: text, then two parallel tool
// calls in pieces, the finish reason and, last, the usage (OpenAI's order).
func parallelToolChunks() []chat.Chunk {
	return []chat.Chunk{
		{ID: "chatcmpl-1", Model: "gpt-4o", Role: chat.RoleAssistant},
		{ID: "chatcmpl-1", Content: "Checking"},
		{ID: "chatcmpl-1", Content: " both."},
		{ID: "chatcmpl-1", ToolCalls: []chat.ToolCallDelta{{Index: 0, ID: "call_a", Name: "weather"}}},
		{ID: "chatcmpl-1", ToolCalls: []chat.ToolCallDelta{{Index: 0, Arguments: `{"city":`}}},
		{ID: "chatcmpl-1", ToolCalls: []chat.ToolCallDelta{{Index: 0, Arguments: `"Paris"}`}}},
		{ID: "chatcmpl-1", ToolCalls: []chat.ToolCallDelta{{Index: 1, ID: "call_b", Name: "time", Arguments: `{"tz":`}}},
		{ID: "chatcmpl-1", ToolCalls: []chat.ToolCallDelta{{Index: 1, Arguments: `"CET"}`}}},
		{ID: "chatcmpl-1", FinishReason: chat.FinishToolCalls},
		{ID: "chatcmpl-1", Usage: &chat.Usage{PromptTokens: 50, CompletionTokens: 20, CachedTokens: 30, CacheWriteTokens: 5}},
	}
}

func TestStreamEncoderEvents(t *testing.T) {
	chunks := parallelToolChunks()
	enc := NewStreamEncoder("claude-sonnet-4-5")
	var out []byte
	for i := range chunks {
		out = enc.Append(out, &chunks[i])
	}
	out = enc.Finish(out, chunks[len(chunks)-1].Usage)
	want := []string{
		"message_start",
		"content_block_start", "content_block_delta", "content_block_delta", "content_block_stop",
		"content_block_start", "content_block_delta", "content_block_delta", "content_block_stop",
		"content_block_start", "content_block_delta", "content_block_delta", "content_block_stop",
		"message_delta", "message_stop",
	}
	if got := eventNames(out); !slices.Equal(got, want) {
		t.Errorf("events\n got %v\nwant %v", got, want)
	}
	checkEventsJSON(t, out)
	for _, s := range []string{
		`"id":"msg_chatcmpl-1"`, `"model":"claude-sonnet-4-5"`,
		`{"type":"content_block_start","index":1,"content_block":{"type":"tool_use","id":"call_a","name":"weather","input":{}}}`,
		`{"type":"content_block_delta","index":2,"delta":{"type":"input_json_delta","partial_json":"{\"tz\":"}}`,
		`"delta":{"stop_reason":"tool_use","stop_sequence":null},"usage":{"input_tokens":15,"cache_creation_input_tokens":5,"cache_read_input_tokens":30,"output_tokens":20}`,
	} {
		if !bytes.Contains(out, []byte(s)) {
			t.Errorf("stream lacks %s\n%s", s, out)
		}
	}

	// Round trip: the events parse back, through the upstream stream parser,
	// into the same content, calls, finish reason and usage.
	s := newStream("test", io.NopCloser(bytes.NewReader(out)), 0)
	got := collect(t, s)
	if got.text != "Checking both." || got.finish != chat.FinishToolCalls {
		t.Errorf("text %q finish %q", got.text, got.finish)
	}
	wantCalls := []chat.ToolCall{{ID: "call_a", Name: "weather", Arguments: `{"city":"Paris"}`}, {ID: "call_b", Name: "time", Arguments: `{"tz":"CET"}`}}
	if !reflect.DeepEqual(got.calls, wantCalls) {
		t.Errorf("calls %+v", got.calls)
	}
	if got.usage != *chunks[len(chunks)-1].Usage {
		t.Errorf("usage %+v", got.usage)
	}
	if got.id != "msg_chatcmpl-1" || got.model != "claude-sonnet-4-5" {
		t.Errorf("id %q model %q", got.id, got.model)
	}
}

// collected is a stream read to its end.
type collected struct {
	id, model, text, finish string
	calls                   []chat.ToolCall
	usage                   chat.Usage
	chunks                  int
	err                     error // the error that ended it; nil for io.EOF
}

// collect reads s to its end, assembling tool calls by index.
func collect(t *testing.T, s chat.Stream) collected {
	t.Helper()
	defer s.Close()
	var c collected
	for {
		ch, err := s.Recv()
		if err == io.EOF {
			return c
		}
		if err != nil {
			c.err = err
			return c
		}
		c.chunks++
		if ch.ID != "" {
			c.id, c.model = ch.ID, ch.Model
		}
		c.text += ch.Content
		for _, d := range ch.ToolCalls {
			for len(c.calls) <= d.Index {
				c.calls = append(c.calls, chat.ToolCall{})
			}
			call := &c.calls[d.Index]
			if d.ID != "" {
				call.ID, call.Name = d.ID, d.Name
			}
			call.Arguments += d.Arguments
		}
		if ch.FinishReason != "" {
			c.finish = ch.FinishReason
		}
		if ch.Usage != nil {
			c.usage = *ch.Usage
		}
	}
}

func TestStreamEncoderUsageOrder(t *testing.T) {
	usage := chat.Usage{PromptTokens: 9, CompletionTokens: 4}
	tests := []struct {
		name   string
		chunks []chat.Chunk
		finish *chat.Usage
		deltas int // message_delta events
	}{
		{"finish then usage", []chat.Chunk{{Content: "a"}, {FinishReason: chat.FinishStop}, {Usage: &usage}}, nil, 1},
		{"usage then finish", []chat.Chunk{{Content: "a", Usage: &usage}, {FinishReason: chat.FinishStop}}, nil, 1},
		{"both in one chunk", []chat.Chunk{{Content: "a"}, {FinishReason: chat.FinishStop, Usage: &usage}}, &usage, 1},
		{"usage only at Finish", []chat.Chunk{{Content: "a"}, {FinishReason: chat.FinishStop}}, &usage, 1},
		{"no usage at all", []chat.Chunk{{Content: "a"}, {FinishReason: chat.FinishStop}}, nil, 1},
		{"usage grows after the delta", []chat.Chunk{{Content: "a"}, {FinishReason: chat.FinishStop, Usage: &chat.Usage{CompletionTokens: 1}}, {Usage: &usage}}, nil, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			enc := NewStreamEncoder("m")
			var out []byte
			for i := range tt.chunks {
				out = enc.Append(out, &tt.chunks[i])
			}
			out = enc.Finish(out, tt.finish)
			names := eventNames(out)
			if n := strings.Count(strings.Join(names, " "), "message_delta"); n != tt.deltas {
				t.Errorf("%d message_delta events, want %d: %v", n, tt.deltas, names)
			}
			if names[len(names)-1] != "message_stop" || names[len(names)-2] != "message_delta" {
				t.Errorf("events %v", names)
			}
			got := collect(t, newStream("test", io.NopCloser(bytes.NewReader(out)), 0))
			if got.err != nil || got.text != "a" || got.finish != chat.FinishStop {
				t.Errorf("parsed back %+v", got)
			}
		})
	}
}

func TestStreamEncoderEdges(t *testing.T) {
	t.Run("empty stream is a complete message", func(t *testing.T) {
		out := NewStreamEncoder("m").Finish(nil, nil)
		want := []string{"message_start", "message_delta", "message_stop"}
		if got := eventNames(out); !slices.Equal(got, want) {
			t.Errorf("events %v", got)
		}
		if !regexp.MustCompile(`"id":"msg_[0-9A-Za-z]{24}"`).Match(out) {
			t.Errorf("no generated id: %s", out)
		}
		checkEventsJSON(t, out)
	})
	t.Run("Finish is idempotent and chunks after it are ignored", func(t *testing.T) {
		enc := NewStreamEncoder("m")
		out := enc.Finish(enc.Append(nil, &chat.Chunk{Content: "x"}), nil)
		n := len(out)
		out = enc.Append(out, &chat.Chunk{Content: "y"})
		out = enc.Finish(out, nil)
		if len(out) != n {
			t.Errorf("wrote after Finish: %s", out[n:])
		}
	})
	t.Run("text after a tool call opens a new block", func(t *testing.T) {
		enc := NewStreamEncoder("m")
		out := enc.Append(nil, &chat.Chunk{ToolCalls: []chat.ToolCallDelta{{Index: 0, ID: "c", Name: "f", Arguments: "{}"}}})
		out = enc.Append(out, &chat.Chunk{Content: "done"})
		out = enc.Finish(out, nil)
		want := []string{"message_start", "content_block_start", "content_block_delta", "content_block_stop",
			"content_block_start", "content_block_delta", "content_block_stop", "message_delta", "message_stop"}
		if got := eventNames(out); !slices.Equal(got, want) {
			t.Errorf("events %v", got)
		}
		if !bytes.Contains(out, []byte(`"stop_reason":"tool_use"`)) {
			t.Errorf("stop reason not inferred from the tool call: %s", out)
		}
	})
	t.Run("a late piece of an earlier call keeps its block index", func(t *testing.T) {
		enc := NewStreamEncoder("m")
		out := enc.Append(nil, &chat.Chunk{ToolCalls: []chat.ToolCallDelta{{Index: 0, ID: "a", Name: "f"}, {Index: 1, ID: "b", Name: "g"}}})
		out = enc.Append(out, &chat.Chunk{ToolCalls: []chat.ToolCallDelta{{Index: 0, Arguments: `{"x":1}`}, {Index: 1, Arguments: `{}`}}})
		out = enc.Finish(out, nil)
		got := collect(t, newStream("test", io.NopCloser(bytes.NewReader(out)), 0))
		want := []chat.ToolCall{{ID: "a", Name: "f", Arguments: `{"x":1}`}, {ID: "b", Name: "g", Arguments: `{}`}}
		if !reflect.DeepEqual(got.calls, want) {
			t.Errorf("calls %+v\n%s", got.calls, out)
		}
	})
	t.Run("finish reasons", func(t *testing.T) {
		for finish, stop := range map[string]string{
			chat.FinishStop: "end_turn", chat.FinishLength: "max_tokens",
			chat.FinishToolCalls: "tool_use", chat.FinishContentFilter: "refusal",
		} {
			enc := NewStreamEncoder("m")
			out := enc.Finish(enc.Append(nil, &chat.Chunk{FinishReason: finish}), nil)
			if !bytes.Contains(out, []byte(`"stop_reason":"`+stop+`"`)) {
				t.Errorf("%s: %s", finish, out)
			}
		}
	})
}

func TestAppendStreamError(t *testing.T) {
	got := string(AppendStreamError(nil, "overloaded_error", `Overloaded "now"`))
	want := "event: error\ndata: {\"type\":\"error\",\"error\":{\"type\":\"overloaded_error\",\"message\":\"Overloaded \\\"now\\\"\"}}\n\n"
	if got != want {
		t.Errorf("got %q\nwant %q", got, want)
	}
	s := newStream("p", io.NopCloser(strings.NewReader(got)), 0)
	_, err := s.Recv()
	var ue *chat.UpstreamError
	if !errors.As(err, &ue) || ue.Status != 529 || ue.Type != "overloaded_error" || ue.Message != `Overloaded "now"` {
		t.Errorf("parsed back %v", err)
	}
}

func TestStopReasonWithToolCalls(t *testing.T) {
	resp := &chat.Response{FinishReason: chat.FinishStop, Message: chat.Message{ToolCalls: []chat.ToolCall{{ID: "c", Name: "f", Arguments: "{}"}}}}
	if out := AppendMessagesResponse(nil, resp, "m"); !bytes.Contains(out, []byte(`"stop_reason":"tool_use"`)) {
		t.Errorf("stop with tool calls: %s", out)
	}
	resp.FinishReason = chat.FinishLength
	if out := AppendMessagesResponse(nil, resp, "m"); !bytes.Contains(out, []byte(`"stop_reason":"max_tokens"`)) {
		t.Errorf("length with tool calls: %s", out)
	}
}
