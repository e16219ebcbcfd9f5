package respcache

import (
	"errors"
	"reflect"
	"testing"

	"github.com/junctionhq/junction/llm/chat"
)

// A recorded pass-through stream is stored only when the provider's decoder
// reads it exactly and to its end; one that does not parse is a decoding
// failure (counted and logged), not a silent skip.
func TestRecordedStreamCacheability(t *testing.T) {
	const (
		oaStart = "data: {\"id\":\"c\",\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"a\"}}]}\n\n"
		oaStop  = "data: {\"id\":\"c\",\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"stop\"}]}\n\ndata: [DONE]\n\n"
		anStart = "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"id\":\"m\",\"model\":\"c\",\"usage\":{\"input_tokens\":3,\"output_tokens\":1}}}\n\n"
		anStop  = "event: message_delta\ndata: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"end_turn\"},\"usage\":{\"output_tokens\":2}}\n\n" +
			"event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n"
	)
	cases := []struct {
		name, format, events string
		notCacheable         bool // else a decoding failure
	}{
		{"openai error event", chat.FormatOpenAI, oaStart + "data: {\"error\":{\"message\":\"boom\"}}\n\n" + oaStop, true},
		{"openai second choice", chat.FormatOpenAI, oaStart + "data: {\"choices\":[{\"index\":1,\"delta\":{\"content\":\"b\"}}]}\n\n" + oaStop, true},
		{"openai no [DONE]", chat.FormatOpenAI, oaStart, true},
		{"openai malformed", chat.FormatOpenAI, oaStart + "data: {\"choices\":[\n\n" + oaStop, false},
		{"anthropic thinking", chat.FormatAnthropic, anStart + "event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":0,\"content_block\":{\"type\":\"thinking\",\"thinking\":\"\"}}\n\n" + anStop, true},
		{"anthropic error event", chat.FormatAnthropic, anStart + "event: error\ndata: {\"type\":\"error\",\"error\":{\"type\":\"overloaded_error\",\"message\":\"x\"}}\n\n", true},
		{"anthropic malformed", chat.FormatAnthropic, anStart + "event: message_delta\ndata: {\"type\":\n\n" + anStop, false},
	}
	for _, c := range cases {
		var sr Recorder
		sr.RecordEvent([]byte(c.events))
		_, err := sr.Response(c.format)
		if err == nil {
			t.Errorf("%s: stored", c.name)
			continue
		}
		if got := errors.Is(err, ErrNotCacheable); got != c.notCacheable {
			t.Errorf("%s: %v: not cacheable %v, want %v", c.name, err, got, c.notCacheable)
		}
	}
	var sr Recorder
	sr.RecordEvent([]byte(anStart + "event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":0,\"content_block\":{\"type\":\"text\",\"text\":\"hi\"}}\n\n" + anStop))
	resp, err := sr.Response(chat.FormatAnthropic)
	if err != nil || resp.Message.Text() != "hi" || resp.FinishReason != chat.FinishStop || resp.Usage.CompletionTokens != 2 {
		t.Errorf("a complete stream: %+v, %v", resp, err)
	}
}

// storedAnswers are stored values, as EncodeValue writes them: a text
// answer, one cut at max_tokens, and tool calls with text.
var storedAnswers = map[string]string{
	"text": `{"v":1,"model":"gpt-4o-mini","text":"Paris is the capital. \"Quoted\"\nand \u003ctags\u003e ünïcode",` +
		`"finish_reason":"stop","system_fingerprint":"fp_1","usage":{"prompt_tokens":12,"completion_tokens":5}}`,
	"length": `{"v":1,"model":"m","text":"cut sh","finish_reason":"length","usage":{"prompt_tokens":12,"completion_tokens":5}}`,
	"tools": `{"v":1,"model":"m","text":"let me look","tool_calls":[{"id":"call_1","name":"search","arguments":"{\"q\":\"paris\"}"},` +
		`{"id":"call_2","name":"weather","arguments":"{\"city\":\"Paris\",\"units\":\"c\"}"}],"finish_reason":"tool_calls",` +
		`"usage":{"prompt_tokens":12,"completion_tokens":5}}`,
}

// encoded is EncodeValue(resp), failing the test on error.
func encoded(t *testing.T, resp *chat.Response) string {
	t.Helper()
	b, err := EncodeValue(resp)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// A stored value decodes and encodes back to the same bytes: the format
// of values already in the stores does not change.
func TestCachedValueRoundTrip(t *testing.T) {
	for name, stored := range storedAnswers {
		resp, err := DecodeValue([]byte(stored))
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if got := encoded(t, resp); got != stored {
			t.Errorf("%s: re-encoded\n got %s\nwant %s", name, got, stored)
		}
		if resp.Usage.PromptTokens != 12 || resp.Usage.CompletionTokens != 5 || resp.Message.Role != chat.RoleAssistant {
			t.Errorf("%s: usage or role lost: %+v", name, resp)
		}
	}
	if _, err := DecodeValue([]byte(`{"v":99}`)); err == nil {
		t.Error("another version decoded")
	}
	if _, err := DecodeValue([]byte(`not json`)); err == nil {
		t.Error("garbage decoded")
	}
}

// The chunks a hit is replayed as, recorded, give back the answer (with the
// zero usage a hit reports; chunks carry no system fingerprint).
func TestChunkRecorder(t *testing.T) {
	for name, stored := range storedAnswers {
		resp, err := DecodeValue([]byte(stored))
		if err != nil {
			t.Fatal(err)
		}
		var sr Recorder
		chunks := ReplayChunks(resp)
		for i := range chunks {
			sr.RecordChunk(&chunks[i])
		}
		got, err := sr.Response(chat.FormatOpenAI)
		if err != nil {
			t.Fatal(err)
		}
		resp.Usage, resp.SystemFingerprint = chat.Usage{}, ""
		if g, w := encoded(t, got), encoded(t, resp); g != w {
			t.Errorf("%s: recorded\n got %s\nwant %s", name, g, w)
		}
	}
	var empty Recorder
	if _, err := empty.Response(chat.FormatOpenAI); !errors.Is(err, ErrNotCacheable) {
		t.Errorf("empty stream: %v", err)
	}
	big := Recorder{}
	big.RecordEvent(make([]byte, maxRecordedStream+1))
	if _, err := big.Response(chat.FormatOpenAI); !errors.Is(err, ErrNotCacheable) {
		t.Errorf("oversized stream: %v", err)
	}
}

func TestDecodeClientResponseRefuses(t *testing.T) {
	for name, tc := range map[string]struct{ format, body string }{
		"two choices":   {chat.FormatOpenAI, `{"choices":[{"message":{"content":"a"},"finish_reason":"stop"},{"message":{"content":"b"},"finish_reason":"stop"}]}`},
		"refusal":       {chat.FormatOpenAI, `{"choices":[{"message":{"content":null,"refusal":"no"},"finish_reason":"stop"}]}`},
		"logprobs":      {chat.FormatOpenAI, `{"choices":[{"message":{"content":"a"},"logprobs":{"content":[]},"finish_reason":"stop"}]}`},
		"thinking":      {chat.FormatAnthropic, `{"type":"message","content":[{"type":"thinking","thinking":"hm"},{"type":"text","text":"a"}],"stop_reason":"end_turn"}`},
		"pause_turn":    {chat.FormatAnthropic, `{"type":"message","content":[{"type":"text","text":"a"}],"stop_reason":"pause_turn"}`},
		"anthropic err": {chat.FormatAnthropic, `{"type":"error","error":{"type":"overloaded_error","message":"x"}}`},
	} {
		if _, err := DecodeResponse(tc.format, []byte(tc.body)); !errors.Is(err, ErrNotCacheable) {
			t.Errorf("%s: err %v, want ErrNotCacheable", name, err)
		}
	}
	got, err := DecodeResponse(chat.FormatOpenAI, []byte(`{"id":"x","model":"m","choices":[{"message":{"content":[{"type":"text","text":"a"},{"type":"text","text":"b"}]},"finish_reason":"stop"}],"usage":{"prompt_tokens":3,"completion_tokens":2}}`))
	if err != nil || got.Message.Text() != "ab" || got.Usage.PromptTokens != 3 {
		t.Errorf("content parts: %+v %v", got, err)
	}
	want := []chat.ToolCall{{ID: "toolu_1", Name: "f", Arguments: `{"a":1}`}}
	got, err = DecodeResponse(chat.FormatAnthropic, []byte(`{"type":"message","model":"m","content":[{"type":"tool_use","id":"toolu_1","name":"f","input":{"a":1}}],"stop_reason":"tool_use","usage":{"input_tokens":4,"output_tokens":2,"cache_read_input_tokens":1}}`))
	if err != nil || !reflect.DeepEqual(got.Message.ToolCalls, want) || got.FinishReason != chat.FinishToolCalls || got.Usage.PromptTokens != 5 {
		t.Errorf("anthropic tool use: %+v %v", got, err)
	}
}
