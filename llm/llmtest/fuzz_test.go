package llmtest

import (
	"context"
	"encoding/json"
	"net/http"
	"testing"
)

// FuzzChatRequest feeds arbitrary bodies to every POST endpoint. The mock must never
// panic, must answer either 200 or a 4xx in the provider's error shape, and must
// reject bodies that are not JSON with a 400.
func FuzzChatRequest(f *testing.F) {
	seeds := []string{
		chatBody(openAI, "hello", ""),
		chatBody(openAI, "hello", `,"stream":true,"stream_options":{"include_usage":true}`),
		chatBody(anthropic, "hello", ""),
		chatBody(anthropic, "hello", `,"stream":true`),
		`{"model":"m","messages":[{"role":"user","content":[{"type":"text","text":"a b"}]},{"role":"assistant","content":null,"tool_calls":[{"id":"c","type":"function","function":{"name":"f","arguments":"{}"}}]},{"role":"tool","tool_call_id":"c","content":"r"}]}`,
		`{"model":"m","max_tokens":3,"system":[{"type":"text","text":"s"}],"messages":[{"role":"user","content":[{"type":"tool_result","tool_use_id":"t","content":[{"type":"text","text":"x"}]}]}]}`,
		`{"model":"e","input":["a","b"],"dimensions":8,"encoding_format":"base64"}`,
		`{"model":"e","input":[[1,2]]}`,
		`{"model":"m","messages":[{"role":"user","content":"\u0000\ud800 \\n"}],"max_tokens":-1}`,
		`{"model":["x"]}`, `null`, `[]`, `"x"`, `{`, ``, `{"messages":{}}`,
	}
	for _, s := range seeds {
		f.Add(s)
	}
	m := New(WithRequestLog(1))
	f.Cleanup(m.Close)
	mustSetF(f, m, Behavior{Script: testScript, ScriptMode: ScriptByToolResults})
	f.Fuzz(func(t *testing.T, body string) {
		for _, target := range []struct {
			f    format
			path string
		}{{openAI, string(EndpointChatCompletions)}, {anthropic, string(EndpointMessages)}, {openAI, string(EndpointEmbeddings)}} {
			rec := serve(m, newRequest(context.Background(), target.f, "", target.path, testKey, body+" "))
			switch {
			case rec.Code == http.StatusOK:
				continue
			case rec.Code < 400 || rec.Code > 499:
				t.Fatalf("%s: status %d for %q: %s", target.path, rec.Code, body, rec.Body)
			case !json.Valid([]byte(body)) && rec.Code != http.StatusBadRequest:
				t.Fatalf("%s: status %d for invalid JSON %q", target.path, rec.Code, body)
			}
			var shape struct {
				Type  string `json:"type"`
				Error *struct {
					Type    string `json:"type"`
					Message string `json:"message"`
				} `json:"error"`
			}
			if err := json.Unmarshal(rec.Body.Bytes(), &shape); err != nil || shape.Error == nil ||
				shape.Error.Type == "" || shape.Error.Message == "" {
				t.Fatalf("%s: error body %q is not provider-shaped", target.path, rec.Body)
			}
			if (target.f == anthropic) != (shape.Type == "error") {
				t.Fatalf("%s: error body %q has the wrong provider's shape", target.path, rec.Body)
			}
		}
	})
}

func mustSetF(f *testing.F, m *Mock, b Behavior) {
	f.Helper()
	if err := m.SetDefault(b); err != nil {
		f.Fatal(err)
	}
}
