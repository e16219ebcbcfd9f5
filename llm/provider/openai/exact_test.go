package openai

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/junctionhq/junction/llm/chat"
)

// An Exact decoding refuses what a Lenient one drops or maps, so that the
// cache never replays an answer other than the one it was given.
func TestDecodeChatResponseExactRefusesWhatItWouldDrop(t *testing.T) {
	msg := func(m string) string { return `{"choices":[{"message":` + m + `,"finish_reason":"stop"}]}` }
	for name, body := range map[string]string{
		"two choices":       `{"choices":[{"message":{"content":"a"},"finish_reason":"stop"},{"index":1,"message":{"content":"b"},"finish_reason":"stop"}]}`,
		"no choice":         `{"choices":[]}`,
		"refusal":           msg(`{"content":null,"refusal":"no"}`),
		"logprobs":          `{"choices":[{"message":{"content":"a"},"logprobs":{"content":[]},"finish_reason":"stop"}]}`,
		"image part":        msg(`{"content":[{"type":"text","text":"a"},{"type":"image_url","image_url":{"url":"x"}}]}`),
		"part without type": msg(`{"content":[{"text":"a"}]}`),
		"content number":    msg(`{"content":5}`),
		"object arguments":  msg(`{"content":null,"tool_calls":[{"id":"c","function":{"name":"f","arguments":{"a":1}}}]}`),
		"error body":        `{"error":{"message":"x"},"choices":[{"message":{"content":"a"},"finish_reason":"stop"}]}`,
		"function_call":     `{"choices":[{"message":{"content":"a"},"finish_reason":"function_call"}]}`,
		"unknown finish":    `{"choices":[{"message":{"content":"a"},"finish_reason":"eos"}]}`,
	} {
		if _, err := DecodeChatResponse([]byte(body), chat.Exact); !errors.Is(err, chat.ErrInexact) {
			t.Errorf("%s: exact: %v, want chat.ErrInexact", name, err)
		}
		if name == "no choice" || name == "error body" {
			continue
		}
		if _, err := DecodeChatResponse([]byte(body), chat.Lenient); err != nil {
			t.Errorf("%s: lenient: %v", name, err)
		}
	}
}

func TestDecodeChatResponseExactKeepsTheAnswer(t *testing.T) {
	body := `{"id":"x","model":"m","created":5,"system_fingerprint":"fp","choices":[{"index":0,"message":{"role":"assistant",` +
		`"content":[{"type":"text","text":"a"},{"type":"text","text":"b"}],"refusal":null,` +
		`"tool_calls":[{"id":"c","type":"function","function":{"name":"f","arguments":"{}"}}]},"logprobs":null}],` +
		`"usage":{"prompt_tokens":3,"completion_tokens":2}}`
	got, err := DecodeChatResponse([]byte(body), chat.Exact)
	if err != nil {
		t.Fatal(err)
	}
	if got.ID != "x" || got.Model != "m" || got.Created != 5 || got.SystemFingerprint != "fp" || got.Message.Text() != "ab" ||
		len(got.Message.ToolCalls) != 1 || got.Usage.PromptTokens != 3 || got.Usage.CompletionTokens != 2 {
		t.Errorf("exact decoding: %+v", got)
	}
	// An absent finish reason stays absent (a Lenient decoding infers it).
	if got.FinishReason != "" {
		t.Errorf("finish reason %q, want none", got.FinishReason)
	}
	lenient, err := DecodeChatResponse([]byte(body), chat.Lenient)
	if err != nil || lenient.FinishReason != chat.FinishToolCalls {
		t.Errorf("lenient finish reason %q (%v), want tool_calls", lenient.FinishReason, err)
	}
}

func TestDecodeStreamExact(t *testing.T) {
	for name, chunk := range map[string]string{
		"second choice":  `{"choices":[{"index":1,"delta":{"content":"b"}}]}`,
		"refusal":        `{"choices":[{"index":0,"delta":{"refusal":"no"}}]}`,
		"logprobs":       `{"choices":[{"index":0,"delta":{"content":"a"},"logprobs":{"content":[]}}]}`,
		"mapped finish":  `{"choices":[{"index":0,"delta":{},"finish_reason":"max_tokens"}]}`,
		"object content": `{"choices":[{"index":0,"delta":{"content":{"a":1}}}]}`,
	} {
		body := sseText(`{"choices":[{"index":0,"delta":{"role":"assistant","content":"a"}}]}`, chunk, `[DONE]`)
		if _, err := recvAll(DecodeStream(strings.NewReader(body), chat.Exact)); !errors.Is(err, chat.ErrInexact) {
			t.Errorf("%s: exact: %v, want chat.ErrInexact", name, err)
		}
		if _, err := recvAll(DecodeStream(strings.NewReader(body), chat.Lenient)); err != nil {
			t.Errorf("%s: lenient: %v", name, err)
		}
	}
	body := sseText(`{"id":"c","choices":[{"index":0,"delta":{"role":"assistant","content":"a"},"logprobs":null}]}`,
		`{"id":"c","choices":[{"index":0,"delta":{},"finish_reason":"stop"}],"usage":{"prompt_tokens":2,"completion_tokens":1}}`, `[DONE]`)
	chunks, err := recvAll(DecodeStream(strings.NewReader(body), chat.Exact))
	if err != nil || len(chunks) != 3 || chunks[0].Content != "a" || chunks[1].FinishReason != chat.FinishStop || chunks[2].Usage == nil {
		t.Errorf("exact stream: %v, %v", chunks, err)
	}
	if _, err := recvAll(DecodeStream(bytes.NewReader([]byte(body[:len(body)-len("data: [DONE]\n\n")])), chat.Exact)); !errors.Is(err, io.ErrUnexpectedEOF) && !errors.Is(err, errNoDone) {
		t.Errorf("a stream cut before [DONE]: %v", err)
	}
}
