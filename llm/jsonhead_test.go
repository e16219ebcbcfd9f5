package llm

import (
	"encoding/json"
	"strings"
	"testing"
)

func TestScanHead(t *testing.T) {
	cases := []struct {
		body    string
		want    chatHead
		wantErr string
	}{
		{body: `{"model":"fast","stream":true,"max_tokens":12,"messages":[{"role":"user","content":"{\"model\":\"x\"}"}]}`,
			want: chatHead{Model: "fast", Stream: true, MaxTokens: 12}},
		{body: ` { "messages" : [ ] , "model" : "a\u0062c" , "stream_options": {"include_usage": true}, "fallbacks": ["x", "y"] } `,
			want: chatHead{Model: "abc", StreamOptions: &struct {
				IncludeUsage bool `json:"include_usage"`
			}{IncludeUsage: true}, Fallbacks: []string{"x", "y"}}},
		{body: `{"model":"m","max_completion_tokens":5,"n":null,"x":[1,2.5e3,-1,true,false,null,{"a":{}}]}`, want: chatHead{Model: "m", MaxCompletionTokens: 5}},
		{body: `{"model":5}`, wantErr: "model: must be a string"},
		{body: `{"model":"m","stream":"yes"}`, wantErr: "stream: must be a boolean"},
		{body: `{"model":"m","max_tokens":"ten"}`, wantErr: "max_tokens: must be a number"},
		{body: `{"model":"m",`, wantErr: "not valid JSON"},
		{body: `{"model":"m"} x`, wantErr: "after the JSON object"},
		{body: `{"model":"m","messages":[{"content":"open}]}`, wantErr: "unterminated string"},
		{body: `{"model":"m","messages":[1,]}`, wantErr: "not valid JSON"},
		{body: `[1]`, wantErr: "must be a JSON object"},
		{body: ``, wantErr: "must be a JSON object"},
		{body: `{"model":"m","x":` + strings.Repeat("[", 600) + strings.Repeat("]", 600) + `}`, wantErr: "nested too deeply"},
	}
	for _, c := range cases {
		var h chatHead
		err := scanHead([]byte(c.body), &h)
		if c.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), c.wantErr) {
				t.Errorf("%s: err %v, want %q", c.body, err, c.wantErr)
			}
			continue
		}
		if err != nil {
			t.Errorf("%s: %v", c.body, err)
			continue
		}
		h.modelAt, h.modelEnd, h.models, h.sawStreamOptions = 0, 0, 0, false
		got, _ := json.Marshal(h)
		want, _ := json.Marshal(c.want)
		if string(got) != string(want) {
			t.Errorf("%s: got %s, want %s", c.body, got, want)
		}
	}
}

func TestPatchModelAndUsage(t *testing.T) {
	cases := []string{
		`{"model":"fast","messages":[]}`,
		`{ "messages":[{"model":"inner"}], "model" : "fast" }`,
		`{"model":"fast","stream":true}`,
		`{"model":"fast","stream":true,"stream_options":{"include_usage":false,"x":1}}`,
		`{"model":"fast","stream":true,"stream_options":{"include_usage":true}}`,
		`{"model":"a","model":"b","stream":true}`,
		`{"stream":true,"model":"esc\"aped"}`,
	}
	for _, body := range cases {
		var h chatHead
		if err := scanHead([]byte(body), &h); err != nil {
			t.Fatalf("%s: %v", body, err)
		}
		out, err := h.patchModel([]byte(body), "gpt-4o-mini")
		if err != nil {
			t.Fatalf("%s: %v", body, err)
		}
		if h.Stream {
			if out, err = h.ensureStreamUsage(out); err != nil {
				t.Fatalf("%s: %v", body, err)
			}
		}
		var got struct {
			Model         string `json:"model"`
			Messages      []map[string]any
			StreamOptions *struct {
				IncludeUsage bool `json:"include_usage"`
			} `json:"stream_options"`
		}
		if err := json.Unmarshal(out, &got); err != nil {
			t.Fatalf("%s → %s: %v", body, out, err)
		}
		if got.Model != "gpt-4o-mini" || (h.Stream && (got.StreamOptions == nil || !got.StreamOptions.IncludeUsage)) {
			t.Errorf("%s → %s", body, out)
		}
		if strings.Contains(body, "inner") && got.Messages[0]["model"] != "inner" {
			t.Errorf("nested model changed: %s", out)
		}
	}
}

// FuzzScanHead checks the head scanner against encoding/json: on every
// valid object it finds the same routing fields, it never panics, and the
// edits it makes keep the body valid.
func FuzzScanHead(f *testing.F) {
	for _, s := range []string{`{"model":"fast","stream":true,"messages":[]}`, `{"model":"a","max_tokens":3}`,
		`{"stream_options":{"include_usage":false},"stream":true,"model":"m"}`, `{"a":[{"b":"\u00e9\\"}]}`, `{}`, `[]`, `{"model":"m",`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		var h chatHead
		err := scanHead(body, &h)
		// The reference matches keys exactly, as upstreams do (encoding/json's
		// struct decoding folds case).
		var fields map[string]json.RawMessage
		refErr := json.Unmarshal(body, &fields)
		if ae, ok := err.(*apiError); ok && ae.Code == "invalid_json" && refErr == nil && !strings.Contains(ae.Message, "nested too deeply") {
			t.Fatalf("valid object refused: %v: %q", err, body)
		}
		if err != nil || refErr != nil {
			return
		}
		var refModel string
		var refStream bool
		_ = json.Unmarshal(fields["model"], &refModel)
		_ = json.Unmarshal(fields["stream"], &refStream)
		if h.models <= 1 && (h.Model != refModel || h.Stream != refStream) {
			t.Fatalf("scan %q/%v, json %q/%v for %q", h.Model, h.Stream, refModel, refStream, body)
		}
		out, err := h.patchModel(body, "m2")
		if err != nil {
			return
		}
		if h.Stream {
			if out, err = h.ensureStreamUsage(out); err != nil {
				return
			}
		}
		if !json.Valid(out) {
			t.Fatalf("edit made invalid JSON: %q → %q", body, out)
		}
	})
}
