package gemini

import (
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"

	"github.com/junctionhq/junction/llm/chat"
)

func ptr[T any](v T) *T { return &v }

func text(role, s string) chat.Message { return chat.TextMessage(role, s) }

// requestCases are the canonical requests whose Gemini translations are kept
// in testdata/request/<name>.json.
var requestCases = []struct {
	name string
	req  chat.Request
}{
	{
		name: "basic",
		req: chat.Request{
			Model: "alias",
			Messages: []chat.Message{
				text(chat.RoleSystem, "You are terse."),
				text(chat.RoleDeveloper, "Answer in French."),
				text(chat.RoleUser, "What is <b>HTML</b> & why?"),
			},
			MaxTokens:   256,
			Temperature: ptr(0.0),
			TopP:        ptr(0.9),
			Stop:        []string{"END"},
			User:        "user-1",
			Extra:       map[string]json.RawMessage{"seed": json.RawMessage(`7`)},
		},
	},
	{
		name: "multimodal",
		req: chat.Request{Messages: []chat.Message{{
			Role: chat.RoleUser,
			Content: []chat.Part{
				{Type: chat.PartText, Text: "Compare these."},
				{Type: chat.PartImage, ImageURL: "data:image/png;base64,iVBORw0KGgo=", Detail: "high"},
				{Type: chat.PartImage, ImageURL: "https://example.com/cat.JPG?size=large"},
				{Type: chat.PartImage, ImageURL: "gs://bucket/report.pdf"},
				{Type: chat.PartImage, ImageURL: "https://example.com/image"},
				{Type: chat.PartImage, ImageURL: "data:text/plain,hello%20world"},
			},
		}}},
	},
	{
		name: "tools",
		req: chat.Request{
			Messages: []chat.Message{text(chat.RoleUser, "Weather in Paris?")},
			Tools: []chat.Tool{
				{
					Name:        "get_weather",
					Description: "Current weather for a city.",
					Parameters: json.RawMessage(`{"$schema":"http://json-schema.org/draft-07/schema#","type":"object",
						"properties":{"city":{"type":"string"},"unit":{"anyOf":[{"enum":["c","f"]},{"type":"null"}]},
						"when":{"$ref":"#/definitions/When"}},"required":["city"],"additionalProperties":false,
						"definitions":{"When":{"type":"string","format":"date-time"}}}`),
					Strict: ptr(true),
				},
				{Name: "get_time", Description: "Current time.", Parameters: json.RawMessage(`{"type":"object","properties":{}}`)},
				{Name: "ping"},
			},
			ToolChoice: &chat.ToolChoice{Mode: chat.ToolChoiceRequired},
		},
	},
	{
		name: "tool_choice_function",
		req: chat.Request{
			Messages:   []chat.Message{text(chat.RoleUser, "hi")},
			Tools:      []chat.Tool{{Name: "lookup", Parameters: json.RawMessage(`{"type":"object","properties":{"q":{"type":"string"}}}`)}},
			ToolChoice: &chat.ToolChoice{Mode: chat.ToolChoiceFunction, Name: "lookup"},
		},
	},
	{
		name: "tool_loop",
		req: chat.Request{
			Messages: []chat.Message{
				text(chat.RoleSystem, "Use tools."),
				text(chat.RoleUser, "Weather and time in Paris?"),
				{
					Role:    chat.RoleAssistant,
					Content: []chat.Part{{Type: chat.PartText, Text: "Checking."}},
					ToolCalls: []chat.ToolCall{
						{ID: "call_0", Name: "get_weather", Arguments: `{ "city": "Paris" }`},
						{ID: "call_1", Name: "get_time", Arguments: `{"tz": "Europe/Par`}, // truncated by the model
					},
				},
				{Role: chat.RoleTool, ToolCallID: "call_0", Content: []chat.Part{{Type: chat.PartText, Text: `{"temp": 21, "sky": "clear"}`}}},
				{Role: chat.RoleTool, ToolCallID: "call_1", Content: []chat.Part{{Type: chat.PartText, Text: "bad timezone"}}, IsError: true},
				text(chat.RoleUser, "Try the time again."),
				{Role: chat.RoleAssistant, ToolCalls: []chat.ToolCall{{ID: "call_0", Name: "get_time", Arguments: `{"tz":"Europe/Paris"}`}}},
				{Role: chat.RoleTool, ToolCallID: "call_0", Content: []chat.Part{{Type: chat.PartText, Text: "12:00"}}},
				{Role: chat.RoleTool, ToolCallID: "unknown", Name: "legacy_fn", Content: []chat.Part{{Type: chat.PartText, Text: "[1, 2]"}}},
				{Role: chat.RoleAssistant},       // empty: left out
				text(chat.RoleUser, ""),          // empty: left out
				text(chat.RoleAssistant, "Done"), // model text
			},
		},
	},
	{
		name: "response_format",
		req: chat.Request{
			Messages: []chat.Message{text(chat.RoleUser, "List two colours.")},
			ResponseFormat: json.RawMessage(`{"type":"json_schema","json_schema":{"name":"colours","strict":true,
				"schema":{"type":"array","items":{"type":"string"},"minItems":2,"$schema":"x"}}}`),
			ToolChoice: &chat.ToolChoice{Mode: chat.ToolChoiceNone}, // no tools: no toolConfig
		},
	},
}

func TestEncodeRequestGolden(t *testing.T) {
	for _, tt := range requestCases {
		t.Run(tt.name, func(t *testing.T) {
			got, err := encodeRequest(&tt.req)
			if err != nil {
				t.Fatal(err)
			}
			checkGolden(t, filepath.Join("testdata", "request", tt.name+".json"), got)
		})
	}
}

func TestEncodeRequestErrors(t *testing.T) {
	tests := []struct {
		name string
		req  chat.Request
		want string
	}{
		{"unknown role", chat.Request{Messages: []chat.Message{text("function", "x")}}, `messages[0]: unknown role "function"`},
		{"bad data URL", chat.Request{Messages: []chat.Message{{Role: chat.RoleUser,
			Content: []chat.Part{{Type: chat.PartImage, ImageURL: "data:image/png;base64,!!"}}}}}, "messages[0]: image: data URL"},
		{"data URL without comma", chat.Request{Messages: []chat.Message{{Role: chat.RoleUser,
			Content: []chat.Part{{Type: chat.PartImage, ImageURL: "data:image/png"}}}}}, "malformed data URL"},
		{"file URL", chat.Request{Messages: []chat.Message{{Role: chat.RoleUser,
			Content: []chat.Part{{Type: chat.PartImage, ImageURL: "file:///etc/passwd"}}}}}, "want a data:, http(s) or gs:// URL"},
		{"bad schema", chat.Request{Messages: []chat.Message{text(chat.RoleUser, "x")},
			Tools: []chat.Tool{{Name: "f", Parameters: json.RawMessage(`[1]`)}}}, "tools[0] (f): parameters: invalid JSON Schema"},
	}
	for _, tt := range tests {
		_, err := encodeRequest(&tt.req)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: error %v, want %q", tt.name, err, tt.want)
		}
	}
}

func TestRoleOf(t *testing.T) {
	tests := []struct {
		role   string
		want   string
		system bool
		ok     bool
	}{
		{chat.RoleSystem, "", true, true},
		{chat.RoleDeveloper, "", true, true},
		{chat.RoleUser, "user", false, true},
		{chat.RoleTool, "user", false, true},
		{chat.RoleAssistant, "model", false, true},
		{"function", "", false, false},
		{"", "", false, false},
	}
	for _, tt := range tests {
		got, system, ok := roleOf(tt.role)
		if got != tt.want || system != tt.system || ok != tt.ok {
			t.Errorf("roleOf(%q) = %q, %v, %v; want %q, %v, %v", tt.role, got, system, ok, tt.want, tt.system, tt.ok)
		}
	}
}

func TestToolResult(t *testing.T) {
	tests := []struct {
		text    string
		isError bool
		want    string
	}{
		{`{"a": 1}`, false, `{"a":1}`},
		{` {"a":1} `, true, `{"error":{"a":1}}`},
		{"plain", false, `{"content":"plain"}`},
		{"boom", true, `{"error":"boom"}`},
		{`[1,2]`, false, `{"content":"[1,2]"}`},
		{`{"broken"`, false, `{"content":"{\"broken\""}`},
		{"", false, `{"content":""}`},
	}
	for _, tt := range tests {
		if got := string(toolResult(tt.text, tt.isError)); got != tt.want {
			t.Errorf("toolResult(%q, %v) = %s, want %s", tt.text, tt.isError, got, tt.want)
		}
	}
}

func TestCallArgs(t *testing.T) {
	tests := map[string]string{
		``:              `{}`,
		`{ "a" : [1] }`: `{"a":[1]}`,
		`{"a":`:         `{}`,
		`[1]`:           `{}`,
		`"x"`:           `{}`,
	}
	for in, want := range tests {
		if got := string(callArgs(in)); got != want {
			t.Errorf("callArgs(%q) = %s, want %s", in, got, want)
		}
	}
}

func TestToolChoiceModes(t *testing.T) {
	tests := []struct {
		choice *chat.ToolChoice
		want   string // the toolConfig JSON, "" for none
	}{
		{nil, ""},
		{&chat.ToolChoice{Mode: chat.ToolChoiceAuto}, `{"functionCallingConfig":{"mode":"AUTO"}}`},
		{&chat.ToolChoice{Mode: chat.ToolChoiceNone}, `{"functionCallingConfig":{"mode":"NONE"}}`},
		{&chat.ToolChoice{Mode: chat.ToolChoiceRequired}, `{"functionCallingConfig":{"mode":"ANY"}}`},
		{&chat.ToolChoice{Mode: chat.ToolChoiceFunction, Name: "f"}, `{"functionCallingConfig":{"mode":"ANY","allowedFunctionNames":["f"]}}`},
		{&chat.ToolChoice{Mode: "weird"}, ""},
	}
	for _, tt := range tests {
		g, err := buildRequest(&chat.Request{
			Messages:   []chat.Message{text(chat.RoleUser, "x")},
			Tools:      []chat.Tool{{Name: "f"}},
			ToolChoice: tt.choice,
		})
		if err != nil {
			t.Fatal(err)
		}
		got := ""
		if g.ToolConfig != nil {
			got = string(mustJSON(t, g.ToolConfig))
			got = strings.TrimSpace(got)
		}
		if got != tt.want {
			t.Errorf("%+v: %s, want %s", tt.choice, got, tt.want)
		}
	}
}

func TestModelURL(t *testing.T) {
	p, err := New(Config{BaseURL: "http://h/v1beta/"})
	if err != nil {
		t.Fatal(err)
	}
	for model, want := range map[string]string{
		"gemini-2.5-flash":        "http://h/v1beta/models/gemini-2.5-flash:generateContent",
		"models/gemini-2.5-flash": "http://h/v1beta/models/gemini-2.5-flash:generateContent",
		"a/b?c":                   "http://h/v1beta/models/a%2Fb%3Fc:generateContent",
	} {
		if got := p.modelURL(model, "generateContent"); got != want {
			t.Errorf("modelURL(%q) = %q, want %q", model, got, want)
		}
	}
}

func TestNew(t *testing.T) {
	p, err := New(Config{})
	if err != nil {
		t.Fatal(err)
	}
	if p.name != "gemini" || p.baseURL != DefaultBaseURL || p.client == nil || p.client.Transport == nil {
		t.Errorf("defaults: %+v", p)
	}
	_, err = New(Config{BaseURL: "ftp://x", Headers: map[string]string{"Bad Name": "v", "X-Ok": "a\nb"}})
	if err == nil {
		t.Fatal("no error")
	}
	for _, want := range []string{"base_url", `invalid header name "Bad Name"`, "headers.X-Ok"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q lacks %q", err, want)
		}
	}
}
