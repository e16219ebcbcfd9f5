package anthropic

import (
	"encoding/json"
	"math"
	"reflect"
	"strings"
	"testing"

	"github.com/junctionhq/junction/llm/chat"
)

// encodeJSON encodes req towards Anthropic and decodes the body generically.
func encodeJSON(t *testing.T, req *chat.Request) map[string]any {
	t.Helper()
	b := appendRequest(nil, "claude-x", req, false, 4096)
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("invalid body %s: %v", b, err)
	}
	return m
}

// jsonOf re-encodes a generically decoded value, for compact comparisons.
func jsonOf(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func userReq(extra func(*chat.Request)) *chat.Request {
	r := &chat.Request{Messages: []chat.Message{chat.TextMessage(chat.RoleUser, "hi")}}
	if extra != nil {
		extra(r)
	}
	return r
}

func TestEncodeRequest(t *testing.T) {
	tools := []chat.Tool{{Name: "f", Parameters: json.RawMessage(`{"type":"object"}`)}}
	withTools := func(tc *chat.ToolChoice, parallel *bool) *chat.Request {
		return userReq(func(r *chat.Request) { r.Tools, r.ToolChoice, r.ParallelToolCalls = tools, tc, parallel })
	}
	tests := []struct {
		name string
		req  *chat.Request
		key  string // the top-level field checked; "" checks absence of tool_choice
		want string // its JSON; "" means absent
	}{
		{"one system message is a string", &chat.Request{Messages: []chat.Message{
			chat.TextMessage(chat.RoleSystem, "s"), chat.TextMessage(chat.RoleUser, "u")}}, "system", `"s"`},
		{"system and developer messages join the system blocks", &chat.Request{Messages: []chat.Message{
			chat.TextMessage(chat.RoleSystem, "s"), chat.TextMessage(chat.RoleUser, "u"), chat.TextMessage(chat.RoleDeveloper, "d")}},
			"system", `[{"text":"s","type":"text"},{"text":"d","type":"text"}]`},
		{"system and developer messages leave the conversation", &chat.Request{Messages: []chat.Message{
			chat.TextMessage(chat.RoleSystem, "s"), chat.TextMessage(chat.RoleDeveloper, "d"), chat.TextMessage(chat.RoleUser, "u")}},
			"messages", `[{"content":"u","role":"user"}]`},
		{"system cache_control is kept", &chat.Request{Messages: []chat.Message{
			{Role: chat.RoleSystem, Content: []chat.Part{{Type: chat.PartText, Text: "s", CacheControl: json.RawMessage(`{"type":"ephemeral"}`)}}}, chat.TextMessage(chat.RoleUser, "u")}},
			"system", `[{"cache_control":{"type":"ephemeral"},"text":"s","type":"text"}]`},
		{"tool_choice auto", withTools(&chat.ToolChoice{Mode: chat.ToolChoiceAuto}, nil), "tool_choice", `{"type":"auto"}`},
		{"tool_choice required is any", withTools(&chat.ToolChoice{Mode: chat.ToolChoiceRequired}, nil), "tool_choice", `{"type":"any"}`},
		{"tool_choice function is tool", withTools(&chat.ToolChoice{Mode: chat.ToolChoiceFunction, Name: "f"}, nil), "tool_choice", `{"name":"f","type":"tool"}`},
		{"tool_choice none", withTools(&chat.ToolChoice{Mode: chat.ToolChoiceNone}, ptr(false)), "tool_choice", `{"type":"none"}`},
		{"parallel off is disable_parallel_tool_use", withTools(&chat.ToolChoice{Mode: chat.ToolChoiceRequired}, ptr(false)), "tool_choice", `{"disable_parallel_tool_use":true,"type":"any"}`},
		{"parallel off alone is auto without parallel calls", withTools(nil, ptr(false)), "tool_choice", `{"disable_parallel_tool_use":true,"type":"auto"}`},
		{"parallel on is the default", withTools(nil, ptr(true)), "tool_choice", ""},
		{"no tool_choice without tools", userReq(func(r *chat.Request) { r.ToolChoice = &chat.ToolChoice{Mode: chat.ToolChoiceAuto} }), "tool_choice", ""},
		{"temperature above 1 is clamped", userReq(func(r *chat.Request) { r.Temperature = ptr(1.7) }), "temperature", `1`},
		{"negative temperature is clamped", userReq(func(r *chat.Request) { r.Temperature = ptr(-0.5) }), "temperature", `0`},
		{"temperature within range", userReq(func(r *chat.Request) { r.Temperature = ptr(0.25) }), "temperature", `0.25`},
		{"NaN temperature is left out", userReq(func(r *chat.Request) { r.Temperature = ptr(math.NaN()) }), "temperature", ""},
		{"max_tokens defaults", userReq(nil), "max_tokens", `4096`},
		{"max_tokens kept", userReq(func(r *chat.Request) { r.MaxTokens = 9 }), "max_tokens", `9`},
		{"stop is stop_sequences", userReq(func(r *chat.Request) { r.Stop = []string{"a", "b"} }), "stop_sequences", `["a","b"]`},
		{"user is metadata.user_id", userReq(func(r *chat.Request) { r.User = "u" }), "metadata", `{"user_id":"u"}`},
		{"model is the target's", userReq(func(r *chat.Request) { r.Model = "alias" }), "model", `"claude-x"`},
		{"Anthropic extras pass through", userReq(func(r *chat.Request) {
			r.Extra = map[string]json.RawMessage{"thinking": json.RawMessage(`{"type":"enabled","budget_tokens":1024}`)}
		}), "thinking", `{"budget_tokens":1024,"type":"enabled"}`},
		{"OpenAI-only extras are dropped", userReq(func(r *chat.Request) {
			r.Extra = map[string]json.RawMessage{"frequency_penalty": json.RawMessage(`1`), "messages": json.RawMessage(`[]`)}
		}), "frequency_penalty", ""},
		{"tool cache_control and schema pass through", userReq(func(r *chat.Request) {
			r.Tools = []chat.Tool{{Name: "f", Description: "d", Parameters: json.RawMessage(`{"type":"object","$defs":{}}`), CacheControl: json.RawMessage(`{"type":"ephemeral"}`)}}
		}), "tools", `[{"cache_control":{"type":"ephemeral"},"description":"d","input_schema":{"$defs":{},"type":"object"},"name":"f"}]`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := encodeJSON(t, tt.req)
			v, ok := m[tt.key]
			switch {
			case tt.want == "" && ok:
				t.Errorf("%s = %s, want it absent", tt.key, jsonOf(t, v))
			case tt.want != "" && !ok:
				t.Errorf("%s absent, want %s", tt.key, tt.want)
			case tt.want != "" && jsonOf(t, v) != tt.want:
				t.Errorf("%s = %s, want %s", tt.key, jsonOf(t, v), tt.want)
			}
		})
	}
}

func TestEncodeToolTurns(t *testing.T) {
	req := &chat.Request{Messages: []chat.Message{
		chat.TextMessage(chat.RoleUser, "q"),
		{Role: chat.RoleAssistant, Content: []chat.Part{{Type: chat.PartText, Text: ""}}, ToolCalls: []chat.ToolCall{
			{ID: "call:1", Name: "f", Arguments: `{"a":1}`},
			{ID: "call_2", Name: "g", Arguments: `{"a":`},
		}},
		{Role: chat.RoleTool, ToolCallID: "call:1", Content: []chat.Part{{Type: chat.PartText, Text: "r1"}}},
		{Role: chat.RoleTool, ToolCallID: "call_2", IsError: true, Content: []chat.Part{{Type: chat.PartText, Text: "r2"}}},
		chat.TextMessage(chat.RoleUser, "more"),
		{Role: chat.RoleAssistant, Content: []chat.Part{{Type: chat.PartText, Text: "ok"}}},
		{Role: chat.RoleTool, ToolCallID: "late", Content: []chat.Part{{Type: chat.PartText, Text: "r3"}}},
	}}
	got := jsonOf(t, encodeJSON(t, req)["messages"])
	want := `[{"content":"q","role":"user"},` +
		`{"content":[{"id":"call_1","input":{"a":1},"name":"f","type":"tool_use"},{"id":"call_2","input":{"_raw":"{\"a\":"},"name":"g","type":"tool_use"}],"role":"assistant"},` +
		`{"content":[{"content":"r1","tool_use_id":"call_1","type":"tool_result"},{"content":"r2","is_error":true,"tool_use_id":"call_2","type":"tool_result"},{"text":"more","type":"text"}],"role":"user"},` +
		`{"content":"ok","role":"assistant"},` +
		`{"content":[{"content":"r3","tool_use_id":"late","type":"tool_result"}],"role":"user"}]`
	if got != want {
		t.Errorf("messages\n got %s\nwant %s", got, want)
	}
}

func TestEncodeImages(t *testing.T) {
	req := userReq(func(r *chat.Request) {
		r.Messages[0].Content = append(r.Messages[0].Content,
			chat.Part{Type: chat.PartImage, ImageURL: "data:image/png;base64,AAAA"},
			chat.Part{Type: chat.PartImage, ImageURL: "https://x.test/i.png", CacheControl: json.RawMessage(`{"type":"ephemeral"}`)},
		)
	})
	got := jsonOf(t, encodeJSON(t, req)["messages"])
	want := `[{"content":[{"text":"hi","type":"text"},` +
		`{"source":{"data":"AAAA","media_type":"image/png","type":"base64"},"type":"image"},` +
		`{"cache_control":{"type":"ephemeral"},"source":{"type":"url","url":"https://x.test/i.png"},"type":"image"}],"role":"user"}]`
	if got != want {
		t.Errorf("messages\n got %s\nwant %s", got, want)
	}
}

// TestEncodeSchemaBytes checks that tool schemas reach Anthropic byte for
// byte, whitespace and key order included.
func TestEncodeSchemaBytes(t *testing.T) {
	schema := `{ "type":"object",  "properties": {"z":{"type":"string"},"a":{"$ref":"#/$defs/a"}}, "$defs":{"a":{}} }`
	req := userReq(func(r *chat.Request) { r.Tools = []chat.Tool{{Name: "f", Parameters: json.RawMessage(schema)}} })
	b := appendRequest(nil, "m", req, false, 1)
	if !strings.Contains(string(b), `"input_schema":`+schema) {
		t.Errorf("schema not kept byte for byte: %s", b)
	}
}

func TestParseDataURL(t *testing.T) {
	tests := []struct {
		url, mediaType, data string
		ok                   bool
	}{
		{"data:image/png;base64,AAAA", "image/png", "AAAA", true},
		{"data:image/jpeg;name=a.jpg;base64,BBBB", "image/jpeg", "BBBB", true},
		{"data:image/png,AAAA", "", "", false},
		{"data:;base64,AAAA", "", "AAAA", false},
		{"https://x.test/a.png", "", "", false},
	}
	for _, tt := range tests {
		mt, data, ok := parseDataURL(tt.url)
		if ok != tt.ok || (ok && (mt != tt.mediaType || data != tt.data)) {
			t.Errorf("parseDataURL(%q) = %q, %q, %v", tt.url, mt, data, ok)
		}
	}
}

// TestRoundTripRequest: an Anthropic client's request decoded and encoded
// back towards Anthropic says the same thing (modulo the dropped thinking
// blocks of earlier turns, absent here).
func TestRoundTripRequest(t *testing.T) {
	in := `{"model":"m","max_tokens":10,"system":[{"type":"text","text":"s","cache_control":{"type":"ephemeral"}}],` +
		`"messages":[{"role":"user","content":"q"},{"role":"assistant","content":[{"type":"text","text":"t"},{"type":"tool_use","id":"a","name":"f","input":{"x":1}}]},` +
		`{"role":"user","content":[{"type":"tool_result","tool_use_id":"a","content":"r","is_error":true},{"type":"text","text":"n"}]}],` +
		`"tools":[{"name":"f","description":"d","input_schema":{"type":"object"}}],"tool_choice":{"type":"any","disable_parallel_tool_use":true},` +
		`"temperature":0.5,"top_p":0.9,"stop_sequences":["x"],"metadata":{"user_id":"u"},"top_k":3}`
	req, err := DecodeMessagesRequest([]byte(in))
	if err != nil {
		t.Fatal(err)
	}
	out := appendRequest(nil, "m", req, false, 1)
	var a, b any
	if err := json.Unmarshal([]byte(in), &a); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(out, &b); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(a, b) {
		t.Errorf("round trip differs\n  in %s\n out %s", in, out)
	}
}
