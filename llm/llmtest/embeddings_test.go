package llmtest

import (
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"math"
	"net/http"
	"testing"
)

type embeddingList struct {
	Object string `json:"object"`
	Data   []struct {
		Object    string          `json:"object"`
		Index     int             `json:"index"`
		Embedding json.RawMessage `json:"embedding"`
	} `json:"data"`
	Model string `json:"model"`
	Usage struct {
		PromptTokens int `json:"prompt_tokens"`
		TotalTokens  int `json:"total_tokens"`
	} `json:"usage"`
}

// embed calls POST /v1/embeddings in-process and returns the float vectors.
func embed(t *testing.T, m *Mock, body string) (embeddingList, [][]float32) {
	t.Helper()
	rec := serve(m, newRequest(t.Context(), openAI, "", string(EndpointEmbeddings), testKey, body))
	if rec.Code != http.StatusOK {
		t.Fatalf("status %d: %s", rec.Code, rec.Body)
	}
	var list embeddingList
	decodeJSON(t, rec.Body.Bytes(), &list)
	var vecs [][]float32
	for _, d := range list.Data {
		var v []float32
		if len(d.Embedding) > 0 && d.Embedding[0] == '"' {
			var s string
			decodeJSON(t, d.Embedding, &s)
			raw, err := base64.StdEncoding.DecodeString(s)
			if err != nil || len(raw)%4 != 0 {
				t.Fatalf("base64 embedding: %v (%d bytes)", err, len(raw))
			}
			for i := 0; i < len(raw); i += 4 {
				v = append(v, math.Float32frombits(binary.LittleEndian.Uint32(raw[i:])))
			}
		} else {
			decodeJSON(t, d.Embedding, &v)
		}
		vecs = append(vecs, v)
	}
	return list, vecs
}

func norm(v []float32) float64 {
	var s float64
	for _, x := range v {
		s += float64(x) * float64(x)
	}
	return math.Sqrt(s)
}

func TestEmbeddings(t *testing.T) {
	m := New()
	t.Cleanup(m.Close)
	list, vecs := embed(t, m, `{"model":"text-embedding-3-small","input":["What is the weather in Paris today?","what's the weather like in paris today","How do I bake sourdough bread?"]}`)
	if list.Object != "list" || list.Model != "text-embedding-3-small" || len(list.Data) != 3 {
		t.Fatalf("list %+v", list)
	}
	for i, d := range list.Data {
		if d.Object != "embedding" || d.Index != i {
			t.Errorf("data[%d] = %+v", i, d)
		}
		if len(vecs[i]) != DefaultEmbeddingDimensions {
			t.Errorf("data[%d]: %d dimensions", i, len(vecs[i]))
		}
		if n := norm(vecs[i]); math.Abs(n-1) > 1e-5 {
			t.Errorf("data[%d]: norm %v", i, n)
		}
	}
	// 7 + 7 + 6 words
	if list.Usage.PromptTokens != 20 || list.Usage.TotalTokens != 20 {
		t.Errorf("usage %+v", list.Usage)
	}
	paraphrase, unrelated := Cosine(vecs[0], vecs[1]), Cosine(vecs[0], vecs[2])
	if paraphrase < 0.5 || unrelated > 0.2 || paraphrase <= unrelated {
		t.Errorf("similarity: paraphrase %.3f, unrelated %.3f", paraphrase, unrelated)
	}

	t.Run("deterministic", func(t *testing.T) {
		other := New()
		t.Cleanup(other.Close)
		_, again := embed(t, other, `{"model":"text-embedding-3-small","input":"What is the weather in Paris today?"}`)
		if Cosine(again[0], vecs[0]) < 1-1e-6 {
			t.Error("the same text embedded differently")
		}
		direct := EmbedText("What is the weather in Paris today?", DefaultEmbeddingDimensions)
		for i := range direct {
			if direct[i] != again[0][i] {
				t.Fatalf("EmbedText differs from the endpoint at %d", i)
			}
		}
	})

	t.Run("dimensions and base64", func(t *testing.T) {
		_, floats := embed(t, m, `{"model":"text-embedding-3-large","input":"hello world","dimensions":64}`)
		_, b64 := embed(t, m, `{"model":"text-embedding-3-large","input":"hello world","dimensions":64,"encoding_format":"base64"}`)
		if len(floats[0]) != 64 || len(b64[0]) != 64 {
			t.Fatalf("dimensions %d and %d, want 64", len(floats[0]), len(b64[0]))
		}
		for i := range floats[0] {
			if floats[0][i] != b64[0][i] {
				t.Fatalf("base64 and float differ at %d: %v vs %v", i, b64[0][i], floats[0][i])
			}
		}
		if n := norm(floats[0]); math.Abs(n-1) > 1e-5 {
			t.Errorf("norm %v", n)
		}
	})

	t.Run("aliases", func(t *testing.T) {
		am := New(WithEmbeddingAliases(map[string]string{"hi there": "greetings, friend"}))
		t.Cleanup(am.Close)
		am.SetEmbeddingAlias("yo", "greetings, friend")
		_, v := embed(t, am, `{"model":"e","input":["hi there","yo","greetings, friend","hi  there"]}`)
		if Cosine(v[0], v[2]) < 1-1e-6 || Cosine(v[1], v[2]) < 1-1e-6 {
			t.Error("aliased texts do not embed like their canonical text")
		}
		if Cosine(v[3], v[2]) > 0.99 {
			t.Error("a text that is not an alias embedded like the canonical text")
		}
	})
}

func TestEmbedText(t *testing.T) {
	if v := EmbedText("x", 0); v != nil {
		t.Errorf("EmbedText with 0 dims = %v", v)
	}
	for _, text := range []string{"", "???", "a", "Ünïcödé wörds ÅND case"} {
		v := EmbedText(text, 32)
		if n := norm(v); math.Abs(n-1) > 1e-5 {
			t.Errorf("%q: norm %v", text, n)
		}
	}
	if Cosine(EmbedText("Hello World", 256), EmbedText("hello world", 256)) < 1-1e-6 {
		t.Error("case changes the embedding")
	}
	if Cosine([]float32{1}, []float32{1, 2}) != 0 || Cosine([]float32{0}, []float32{1}) != 0 {
		t.Error("Cosine of mismatched or zero vectors is not 0")
	}
}

func TestEmbeddingsValidation(t *testing.T) {
	m := New(WithEmbeddingDimensions(128))
	t.Cleanup(m.Close)
	tests := []struct {
		name  string
		body  string
		param string
	}{
		{name: "missing model", body: `{"input":"x"}`},
		{name: "missing input", body: `{"model":"e"}`, param: "input"},
		{name: "empty string", body: `{"model":"e","input":""}`, param: "input"},
		{name: "empty array", body: `{"model":"e","input":[]}`, param: "input"},
		{name: "empty item", body: `{"model":"e","input":["a",""]}`, param: "input"},
		{name: "token array", body: `{"model":"e","input":[1,2,3]}`, param: "input"},
		{name: "token arrays", body: `{"model":"e","input":[[1,2],[3]]}`, param: "input"},
		{name: "object input", body: `{"model":"e","input":{"a":1}}`, param: "input"},
		{name: "zero dimensions", body: `{"model":"e","input":"x","dimensions":0}`, param: "dimensions"},
		{name: "too many dimensions", body: `{"model":"e","input":"x","dimensions":129}`, param: "dimensions"},
		{name: "bad encoding", body: `{"model":"e","input":"x","encoding_format":"int8"}`, param: "encoding_format"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := serve(m, newRequest(t.Context(), openAI, "", string(EndpointEmbeddings), testKey, tt.body))
			if rec.Code != http.StatusBadRequest {
				t.Fatalf("status %d: %s", rec.Code, rec.Body)
			}
			var e oaError
			decodeJSON(t, rec.Body.Bytes(), &e)
			if e.Error == nil || e.Error.Type != "invalid_request_error" {
				t.Fatalf("error %s", rec.Body)
			}
			if tt.param != "" && (e.Error.Param == nil || *e.Error.Param != tt.param) {
				t.Errorf("param %v, want %q", e.Error.Param, tt.param)
			}
		})
	}
	_, v := embed(t, m, `{"model":"e","input":"native size"}`)
	if len(v[0]) != 128 {
		t.Errorf("native size %d, want 128", len(v[0]))
	}
}
