package openai

import (
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/junctionhq/junction/llm/chat"
)

func ptr[T any](v T) *T { return &v }

// user is the message most cases carry.
const user = `"messages":[{"role":"user","content":"hi"}]`

var userMessages = []chat.Message{chat.TextMessage(chat.RoleUser, "hi")}

func TestDecodeChatRequestFields(t *testing.T) {
	cases := []struct {
		name string
		body string
		want chat.Request
	}{
		{
			name: "minimal",
			body: `{"model":"gpt-4o",` + user + `}`,
			want: chat.Request{Model: "gpt-4o", Messages: userMessages},
		},
		{
			name: "whitespace and escaped keys",
			body: " {\n\t\"mod\\u0065l\" : \"gpt-4o\" ,\r\n \"messages\" : [ { \"role\" : \"user\" , \"content\" : \"hi\" } ] } \n",
			want: chat.Request{Model: "gpt-4o", Messages: userMessages},
		},
		{
			name: "every role and content form",
			body: `{"model":"m","messages":[` +
				`{"role":"system","content":"sys"},` +
				`{"role":"developer","content":[{"type":"text","text":"dev"}]},` +
				`{"role":"user","name":"ann","content":[{"type":"text","text":"look"},` +
				`{"type":"image_url","image_url":{"url":"https://x/y.png","detail":"high"}},` +
				`{"type":"image_url","image_url":"data:image/png;base64,AAAA"}]},` +
				`{"role":"assistant","content":null,"tool_calls":[{"id":"call_1","type":"function","function":{"name":"get","arguments":"{\"q\":1}"}},` +
				`{"id":"call_2","function":{"name":"obj","arguments":{"a":[1]}}}]},` +
				`{"role":"tool","tool_call_id":"call_1","content":"result"},` +
				`{"role":"assistant","content":[{"type":"text","text":"done"},{"type":"refusal","refusal":"no"}]},` +
				`{"role":"assistant"}]}`,
			want: chat.Request{Model: "m", Messages: []chat.Message{
				chat.TextMessage(chat.RoleSystem, "sys"),
				chat.TextMessage(chat.RoleDeveloper, "dev"),
				{Role: chat.RoleUser, Name: "ann", Content: []chat.Part{
					{Type: chat.PartText, Text: "look"},
					{Type: chat.PartImage, ImageURL: "https://x/y.png", Detail: "high"},
					{Type: chat.PartImage, ImageURL: "data:image/png;base64,AAAA"},
				}},
				{Role: chat.RoleAssistant, ToolCalls: []chat.ToolCall{
					{ID: "call_1", Name: "get", Arguments: `{"q":1}`},
					{ID: "call_2", Name: "obj", Arguments: `{"a":[1]}`},
				}},
				{Role: chat.RoleTool, ToolCallID: "call_1", Content: []chat.Part{{Type: chat.PartText, Text: "result"}}},
				chat.TextMessage(chat.RoleAssistant, "done"),
				{Role: chat.RoleAssistant},
			}},
		},
		{
			name: "empty string content has no parts",
			body: `{"model":"m","messages":[{"role":"user","content":""}]}`,
			want: chat.Request{Model: "m", Messages: []chat.Message{{Role: chat.RoleUser}}},
		},
		{
			name: "cache_control on parts and tools",
			body: `{"model":"m","messages":[{"role":"user","content":[{"type":"text","text":"t","cache_control":{"type":"ephemeral"}}]}],` +
				`"tools":[{"type":"function","function":{"name":"f"},"cache_control":{"type":"ephemeral"}}]}`,
			want: chat.Request{Model: "m",
				Messages: []chat.Message{{Role: chat.RoleUser, Content: []chat.Part{{Type: chat.PartText, Text: "t", CacheControl: json.RawMessage(`{"type":"ephemeral"}`)}}}},
				Tools:    []chat.Tool{{Name: "f", CacheControl: json.RawMessage(`{"type":"ephemeral"}`)}},
			},
		},
		{
			name: "tools keep parameters byte for byte",
			body: `{"model":"m",` + user + `,"tools":[{"type":"function","function":{"name":"get_weather","description":"Weather.",` +
				`"parameters":{ "$schema" : "http://json-schema.org/draft-07/schema#", "type":"object","properties":{"city":{"type":"string","description":"\u00e9"}},"anyOf":[{"$ref":"#/x"}] },"strict":true}},` +
				`{"type":"function","function":{"name":"noargs","parameters":null,"strict":null}}]}`,
			want: chat.Request{Model: "m", Messages: userMessages, Tools: []chat.Tool{
				{Name: "get_weather", Description: "Weather.", Strict: ptr(true), Parameters: json.RawMessage(
					`{ "$schema" : "http://json-schema.org/draft-07/schema#", "type":"object","properties":{"city":{"type":"string","description":"\u00e9"}},"anyOf":[{"$ref":"#/x"}] }`)},
				{Name: "noargs"},
			}},
		},
		{
			name: "tool_choice auto",
			body: `{"model":"m",` + user + `,"tool_choice":"auto"}`,
			want: chat.Request{Model: "m", Messages: userMessages, ToolChoice: &chat.ToolChoice{Mode: chat.ToolChoiceAuto}},
		},
		{
			name: "tool_choice none",
			body: `{"model":"m",` + user + `,"tool_choice":"none"}`,
			want: chat.Request{Model: "m", Messages: userMessages, ToolChoice: &chat.ToolChoice{Mode: chat.ToolChoiceNone}},
		},
		{
			name: "tool_choice required",
			body: `{"model":"m",` + user + `,"tool_choice":"required"}`,
			want: chat.Request{Model: "m", Messages: userMessages, ToolChoice: &chat.ToolChoice{Mode: chat.ToolChoiceRequired}},
		},
		{
			name: "tool_choice function",
			body: `{"model":"m",` + user + `,"tool_choice":{"type":"function","function":{"name":"get"}}}`,
			want: chat.Request{Model: "m", Messages: userMessages, ToolChoice: &chat.ToolChoice{Mode: chat.ToolChoiceFunction, Name: "get"}},
		},
		{
			name: "tool_choice null",
			body: `{"model":"m",` + user + `,"tool_choice":null}`,
			want: chat.Request{Model: "m", Messages: userMessages},
		},
		{
			name: "sampling and limits",
			body: `{"model":"m",` + user + `,"parallel_tool_calls":false,"max_tokens":100,"temperature":0.5,"top_p":1,"stop":"END","user":"u-1"}`,
			want: chat.Request{Model: "m", Messages: userMessages, ParallelToolCalls: ptr(false), MaxTokens: 100,
				Temperature: ptr(0.5), TopP: ptr(1.0), Stop: []string{"END"}, User: "u-1"},
		},
		{
			name: "max_completion_tokens wins over max_tokens",
			body: `{"model":"m",` + user + `,"max_completion_tokens":50,"max_tokens":100}`,
			want: chat.Request{Model: "m", Messages: userMessages, MaxTokens: 50},
		},
		{
			name: "stop array",
			body: `{"model":"m",` + user + `,"stop":["a","b"]}`,
			want: chat.Request{Model: "m", Messages: userMessages, Stop: []string{"a", "b"}},
		},
		{
			name: "nulls are unset",
			body: `{"model":"m",` + user + `,"temperature":null,"top_p":null,"stop":null,"max_tokens":null,"stream":null,` +
				`"stream_options":null,"user":null,"tools":null,"parallel_tool_calls":null,"response_format":null}`,
			want: chat.Request{Model: "m", Messages: userMessages},
		},
		{
			name: "stream with usage",
			body: `{"model":"m",` + user + `,"stream":true,"stream_options":{"include_usage":true,"other":1}}`,
			want: chat.Request{Model: "m", Messages: userMessages, Stream: true, IncludeUsage: true},
		},
		{
			name: "usage is for streams only",
			body: `{"model":"m",` + user + `,"stream_options":{"include_usage":true}}`,
			want: chat.Request{Model: "m", Messages: userMessages},
		},
		{
			name: "stream after stream_options",
			body: `{"model":"m",` + user + `,"stream_options":{"include_usage":true},"stream":true}`,
			want: chat.Request{Model: "m", Messages: userMessages, Stream: true, IncludeUsage: true},
		},
		{
			name: "stream without usage",
			body: `{"model":"m",` + user + `,"stream":true,"stream_options":{"include_usage":false}}`,
			want: chat.Request{Model: "m", Messages: userMessages, Stream: true},
		},
		{
			name: "response_format raw",
			body: `{"model":"m",` + user + `,"response_format":{"type":"json_schema","json_schema":{"name":"x","schema":{"type":"object"}}}}`,
			want: chat.Request{Model: "m", Messages: userMessages,
				ResponseFormat: json.RawMessage(`{"type":"json_schema","json_schema":{"name":"x","schema":{"type":"object"}}}`)},
		},
		{
			name: "unknown fields go to Extra raw",
			body: `{"model":"m",` + user + `,"seed":42,"logit_bias":{"50256":-100},"n":1,"metadata":{"k":"v"},"reasoning_effort":"low","x-null":null,"weird\"key":[1, 2]}`,
			want: chat.Request{Model: "m", Messages: userMessages, Extra: map[string]json.RawMessage{
				"seed": json.RawMessage(`42`), "logit_bias": json.RawMessage(`{"50256":-100}`), "n": json.RawMessage(`1`),
				"metadata": json.RawMessage(`{"k":"v"}`), "reasoning_effort": json.RawMessage(`"low"`),
				"x-null": json.RawMessage(`null`), `weird"key`: json.RawMessage(`[1, 2]`),
			}},
		},
		{
			name: "duplicate keys: the last wins",
			body: `{"model":"a","model":"b",` + user + `}`,
			want: chat.Request{Model: "b", Messages: userMessages},
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := DecodeChatRequest([]byte(c.body))
			if err != nil {
				t.Fatalf("DecodeChatRequest: %v", err)
			}
			if !reflect.DeepEqual(*got, c.want) {
				t.Errorf("got  %s\nwant %s", dump(got), dump(&c.want))
			}
		})
	}
}

func TestDecodeChatRequestDoesNotAliasBody(t *testing.T) {
	body := []byte(`{"model":"m",` + user + `,"seed":42,"tools":[{"type":"function","function":{"name":"f","parameters":{"type":"object"}}}]}`)
	req, err := DecodeChatRequest(body)
	if err != nil {
		t.Fatal(err)
	}
	for i := range body {
		body[i] = 'X'
	}
	if string(req.Extra["seed"]) != "42" || string(req.Tools[0].Parameters) != `{"type":"object"}` || req.Model != "m" {
		t.Errorf("decoded request changed with the body: %s", dump(req))
	}
}

func TestDecodeChatRequestErrors(t *testing.T) {
	cases := []struct {
		body    string
		param   string
		message string // a part of the message
	}{
		{``, "", "empty"},
		{`   `, "", "empty"},
		{`[]`, "", "must be a JSON object, got an array"},
		{`"x"`, "", "must be a JSON object, got a string"},
		{`{`, "", "not valid JSON"},
		{`{"model":"m",` + user + `} x`, "", "not valid JSON"},
		{`{"model":"m",` + user + `,}`, "", "not valid JSON"},
		{`nope`, "", "not valid JSON"},
		{`{` + user + `}`, "model", "missing required parameter"},
		{`{"model":"",` + user + `}`, "model", "missing required parameter"},
		{`{"model":null,` + user + `}`, "model", "missing required parameter"},
		{`{"model":7,` + user + `}`, "model", "must be a string, got a number"},
		{`{"model":"m"}`, "messages", "missing required parameter"},
		{`{"model":"m","messages":null}`, "messages", "missing required parameter"},
		{`{"model":"m","messages":[]}`, "messages", "must not be empty"},
		{`{"model":"m","messages":{}}`, "messages", "must be an array of messages, got an object"},
		{`{"model":"m","messages":["hi"]}`, "messages[0]", "must be an object, got a string"},
		{`{"model":"m","messages":[{"content":"hi"}]}`, "messages[0].role", "missing required parameter"},
		{`{"model":"m","messages":[{"role":"robot","content":"hi"}]}`, "messages[0].role", `unknown role "robot"`},
		{`{"model":"m","messages":[{"role":"function","name":"f","content":"x"}]}`, "messages[0].role", "deprecated"},
		{`{"model":"m","messages":[{"role":1,"content":"hi"}]}`, "messages[0].role", "must be a string"},
		{`{"model":"m","messages":[{"role":"user","content":"a"},{"role":"user"}]}`, "messages[1].content", "must be a string or an array of content parts, got nothing"},
		{`{"model":"m","messages":[{"role":"user","content":"a"},{"role":"user","content":"b"},{"role":"user","content":42}]}`,
			"messages[2].content", "must be a string or an array of content parts, got a number"},
		{`{"model":"m","messages":[{"role":"system","content":null}]}`, "messages[0].content", "got null"},
		{`{"model":"m","messages":[{"role":"user","content":[1]}]}`, "messages[0].content[0]", "must be an object"},
		{`{"model":"m","messages":[{"role":"user","content":[{"text":"x"}]}]}`, "messages[0].content[0].type", "missing required parameter"},
		{`{"model":"m","messages":[{"role":"user","content":[{"type":"input_audio","input_audio":{}}]}]}`, "messages[0].content[0].type", `unsupported content part type "input_audio"`},
		{`{"model":"m","messages":[{"role":"user","content":[{"type":"text","text":5}]}]}`, "messages[0].content[0].text", "must be a string"},
		{`{"model":"m","messages":[{"role":"user","content":[{"type":"text"}]}]}`, "messages[0].content[0].text", "must be a string, got nothing"},
		{`{"model":"m","messages":[{"role":"user","content":[{"type":"image_url"}]}]}`, "messages[0].content[0].image_url", "missing required parameter"},
		{`{"model":"m","messages":[{"role":"user","content":[{"type":"image_url","image_url":{"detail":"low"}}]}]}`, "messages[0].content[0].image_url.url", "missing required parameter"},
		{`{"model":"m","messages":[{"role":"user","content":[{"type":"image_url","image_url":7}]}]}`, "messages[0].content[0].image_url", "must be an object"},
		{`{"model":"m","messages":[{"role":"tool","content":"r"}]}`, "messages[0].tool_call_id", "missing required parameter"},
		{`{"model":"m","messages":[{"role":"assistant","tool_calls":{}}]}`, "messages[0].tool_calls", "must be an array"},
		{`{"model":"m","messages":[{"role":"assistant","tool_calls":[{"function":{"name":"f"}}]}]}`, "messages[0].tool_calls[0].id", "missing required parameter"},
		{`{"model":"m","messages":[{"role":"assistant","tool_calls":[{"id":"c","function":{}}]}]}`, "messages[0].tool_calls[0].function.name", "missing required parameter"},
		{`{"model":"m","messages":[{"role":"assistant","tool_calls":[{"id":"c","type":"custom","function":{"name":"f"}}]}]}`, "messages[0].tool_calls[0].type", "unsupported"},
		{`{"model":"m","messages":[{"role":"assistant","tool_calls":[{"id":"c","function":{"name":"f","arguments":1}}]}]}`, "messages[0].tool_calls[0].function.arguments", "must be a string"},
		{`{"model":"m","messages":[{"role":"assistant","function_call":{"name":"f"}}]}`, "messages[0].function_call", "deprecated"},
		{`{"model":"m",` + user + `,"functions":[]}`, "functions", "deprecated"},
		{`{"model":"m",` + user + `,"function_call":"auto"}`, "function_call", "deprecated"},
		{`{"model":"m",` + user + `,"tools":{}}`, "tools", "must be an array"},
		{`{"model":"m",` + user + `,"tools":[1]}`, "tools[0]", "must be an object"},
		{`{"model":"m",` + user + `,"tools":[{"type":"function"}]}`, "tools[0].function", "missing required parameter"},
		{`{"model":"m",` + user + `,"tools":[{"type":"function","function":{"description":"d"}}]}`, "tools[0].function.name", "missing required parameter"},
		{`{"model":"m",` + user + `,"tools":[{"type":"function","function":[]}]}`, "tools[0].function", "must be an object"},
		{`{"model":"m",` + user + `,"tools":[{"type":"web_search","function":{"name":"f"}}]}`, "tools[0].type", `unsupported tool type "web_search"`},
		{`{"model":"m",` + user + `,"tools":[{"type":"function","function":{"name":"f","strict":"yes"}}]}`, "tools[0].function.strict", "must be a boolean"},
		{`{"model":"m",` + user + `,"tool_choice":"any"}`, "tool_choice", `"any" is not a tool choice`},
		{`{"model":"m",` + user + `,"tool_choice":1}`, "tool_choice", "must be a string or an object"},
		{`{"model":"m",` + user + `,"tool_choice":{"type":"function"}}`, "tool_choice.function.name", "missing required parameter"},
		{`{"model":"m",` + user + `,"tool_choice":{"type":"allowed_tools"}}`, "tool_choice.type", "unsupported"},
		{`{"model":"m",` + user + `,"tool_choice":{"type":"function","function":"f"}}`, "tool_choice.function", "must be an object"},
		{`{"model":"m",` + user + `,"parallel_tool_calls":"yes"}`, "parallel_tool_calls", "must be a boolean"},
		{`{"model":"m",` + user + `,"max_tokens":0}`, "max_tokens", "must be at least 1"},
		{`{"model":"m",` + user + `,"max_completion_tokens":-5}`, "max_completion_tokens", "must be at least 1"},
		{`{"model":"m",` + user + `,"max_tokens":1.5}`, "max_tokens", "must be an integer"},
		{`{"model":"m",` + user + `,"max_tokens":"10"}`, "max_tokens", "must be an integer, got a string"},
		{`{"model":"m",` + user + `,"temperature":"hot"}`, "temperature", "must be a number"},
		{`{"model":"m",` + user + `,"temperature":1e400}`, "temperature", "must be a number"},
		{`{"model":"m",` + user + `,"top_p":[]}`, "top_p", "must be a number"},
		{`{"model":"m",` + user + `,"stop":1}`, "stop", "must be a string or an array of strings"},
		{`{"model":"m",` + user + `,"stop":["a",2]}`, "stop[1]", "must be a string"},
		{`{"model":"m",` + user + `,"stream":"true"}`, "stream", "must be a boolean"},
		{`{"model":"m",` + user + `,"stream_options":true}`, "stream_options", "must be an object"},
		{`{"model":"m",` + user + `,"stream_options":{"include_usage":"yes"}}`, "stream_options.include_usage", "must be a boolean"},
		{`{"model":"m",` + user + `,"user":{}}`, "user", "must be a string"},
		{`{"model":"m",` + user + `,"response_format":"json"}`, "response_format", "must be an object"},
	}
	for _, c := range cases {
		_, err := DecodeChatRequest([]byte(c.body))
		var re *RequestError
		if !errors.As(err, &re) {
			t.Errorf("%s: error %v, want a *RequestError", c.body, err)
			continue
		}
		if re.Param != c.param || !strings.Contains(re.Message, c.message) {
			t.Errorf("%s:\n got param %q message %q\nwant param %q message containing %q", c.body, re.Param, re.Message, c.param, c.message)
		}
		if c.param != "" && !strings.HasPrefix(re.Error(), c.param+": ") {
			t.Errorf("%s: Error() = %q does not start with the param", c.body, re.Error())
		}
	}
}

func TestRequestErrorMessageReadsWell(t *testing.T) {
	_, err := DecodeChatRequest([]byte(`{"model":"m","messages":[{"role":"user","content":"a"},{"role":"user","content":"b"},{"role":"user","content":{}}]}`))
	want := "messages[2].content: must be a string or an array of content parts, got an object"
	if err == nil || err.Error() != want {
		t.Errorf("error %q, want %q", err, want)
	}
}

// dump renders v as indented JSON for failure messages.
func dump(v any) string {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err.Error()
	}
	return string(b)
}
