package openai

import (
	"errors"
	"testing"
)

func TestPatchModel(t *testing.T) {
	cases := []struct{ body, model, want string }{
		{`{"model":"alias","messages":[]}`, "gpt-4o", `{"model":"gpt-4o","messages":[]}`},
		{` { "messages" : [] ,  "model"  :  "alias" } `, "gpt-4o", ` { "messages" : [] ,  "model"  :  "gpt-4o" } `},
		{"{\n\t\"model\":\n\t\"a\"\n}", "b", "{\n\t\"model\":\n\t\"b\"\n}"},
		{`{"mod\u0065l":"alias"}`, "x", `{"mod\u0065l":"x"}`},
		{`{"model":"al\"ias\\","x":"\"model\":\"no\""}`, "x", `{"model":"x","x":"\"model\":\"no\""}`},
		{`{"metadata":{"model":"keep"},"model":"alias","tools":[{"model":"keep"}]}`, "new", `{"metadata":{"model":"keep"},"model":"new","tools":[{"model":"keep"}]}`},
		{`{"model":null}`, "m", `{"model":"m"}`},
		{`{"model":{"nested":"object"},"a":1}`, "m", `{"model":"m","a":1}`},
		{`{"model":"a","model":"b"}`, "c", `{"model":"c","model":"c"}`},
		{`{"messages":[]}`, "m", `{"model":"m","messages":[]}`},
		{`{}`, "m", `{"model":"m"}`},
		{` {  } `, "m", ` {"model":"m"  } `},
		{`{"model":"a"}`, "quo\"te\n\u2028", `{"model":"quo\"te\n\u2028"}`},
		{`{"model":"a","s":"ünïcödé \ud83c\udf89"}`, "b", `{"model":"b","s":"ünïcödé \ud83c\udf89"}`},
	}
	for _, c := range cases {
		got, err := PatchModel([]byte(c.body), c.model)
		if err != nil {
			t.Errorf("PatchModel(%s): %v", c.body, err)
			continue
		}
		if string(got) != c.want {
			t.Errorf("PatchModel(%s, %q)\n got %s\nwant %s", c.body, c.model, got, c.want)
		}
	}
}

func TestPatchModelDoesNotModifyBody(t *testing.T) {
	body := []byte(`{"model":"abcdef","x":1}`)
	orig := string(body)
	if _, err := PatchModel(body, "z"); err != nil {
		t.Fatal(err)
	}
	if string(body) != orig {
		t.Errorf("body changed to %s", body)
	}
}

var invalidBodies = []string{``, ` `, `{`, `{"model":"a"`, `{"model":"a",}`, `{"model":"a"} x`, `{"model" "a"}`, `{'model':1}`,
	`{"model":"a\x01"}`, `{"a":[1,]}`, `{"a":01}`, "\"str\"", `[{"model":"a"}]`, `null`, `{"a":"\u12"}`}

func TestPatchModelInvalid(t *testing.T) {
	for _, body := range invalidBodies {
		if got, err := PatchModel([]byte(body), "m"); err == nil {
			t.Errorf("PatchModel(%q) = %s, want an error", body, got)
		}
		if got, err := EnsureStreamUsage([]byte(body)); err == nil {
			t.Errorf("EnsureStreamUsage(%q) = %s, want an error", body, got)
		}
	}
}

func TestEnsureStreamUsage(t *testing.T) {
	cases := []struct{ body, want string }{
		// Not streaming: unchanged (stream_options without stream is rejected upstream).
		{`{"model":"m"}`, `{"model":"m"}`},
		{`{"model":"m","stream":false}`, `{"model":"m","stream":false}`},
		{`{"stream":null,"stream_options":null}`, `{"stream":null,"stream_options":null}`},
		// Streaming: inserted.
		{`{"model":"m","stream":true}`, `{"stream_options":{"include_usage":true},"model":"m","stream":true}`},
		{` {"stream" : true } `, ` {"stream_options":{"include_usage":true},"stream" : true } `},
		// Replaced or completed.
		{`{"stream":true,"stream_options":null}`, `{"stream":true,"stream_options":{"include_usage":true}}`},
		{`{"stream":true,"stream_options":{}}`, `{"stream":true,"stream_options":{"include_usage":true}}`},
		{`{"stream":true,"stream_options":{ }}`, `{"stream":true,"stream_options":{"include_usage":true }}`},
		{`{"stream":true,"stream_options":{"include_usage":false}}`, `{"stream":true,"stream_options":{"include_usage":true}}`},
		{`{"stream":true,"stream_options":{"include_usage": null ,"x":1}}`, `{"stream":true,"stream_options":{"include_usage": true ,"x":1}}`},
		{`{"stream":true,"stream_options":{"x":{"include_usage":false}}}`, `{"stream":true,"stream_options":{"include_usage":true,"x":{"include_usage":false}}}`},
		{`{"stream_options":{"include_usage":false},"stream":true}`, `{"stream_options":{"include_usage":true},"stream":true}`},
		{`{"stream":true,"stream_optio\u006es":{"include_usag\u0065":0}}`, `{"stream":true,"stream_optio\u006es":{"include_usag\u0065":true}}`},
		// Nested look-alikes are left alone.
		{`{"metadata":{"stream":true,"stream_options":null}}`, `{"metadata":{"stream":true,"stream_options":null}}`},
	}
	for _, c := range cases {
		got, err := EnsureStreamUsage([]byte(c.body))
		if err != nil {
			t.Errorf("EnsureStreamUsage(%s): %v", c.body, err)
			continue
		}
		if string(got) != c.want {
			t.Errorf("EnsureStreamUsage(%s)\n got %s\nwant %s", c.body, got, c.want)
		}
	}
}

func TestEnsureStreamUsageUnchangedIsSameSlice(t *testing.T) {
	body := []byte(`{"stream":true,"stream_options":{"include_usage":true}}`)
	got, err := EnsureStreamUsage(body)
	if err != nil {
		t.Fatal(err)
	}
	if &got[0] != &body[0] {
		t.Error("an unchanged body was copied")
	}
}

func TestEnsureStreamUsageBadOptions(t *testing.T) {
	_, err := EnsureStreamUsage([]byte(`{"stream":true,"stream_options":"yes"}`))
	var re *RequestError
	if !errors.As(err, &re) || re.Param != "stream_options" {
		t.Errorf("error %v, want a RequestError on stream_options", err)
	}
}
