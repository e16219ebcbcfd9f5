package llm

import (
	"bytes"
	"encoding/json"
	"errors"
	"net/http/httptest"
	"reflect"
	"testing"
	"time"

	"github.com/junctionhq/junction/llm/chat"
	"github.com/junctionhq/junction/llm/respcache"
)

// answers are the responses the round trips below carry.
func answers() map[string]*chat.Response {
	return map[string]*chat.Response{
		"text":   {Model: "gpt-4o-mini", FinishReason: chat.FinishStop, Message: chat.TextMessage(chat.RoleAssistant, "Paris is the capital. \"Quoted\"\nand <tags> ünïcode")},
		"length": {Model: "m", FinishReason: chat.FinishLength, Message: chat.TextMessage(chat.RoleAssistant, "cut sh")},
		"tools": {Model: "m", FinishReason: chat.FinishToolCalls, Message: chat.Message{Role: chat.RoleAssistant,
			Content: []chat.Part{{Type: chat.PartText, Text: "let me look"}},
			ToolCalls: []chat.ToolCall{{ID: "call_1", Name: "search", Arguments: `{"q":"paris"}`},
				{ID: "call_2", Name: "weather", Arguments: `{"city":"Paris","units":"c"}`}}}},
	}
}

// sameAnswer compares what a replay must preserve: text, tool calls
// (names and arguments), finish reason.
func sameAnswer(t *testing.T, name string, got, want *chat.Response) {
	t.Helper()
	if got.Message.Text() != want.Message.Text() {
		t.Errorf("%s: text %q, want %q", name, got.Message.Text(), want.Message.Text())
	}
	if got.FinishReason != want.FinishReason {
		t.Errorf("%s: finish %q, want %q", name, got.FinishReason, want.FinishReason)
	}
	if len(got.Message.ToolCalls) != len(want.Message.ToolCalls) {
		t.Fatalf("%s: %d tool calls, want %d", name, len(got.Message.ToolCalls), len(want.Message.ToolCalls))
	}
	for i, tc := range want.Message.ToolCalls {
		g := got.Message.ToolCalls[i]
		if g.Name != tc.Name || g.Arguments != tc.Arguments || g.ID == "" {
			t.Errorf("%s: tool call %d = %+v, want %+v", name, i, g, tc)
		}
	}
}

// replayed renders resp through chatCall.replay for the format.
func replayed(t *testing.T, f clientFormat, stream bool, resp *chat.Response) *httptest.ResponseRecorder {
	t.Helper()
	c := &chatCall{s: &Service{now: time.Now}, format: f, head: chatHead{Model: "fast", Stream: stream}}
	cp := *resp
	rec := httptest.NewRecorder()
	if status := c.replay(rec, &cp); status != "ok" {
		t.Fatalf("replay status %q", status)
	}
	return rec
}

// A hit replayed in either format, streamed or not, reads back as the same
// answer with the decoders the store path uses on misses.
func TestReplayRoundTrip(t *testing.T) {
	for _, f := range []clientFormat{openAIFormat{}, anthropicFormat{}} {
		for name, resp := range answers() {
			label := f.name() + "/" + name
			plain := replayed(t, f, false, resp)
			if ct := plain.Header().Get("Content-Type"); ct != "application/json" {
				t.Errorf("%s: content type %q", label, ct)
			}
			got, err := respcache.DecodeResponse(f.name(), plain.Body.Bytes())
			if err != nil {
				t.Fatalf("%s: %v\n%s", label, err, plain.Body.Bytes())
			}
			sameAnswer(t, label, got, resp)
			if got.Usage != (chat.Usage{}) {
				t.Errorf("%s: a hit reports usage %+v", label, got.Usage)
			}

			streamed := replayed(t, f, true, resp)
			if ct := streamed.Header().Get("Content-Type"); ct != "text/event-stream" {
				t.Errorf("%s: stream content type %q", label, ct)
			}
			sr := &respcache.Recorder{}
			sr.RecordEvent(streamed.Body.Bytes())
			got, err = sr.Response(f.name())
			if err != nil {
				t.Fatalf("%s stream: %v\n%s", label, err, streamed.Body.Bytes())
			}
			sameAnswer(t, label+" stream", got, resp)

			// A stream cut before its end is not cacheable.
			body := streamed.Body.Bytes()
			cut := body[:bytes.LastIndex(body[:len(body)-2], []byte("\n\n"))+2]
			sr = &respcache.Recorder{}
			sr.RecordEvent(cut)
			if _, err := sr.Response(f.name()); !errors.Is(err, respcache.ErrNotCacheable) {
				t.Errorf("%s: cut stream: err %v, want ErrNotCacheable", label, err)
			}
		}
	}
}

// validEvents checks that every data line of an SSE body is JSON (or
// OpenAI's [DONE]).
func validEvents(t *testing.T, label string, body []byte) {
	t.Helper()
	for _, line := range bytes.Split(body, []byte("\n")) {
		data, ok := bytes.CutPrefix(line, []byte("data: "))
		if !ok || string(data) == "[DONE]" {
			continue
		}
		if !json.Valid(data) {
			t.Fatalf("%s: event data is not JSON: %q", label, data)
		}
	}
}

// FuzzDecodeCachedValue: a stored value (bytes from Redis or Qdrant, maybe
// corrupt) never panics the decoder; a decoded value re-encodes to one that
// decodes to the same answer; and the answer replays in both client
// formats, streamed or not, as valid JSON.
func FuzzDecodeCachedValue(f *testing.F) {
	for _, resp := range answers() {
		resp.Usage = chat.Usage{PromptTokens: 12, CompletionTokens: 5}
		b, err := respcache.EncodeValue(resp)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	for _, s := range []string{
		`{"v":1,"model":"gpt","text":"hi","finish_reason":"stop","usage":{"prompt_tokens":3,"completion_tokens":1}}`,
		`{"v":1,"tool_calls":[{"id":"","name":"","arguments":"not json"}],"finish_reason":"tool_calls","usage":{}}`,
		`{"v":1,"tool_calls":[{"id":"c1","name":"f","arguments":"[1,2]"},{"id":"c2","name":"g","arguments":"{\"a\":"}],"finish_reason":"weird"}`,
		`{"v":1,"text":"\ud800 \u0000 </script>","finish_reason":"content_filter","usage":{"prompt_tokens":-1,"completion_tokens":9223372036854775807}}`,
		`{"v":1,"text":"x","text":"y","tool_calls":null}`,
		`{"v":99}`, `{"v":"1"}`, `{"v":1.5}`, `{"v":1,"usage":[]}`, `{"v":1,"tool_calls":{}}`, `{}`, `null`, `[]`, `not json`, ``,
		"{\"v\":1,\"text\":\"\xff\xfe\"}",
	} {
		f.Add([]byte(s))
	}
	formats := []clientFormat{openAIFormat{}, anthropicFormat{}}
	f.Fuzz(func(t *testing.T, b []byte) {
		resp, err := respcache.DecodeValue(b)
		if err != nil {
			if resp != nil {
				t.Fatal("an error with an answer")
			}
			return
		}
		again, err := respcache.EncodeValue(resp)
		if err != nil {
			t.Fatalf("a decoded value does not re-encode: %v", err)
		}
		resp2, err := respcache.DecodeValue(again)
		if err != nil {
			t.Fatalf("a re-encoded value does not decode: %v\n%s", err, again)
		}
		if !reflect.DeepEqual(resp, resp2) {
			t.Fatalf("re-encoding changed the answer:\n%+v\n%+v", resp, resp2)
		}
		for _, format := range formats {
			for _, stream := range []bool{false, true} {
				c := &chatCall{s: &Service{now: time.Now}, format: format, head: chatHead{Model: "fast", Stream: stream}}
				cp := *resp
				rec := httptest.NewRecorder()
				if status := c.replay(rec, &cp); status != "ok" {
					t.Fatalf("%s stream=%v: replay status %q", format.name(), stream, status)
				}
				label := format.name() + " replay"
				if !stream {
					if !json.Valid(rec.Body.Bytes()) {
						t.Fatalf("%s: not JSON: %q", label, rec.Body.Bytes())
					}
					continue
				}
				validEvents(t, label+" stream", rec.Body.Bytes())
			}
		}
	})
}
