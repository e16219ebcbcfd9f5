package openai

import (
	"bytes"
	"encoding/json"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/junctionhq/junction/llm/chat"
)

// normalise applies to a decoded request what one encode changes on
// purpose: streams ask for usage, system text parts are joined, empty tool
// arguments become {}, a lone empty text part is no content, and
// cache_control (which OpenAI does not take) is dropped.
func normalise(r *chat.Request) {
	if r.Stream {
		r.IncludeUsage = true
	}
	for i := range r.Messages {
		m := &r.Messages[i]
		for j := range m.Content {
			m.Content[j].CacheControl = nil
		}
		textOnly := len(m.Content) > 0
		for _, p := range m.Content {
			textOnly = textOnly && p.Type == chat.PartText
		}
		if textOnly && len(m.Content) > 1 && (m.Role == chat.RoleSystem || m.Role == chat.RoleDeveloper) {
			texts := make([]string, len(m.Content))
			for j, p := range m.Content {
				texts[j] = p.Text
			}
			m.Content = []chat.Part{{Type: chat.PartText, Text: strings.Join(texts, "\n")}}
		}
		if len(m.Content) == 1 && m.Content[0].Type == chat.PartText && m.Content[0].Text == "" {
			m.Content = nil
		}
		for j := range m.ToolCalls {
			if m.ToolCalls[j].Arguments == "" {
				m.ToolCalls[j].Arguments = "{}"
			}
		}
		m.IsError = false
	}
	for i := range r.Tools {
		r.Tools[i].CacheControl = nil
	}
}

// roundTrip decodes body, encodes it for its own model and decodes again.
func roundTrip(t testing.TB, body []byte) (first, second *chat.Request, encoded []byte) {
	t.Helper()
	first, err := DecodeChatRequest(body)
	if err != nil {
		t.Fatalf("decode: %v", err)
	}
	encoded = appendRequest(nil, first, first.Model, first.Stream)
	second, err = DecodeChatRequest(encoded)
	if err != nil {
		t.Fatalf("decode of the encoded request %s: %v", encoded, err)
	}
	return first, second, encoded
}

func TestRoundTrip(t *testing.T) {
	files, _ := filepath.Glob("testdata/request/*.json")
	bodies := map[string][]byte{}
	for _, f := range files {
		if !strings.HasSuffix(f, ".golden.json") {
			bodies[filepath.Base(f)] = readTestdata(t, "request/"+filepath.Base(f))
		}
	}
	bodies["unknown fields of every kind"] = []byte(`{"model":"m","messages":[{"role":"user","content":"x"}],` +
		`"a":{"deep":{"model":"inner","list":[1,{"x":null}]}},"b":"str\u00e9\n","c":-1.5e-3,"d":true,"e":null,"f":[]}`)
	bodies["escapes everywhere"] = []byte(`{"model":"m\"q","messages":[{"role":"user","content":"\u0000\u001f\"\\\/\ud83c\udf89 \u2028"},` +
		`{"role":"assistant","content":null,"tool_calls":[{"id":"c\n1","type":"function","function":{"name":"f","arguments":"{\"k\":\"\\u00e9\"}"}}]},` +
		`{"role":"tool","tool_call_id":"c\n1","content":"r"}],"stop":["\t"]}`)
	for name, body := range bodies {
		t.Run(name, func(t *testing.T) {
			first, second, encoded := roundTrip(t, body)
			normalise(first)
			if !reflect.DeepEqual(first, second) {
				t.Errorf("round trip changed the request:\nfirst  %s\nsecond %s", dump(first), dump(second))
			}
			// Unknown fields survive byte for byte.
			for k, v := range first.Extra {
				if !bytes.Equal(second.Extra[k], v) {
					t.Errorf("extra %q: %s became %s", k, v, second.Extra[k])
				}
			}
			// A second encode is a fixpoint.
			if again := appendRequest(nil, second, second.Model, second.Stream); !bytes.Equal(again, encoded) {
				t.Errorf("encode is not stable:\n%s\n%s", encoded, again)
			}
			if !json.Valid(encoded) {
				t.Errorf("encoded request is not valid JSON: %s", encoded)
			}
		})
	}
}

// TestResponseRoundTrip encodes canonical responses and chunks for clients
// and decodes them back with the upstream decoders.
func TestResponseRoundTrip(t *testing.T) {
	resps := []*chat.Response{
		{ID: "r1", Model: "m", Created: 5, Message: chat.TextMessage(chat.RoleAssistant, "hello \"there\"\n"), FinishReason: chat.FinishStop,
			Usage: chat.Usage{PromptTokens: 10, CompletionTokens: 3, CachedTokens: 4, ReasoningTokens: 1}, SystemFingerprint: "fp"},
		{ID: "r2", Model: "m", Created: 6, Message: chat.Message{Role: chat.RoleAssistant, ToolCalls: []chat.ToolCall{{ID: "c1", Name: "f", Arguments: `{"a":1}`}}},
			FinishReason: chat.FinishToolCalls},
		{ID: "r3", Model: "m", Created: 7, Message: chat.Message{Role: chat.RoleAssistant, Content: []chat.Part{{Type: chat.PartText, Text: "with "}, {Type: chat.PartText, Text: "calls"}},
			ToolCalls: []chat.ToolCall{{ID: "c1", Name: "f", Arguments: `{}`}, {ID: "c2", Name: "g", Arguments: `[]`}}}, FinishReason: chat.FinishToolCalls},
		{ID: "r4", Model: "m", Message: chat.Message{Role: chat.RoleAssistant}, FinishReason: chat.FinishLength},
	}
	for _, want := range resps {
		body := AppendChatResponse(nil, want, "")
		got, err := DecodeChatResponse(body, chat.Lenient)
		if err != nil {
			t.Fatalf("%s: %v", body, err)
		}
		if text := want.Message.Text(); text != "" {
			want.Message.Content = []chat.Part{{Type: chat.PartText, Text: text}}
		}
		want.Message.Role = chat.RoleAssistant
		if !reflect.DeepEqual(got, want) {
			t.Errorf("round trip of %s:\n got %s\nwant %s", body, dump(got), dump(want))
		}
	}

	chunks := []*chat.Chunk{
		{ID: "s", Model: "m", Created: 1, Role: chat.RoleAssistant},
		{ID: "s", Model: "m", Created: 1, Content: "Hi \u2028"},
		{ID: "s", Model: "m", Created: 1, ToolCalls: []chat.ToolCallDelta{{Index: 0, ID: "c1", Name: "f", Arguments: ""}}},
		{ID: "s", Model: "m", Created: 1, ToolCalls: []chat.ToolCallDelta{{Index: 0, Arguments: `{"a"`}, {Index: 1, ID: "c2", Name: "g", Arguments: `{}`}}},
		{ID: "s", Model: "m", Created: 1, FinishReason: chat.FinishToolCalls},
		{ID: "s", Model: "m", Created: 1, Usage: &chat.Usage{PromptTokens: 3, CompletionTokens: 4, CachedTokens: 1, ReasoningTokens: 2}},
	}
	var sse []byte
	for _, c := range chunks {
		sse = AppendChunk(sse, c, "")
	}
	sse = AppendDone(sse)
	s := streamOf(sse)
	for i, want := range chunks {
		got, err := s.Recv()
		if err != nil {
			t.Fatalf("chunk %d: %v", i, err)
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("chunk %d:\n got %s\nwant %s", i, dump(got), dump(want))
		}
	}
	if _, err := s.Recv(); err == nil || err.Error() != "EOF" {
		t.Errorf("after the chunks: %v, want io.EOF", err)
	}
}
