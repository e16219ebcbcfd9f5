package llm

import (
	"errors"
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
		var sr streamRecorder
		sr.recordEvent([]byte(c.events))
		_, err := sr.response(c.format)
		if err == nil {
			t.Errorf("%s: stored", c.name)
			continue
		}
		if got := errors.Is(err, errNotCacheable); got != c.notCacheable {
			t.Errorf("%s: %v: not cacheable %v, want %v", c.name, err, got, c.notCacheable)
		}
	}
	var sr streamRecorder
	sr.recordEvent([]byte(anStart + "event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":0,\"content_block\":{\"type\":\"text\",\"text\":\"hi\"}}\n\n" + anStop))
	resp, err := sr.response(chat.FormatAnthropic)
	if err != nil || resp.Message.Text() != "hi" || resp.FinishReason != chat.FinishStop || resp.Usage.CompletionTokens != 2 {
		t.Errorf("a complete stream: %+v, %v", resp, err)
	}
}
