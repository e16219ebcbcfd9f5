package openai

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/junctionhq/junction/internal/testkit"
	"github.com/junctionhq/junction/llm/chat"
)

var requestSeeds = []string{
	`{"model":"m","messages":[{"role":"user","content":"hi"}]}`,
	`{"model":"m","messages":[{"role":"user","content":[{"type":"text","text":"a"},{"type":"image_url","image_url":{"url":"u","detail":"low"}}]}],"stream":true,"stream_options":{"include_usage":true}}`,
	`{"model":"m","messages":[{"role":"assistant","content":null,"tool_calls":[{"id":"c","type":"function","function":{"name":"f","arguments":"{}"}}]},{"role":"tool","tool_call_id":"c","content":"r"}],"tools":[{"type":"function","function":{"name":"f","parameters":{"type":"object"},"strict":true}}],"tool_choice":{"type":"function","function":{"name":"f"}}}`,
	`{"model":"m","messages":[{"role":"system","content":[{"type":"text","text":"a"},{"type":"text","text":""}]}],"stop":["x"],"temperature":-0,"top_p":1e-400,"max_tokens":1e3,"seed":1,"\u00ff":"\xff"}`,
	`{"model":"m","messages":[{"role":"user","content":"\ud800"}],"x":{"model":[1,{"y":"\\"}]}}`,
	`{"model":"m","messages":[{"role":"user","content":"x"}],"stream_options":{"include_usage":true}}`,
	`{"model":"m","messages":[{"role":"assistant","content":[{"type":"text","text":""}],"tool_calls":[]},{"role":"user","content":[{"type":"refusal","refusal":"r"}]}]}`,
	`{"model":"m","messages":[]}`, `{"model":"m"}`, `{}`, `[]`, `null`, `{`, ``, `{"model":1}`, `{"messages":{}}`,
}

// FuzzDecodeChatRequest: decoding never panics and fails only with a
// *RequestError; what decodes encodes to valid JSON that decodes to the same
// request (after the encoder's documented normalisations), and encoding is
// then a fixpoint.
func FuzzDecodeChatRequest(f *testing.F) {
	for _, s := range requestSeeds {
		f.Add([]byte(s))
	}
	testkit.AddSeeds(f, "testdata/request", ".json")
	f.Fuzz(func(t *testing.T, body []byte) {
		first, err := DecodeChatRequest(body)
		if err != nil {
			var re *RequestError
			if !errors.As(err, &re) || re.Message == "" {
				t.Fatalf("error %v (%T) is not a *RequestError with a message", err, err)
			}
			return
		}
		if !json.Valid(body) {
			t.Fatalf("invalid JSON %q decoded", body)
		}
		if first.Model == "" || len(first.Messages) == 0 {
			t.Fatalf("decoded without model or messages: %s", dump(first))
		}
		encoded := appendRequest(nil, first, first.Model, first.Stream)
		if !json.Valid(encoded) {
			t.Fatalf("encoded request is not valid JSON: %s", encoded)
		}
		second, err := DecodeChatRequest(encoded)
		if err != nil {
			t.Fatalf("re-decoding %s: %v", encoded, err)
		}
		normalise(first)
		if !reflect.DeepEqual(first, second) {
			t.Fatalf("round trip changed the request:\nbody   %s\nfirst  %s\nsecond %s", body, dump(first), dump(second))
		}
		if again := appendRequest(nil, second, second.Model, second.Stream); !bytes.Equal(again, encoded) {
			t.Fatalf("encoding is not a fixpoint:\n%s\n%s", encoded, again)
		}
	})
}

// FuzzDecodeEmbeddingRequest: never panics, fails only with *RequestError.
func FuzzDecodeEmbeddingRequest(f *testing.F) {
	for _, s := range []string{`{"model":"e","input":"x"}`, `{"model":"e","input":["a","b"],"dimensions":8,"encoding_format":"base64","z":[]}`, `{"model":"e","input":[[1]]}`, `{`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		req, err := DecodeEmbeddingRequest(body)
		if err != nil {
			var re *RequestError
			if !errors.As(err, &re) {
				t.Fatalf("error %v (%T)", err, err)
			}
			return
		}
		if req.Model == "" || len(req.Input) == 0 {
			t.Fatalf("decoded %+v", req)
		}
		if !json.Valid(appendEmbeddingRequest(nil, req, "m")) {
			t.Fatal("encoded request is not valid JSON")
		}
	})
}

// decodeObject decodes a JSON object's members raw, as encoding/json sees
// them (the last of duplicate keys wins).
func decodeObject(b []byte) (map[string]json.RawMessage, bool) {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(b, &m); err != nil || m == nil {
		return nil, false
	}
	return m, true
}

// isObject reports whether b is valid JSON whose value is an object.
func isObject(b []byte) bool {
	t := bytes.TrimLeft(b, " \t\r\n")
	return json.Valid(b) && len(t) > 0 && t[0] == '{'
}

// patchObject runs patch (named name) on body and checks what every
// in-place patch promises: body is left as it was, and a body that is not a
// JSON object is refused. isObj is false when body is not an object (nothing
// more to check).
func patchObject(t *testing.T, name string, body []byte, patch func([]byte) ([]byte, error)) (out []byte, isObj bool, err error) {
	t.Helper()
	orig := bytes.Clone(body)
	out, err = patch(body)
	if !bytes.Equal(body, orig) {
		t.Fatal(name + " modified its input")
	}
	if !isObject(body) {
		if err == nil {
			t.Fatalf("%s(%q) = %q, want an error", name, body, out)
		}
		return out, false, err
	}
	return out, true, err
}

// sameMembersBut fails unless got has each member of want but except, byte
// for byte.
func sameMembersBut(t *testing.T, except string, want, got map[string]json.RawMessage) {
	t.Helper()
	for k, v := range want {
		if k != except && !bytes.Equal(got[k], v) {
			t.Fatalf("member %q changed from %s to %s", k, v, got[k])
		}
	}
}

var patchSeeds = []string{
	`{"model":"a","messages":[]}`, ` { "x" : {"model":"keep"} , "model" : null } `, `{}`, `{"mod\u0065l":1,"model":2}`,
	`{"stream":true}`, `{"stream":true,"stream_options":{"include_usage":false,"x":1}}`, `{"stream":true,"stream_options":null}`,
	`{"stream":true,"stream_options":"x"}`, `{"stream":false,"stream_options":{}}`, `[1]`, `{"a":}`, "{\"a\":\"\xff\"}",
}

// FuzzPatchModel: valid objects are patched, everything else is an error;
// the result is valid JSON whose model is the new one and whose other
// members are byte-identical.
func FuzzPatchModel(f *testing.F) {
	for _, s := range patchSeeds {
		f.Add([]byte(s), "gpt-4o")
	}
	f.Add([]byte(`{"model":"x"}`), "quote\"\n\xff\u2028")
	f.Fuzz(func(t *testing.T, body []byte, model string) {
		out, isObj, err := patchObject(t, "PatchModel", body, func(b []byte) ([]byte, error) { return PatchModel(b, model) })
		if !isObj {
			return
		}
		if err != nil {
			t.Fatalf("PatchModel(%q): %v", body, err)
		}
		got, ok := decodeObject(out)
		if !ok {
			t.Fatalf("result %q is not a JSON object", out)
		}
		want, _ := decodeObject(body)
		var gotModel, wantModel string
		if err := json.Unmarshal(got["model"], &gotModel); err != nil {
			t.Fatalf("model %s: %v", got["model"], err)
		}
		_ = json.Unmarshal(appendString(nil, model), &wantModel)
		if gotModel != wantModel {
			t.Fatalf("model %q, want %q", gotModel, wantModel)
		}
		sameMembersBut(t, "model", want, got)
		if len(got) != len(want) && !(len(got) == len(want)+1 && want["model"] == nil) {
			t.Fatalf("members %d, want %d", len(got), len(want))
		}
	})
}

// FuzzEnsureStreamUsage: non-streaming bodies come back as they are;
// streaming ones ask for usage and keep every other member byte-identical.
func FuzzEnsureStreamUsage(f *testing.F) {
	for _, s := range patchSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		out, isObj, err := patchObject(t, "EnsureStreamUsage", body, EnsureStreamUsage)
		if !isObj {
			return
		}
		want, _ := decodeObject(body)
		streaming := string(want["stream"]) == "true"
		if err != nil {
			var re *RequestError
			if !streaming || !errors.As(err, &re) || re.Param != "stream_options" {
				t.Fatalf("EnsureStreamUsage(%q): %v", body, err)
			}
			return
		}
		if !streaming {
			if !bytes.Equal(out, body) {
				t.Fatalf("a non-streaming body changed: %q", out)
			}
			return
		}
		got, ok := decodeObject(out)
		if !ok {
			t.Fatalf("result %q is not a JSON object", out)
		}
		var opts struct {
			IncludeUsage *bool `json:"include_usage"`
		}
		if err := json.Unmarshal(got["stream_options"], &opts); err != nil {
			t.Fatalf("stream_options %s: %v", got["stream_options"], err)
		}
		var raw map[string]json.RawMessage
		_ = json.Unmarshal(got["stream_options"], &raw)
		if string(raw["include_usage"]) != "true" {
			t.Fatalf("include_usage is %s in %s", raw["include_usage"], out)
		}
		sameMembersBut(t, "stream_options", want, got)
	})
}

// FuzzStream feeds arbitrary bytes to the SSE parser: it never panics,
// ends with io.EOF or an *chat.UpstreamError, and the chunks it yields
// follow the canonical model (tool-call id and name on a call's first piece
// only, usage chunks without a delta).
func FuzzStream(f *testing.F) {
	files, _ := filepath.Glob("testdata/stream/*.sse")
	for _, name := range files {
		f.Add(testkit.ReadFile(f, name))
	}
	for _, event := range []string{
		`{"error":{"message":"x","code":429}}`,
		`{"choices":[{"delta":{"tool_calls":[{"function":{"arguments":"{"}}]}}]}`,
		`{"choices":[{"index":0,"delta":{"role":"assistant","content":"a","tool_calls":[{"index":2,"id":"c","function":{"name":"f","arguments":"{}"}}]},"finish_reason":"stop"}],"usage":{"prompt_tokens":1,"completion_tokens":2,"prompt_tokens_details":{"cached_tokens":1}}}`,
		`{"choices":[{"delta":{"tool_calls":[{"id":"a","function":{"name":"f"}},{"id":"b"},{"function":{"arguments":"x"}}]}}]}`,
		`{"id":"x","created":1,"model":"m","choices":[],"usage":null}`,
		`[DONE]`,
	} {
		f.Add([]byte(event))
	}
	f.Add([]byte(": only a comment\n\n"))
	f.Fuzz(func(t *testing.T, body []byte) {
		// As a whole stream, and as the data of one event followed by [DONE].
		checkFuzzedStream(t, streamOf(body))
		checkFuzzedStream(t, streamOf([]byte(sseText(string(body), "[DONE]"))))
	})
}

// checkFuzzedStream reads s to its end and checks what it yields.
func checkFuzzedStream(t *testing.T, s *stream) {
	t.Helper()
	defer s.Close()
	opened := map[int]bool{}
	for range 10000 {
		c, err := s.Recv()
		if errors.Is(err, io.EOF) {
			return
		}
		if err != nil {
			var ue *chat.UpstreamError
			if !errors.As(err, &ue) || ue.Message == "" || (ue.Status == 0 && ue.Err == nil) {
				t.Fatalf("error %v (%T)", err, err)
			}
			return
		}
		if c == nil {
			t.Fatal("nil chunk without an error")
		}
		if c.Usage != nil && (c.Role != "" || c.Content != "" || len(c.ToolCalls) > 0 || c.FinishReason != "") {
			t.Fatalf("usage chunk with a delta: %+v", c)
		}
		for _, d := range c.ToolCalls {
			if d.Index < 0 || d.Index >= maxToolCalls {
				t.Fatalf("tool call index %d", d.Index)
			}
			if opened[d.Index] && (d.ID != "" || d.Name != "") {
				t.Fatalf("tool call %d: id or name after its first piece", d.Index)
			}
			opened[d.Index] = true
		}
	}
	t.Fatal("the stream did not end")
}
