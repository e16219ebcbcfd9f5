package respcache

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/junctionhq/junction/llm/chat"
	"github.com/junctionhq/junction/llm/provider/anthropic"
	"github.com/junctionhq/junction/llm/provider/openai"
)

// keysOf decodes body with decode and returns its keys.
func keysOf(t *testing.T, decode func([]byte) (*chat.Request, error), body string) Keys {
	t.Helper()
	req, err := decode([]byte(body))
	if err != nil {
		t.Fatalf("decode %s: %v", body, err)
	}
	return RequestKeys(req)
}

func openAIKeys(t *testing.T, body string) Keys {
	t.Helper()
	return keysOf(t, openai.DecodeChatRequest, body)
}

func anthropicKeys(t *testing.T, body string) Keys {
	t.Helper()
	return keysOf(t, anthropic.DecodeMessagesRequest, body)
}

const keyBase = `{"model":"fast","messages":[{"role":"system","content":"be brief"},{"role":"user","content":"what is the capital of France?"}],` +
	`"temperature":0.2,"max_tokens":50,"tools":[{"type":"function","function":{"name":"b","parameters":{"type":"object","properties":{"x":{"type":"string"}}}}},` +
	`{"type":"function","function":{"name":"a","description":"d"}}],"response_format":{"type":"json_object","extra":{"k":1,"j":2}},"seed":7}`

func TestCacheKeyStableUnderReorderingAndWhitespace(t *testing.T) {
	base := openAIKeys(t, keyBase)
	if len(base.Exact) != 64 || len(base.Tools) != 64 || len(base.Context) != 64 {
		t.Fatalf("keys are not hex SHA-256: %+v", base)
	}
	variants := map[string]string{
		"reordered and spaced": `{ "seed" : 7 , "response_format": {"extra": {"j": 2, "k": 1}, "type": "json_object"},
			"tools": [ {"function": {"description": "d", "name": "a"}, "type": "function"},
			           {"function": {"parameters": {"properties": {"x": {"type": "string"}}, "type": "object"}, "name": "b"}, "type": "function"} ],
			"max_tokens": 50, "temperature": 0.2,
			"messages": [ {"content": "be brief", "role": "system"}, {"content": [{"type": "text", "text": "what is the capital "}, {"type":"text","text":"of France?"}], "role": "user"} ],
			"model": "fast" }`,
		"excluded fields": strings.Replace(keyBase, `"seed":7}`, `"seed":7,"user":"u1","stream":true,"stream_options":{"include_usage":true},"metadata":{"a":"b"},"store":true,"fallbacks":["other"]}`, 1),
		"developer role":  strings.Replace(keyBase, `"role":"system"`, `"role":"developer"`, 1),
	}
	for name, body := range variants {
		if got := openAIKeys(t, body); got != base {
			t.Errorf("%s: keys changed:\n got %+v\nwant %+v", name, got, base)
		}
	}
}

func TestCacheKeyIncludesWhatChangesTheAnswer(t *testing.T) {
	base := openAIKeys(t, keyBase)
	cases := []struct {
		name, old, new string
		sameContext    bool // the change is one semantic hits ignore
	}{
		{"model", `"model":"fast"`, `"model":"slow"`, true},
		{"question", `capital of France`, `capital of Spain`, true},
		{"system prompt", `be brief`, `be verbose`, false},
		{"temperature", `"temperature":0.2`, `"temperature":0.9`, true},
		{"top_p", `"temperature":0.2`, `"temperature":0.2,"top_p":0.5`, true},
		{"max_tokens", `"max_tokens":50`, `"max_tokens":51`, false},
		{"stop", `"max_tokens":50`, `"max_tokens":50,"stop":["\n"]`, false},
		{"tool_choice", `"max_tokens":50`, `"max_tokens":50,"tool_choice":"required"`, false},
		{"response_format", `"json_object"`, `"text"`, false},
		{"extra field", `"seed":7`, `"seed":8`, false},
		{"tool schema", `"type":"string"`, `"type":"number"`, true},
	}
	for _, tc := range cases {
		body := strings.Replace(keyBase, tc.old, tc.new, 1)
		if body == keyBase {
			t.Fatalf("%s: replacement did not apply", tc.name)
		}
		got := openAIKeys(t, body)
		if got.Exact == base.Exact {
			t.Errorf("%s: exact key unchanged", tc.name)
		}
		if (got.Context == base.Context) != tc.sameContext {
			t.Errorf("%s: context equal = %v, want %v", tc.name, got.Context == base.Context, tc.sameContext)
		}
	}
	if got := openAIKeys(t, strings.Replace(keyBase, `"type":"string"`, `"type":"number"`, 1)); got.Tools == base.Tools {
		t.Error("tools hash unchanged by a different schema")
	}
}

func TestCacheKeyPromptAndContext(t *testing.T) {
	k := openAIKeys(t, keyBase)
	if k.Prompt != "what is the capital of France?" {
		t.Errorf("prompt %q", k.Prompt)
	}
	// The same last question after another earlier turn: same prompt, other context.
	longer := openAIKeys(t, strings.Replace(keyBase, `{"role":"user","content":"what`,
		`{"role":"user","content":"hi"},{"role":"assistant","content":"hello"},{"role":"user","content":"what`, 1))
	if longer.Prompt != k.Prompt || longer.Context == k.Context || longer.Exact == k.Exact {
		t.Errorf("earlier turns must change context and exact key only: %+v vs %+v", longer, k)
	}
	// A conversation that ends with a tool result has no semantic prompt.
	tool := openAIKeys(t, `{"model":"m","messages":[{"role":"user","content":"q"},{"role":"assistant","tool_calls":[{"id":"c1","type":"function","function":{"name":"f","arguments":"{\"b\": 1, \"a\": 2}"}}]},{"role":"tool","tool_call_id":"c1","content":"r"}]}`)
	if tool.Prompt != "" || tool.Context != "" || tool.Exact == "" {
		t.Errorf("tool-result turn: %+v", tool)
	}
	// Tool-call arguments are canonical JSON.
	tool2 := openAIKeys(t, `{"model":"m","messages":[{"role":"user","content":"q"},{"role":"assistant","tool_calls":[{"id":"c1","type":"function","function":{"name":"f","arguments":"{\"a\":2,\"b\":1}"}}]},{"role":"tool","tool_call_id":"c1","content":"r"}]}`)
	if tool2.Exact != tool.Exact {
		t.Error("reordered tool-call arguments changed the key")
	}
	// An image in the question skips the semantic tier.
	img := openAIKeys(t, `{"model":"m","messages":[{"role":"user","content":[{"type":"text","text":"what is this"},{"type":"image_url","image_url":{"url":"https://x/y.png"}}]}]}`)
	if img.Prompt != "" {
		t.Errorf("image question has prompt %q", img.Prompt)
	}
	if openAIKeys(t, `{"model":"m","messages":[{"role":"user","content":"q"}]}`).Tools != "" {
		t.Error("no tools must hash to \"\"")
	}
}

func TestCacheKeyToolOrder(t *testing.T) {
	a := openAIKeys(t, `{"model":"m","messages":[{"role":"user","content":"q"}],"tools":[{"type":"function","function":{"name":"a"}},{"type":"function","function":{"name":"b"}}]}`)
	b := openAIKeys(t, `{"model":"m","messages":[{"role":"user","content":"q"}],"tools":[{"type":"function","function":{"name":"b"}},{"type":"function","function":{"name":"a"}}]}`)
	if a != b {
		t.Errorf("tool order changed the keys: %+v vs %+v", a, b)
	}
}

// The same question through /v1/chat/completions and /v1/messages hashes
// equal when both decode to the same canonical request (documented in
// cachekey.go), and differs when a format-specific field is present.
func TestCacheKeyAcrossFormats(t *testing.T) {
	oa := openAIKeys(t, `{"model":"fast","max_tokens":100,"temperature":0.5,"messages":[{"role":"system","content":"be brief"},{"role":"user","content":"hello"}]}`)
	an := anthropicKeys(t, `{"model":"fast","max_tokens":100,"temperature":0.5,"system":"be brief","messages":[{"role":"user","content":[{"type":"text","text":"hello","cache_control":{"type":"ephemeral"}}]}],"metadata":{"user_id":"u"},"stream":true}`)
	if oa != an {
		t.Errorf("same canonical request, different keys:\n%+v\n%+v", oa, an)
	}
	topK := anthropicKeys(t, `{"model":"fast","max_tokens":100,"temperature":0.5,"system":"be brief","messages":[{"role":"user","content":"hello"}],"top_k":5}`)
	if topK.Exact == oa.Exact {
		t.Error("an Anthropic-only field must change the exact key")
	}
}

// FuzzCacheKey checks that computing the keys never panics, and that they
// do not change when the body's object keys are reordered or its
// whitespace changes.
func FuzzCacheKey(f *testing.F) {
	f.Add([]byte(keyBase))
	f.Add([]byte(`{"model":"m","messages":[{"role":"user","content":"q"},{"role":"assistant","tool_calls":[{"id":"c1","type":"function","function":{"name":"f","arguments":"{\"b\": 1}"}}]},{"role":"tool","tool_call_id":"c1","content":"r"}]}`))
	f.Add([]byte(`{"model":"fast","max_tokens":10,"system":[{"type":"text","text":"s"}],"messages":[{"role":"user","content":"hi"}],"top_k":3}`))
	f.Add([]byte(`{"model":"m","messages":[],"n":2,"logit_bias":{"50":-100,"1":2.50}}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		decoders := []func([]byte) (*chat.Request, error){openai.DecodeChatRequest, anthropic.DecodeMessagesRequest}
		for _, decode := range decoders {
			req, err := decode(body)
			if err != nil {
				continue
			}
			keys := RequestKeys(req)
			if keys.Exact == "" || keys != RequestKeys(req) {
				t.Fatalf("keys not deterministic: %+v", keys)
			}
			if !utf8.Valid(body) || hasDuplicateKeys(body) {
				continue // re-encoding would change what the body says
			}
			for _, variant := range reencodings(t, body) {
				req2, err := decode(variant)
				if err != nil {
					t.Fatalf("re-encoded body does not decode: %v\n%s", err, variant)
				}
				if got := RequestKeys(req2); got != keys {
					t.Fatalf("keys changed by re-encoding:\n%s\n%s\n%+v\n%+v", body, variant, keys, got)
				}
			}
		}
	})
}

// reencodings are body with sorted keys, compact and indented.
func reencodings(t *testing.T, body []byte) [][]byte {
	d := json.NewDecoder(bytes.NewReader(body))
	d.UseNumber()
	var v any
	if err := d.Decode(&v); err != nil {
		t.Skip()
	}
	compact, err := json.Marshal(v)
	if err != nil {
		t.Skip()
	}
	indented, _ := json.MarshalIndent(v, " ", "\t  ")
	return [][]byte{compact, indented}
}

// hasDuplicateKeys reports whether any object in the JSON body repeats a key.
func hasDuplicateKeys(body []byte) bool {
	d := json.NewDecoder(bytes.NewReader(body))
	type frame struct {
		obj    bool
		keys   map[string]bool
		expect bool // next token in an object is a key
	}
	var stack []*frame
	for {
		tok, err := d.Token()
		if err != nil {
			return false
		}
		top := (*frame)(nil)
		if len(stack) > 0 {
			top = stack[len(stack)-1]
		}
		if top != nil && top.obj && top.expect {
			if s, ok := tok.(string); ok {
				if top.keys[s] {
					return true
				}
				top.keys[s] = true
				top.expect = false
				continue
			}
		}
		switch tok {
		case json.Delim('{'):
			stack = append(stack, &frame{obj: true, keys: map[string]bool{}, expect: true})
			continue
		case json.Delim('['):
			stack = append(stack, &frame{})
			continue
		case json.Delim('}'), json.Delim(']'):
			stack = stack[:len(stack)-1]
		}
		if len(stack) > 0 && stack[len(stack)-1].obj {
			stack[len(stack)-1].expect = true
		}
	}
}

// BenchmarkCacheKey is the cost the cache adds to every cached request
// before the lookup: decoding the body and hashing the canonical request.
func BenchmarkCacheKey(b *testing.B) { benchmarkKeys(b, keyBase) }

// BenchmarkCacheKeyNoTools is BenchmarkCacheKey for a plain conversation.
func BenchmarkCacheKeyNoTools(b *testing.B) {
	benchmarkKeys(b, `{"model":"fast","messages":[{"role":"system","content":"You are a helpful assistant."},{"role":"user","content":"hi"},{"role":"assistant","content":"Hello! How can I help?"},{"role":"user","content":"What is the capital of France?"}],"temperature":0.2,"max_tokens":64}`)
}

func benchmarkKeys(b *testing.B, body string) {
	raw := []byte(body)
	b.ReportAllocs()
	for b.Loop() {
		req, err := openai.DecodeChatRequest(raw)
		if err != nil {
			b.Fatal(err)
		}
		_ = RequestKeys(req)
	}
}
