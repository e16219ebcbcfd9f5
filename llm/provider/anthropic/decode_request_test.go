package anthropic

import (
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/junctionhq/junction/llm/chat"
)

// body is a minimal valid request with extra top-level fields and messages.
func body(extra, messages string) string {
	if messages == "" {
		messages = `[{"role":"user","content":"hi"}]`
	}
	return `{"model":"claude-haiku-4-5","max_tokens":64` + extra + `,"messages":` + messages + `}`
}

func ptr[T any](v T) *T { return &v }

func TestDecodeMessagesRequest(t *testing.T) {
	hi := chat.TextMessage(chat.RoleUser, "hi")
	tests := []struct {
		name  string
		body  string
		check func(t *testing.T, r *chat.Request)
	}{
		{"string system becomes a leading system message", body(`,"system":"be brief"`, ""), func(t *testing.T, r *chat.Request) {
			want := []chat.Message{chat.TextMessage(chat.RoleSystem, "be brief"), hi}
			if !reflect.DeepEqual(r.Messages, want) {
				t.Errorf("messages %+v", r.Messages)
			}
		}},
		{"system blocks keep cache_control", body(`,"system":[{"type":"text","text":"a"},{"type":"text","text":"b","cache_control":{"type":"ephemeral"}}]`, ""), func(t *testing.T, r *chat.Request) {
			sys := r.Messages[0]
			if sys.Role != chat.RoleSystem || len(sys.Content) != 2 || sys.Content[0].CacheControl != nil ||
				string(sys.Content[1].CacheControl) != `{"type":"ephemeral"}` || sys.Text() != "ab" {
				t.Errorf("system %+v", sys)
			}
		}},
		{"empty system is no message", body(`,"system":""`, ""), func(t *testing.T, r *chat.Request) {
			if len(r.Messages) != 1 || r.Messages[0].Role != chat.RoleUser {
				t.Errorf("messages %+v", r.Messages)
			}
		}},
		{"system entries inside messages stay at their place", body(`,"system":"top"`, `[{"role":"user","content":"hi"},
			{"role":"system","content":"mid"},{"role":"system","content":[{"type":"text","text":""}]},
			{"role":"system","content":[{"type":"text","text":"c","cache_control":{"type":"ephemeral"}}]}]`), func(t *testing.T, r *chat.Request) {
			want := []chat.Message{chat.TextMessage(chat.RoleSystem, "top"), hi, chat.TextMessage(chat.RoleSystem, "mid"),
				{Role: chat.RoleSystem, Content: []chat.Part{{Type: chat.PartText, Text: "c", CacheControl: json.RawMessage(`{"type":"ephemeral"}`)}}}}
			if !reflect.DeepEqual(r.Messages, want) {
				t.Errorf("messages %+v", r.Messages)
			}
		}},
		{"tool_choice auto", body(`,"tool_choice":{"type":"auto"}`, ""), wantChoice(chat.ToolChoiceAuto, "", nil)},
		{"tool_choice any is required", body(`,"tool_choice":{"type":"any"}`, ""), wantChoice(chat.ToolChoiceRequired, "", nil)},
		{"tool_choice tool is a named function", body(`,"tool_choice":{"type":"tool","name":"f"}`, ""), wantChoice(chat.ToolChoiceFunction, "f", nil)},
		{"tool_choice none", body(`,"tool_choice":{"type":"none"}`, ""), wantChoice(chat.ToolChoiceNone, "", nil)},
		{"disable_parallel_tool_use turns parallel calls off", body(`,"tool_choice":{"type":"auto","disable_parallel_tool_use":true}`, ""), wantChoice(chat.ToolChoiceAuto, "", ptr(false))},
		{"disable_parallel_tool_use false allows them", body(`,"tool_choice":{"type":"any","disable_parallel_tool_use":false}`, ""), wantChoice(chat.ToolChoiceRequired, "", ptr(true))},
		{"tool results become one tool message each, in place", body("", `[{"role":"user","content":[
			{"type":"tool_result","tool_use_id":"t1","content":"r1"},
			{"type":"tool_result","tool_use_id":"t2","is_error":true,"content":[{"type":"text","text":"r2a"},{"type":"text","text":"r2b"}]},
			{"type":"tool_result","tool_use_id":"t3"},
			{"type":"text","text":"and?"}]}]`), func(t *testing.T, r *chat.Request) {
			want := []chat.Message{
				{Role: chat.RoleTool, ToolCallID: "t1", Content: []chat.Part{{Type: chat.PartText, Text: "r1"}}},
				{Role: chat.RoleTool, ToolCallID: "t2", IsError: true, Content: []chat.Part{{Type: chat.PartText, Text: "r2a"}, {Type: chat.PartText, Text: "r2b"}}},
				{Role: chat.RoleTool, ToolCallID: "t3"},
				chat.TextMessage(chat.RoleUser, "and?"),
			}
			if !reflect.DeepEqual(r.Messages, want) {
				t.Errorf("messages\n got %+v\nwant %+v", r.Messages, want)
			}
		}},
		{"tool_result cache_control moves to its last part", body("", `[{"role":"user","content":[{"type":"tool_result","tool_use_id":"t","content":"r","cache_control":{"type":"ephemeral"}}]}]`), func(t *testing.T, r *chat.Request) {
			if cc := r.Messages[0].Content[0].CacheControl; string(cc) != `{"type":"ephemeral"}` {
				t.Errorf("cache_control %s", cc)
			}
		}},
		{"tool_use becomes tool calls with the input's JSON text", body("", `[{"role":"user","content":"q"},{"role":"assistant","content":[
			{"type":"thinking","thinking":"x","signature":"s"},
			{"type":"tool_use","id":"a","name":"f","input":{"k": [1, 2]}},
			{"type":"tool_use","id":"b","name":"g"}]}]`), func(t *testing.T, r *chat.Request) {
			m := r.Messages[1]
			want := []chat.ToolCall{{ID: "a", Name: "f", Arguments: `{"k": [1, 2]}`}, {ID: "b", Name: "g", Arguments: "{}"}}
			if m.Role != chat.RoleAssistant || m.Content != nil || !reflect.DeepEqual(m.ToolCalls, want) {
				t.Errorf("assistant %+v", m)
			}
		}},
		{"an assistant turn of thinking only is dropped", body("", `[{"role":"user","content":"q"},{"role":"assistant","content":[{"type":"redacted_thinking","data":"x"}]},{"role":"user","content":"r"}]`), func(t *testing.T, r *chat.Request) {
			if len(r.Messages) != 2 || r.Messages[1].Text() != "r" {
				t.Errorf("messages %+v", r.Messages)
			}
		}},
		{"images become image parts", body("", `[{"role":"user","content":[
			{"type":"image","source":{"type":"base64","media_type":"image/webp","data":"UklGRg=="}},
			{"type":"image","source":{"type":"url","url":"https://x.test/a.png"},"cache_control":{"type":"ephemeral"}}]}]`), func(t *testing.T, r *chat.Request) {
			want := []chat.Part{
				{Type: chat.PartImage, ImageURL: "data:image/webp;base64,UklGRg=="},
				{Type: chat.PartImage, ImageURL: "https://x.test/a.png", CacheControl: json.RawMessage(`{"type":"ephemeral"}`)},
			}
			if !reflect.DeepEqual(r.Messages[0].Content, want) {
				t.Errorf("parts %+v", r.Messages[0].Content)
			}
		}},
		{"tools keep input_schema byte for byte", body(`,"tools":[{"name":"f","description":"d","input_schema":{ "type" : "object", "$schema":"x","properties":{"a":{"anyOf":[{"$ref":"#/$defs/a"}]}} },"cache_control":{"type":"ephemeral"}},{"type":"custom","name":"g"}]`, ""), func(t *testing.T, r *chat.Request) {
			want := `{ "type" : "object", "$schema":"x","properties":{"a":{"anyOf":[{"$ref":"#/$defs/a"}]}} }`
			if len(r.Tools) != 2 || string(r.Tools[0].Parameters) != want || r.Tools[0].Description != "d" ||
				string(r.Tools[0].CacheControl) != `{"type":"ephemeral"}` || r.Tools[1].Name != "g" || r.Tools[1].Parameters != nil {
				t.Errorf("tools %+v", r.Tools)
			}
		}},
		{"sampling, stop, stream and user", body(`,"temperature":0.3,"top_p":0.8,"stop_sequences":["x","y"],"stream":true,"metadata":{"user_id":"u1"}`, ""), func(t *testing.T, r *chat.Request) {
			if *r.Temperature != 0.3 || *r.TopP != 0.8 || !reflect.DeepEqual(r.Stop, []string{"x", "y"}) ||
				!r.Stream || !r.IncludeUsage || r.User != "u1" || r.MaxTokens != 64 || r.Model != "claude-haiku-4-5" {
				t.Errorf("request %+v", r)
			}
		}},
		{"unknown fields go to Extra as raw JSON", body(`,"thinking":{"type":"enabled","budget_tokens":1024},"top_k":5,"temperature":null`, ""), func(t *testing.T, r *chat.Request) {
			if len(r.Extra) != 2 || string(r.Extra["thinking"]) != `{"type":"enabled","budget_tokens":1024}` || string(r.Extra["top_k"]) != "5" {
				t.Errorf("extra %v", r.Extra)
			}
			if r.Temperature != nil {
				t.Errorf("null temperature decoded as %v", *r.Temperature)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := DecodeMessagesRequest([]byte(tt.body))
			if err != nil {
				t.Fatal(err)
			}
			tt.check(t, r)
		})
	}
}

func wantChoice(mode, name string, parallel *bool) func(*testing.T, *chat.Request) {
	return func(t *testing.T, r *chat.Request) {
		t.Helper()
		if r.ToolChoice == nil || *r.ToolChoice != (chat.ToolChoice{Mode: mode, Name: name}) {
			t.Errorf("tool choice %+v, want %s %q", r.ToolChoice, mode, name)
		}
		if !reflect.DeepEqual(r.ParallelToolCalls, parallel) {
			t.Errorf("parallel %v, want %v", r.ParallelToolCalls, parallel)
		}
	}
}

func TestDecodeMessagesRequestErrors(t *testing.T) {
	user := func(content string) string { return body("", `[{"role":"user","content":`+content+`}]`) }
	tests := []struct {
		name, body, want string
	}{
		{"not JSON", `{"model":`, "body: invalid JSON"},
		{"not an object", `[1]`, "body: Input should be a valid dictionary"},
		{"null", `null`, "body: Input should be a valid dictionary"},
		{"missing model", `{"max_tokens":1,"messages":[]}`, "model: Field required"},
		{"model not a string", `{"model":5,"max_tokens":1}`, "model: Input should be a valid string"},
		{"missing max_tokens", `{"model":"m","messages":[{"role":"user","content":"x"}]}`, "max_tokens: Field required"},
		{"zero max_tokens", `{"model":"m","max_tokens":0}`, "max_tokens: Input should be greater than or equal to 1"},
		{"fractional max_tokens", `{"model":"m","max_tokens":1.5}`, "max_tokens: Input should be a valid integer"},
		{"missing messages", `{"model":"m","max_tokens":1}`, "messages: Field required"},
		{"empty messages", body("", `[]`), "messages: at least one message is required"},
		{"messages not a list", body("", `{}`), "messages: Input should be a valid list"},
		{"unknown role", body("", `[{"role":"tool","content":"x"}]`), "messages.0.role: Input should be 'user', 'assistant' or 'system'"},
		{"system entry with an image", body("", `[{"role":"system","content":[{"type":"image"}]}]`), "messages.0.content.0.type: Input should be 'text'"},
		{"missing role", body("", `[{"content":"x"}]`), "messages.0.role: Field required"},
		{"missing content", body("", `[{"role":"user"}]`), "messages.0.content: Field required"},
		{"content a number", user(`7`), "messages.0.content: Input should be a valid string or list of content blocks"},
		{"block without type", user(`[{"text":"x"}]`), "messages.0.content.0.type: Field required"},
		{"text without text", user(`[{"type":"text"}]`), "messages.0.content.0.text: Field required"},
		{"text of the wrong type", user(`[{"type":"text","text":5}]`), "messages.0.content.0.text: Input should be a valid string"},
		{"document block", user(`[{"type":"document","source":{"type":"text","data":"x"}}]`), `messages.0.content.0.type: "document" blocks are not supported`},
		{"image without source", user(`[{"type":"image"}]`), "messages.0.content.0.source: Field required"},
		{"image file source", user(`[{"type":"image","source":{"type":"file","file_id":"f"}}]`), `messages.0.content.0.source.type: "file" image sources are not supported`},
		{"base64 image without media type", user(`[{"type":"image","source":{"type":"base64","data":"x"}}]`), "messages.0.content.0.source.media_type: Field required"},
		{"tool_result without id", user(`[{"type":"text","text":"a"},{"type":"tool_result","content":"r"}]`), "messages.0.content.1.tool_use_id: Field required"},
		{"tool_result with a document", user(`[{"type":"tool_result","tool_use_id":"t","content":[{"type":"search_result"}]}]`), `messages.0.content.0.content.0.type: "search_result" blocks are not supported`},
		{"tool_use without id", body("", `[{"role":"assistant","content":[{"type":"tool_use","name":"f","input":{}}]}]`), "messages.0.content.0.id: Field required"},
		{"tool_use without name", body("", `[{"role":"assistant","content":[{"type":"tool_use","id":"i","input":{}}]}]`), "messages.0.content.0.name: Field required"},
		{"tool_use input not an object", body("", `[{"role":"assistant","content":[{"type":"tool_use","id":"i","name":"f","input":[1]}]}]`), "messages.0.content.0.input: Input should be a valid dictionary"},
		{"tool_result from the assistant", body("", `[{"role":"assistant","content":[{"type":"tool_result","tool_use_id":"t"}]}]`), "messages.0.content.0.type: tool_result blocks are only allowed in user messages"},
		{"system a number", body(`,"system":7`, ""), "system: Input should be a valid string or list of text blocks"},
		{"system image block", body(`,"system":[{"type":"image"}]`, ""), "system.0.type: Input should be 'text'"},
		{"server tool", body(`,"tools":[{"type":"web_search_20250305","name":"web_search"}]`, ""), `tools.0.type: server tool "web_search_20250305" is not supported`},
		{"tool without name", body(`,"tools":[{"input_schema":{}}]`, ""), "tools.0.name: Field required"},
		{"tools not a list", body(`,"tools":{}`, ""), "tools: Input should be a valid list"},
		{"tool_choice unknown", body(`,"tool_choice":{"type":"some"}`, ""), "tool_choice.type: Input should be"},
		{"tool_choice tool without name", body(`,"tool_choice":{"type":"tool"}`, ""), "tool_choice.name: Field required"},
		{"tool_choice a string", body(`,"tool_choice":"auto"`, ""), "tool_choice: Input should be a valid dictionary"},
		{"temperature a string", body(`,"temperature":"hot"`, ""), "temperature: Input should be a valid number"},
		{"stop_sequences a string", body(`,"stop_sequences":"x"`, ""), "stop_sequences: Input should be a valid list of strings"},
		{"stream a string", body(`,"stream":"yes"`, ""), "stream: Input should be a valid boolean"},
		{"user_id a number", body(`,"metadata":{"user_id":5}`, ""), "metadata.user_id: Input should be a valid string"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := DecodeMessagesRequest([]byte(tt.body))
			var re *RequestError
			if !errors.As(err, &re) {
				t.Fatalf("error %v (%T), want *RequestError", err, err)
			}
			if !strings.Contains(re.Message, tt.want) {
				t.Errorf("message %q, want it to contain %q", re.Message, tt.want)
			}
			if !strings.HasPrefix(err.Error(), "anthropic: invalid request: ") {
				t.Errorf("Error() %q", err.Error())
			}
		})
	}
}
