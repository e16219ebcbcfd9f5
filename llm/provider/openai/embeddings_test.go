package openai

import (
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/junctionhq/junction/llm/chat"
)

func TestDecodeEmbeddingRequest(t *testing.T) {
	cases := []struct {
		body string
		want chat.EmbeddingRequest
	}{
		{`{"model":"e","input":"hello"}`, chat.EmbeddingRequest{Model: "e", Input: []string{"hello"}}},
		{`{"model":"e","input":["a","b"],"dimensions":256,"encoding_format":"base64","user":"u"}`,
			chat.EmbeddingRequest{Model: "e", Input: []string{"a", "b"}, Dimensions: 256, EncodingFormat: "base64", User: "u"}},
		{`{"model":"e","input":"x","encoding_format":"float","dimensions":null,"extra_body":{"k":1},"input_type":"query"}`,
			chat.EmbeddingRequest{Model: "e", Input: []string{"x"}, EncodingFormat: "float",
				Extra: map[string]json.RawMessage{"extra_body": json.RawMessage(`{"k":1}`), "input_type": json.RawMessage(`"query"`)}}},
	}
	for _, c := range cases {
		got, err := DecodeEmbeddingRequest([]byte(c.body))
		if err != nil {
			t.Errorf("%s: %v", c.body, err)
			continue
		}
		if !reflect.DeepEqual(*got, c.want) {
			t.Errorf("%s:\n got %s\nwant %s", c.body, dump(got), dump(&c.want))
		}
	}
}

func TestDecodeEmbeddingRequestErrors(t *testing.T) {
	cases := []struct{ body, param, message string }{
		{`[]`, "", "must be a JSON object"},
		{`{"model":"e","input":"x"`, "", "not valid JSON"},
		{`{"input":"x"}`, "model", "missing required parameter"},
		{`{"model":"e"}`, "input", "missing required parameter"},
		{`{"model":"e","input":null}`, "input", "missing required parameter"},
		{`{"model":"e","input":""}`, "input", "must not be empty"},
		{`{"model":"e","input":[]}`, "input", "must not be empty"},
		{`{"model":"e","input":["a",""]}`, "input[1]", "must not be empty"},
		{`{"model":"e","input":[1,2,3]}`, "input", "token-array input is not supported"},
		{`{"model":"e","input":[[1,2],[3]]}`, "input", "token-array input is not supported"},
		{`{"model":"e","input":["a",{}]}`, "input[1]", "must be a string"},
		{`{"model":"e","input":7}`, "input", "must be a string or an array of strings"},
		{`{"model":"e","input":"x","dimensions":0}`, "dimensions", "must be at least 1"},
		{`{"model":"e","input":"x","dimensions":"8"}`, "dimensions", "must be an integer"},
		{`{"model":"e","input":"x","encoding_format":"int8"}`, "encoding_format", "not supported"},
		{`{"model":"e","input":"x","user":1}`, "user", "must be a string"},
	}
	for _, c := range cases {
		_, err := DecodeEmbeddingRequest([]byte(c.body))
		var re *RequestError
		if !errors.As(err, &re) || re.Param != c.param || !strings.Contains(re.Message, c.message) {
			t.Errorf("%s: error %#v, want param %q message containing %q", c.body, err, c.param, c.message)
		}
	}
}

func TestEmbeddingRequestRoundTrip(t *testing.T) {
	req := &chat.EmbeddingRequest{Model: "alias", Input: []string{"a \"q\"", "b"}, Dimensions: 64, EncodingFormat: "base64", User: "u",
		Extra: map[string]json.RawMessage{"input_type": json.RawMessage(`"doc"`), "model": json.RawMessage(`"dropped"`)}}
	body := appendEmbeddingRequest(nil, req, "text-embedding-3-small")
	got, err := DecodeEmbeddingRequest(body)
	if err != nil {
		t.Fatalf("%s: %v", body, err)
	}
	want := *req
	want.Model = "text-embedding-3-small"
	want.Extra = map[string]json.RawMessage{"input_type": json.RawMessage(`"doc"`)}
	if !reflect.DeepEqual(*got, want) {
		t.Errorf("got %s\nwant %s", dump(got), dump(&want))
	}
}

func TestEmbeddingResponseRoundTrip(t *testing.T) {
	resp := &chat.EmbeddingResponse{Model: "e", Vectors: [][]float32{{0.5, -1.25, 3.0e-5, 7}, {1, 2, 3, 4}}, Usage: chat.Usage{PromptTokens: 3}}
	for _, format := range []string{"float", "base64"} {
		got, err := decodeEmbeddingResponse(AppendEmbeddingResponse(nil, resp, "", format), 2)
		if err != nil {
			t.Fatalf("%s: %v", format, err)
		}
		if !reflect.DeepEqual(got, resp) {
			t.Errorf("%s: got %s", format, dump(got))
		}
	}
}

func TestDecodeEmbeddingResponse(t *testing.T) {
	// Out of order, an escaped slash in base64, no index on the last item.
	body := `{"data":[{"index":1,"embedding":[1,2]},{"index":0,"embedding":"AACAPwAAAEA="},{"embedding":"AABAQAAAgEA\/"}],"model":"m","usage":{"prompt_tokens":4,"total_tokens":4}}`
	if _, err := decodeEmbeddingResponse([]byte(body), 3); err == nil {
		t.Error("a base64 vector of a length that is not a multiple of 4 bytes was accepted")
	}
	body = `{"data":[{"index":1,"embedding":[1,2]},{"index":0,"embedding":"AACAPwAAAEA="},{"embedding":"AABAQAAAgEA="}],"model":"m","usage":{"prompt_tokens":4,"total_tokens":4}}`
	got, err := decodeEmbeddingResponse([]byte(body), 3)
	if err != nil {
		t.Fatal(err)
	}
	want := &chat.EmbeddingResponse{Model: "m", Vectors: [][]float32{{1, 2}, {1, 2}, {3, 4}}, Usage: chat.Usage{PromptTokens: 4}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %s", dump(got))
	}
	for _, bad := range []string{
		`{"data":[{"index":0,"embedding":[1]}]}`,                                // one missing
		`{"data":[{"index":0,"embedding":[1]},{"index":0,"embedding":[1]}]}`,    // duplicate
		`{"data":[{"index":5,"embedding":[1]},{"index":1,"embedding":[1]}]}`,    // out of range
		`{"data":[{"index":0,"embedding":["x"]},{"index":1,"embedding":[1]}]}`,  // not a number
		`{"data":[{"index":0,"embedding":"@@@@"},{"index":1,"embedding":[1]}]}`, // not base64
		`{"data":{},"model":"m"}`, `[]`, `{"data":[1,2]}`,
	} {
		if _, err := decodeEmbeddingResponse([]byte(bad), 2); err == nil {
			t.Errorf("%s: accepted", bad)
		}
	}
}
